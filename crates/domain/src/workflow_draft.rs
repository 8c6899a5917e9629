//! What a workflow editor sends (the admin page's step form, the API's JSON, a pasted JSON text),
//! read leniently: every field is plain text, so that an unknown action, role, step kind or
//! outcome comes back as a [`WorkflowIssue`] next to its step, together with every problem
//! [`validate`] finds, instead of one parse error for the whole definition.
//!
//! The JSON shape is exactly [`WorkflowDefinition`]'s (see `workflow.rs`), so a saved definition
//! reads back as a draft unchanged, and unknown field names are still refused (a typo never
//! silently vanishes).
use crate::DomainError;
use crate::role::Role;
use crate::workflow::{
    Action, Conclusion, DepartmentRef, StepDef, StepKey, StepKind, Transition, WorkflowDefinition, WorkflowIssue,
    validate,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A definition as typed by an admin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftDefinition {
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub instant: bool,
    #[serde(default)]
    pub steps: Vec<DraftStep>,
}

/// One step as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftStep {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub time_limit_days: i64,
    #[serde(default)]
    pub kind: DraftKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<DraftTransition>,
}

/// A step's kind and the fields of that kind, all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftKind {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftTransition {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub to: String,
}

/// The kinds of step, with their 简体 labels (for the editor's select).
pub const STEP_KINDS: [(&str, &str); 4] = [
    ("task", "办理步骤"),
    ("fork", "并行分送"),
    ("join", "并行汇合"),
    ("end", "办结"),
];

fn issue(code: &'static str, step: &str, message: String) -> WorkflowIssue {
    WorkflowIssue {
        code,
        step: Some(StepKey::new(step)),
        message,
    }
}

/// Text of an optional field, trimmed; empty counts as absent.
fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl DraftDefinition {
    /// A saved definition, for editing.
    pub fn from_definition(def: &WorkflowDefinition) -> Self {
        // The shapes are the same; the conversion of plain data cannot fail.
        serde_json::to_value(def)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// Parses a pasted JSON text. Only a text that is not JSON of this shape fails here
    /// (`workflow_json_invalid`, with line and column); everything else is for [`Self::build`].
    pub fn from_json(raw: &str) -> Result<Self, DomainError> {
        serde_json::from_str(raw).map_err(|e| {
            DomainError::invalid(
                "workflow_json_invalid",
                "definition",
                format!("流程定义 JSON 格式错误（第 {} 行第 {} 列）：{e}", e.line(), e.column()),
            )
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The definition, or every problem with it: first what cannot be read (unknown action, role,
    /// kind, outcome; a negative time limit; a join without its fork or next step), then what
    /// [`validate`] finds in the rest. Issues of a step that could not be read are not repeated
    /// by the rule checks.
    pub fn build(&self) -> Result<WorkflowDefinition, Vec<WorkflowIssue>> {
        let (def, issues) = self.read();
        if issues.is_empty() { Ok(def) } else { Err(issues) }
    }

    /// The definition as far as it can be read (an unreadable step kind becomes a task, an unknown
    /// action is left out), with every issue [`Self::build`] would report: what an editor draws
    /// while the admin is still typing.
    pub fn read(&self) -> (WorkflowDefinition, Vec<WorkflowIssue>) {
        let mut issues = Vec::new();
        let mut unreadable = BTreeSet::new();
        let mut steps = Vec::with_capacity(self.steps.len());
        for s in &self.steps {
            let key = s.key.trim();
            let before = issues.len();
            let role = match text(&s.role) {
                None => None,
                Some(r) => match Role::parse(r) {
                    Ok(role) => Some(role),
                    Err(_) => {
                        issues.push(issue(
                            "step_role_unknown",
                            key,
                            format!("步骤“{key}”的办理角色“{r}”不存在"),
                        ));
                        None
                    }
                },
            };
            let time_limit_days = match u32::try_from(s.time_limit_days) {
                Ok(d) => d,
                Err(_) => {
                    issues.push(issue(
                        "step_time_limit_invalid",
                        key,
                        format!("步骤“{key}”的时限须为不小于 0 的工作日数"),
                    ));
                    0
                }
            };
            let step_ref = |v: &Option<String>| text(v).map(StepKey::new);
            let kind = match s.kind.kind.trim() {
                "task" => StepKind::Task,
                "fork" => StepKind::Fork {
                    branches: s
                        .kind
                        .branches
                        .iter()
                        .map(|b| b.trim())
                        .filter(|b| !b.is_empty())
                        .map(StepKey::new)
                        .collect(),
                },
                "join" => match (step_ref(&s.kind.fork), step_ref(&s.kind.next)) {
                    (Some(fork), Some(next)) => StepKind::Join {
                        fork,
                        next,
                        refused_next: step_ref(&s.kind.refused_next),
                    },
                    _ => {
                        issues.push(issue(
                            "join_incomplete",
                            key,
                            format!("汇合步骤“{key}”须指定对应的并行步骤和后续步骤"),
                        ));
                        StepKind::Task
                    }
                },
                "end" => match text(&s.kind.outcome).map(Conclusion::parse) {
                    Some(Ok(outcome)) => StepKind::End { outcome },
                    _ => {
                        issues.push(issue(
                            "end_outcome_invalid",
                            key,
                            format!("办结步骤“{key}”的结果须为准予（approved）或不予（refused）"),
                        ));
                        StepKind::Task
                    }
                },
                other => {
                    issues.push(issue(
                        "step_kind_unknown",
                        key,
                        format!("步骤“{key}”的类型“{other}”不存在（可选：办理步骤、并行分送、并行汇合、办结）"),
                    ));
                    StepKind::Task
                }
            };
            let mut actions = Vec::with_capacity(s.actions.len());
            for t in &s.actions {
                let to = t.to.trim();
                match Action::parse(t.action.trim()) {
                    Ok(action) => actions.push(Transition {
                        action,
                        to: StepKey::new(to),
                    }),
                    Err(_) => issues.push(issue(
                        "action_unknown",
                        key,
                        format!(
                            "步骤“{key}”的动作“{}”不是已定义的办理动作（通过 approve、退回 return、不予通过 refuse）",
                            t.action.trim()
                        ),
                    )),
                }
            }
            if issues.len() > before {
                unreadable.insert(key.to_owned());
            }
            steps.push(StepDef {
                key: StepKey::new(key),
                name: s.name.trim().to_owned(),
                department: text(&s.department).map(DepartmentRef::new),
                role,
                time_limit_days,
                kind,
                actions,
            });
        }
        let def = WorkflowDefinition {
            start: StepKey::new(self.start.trim()),
            instant: self.instant,
            steps,
        };
        if let Err(found) = validate(&def) {
            issues.extend(
                found
                    .into_iter()
                    .filter(|i| i.step.as_ref().is_none_or(|k| !unreadable.contains(k.as_str()))),
            );
        }
        (def, issues)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::workflow::{simple_approval, two_level};

    fn codes(d: &DraftDefinition) -> Vec<(&'static str, Option<String>)> {
        match d.build() {
            Ok(_) => Vec::new(),
            Err(issues) => issues
                .into_iter()
                .map(|i| (i.code, i.step.map(|s| s.as_str().to_owned())))
                .collect(),
        }
    }

    #[test]
    fn saved_definitions_read_back_unchanged() {
        for def in [
            simple_approval(&DepartmentRef::new("民政局")),
            two_level(&DepartmentRef::new("民政局")),
        ] {
            let draft = DraftDefinition::from_definition(&def);
            assert_eq!(draft.build().unwrap(), def);
            let again = DraftDefinition::from_json(&draft.to_json()).unwrap();
            assert_eq!(again, draft);
            // The draft's JSON is the definition's JSON.
            assert_eq!(WorkflowDefinition::from_json(&draft.to_json()).unwrap(), def);
        }
    }

    #[test]
    fn unreadable_fields_are_reported_at_their_step_with_the_rule_issues() {
        let mut d = DraftDefinition::from_definition(&two_level(&DepartmentRef::new("民政局")));
        d.steps[0].actions[0].action = "approve_fast".into();
        d.steps[1].role = Some("root".into());
        d.steps.push(DraftStep {
            key: "odd".into(),
            name: "奇怪".into(),
            kind: DraftKind {
                kind: "loop".into(),
                ..Default::default()
            },
            ..Default::default()
        });
        d.steps.push(DraftStep {
            key: "j".into(),
            name: "汇合".into(),
            kind: DraftKind {
                kind: "join".into(),
                ..Default::default()
            },
            ..Default::default()
        });
        d.steps.push(DraftStep {
            key: "fin".into(),
            name: "结束".into(),
            time_limit_days: -1,
            kind: DraftKind {
                kind: "end".into(),
                outcome: Some("maybe".into()),
                ..Default::default()
            },
            ..Default::default()
        });
        let c = codes(&d);
        for (code, step) in [
            ("action_unknown", "review"),
            ("step_role_unknown", "approve"),
            ("step_kind_unknown", "odd"),
            ("join_incomplete", "j"),
            ("end_outcome_invalid", "fin"),
            ("step_time_limit_invalid", "fin"),
        ] {
            assert!(c.contains(&(code, Some(step.to_owned()))), "{code} at {step}: {c:?}");
        }
        // Steps that could not be read get no second, misleading rule issue...
        assert!(
            !c.iter()
                .any(|(code, s)| *code == "step_unreachable" && s.as_deref() == Some("odd")),
            "{c:?}"
        );
        assert!(
            !c.iter()
                .any(|(code, s)| *code == "step_role_missing" && s.as_deref() == Some("approve")),
            "{c:?}"
        );
        // ... but the readable rest is still checked: nothing leads to the join.
        assert!(
            c.contains(&("step_unreachable", Some("j".into()))) || c.contains(&("join_incomplete", Some("j".into()))),
            "{c:?}"
        );
        d.steps.push(DraftStep {
            key: "lonely".into(),
            name: "孤立".into(),
            department: Some("民政局".into()),
            role: Some("reviewer".into()),
            time_limit_days: 1,
            kind: DraftKind {
                kind: "task".into(),
                ..Default::default()
            },
            actions: vec![DraftTransition {
                action: "approve".into(),
                to: "done".into(),
            }],
        });
        assert!(codes(&d).contains(&("step_unreachable", Some("lonely".into()))));
    }

    #[test]
    fn the_role_must_work_an_inbox_and_json_typos_are_refused() {
        let mut d = DraftDefinition::from_definition(&two_level(&DepartmentRef::new("民政局")));
        d.steps[0].role = Some("supervisor".into());
        assert_eq!(codes(&d), vec![("step_role_cannot_work", Some("review".into()))]);
        let e = DraftDefinition::from_json(r#"{"start":"a","stepz":[]}"#).unwrap_err();
        assert_eq!(e.code(), "workflow_json_invalid");
        assert!(e.to_string().contains("第 1 行"), "{e}");
        assert_eq!(
            DraftDefinition::from_json("[1,").unwrap_err().code(),
            "workflow_json_invalid"
        );
        // Keys and names are trimmed; empty optional fields count as absent.
        let mut d = DraftDefinition::from_definition(&two_level(&DepartmentRef::new("民政局")));
        d.start = " review ".into();
        d.steps[2].department = Some("  ".into());
        assert!(d.build().is_ok());
    }
}
