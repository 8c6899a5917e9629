//! Workflow definitions (审批流程) as data, their validation on save, and the runtime that moves a
//! case through them.
//!
//! A definition belongs to an implementation (实施清单) and is edited by a region admin in the step
//! editor or as JSON (both read through [`crate::workflow_draft`], so that every mistake is reported
//! next to its step). Each save is a new immutable *version*; a running case keeps the version it
//! started with (the store records the version on the case, and its [`WorkflowState`] is only ever
//! interpreted against that version). Who defines which version is in force, and the generated
//! default, live in `onestop_store::workflows`.
//!
//! # Model
//!
//! A definition is a set of steps and a start step. A step is one of:
//! - `task`: a department's inbox step, worked by a role. It lists its allowed actions, each with the
//!   step it leads to (`通过` → next, `退回` → an earlier step, `不予通过` → a refusal end or a join).
//! - `fork`: an automatic step that opens every branch at once (one token per branch). Used by a
//!   bundle (一件事) to send the case to every department involved in parallel.
//! - `join`: an automatic step that names its fork and waits until *every* branch of that fork has
//!   arrived; then it continues to `next` (or to `refused_next`, when set, if any branch arrived by a
//!   refusal).
//! - `end`: the conclusion (办结), approved or refused. Reaching it concludes the case.
//!
//! Forks and joins must be well nested (every branch of a fork reaches exactly that fork's join and
//! nothing else outside the branch), so a case never has two tokens on one step and every run that
//! keeps acting reaches an end. [`validate`] enforces this together with reachability.
//!
//! Special procedures (特别程序: hearing, inspection, appraisal...) are *not* transitions: they stop
//! the case clock but leave the open steps where they are. The case layer (`intake::CaseStatus::
//! Suspended`) refuses workflow actions while one runs, and the case clock counts the pause.
//!
//! # JSON shape
//!
//! ```json
//! {
//!   "start": "review",
//!   "instant": false,
//!   "steps": [
//!     { "key": "review", "name": "审核", "department": "D01", "role": "reviewer",
//!       "time_limit_days": 5, "kind": { "type": "task" },
//!       "actions": [ { "action": "approve", "to": "done" },
//!                    { "action": "refuse",  "to": "refused" } ] },
//!     { "key": "done",    "name": "办结",     "kind": { "type": "end", "outcome": "approved" } },
//!     { "key": "refused", "name": "不予许可", "kind": { "type": "end", "outcome": "refused" } }
//!   ]
//! }
//! ```
//! A fork is `{ "type": "fork", "branches": ["a", "b"] }`, a join is
//! `{ "type": "join", "fork": "fan_out", "next": "done", "refused_next": "refused" }`
//! (`refused_next` optional). `department`, `role`, `time_limit_days` and `actions` may be left out on
//! forks, joins and ends. Unknown fields are rejected so that a typo never silently vanishes.
use crate::DomainError;
use crate::role::Role;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Key of a step, unique within a definition: 1..=64 ASCII letters, digits, `_` or `-`.
/// Deserialisation accepts any string so that [`validate`] can report every bad key at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepKey(String);

impl StepKey {
    pub const MAX_LEN: usize = 64;
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    fn is_well_formed(&self) -> bool {
        (1..=Self::MAX_LEN).contains(&self.0.len())
            && self
                .0
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }
}

impl std::fmt::Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reference to the department (部门) whose shared inbox holds a step: its name, either as the
/// region's department list has it (`市场监督管理局`, found in the case's region or the nearest
/// region above it that has one) or with its region's name in front (`久安市市场监督管理局`, that
/// region's department). Resolved by the store (`onestop_store::workflows::resolve_department`),
/// not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DepartmentRef(String);

impl DepartmentRef {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DepartmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a handler does on a task step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// 通过: the step agrees and the case moves on.
    Approve,
    /// 退回: back to an earlier step (declared as a transition, e.g. 审批 → 审核).
    Return,
    /// 不予通过: a negative decision, leading to a refusal end (or, in a bundle branch, to the join).
    Refuse,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Approve, Action::Return, Action::Refuse];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Return => "return",
            Self::Refuse => "refuse",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("action_invalid", "action", format!("未知的办理动作：{raw}")))
    }
    /// 简体 label on the button.
    pub fn label(self) -> &'static str {
        match self {
            Self::Approve => "通过",
            Self::Return => "退回",
            Self::Refuse => "不予通过",
        }
    }
    /// The action column of the per-step record (通过 / 退回 / 其他).
    pub fn record_label(self) -> &'static str {
        match self {
            Self::Approve => "通过",
            Self::Return => "退回",
            Self::Refuse => "其他",
        }
    }
}

/// How a case concludes (办结).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// 准予许可 / 办结（通过）.
    Approved,
    /// 不予许可.
    Refused,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Refused => "refused",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "approved" => Ok(Self::Approved),
            "refused" => Ok(Self::Refused),
            _ => Err(DomainError::invalid(
                "conclusion_invalid",
                "outcome",
                format!("未知的办结结果：{raw}"),
            )),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Approved => "准予许可",
            Self::Refused => "不予许可",
        }
    }
}

/// One allowed action of a task step and where it leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    pub action: Action,
    pub to: StepKey,
}

/// The kind of a step; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepKind {
    Task,
    Fork {
        branches: Vec<StepKey>,
    },
    Join {
        fork: StepKey,
        next: StepKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused_next: Option<StepKey>,
    },
    End {
        outcome: Conclusion,
    },
}

/// One step of a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub key: StepKey,
    /// 简体 name shown in the inbox and the per-step record (受理, 审核, 审批...).
    pub name: String,
    /// Whose inbox the step lands in. Required on tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentRef>,
    /// Which role works it. Required on tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Working days allowed for the step (for the step's own warning; the case's legal and promised
    /// limits are tracked by the case clock).
    #[serde(default)]
    pub time_limit_days: u32,
    pub kind: StepKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Transition>,
}

impl StepDef {
    /// A task step with no actions yet; chain [`StepDef::on`] to add them.
    pub fn task(key: &str, name: &str, department: &DepartmentRef, role: Role, time_limit_days: u32) -> Self {
        Self {
            key: StepKey::new(key),
            name: name.to_owned(),
            department: Some(department.clone()),
            role: Some(role),
            time_limit_days,
            kind: StepKind::Task,
            actions: Vec::new(),
        }
    }
    /// An automatic (fork / join / end) step.
    pub fn auto(key: &str, name: &str, kind: StepKind) -> Self {
        Self {
            key: StepKey::new(key),
            name: name.to_owned(),
            department: None,
            role: None,
            time_limit_days: 0,
            kind,
            actions: Vec::new(),
        }
    }
    /// Adds an allowed action.
    pub fn on(mut self, action: Action, to: &str) -> Self {
        self.actions.push(Transition {
            action,
            to: StepKey::new(to),
        });
        self
    }
    pub fn transition(&self, action: Action) -> Option<&StepKey> {
        self.actions.iter().find(|t| t.action == action).map(|t| &t.to)
    }
}

/// A workflow definition: the data an admin edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowDefinition {
    pub start: StepKey,
    /// 即办件: steps are done on the spot, so a task may have a time limit of 0 working days.
    #[serde(default)]
    pub instant: bool,
    pub steps: Vec<StepDef>,
}

impl WorkflowDefinition {
    pub fn step(&self, key: &StepKey) -> Option<&StepDef> {
        self.steps.iter().find(|s| &s.key == key)
    }
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail; fall back to an empty object anyway.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned())
    }
    /// Parses the admin's JSON. Shape errors come back as `workflow_json_invalid`; rule errors are
    /// for [`validate`].
    pub fn from_json(raw: &str) -> Result<Self, DomainError> {
        serde_json::from_str(raw)
            .map_err(|e| DomainError::invalid("workflow_json_invalid", "workflow", format!("流程定义格式错误：{e}")))
    }
}

/// A saved definition with its version. Versions start at 1 and grow by one per save.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedWorkflow {
    pub version: u32,
    pub definition: WorkflowDefinition,
}

impl VersionedWorkflow {
    /// Validates `definition` and gives it the version after `latest` (None for the first save).
    pub fn publish(latest: Option<u32>, definition: WorkflowDefinition) -> Result<Self, Vec<WorkflowIssue>> {
        validate(&definition)?;
        Ok(Self {
            version: latest.map_or(1, |v| v.saturating_add(1)),
            definition,
        })
    }
}

/// One problem found by [`validate`]. `code` is stable; `step` names the step concerned, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowIssue {
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepKey>,
    pub message: String,
}

impl WorkflowIssue {
    fn new(code: &'static str, step: Option<&StepKey>, message: String) -> Self {
        Self {
            code,
            step: step.cloned(),
            message,
        }
    }
}

/// Nesting position of a step: the forks (and branch numbers) it lies inside, outermost first.
type Context = Vec<(usize, u32)>;

/// Indexes a definition by key (first occurrence wins on duplicates).
fn index(def: &WorkflowDefinition) -> HashMap<&StepKey, usize> {
    let mut map = HashMap::new();
    for (i, s) in def.steps.iter().enumerate() {
        map.entry(&s.key).or_insert(i);
    }
    map
}

/// Successor steps of a step in the graph (unknown references skipped).
fn successors(def: &WorkflowDefinition, idx: &HashMap<&StepKey, usize>, i: usize) -> Vec<usize> {
    let Some(step) = def.steps.get(i) else {
        return Vec::new();
    };
    let keys: Vec<&StepKey> = match &step.kind {
        StepKind::Task => step.actions.iter().map(|t| &t.to).collect(),
        StepKind::Fork { branches } => branches.iter().collect(),
        StepKind::Join { next, refused_next, .. } => std::iter::once(next).chain(refused_next.iter()).collect(),
        StepKind::End { .. } => Vec::new(),
    };
    keys.into_iter().filter_map(|k| idx.get(k).copied()).collect()
}

fn reachable_from(def: &WorkflowDefinition, idx: &HashMap<&StepKey, usize>, from: usize) -> Vec<bool> {
    let mut seen = vec![false; def.steps.len()];
    let mut queue = VecDeque::from([from]);
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        queue.extend(successors(def, idx, i).into_iter().filter(|&j| !seen[j]));
    }
    seen
}

/// Shortest number of moves from each step to an end (None: no end reachable). Used to check
/// definitions and, in tests, to drive a case to its conclusion.
pub fn distance_to_end(def: &WorkflowDefinition) -> BTreeMap<StepKey, u32> {
    let idx = index(def);
    let n = def.steps.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in successors(def, &idx, i) {
            preds[j].push(i);
        }
    }
    let mut dist: Vec<Option<u32>> = vec![None; n];
    let mut queue = VecDeque::new();
    for (i, s) in def.steps.iter().enumerate() {
        if matches!(s.kind, StepKind::End { .. }) {
            dist[i] = Some(0);
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        let d = dist[i].unwrap_or(0);
        for &p in &preds[i] {
            if dist[p].is_none() {
                dist[p] = Some(d + 1);
                queue.push_back(p);
            }
        }
    }
    def.steps
        .iter()
        .zip(dist)
        .filter_map(|(s, d)| d.map(|d| (s.key.clone(), d)))
        .collect()
}

/// Most steps a definition may have: far more than any real procedure, and it bounds the cost of
/// validating a hostile one (some checks walk the graph once per step).
pub const MAX_STEPS: usize = 200;

/// Longest time limit of one step, in working days (about a year).
pub const MAX_STEP_DAYS: u32 = 250;

/// Whether `role` works an inbox, so that a task step may be given to it: window clerks (受理,
/// 出件), reviewers and hall managers (who also assign and work back-office steps). Admins,
/// supervisors and auditors have no inbox.
pub fn role_works_inbox(role: Role) -> bool {
    use crate::role::Permission;
    role.allows(Permission::WindowWork) || role.allows(Permission::BackOfficeWork)
}

/// Checks a definition before it is saved and lists every problem found (never just the first).
pub fn validate(def: &WorkflowDefinition) -> Result<(), Vec<WorkflowIssue>> {
    let mut issues = Vec::new();
    if def.steps.is_empty() {
        issues.push(WorkflowIssue::new(
            "workflow_empty",
            None,
            "流程没有任何步骤".to_owned(),
        ));
        return Err(issues);
    }
    if def.steps.len() > MAX_STEPS {
        issues.push(WorkflowIssue::new(
            "workflow_too_large",
            None,
            format!("流程最多 {MAX_STEPS} 个步骤，当前 {} 个", def.steps.len()),
        ));
        return Err(issues);
    }
    let idx = index(def);
    let mut push = |code, step: Option<&StepKey>, msg: String| issues.push(WorkflowIssue::new(code, step, msg));

    // Per-step checks.
    let mut seen_keys = BTreeSet::new();
    for step in &def.steps {
        let k = &step.key;
        if !k.is_well_formed() {
            push(
                "step_key_invalid",
                Some(k),
                format!("步骤标识“{k}”须为 1 至 64 位字母、数字、下划线或连字符"),
            );
        }
        if !seen_keys.insert(k) {
            push("step_key_duplicate", Some(k), format!("步骤标识“{k}”重复"));
        }
        let name = step.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            push(
                "step_name_invalid",
                Some(k),
                format!("步骤“{k}”的名称须为 1 至 64 个字符"),
            );
        }
        let mut unknown_ref = |target: &StepKey, what: &str| {
            if !idx.contains_key(target) {
                push(
                    "step_ref_unknown",
                    Some(k),
                    format!("步骤“{k}”的{what}指向不存在的步骤“{target}”"),
                );
            }
        };
        match &step.kind {
            StepKind::Task => {
                for t in &step.actions {
                    unknown_ref(&t.to, "办理动作");
                }
            }
            StepKind::Fork { branches } => {
                for b in branches {
                    unknown_ref(b, "并行分支");
                }
            }
            StepKind::Join {
                fork,
                next,
                refused_next,
            } => {
                unknown_ref(fork, "对应分支步骤");
                unknown_ref(next, "后续步骤");
                if let Some(r) = refused_next {
                    unknown_ref(r, "不予通过时的后续步骤");
                }
            }
            StepKind::End { .. } => {}
        }
        match &step.kind {
            StepKind::Task => {
                if step.department.as_ref().is_none_or(|d| d.as_str().trim().is_empty()) {
                    push(
                        "step_department_missing",
                        Some(k),
                        format!("办理步骤“{k}”须指定办理部门"),
                    );
                }
                match step.role {
                    None => push("step_role_missing", Some(k), format!("办理步骤“{k}”须指定办理角色")),
                    Some(role) if !role_works_inbox(role) => push(
                        "step_role_cannot_work",
                        Some(k),
                        format!(
                            "办理步骤“{k}”的角色“{}”没有待办事项，不能办理步骤；请选择窗口人员、审批人员或大厅管理员",
                            role.label()
                        ),
                    ),
                    Some(_) => {}
                }
                if step.time_limit_days > MAX_STEP_DAYS {
                    push(
                        "step_time_limit_too_long",
                        Some(k),
                        format!("办理步骤“{k}”的时限不能超过 {MAX_STEP_DAYS} 个工作日"),
                    );
                }
                if step.time_limit_days == 0 && !def.instant {
                    push(
                        "step_time_limit_zero",
                        Some(k),
                        format!("办理步骤“{k}”的时限不能为 0 个工作日（即办件除外）"),
                    );
                }
                if step.actions.is_empty() {
                    push(
                        "task_without_actions",
                        Some(k),
                        format!("办理步骤“{k}”没有任何办理动作"),
                    );
                }
                let mut actions = BTreeSet::new();
                for t in &step.actions {
                    if !actions.insert(t.action) {
                        push(
                            "action_duplicate",
                            Some(k),
                            format!("步骤“{k}”的动作“{}”重复定义", t.action.label()),
                        );
                    }
                    if t.action == Action::Return
                        && idx
                            .get(&t.to)
                            .is_some_and(|&j| matches!(def.steps[j].kind, StepKind::End { .. }))
                    {
                        push("return_to_end", Some(k), format!("步骤“{k}”的退回不能指向办结步骤"));
                    }
                }
            }
            StepKind::End { .. } => {
                if !step.actions.is_empty() {
                    push("end_has_actions", Some(k), format!("办结步骤“{k}”不能有后续动作"));
                }
            }
            StepKind::Fork { branches } => {
                if !step.actions.is_empty() {
                    push(
                        "auto_step_has_actions",
                        Some(k),
                        format!("自动步骤“{k}”不能定义办理动作"),
                    );
                }
                if branches.is_empty() {
                    push("fork_without_branches", Some(k), format!("并行步骤“{k}”没有分支"));
                }
                let distinct: BTreeSet<_> = branches.iter().collect();
                if distinct.len() != branches.len() {
                    push("fork_branch_duplicate", Some(k), format!("并行步骤“{k}”的分支重复"));
                }
            }
            StepKind::Join { fork, .. } => {
                if !step.actions.is_empty() {
                    push(
                        "auto_step_has_actions",
                        Some(k),
                        format!("自动步骤“{k}”不能定义办理动作"),
                    );
                }
                if idx
                    .get(fork)
                    .is_some_and(|&j| !matches!(def.steps[j].kind, StepKind::Fork { .. }))
                {
                    push(
                        "join_fork_not_fork",
                        Some(k),
                        format!("汇合步骤“{k}”对应的“{fork}”不是并行步骤"),
                    );
                }
            }
        }
    }

    // Forks and their joins: exactly one join per fork.
    for (i, step) in def.steps.iter().enumerate() {
        if !matches!(step.kind, StepKind::Fork { .. }) || idx.get(&step.key) != Some(&i) {
            continue;
        }
        let joins = def
            .steps
            .iter()
            .filter(|s| matches!(&s.kind, StepKind::Join { fork, .. } if fork == &step.key))
            .count();
        if joins == 0 {
            push(
                "fork_without_join",
                Some(&step.key),
                format!("并行步骤“{}”的分支没有汇合", step.key),
            );
        } else if joins > 1 {
            push(
                "fork_multiple_joins",
                Some(&step.key),
                format!("并行步骤“{}”有多个汇合步骤", step.key),
            );
        }
    }

    let Some(&start) = idx.get(&def.start) else {
        push(
            "start_unknown",
            Some(&def.start),
            format!("开始步骤“{}”不存在", def.start),
        );
        return Err(issues);
    };
    if matches!(def.steps[start].kind, StepKind::End { .. }) {
        push("start_is_end", Some(&def.start), "开始步骤不能是办结步骤".to_owned());
    }

    // Reachability from the start.
    let reachable = reachable_from(def, &idx, start);
    for (i, step) in def.steps.iter().enumerate() {
        if !reachable[i] && idx.get(&step.key) == Some(&i) {
            push(
                "step_unreachable",
                Some(&step.key),
                format!("步骤“{}”从开始步骤无法到达", step.key),
            );
        }
    }
    // Every step must be able to reach a conclusion.
    let dist = distance_to_end(def);
    if !def.steps.iter().any(|s| matches!(s.kind, StepKind::End { .. })) {
        push("end_missing", None, "流程没有办结步骤".to_owned());
    }
    for (i, step) in def.steps.iter().enumerate() {
        if !dist.contains_key(&step.key) && idx.get(&step.key) == Some(&i) {
            push(
                "step_no_conclusion",
                Some(&step.key),
                format!("步骤“{}”无法到达办结（死路或无出口的循环）", step.key),
            );
        }
    }
    // 退回 must go back: the target must lead to the step that returns.
    for (i, step) in def.steps.iter().enumerate() {
        for t in step.actions.iter().filter(|t| t.action == Action::Return) {
            if let Some(&j) = idx.get(&t.to)
                && !reachable_from(def, &idx, j)[i]
            {
                push(
                    "return_not_backward",
                    Some(&step.key),
                    format!("步骤“{}”的退回指向的“{}”不是前序步骤", step.key, t.to),
                );
            }
        }
    }

    // Nesting: walk from the start carrying the stack of open forks. A step must always be met in the
    // same context, a join only from inside its own fork, and an end only outside every fork.
    let mut ctx_of: Vec<Option<Context>> = vec![None; def.steps.len()];
    let mut reported = BTreeSet::new();
    let mut stack: Vec<(usize, Context)> = vec![(start, Vec::new())];
    while let Some((i, ctx)) = stack.pop() {
        let step = &def.steps[i];
        // The context a step lives in; for a join, the context outside its fork.
        let own = match &step.kind {
            StepKind::Join { fork, .. } => {
                let inside = idx
                    .get(fork)
                    .is_some_and(|&f| ctx.last().is_some_and(|&(lf, _)| lf == f));
                if !inside {
                    if reported.insert(("join", i)) {
                        push(
                            "join_without_fork",
                            Some(&step.key),
                            format!("汇合步骤“{}”不在其对应并行步骤的分支之内", step.key),
                        );
                    }
                    continue;
                }
                ctx[..ctx.len() - 1].to_vec()
            }
            _ => ctx,
        };
        match &ctx_of[i] {
            Some(existing) => {
                if *existing != own && reported.insert(("ctx", i)) {
                    push(
                        "branch_boundary_crossed",
                        Some(&step.key),
                        format!("步骤“{}”跨越了并行分支的边界", step.key),
                    );
                }
                continue;
            }
            None => ctx_of[i] = Some(own.clone()),
        }
        match &step.kind {
            StepKind::End { .. } if !own.is_empty() => {
                push(
                    "end_inside_branch",
                    Some(&step.key),
                    format!("办结步骤“{}”位于并行分支之内，须先汇合", step.key),
                );
            }
            StepKind::Fork { branches } => {
                for (b, key) in branches.iter().enumerate() {
                    if let Some(&j) = idx.get(key) {
                        let mut inner = own.clone();
                        inner.push((i, u32::try_from(b).unwrap_or(u32::MAX)));
                        stack.push((j, inner));
                    }
                }
            }
            _ => {
                for j in successors(def, &idx, i) {
                    stack.push((j, own.clone()));
                }
            }
        }
    }
    // A join must sit at the same level as its fork.
    for (i, step) in def.steps.iter().enumerate() {
        if let StepKind::Join { fork, .. } = &step.kind
            && let (Some(&f), Some(jc)) = (idx.get(fork), &ctx_of[i])
            && ctx_of[f].as_ref().is_some_and(|fc| fc != jc)
            && !reported.contains(&("join", i))
        {
            push(
                "join_without_fork",
                Some(&step.key),
                format!("汇合步骤“{}”与其并行步骤不在同一层级", step.key),
            );
        }
    }

    if issues.is_empty() { Ok(()) } else { Err(issues) }
}

/// A fork passed on the way to a step, and which of its branches the step is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchMark {
    pub fork: StepKey,
    pub branch: u32,
}

/// An open step (a token): its inbox item is waiting for an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStep {
    pub step: StepKey,
    /// Forks this token is inside, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<BranchMark>,
}

/// A join waiting for the rest of its branches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinWait {
    pub join: StepKey,
    /// Branch numbers (indexes into the fork's `branches`) that have arrived.
    pub arrived: Vec<u32>,
    /// Whether some branch arrived by 不予通过.
    #[serde(default)]
    pub any_refused: bool,
}

/// Where a running case stands in its workflow version. Stored as JSON with the case.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkflowState {
    pub open: Vec<OpenStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<JoinWait>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concluded: Option<Conclusion>,
}

impl WorkflowState {
    pub fn open_steps(&self) -> impl Iterator<Item = &StepKey> {
        self.open.iter().map(|o| &o.step)
    }
    pub fn is_open(&self, step: &StepKey) -> bool {
        self.open.iter().any(|o| &o.step == step)
    }
}

/// What one action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// The step the action closed.
    pub closed: StepKey,
    /// Task steps newly opened (new inbox items), in definition order of arrival.
    pub opened: Vec<StepKey>,
    /// Set when the case concluded with this action.
    pub concluded: Option<Conclusion>,
}

fn state_invalid(msg: String) -> DomainError {
    DomainError::conflict("workflow_state_invalid", msg)
}

/// Opens the start of a definition. The definition must validate.
pub fn start(def: &WorkflowDefinition) -> Result<(WorkflowState, Vec<StepKey>), DomainError> {
    if let Err(issues) = validate(def) {
        let detail = issues.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join("；");
        return Err(DomainError::invalid(
            "workflow_invalid",
            "workflow",
            format!("流程定义不合法：{detail}"),
        ));
    }
    let mut state = WorkflowState::default();
    let mut opened = Vec::new();
    enter(def, &mut state, &mut opened, def.start.clone(), Vec::new(), false)?;
    Ok((state, opened))
}

/// Applies `action` on the open `step`. On error the state is left unchanged.
pub fn apply(
    def: &WorkflowDefinition,
    state: &mut WorkflowState,
    step: &StepKey,
    action: Action,
) -> Result<StepOutcome, DomainError> {
    if state.concluded.is_some() {
        return Err(DomainError::conflict("case_concluded", "办件已办结，不能再次办理"));
    }
    let Some(pos) = state.open.iter().position(|o| &o.step == step) else {
        return Err(DomainError::conflict(
            "step_not_open",
            format!("步骤“{step}”当前不在办理中"),
        ));
    };
    let Some(def_step) = def.step(step) else {
        return Err(state_invalid(format!("流程定义中没有步骤“{step}”")));
    };
    let Some(to) = def_step.transition(action) else {
        return Err(DomainError::conflict(
            "action_not_allowed",
            format!("步骤“{}”不允许“{}”", def_step.name, action.label()),
        ));
    };
    let mut next = state.clone();
    let token = next.open.remove(pos);
    let mut opened = Vec::new();
    enter(
        def,
        &mut next,
        &mut opened,
        to.clone(),
        token.path,
        action == Action::Refuse,
    )?;
    let concluded = next.concluded;
    *state = next;
    Ok(StepOutcome {
        closed: step.clone(),
        opened,
        concluded,
    })
}

/// Moves a token into `key`, running automatic steps (fork, join, end) until only task steps and
/// waiting joins are left. Bounded so that a malformed definition cannot loop forever.
fn enter(
    def: &WorkflowDefinition,
    state: &mut WorkflowState,
    opened: &mut Vec<StepKey>,
    key: StepKey,
    path: Vec<BranchMark>,
    refused: bool,
) -> Result<(), DomainError> {
    let mut work = VecDeque::from([(key, path, refused)]);
    let mut budget = def.steps.len().saturating_mul(def.steps.len()).saturating_add(16);
    while let Some((key, mut path, refused)) = work.pop_front() {
        budget = budget
            .checked_sub(1)
            .ok_or_else(|| state_invalid("流程定义存在自动步骤的死循环".to_owned()))?;
        if state.concluded.is_some() {
            break;
        }
        let step = def
            .step(&key)
            .ok_or_else(|| state_invalid(format!("流程定义中没有步骤“{key}”")))?;
        match &step.kind {
            StepKind::Task => {
                if state.is_open(&key) {
                    return Err(state_invalid(format!("步骤“{key}”已在办理中")));
                }
                state.open.push(OpenStep {
                    step: key.clone(),
                    path,
                });
                opened.push(key);
            }
            StepKind::Fork { branches } => {
                for (b, branch) in branches.iter().enumerate() {
                    let mut inner = path.clone();
                    inner.push(BranchMark {
                        fork: key.clone(),
                        branch: u32::try_from(b).unwrap_or(u32::MAX),
                    });
                    work.push_back((branch.clone(), inner, false));
                }
            }
            StepKind::Join {
                fork,
                next,
                refused_next,
            } => {
                let Some(mark) = path.pop().filter(|m| &m.fork == fork) else {
                    return Err(state_invalid(format!("汇合步骤“{key}”收到了不属于其分支的办理")));
                };
                let total = match def.step(fork).map(|f| &f.kind) {
                    Some(StepKind::Fork { branches }) => branches.len(),
                    _ => return Err(state_invalid(format!("汇合步骤“{key}”的并行步骤不存在"))),
                };
                let wpos = match state.waiting.iter().position(|w| w.join == key) {
                    Some(p) => p,
                    None => {
                        state.waiting.push(JoinWait {
                            join: key.clone(),
                            arrived: Vec::new(),
                            any_refused: false,
                        });
                        state.waiting.len() - 1
                    }
                };
                let wait = &mut state.waiting[wpos];
                if !wait.arrived.contains(&mark.branch) {
                    wait.arrived.push(mark.branch);
                }
                wait.any_refused |= refused;
                if wait.arrived.len() >= total {
                    let any_refused = wait.any_refused;
                    state.waiting.remove(wpos);
                    let to = match refused_next {
                        Some(r) if any_refused => r.clone(),
                        _ => next.clone(),
                    };
                    work.push_back((to, path, false));
                }
            }
            StepKind::End { outcome } => {
                state.concluded = Some(*outcome);
                state.open.clear();
                state.waiting.clear();
            }
        }
    }
    Ok(())
}

/// Per-step record (办理环节记录): step name, handler, opinion, start/end, action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: StepKey,
    pub step_name: String,
    /// Who handled it (username); None while unclaimed in the department inbox.
    pub handler: Option<String>,
    pub opinion: Option<String>,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub action: Option<Action>,
}

impl StepRecord {
    pub const OPINION_MAX_CHARS: usize = 2000;
    pub fn opened(step: &StepDef, at: Timestamp) -> Self {
        Self {
            step: step.key.clone(),
            step_name: step.name.clone(),
            handler: None,
            opinion: None,
            started_at: at,
            ended_at: None,
            action: None,
        }
    }
    /// Closes the record with the handler's action and opinion. 退回 and 不予通过 need an opinion,
    /// because the reason is told to the applicant or the earlier step.
    pub fn close(&mut self, handler: &str, action: Action, opinion: &str, at: Timestamp) -> Result<(), DomainError> {
        if self.ended_at.is_some() {
            return Err(DomainError::conflict("step_record_closed", "该办理环节已结束"));
        }
        let opinion = opinion.trim();
        if opinion.is_empty() && action != Action::Approve {
            return Err(DomainError::invalid(
                "opinion_required",
                "opinion",
                format!("“{}”须填写办理意见", action.label()),
            ));
        }
        if opinion.chars().count() > Self::OPINION_MAX_CHARS {
            return Err(DomainError::invalid(
                "opinion_too_long",
                "opinion",
                format!("办理意见不能超过 {} 个字符", Self::OPINION_MAX_CHARS),
            ));
        }
        if at < self.started_at {
            return Err(DomainError::invalid(
                "step_end_before_start",
                "ended_at",
                "办理结束时间早于开始时间",
            ));
        }
        self.handler = Some(handler.to_owned());
        self.opinion = (!opinion.is_empty()).then(|| opinion.to_owned());
        self.ended_at = Some(at);
        self.action = Some(action);
        Ok(())
    }
}

/// Template: 受理 → 审核 → 决定 → 办结, with 退回 to the previous step and refusal from 审核 or 决定.
pub fn simple_approval(department: &DepartmentRef) -> WorkflowDefinition {
    WorkflowDefinition {
        start: StepKey::new("accept"),
        instant: false,
        steps: vec![
            StepDef::task("accept", "受理", department, Role::WindowClerk, 1).on(Action::Approve, "review"),
            StepDef::task("review", "审核", department, Role::Reviewer, 10)
                .on(Action::Approve, "decide")
                .on(Action::Return, "accept")
                .on(Action::Refuse, "refused"),
            StepDef::task("decide", "决定", department, Role::Reviewer, 5)
                .on(Action::Approve, "done")
                .on(Action::Return, "review")
                .on(Action::Refuse, "refused"),
            StepDef::auto(
                "done",
                "办结",
                StepKind::End {
                    outcome: Conclusion::Approved,
                },
            ),
            StepDef::auto(
                "refused",
                "不予许可",
                StepKind::End {
                    outcome: Conclusion::Refused,
                },
            ),
        ],
    }
}

/// Template: 审核 → 审批 → 办结, with 审批 able to return to 审核.
pub fn two_level(department: &DepartmentRef) -> WorkflowDefinition {
    WorkflowDefinition {
        start: StepKey::new("review"),
        instant: false,
        steps: vec![
            StepDef::task("review", "审核", department, Role::Reviewer, 10)
                .on(Action::Approve, "approve")
                .on(Action::Refuse, "refused"),
            StepDef::task("approve", "审批", department, Role::Reviewer, 5)
                .on(Action::Approve, "done")
                .on(Action::Return, "review")
                .on(Action::Refuse, "refused"),
            StepDef::auto(
                "done",
                "办结",
                StepKind::End {
                    outcome: Conclusion::Approved,
                },
            ),
            StepDef::auto(
                "refused",
                "不予许可",
                StepKind::End {
                    outcome: Conclusion::Refused,
                },
            ),
        ],
    }
}

/// Template for a bundle (一件事): fork to every department's 审核 in parallel, join when all have
/// decided; the bundle is approved if every department approved, refused otherwise (each
/// department's own decision stays in its step record).
pub fn bundle_parallel(departments: &[DepartmentRef]) -> Result<WorkflowDefinition, DomainError> {
    if departments.is_empty() {
        return Err(DomainError::invalid(
            "bundle_departments_empty",
            "departments",
            "一件事至少需要一个部门",
        ));
    }
    let distinct: BTreeSet<_> = departments.iter().collect();
    if distinct.len() != departments.len() {
        return Err(DomainError::invalid(
            "bundle_department_duplicate",
            "departments",
            "一件事的部门重复",
        ));
    }
    let mut steps = vec![StepDef::auto(
        "fan_out",
        "分送各部门",
        StepKind::Fork {
            branches: (0..departments.len())
                .map(|i| StepKey::new(format!("review_{i}")))
                .collect(),
        },
    )];
    for (i, d) in departments.iter().enumerate() {
        steps.push(
            StepDef::task(
                &format!("review_{i}"),
                &format!("部门审核（{d}）"),
                d,
                Role::Reviewer,
                10,
            )
            .on(Action::Approve, "join")
            .on(Action::Refuse, "join"),
        );
    }
    steps.push(StepDef::auto(
        "join",
        "汇总",
        StepKind::Join {
            fork: StepKey::new("fan_out"),
            next: StepKey::new("done"),
            refused_next: Some(StepKey::new("refused")),
        },
    ));
    steps.push(StepDef::auto(
        "done",
        "办结",
        StepKind::End {
            outcome: Conclusion::Approved,
        },
    ));
    steps.push(StepDef::auto(
        "refused",
        "办结（部分不予许可）",
        StepKind::End {
            outcome: Conclusion::Refused,
        },
    ));
    Ok(WorkflowDefinition {
        start: StepKey::new("fan_out"),
        instant: false,
        steps,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dept(code: &str) -> DepartmentRef {
        DepartmentRef::new(code)
    }
    fn key(k: &str) -> StepKey {
        StepKey::new(k)
    }
    fn codes(def: &WorkflowDefinition) -> Vec<&'static str> {
        match validate(def) {
            Ok(()) => Vec::new(),
            Err(issues) => issues.iter().map(|i| i.code).collect(),
        }
    }

    #[test]
    fn templates_validate() {
        assert_eq!(codes(&simple_approval(&dept("D01"))), Vec::<&str>::new());
        assert_eq!(codes(&two_level(&dept("D01"))), Vec::<&str>::new());
        let depts = [dept("D01"), dept("D02"), dept("D03")];
        assert_eq!(codes(&bundle_parallel(&depts).unwrap()), Vec::<&str>::new());
        assert_eq!(bundle_parallel(&[]).unwrap_err().code(), "bundle_departments_empty");
        assert_eq!(
            bundle_parallel(&[dept("A"), dept("A")]).unwrap_err().code(),
            "bundle_department_duplicate"
        );
    }

    #[test]
    fn simple_approval_runs_with_return() {
        let def = simple_approval(&dept("D01"));
        let (mut st, opened) = start(&def).unwrap();
        assert_eq!(opened, vec![key("accept")]);
        apply(&def, &mut st, &key("accept"), Action::Approve).unwrap();
        let out = apply(&def, &mut st, &key("review"), Action::Return).unwrap();
        assert_eq!(out.opened, vec![key("accept")]);
        apply(&def, &mut st, &key("accept"), Action::Approve).unwrap();
        apply(&def, &mut st, &key("review"), Action::Approve).unwrap();
        let err = apply(&def, &mut st, &key("review"), Action::Approve).unwrap_err();
        assert_eq!(err.code(), "step_not_open");
        let out = apply(&def, &mut st, &key("decide"), Action::Approve).unwrap();
        assert_eq!(out.concluded, Some(Conclusion::Approved));
        assert!(st.open.is_empty());
        let err = apply(&def, &mut st, &key("decide"), Action::Refuse).unwrap_err();
        assert_eq!(err.code(), "case_concluded");
    }

    #[test]
    fn action_not_allowed_leaves_state_unchanged() {
        let def = simple_approval(&dept("D01"));
        let (mut st, _) = start(&def).unwrap();
        let before = st.clone();
        let err = apply(&def, &mut st, &key("accept"), Action::Return).unwrap_err();
        assert_eq!(err.code(), "action_not_allowed");
        assert_eq!(st, before);
    }

    #[test]
    fn bundle_waits_for_every_department() {
        let def = bundle_parallel(&[dept("D01"), dept("D02"), dept("D03")]).unwrap();
        let (mut st, opened) = start(&def).unwrap();
        assert_eq!(opened.len(), 3);
        let out = apply(&def, &mut st, &key("review_1"), Action::Approve).unwrap();
        assert!(out.opened.is_empty() && out.concluded.is_none());
        apply(&def, &mut st, &key("review_0"), Action::Approve).unwrap();
        assert_eq!(st.waiting.len(), 1);
        let out = apply(&def, &mut st, &key("review_2"), Action::Approve).unwrap();
        assert_eq!(out.concluded, Some(Conclusion::Approved));

        let (mut st, _) = start(&def).unwrap();
        apply(&def, &mut st, &key("review_0"), Action::Refuse).unwrap();
        apply(&def, &mut st, &key("review_1"), Action::Approve).unwrap();
        let out = apply(&def, &mut st, &key("review_2"), Action::Approve).unwrap();
        assert_eq!(out.concluded, Some(Conclusion::Refused));
    }

    #[test]
    fn json_round_trip_and_shape() {
        let def = bundle_parallel(&[dept("D01"), dept("D02")]).unwrap();
        let json = def.to_json();
        assert!(json.contains("\"type\": \"fork\""));
        assert_eq!(WorkflowDefinition::from_json(&json).unwrap(), def);
        let raw = r#"{"start":"r","steps":[
            {"key":"r","name":"审核","department":"D01","role":"reviewer","time_limit_days":5,
             "kind":{"type":"task"},"actions":[{"action":"approve","to":"e"}]},
            {"key":"e","name":"办结","kind":{"type":"end","outcome":"approved"}}]}"#;
        let parsed = WorkflowDefinition::from_json(raw).unwrap();
        assert!(validate(&parsed).is_ok());
        let typo = raw.replace("time_limit_days", "time_limit");
        assert_eq!(
            WorkflowDefinition::from_json(&typo).unwrap_err().code(),
            "workflow_json_invalid"
        );
        let (st, _) = start(&parsed).unwrap();
        let st_json = serde_json::to_string(&st).unwrap();
        assert_eq!(serde_json::from_str::<WorkflowState>(&st_json).unwrap(), st);
    }

    #[test]
    fn validate_lists_every_problem() {
        let d = dept("D01");
        let def = WorkflowDefinition {
            start: key("a"),
            instant: false,
            steps: vec![
                StepDef::task("a", "甲", &d, Role::Reviewer, 0)
                    .on(Action::Approve, "b")
                    .on(Action::Approve, "zz"),
                StepDef::task("b", "乙", &d, Role::Reviewer, 3),
                StepDef::task("b", "乙2", &d, Role::Reviewer, 3).on(Action::Approve, "end"),
                StepDef::task("lonely", "", &d, Role::Reviewer, 3).on(Action::Approve, "end"),
                StepDef::auto(
                    "end",
                    "办结",
                    StepKind::End {
                        outcome: Conclusion::Approved,
                    },
                )
                .on(Action::Approve, "a"),
                StepDef::auto(
                    "j",
                    "汇合",
                    StepKind::Join {
                        fork: key("a"),
                        next: key("end"),
                        refused_next: None,
                    },
                ),
            ],
        };
        let c = codes(&def);
        for expected in [
            "step_time_limit_zero",
            "action_duplicate",
            "step_ref_unknown",
            "task_without_actions",
            "step_key_duplicate",
            "step_name_invalid",
            "end_has_actions",
            "join_fork_not_fork",
            "step_unreachable",
            "step_no_conclusion",
        ] {
            assert!(c.contains(&expected), "missing {expected} in {c:?}");
        }
        assert_eq!(
            codes(&WorkflowDefinition {
                start: key("x"),
                instant: false,
                steps: vec![]
            }),
            vec!["workflow_empty"]
        );
    }

    #[test]
    fn roles_without_an_inbox_long_limits_and_huge_definitions_are_refused() {
        let d = dept("民政局");
        let mut def = two_level(&d);
        def.steps[0].role = Some(Role::RegionAdmin);
        def.steps[1].time_limit_days = MAX_STEP_DAYS + 1;
        let c = codes(&def);
        assert!(
            c.contains(&"step_role_cannot_work") && c.contains(&"step_time_limit_too_long"),
            "{c:?}"
        );
        for role in Role::ALL {
            let mut def = two_level(&d);
            def.steps[0].role = Some(role);
            let works = matches!(role, Role::WindowClerk | Role::Reviewer | Role::HallManager);
            assert_eq!(validate(&def).is_ok(), works, "{role:?}");
        }
        let mut big = two_level(&d);
        for i in 0..MAX_STEPS {
            big.steps
                .push(StepDef::task(&format!("x{i}"), "多余", &d, Role::Reviewer, 1).on(Action::Approve, "done"));
        }
        assert_eq!(codes(&big), vec!["workflow_too_large"]);
    }

    #[test]
    fn nesting_rules() {
        let d = dept("D01");
        // Fork without a join, end inside a branch.
        let def = WorkflowDefinition {
            start: key("f"),
            instant: false,
            steps: vec![
                StepDef::auto(
                    "f",
                    "分送",
                    StepKind::Fork {
                        branches: vec![key("a"), key("b")],
                    },
                ),
                StepDef::task("a", "甲", &d, Role::Reviewer, 1).on(Action::Approve, "e"),
                StepDef::task("b", "乙", &d, Role::Reviewer, 1).on(Action::Approve, "e"),
                StepDef::auto(
                    "e",
                    "办结",
                    StepKind::End {
                        outcome: Conclusion::Approved,
                    },
                ),
            ],
        };
        let c = codes(&def);
        assert!(
            c.contains(&"fork_without_join") && c.contains(&"branch_boundary_crossed"),
            "{c:?}"
        );
        // Join without its fork upstream.
        let def = WorkflowDefinition {
            start: key("a"),
            instant: false,
            steps: vec![
                StepDef::task("a", "甲", &d, Role::Reviewer, 1).on(Action::Approve, "j"),
                StepDef::auto(
                    "f",
                    "分送",
                    StepKind::Fork {
                        branches: vec![key("a")],
                    },
                ),
                StepDef::auto(
                    "j",
                    "汇合",
                    StepKind::Join {
                        fork: key("f"),
                        next: key("e"),
                        refused_next: None,
                    },
                ),
                StepDef::auto(
                    "e",
                    "办结",
                    StepKind::End {
                        outcome: Conclusion::Approved,
                    },
                ),
            ],
        };
        let c = codes(&def);
        assert!(c.contains(&"join_without_fork"), "{c:?}");
        // A return that goes forward, and a loop with no exit.
        let def = WorkflowDefinition {
            start: key("a"),
            instant: false,
            steps: vec![
                StepDef::task("a", "甲", &d, Role::Reviewer, 1)
                    .on(Action::Approve, "b")
                    .on(Action::Return, "c"),
                StepDef::task("b", "乙", &d, Role::Reviewer, 1).on(Action::Approve, "a"),
                StepDef::task("c", "丙", &d, Role::Reviewer, 1).on(Action::Approve, "e"),
                StepDef::auto(
                    "e",
                    "办结",
                    StepKind::End {
                        outcome: Conclusion::Approved,
                    },
                ),
            ],
        };
        let c = codes(&def);
        assert!(c.contains(&"return_not_backward"), "{c:?}");
    }

    #[test]
    fn step_record_needs_opinion_to_return() {
        let def = simple_approval(&dept("D01"));
        let t0: Timestamp = "2026-03-18T01:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-03-18T02:00:00Z".parse().unwrap();
        let mut rec = StepRecord::opened(def.step(&key("review")).unwrap(), t0);
        assert_eq!(
            rec.close("li.si", Action::Return, "  ", t1).unwrap_err().code(),
            "opinion_required"
        );
        rec.close("li.si", Action::Return, "缺少身份证复印件", t1).unwrap();
        assert_eq!(rec.action.map(Action::record_label), Some("退回"));
        assert_eq!(
            rec.close("li.si", Action::Approve, "", t1).unwrap_err().code(),
            "step_record_closed"
        );
    }

    // ---- property tests ----

    /// A generated valid shape: top-level segments, each a task or a fork of branches of tasks.
    #[derive(Debug, Clone)]
    enum Seg {
        Task { ret: bool, refuse: bool },
        Fork(Vec<Vec<(bool, bool)>>),
    }

    fn build(segs: &[Seg]) -> WorkflowDefinition {
        let d = dept("D01");
        let mut steps = Vec::new();
        let mut refused_used = false;
        let entry = |i: usize| {
            if i < segs.len() {
                format!("s{i}")
            } else {
                "end_ok".to_owned()
            }
        };
        for (i, seg) in segs.iter().enumerate() {
            let next = entry(i + 1);
            match seg {
                Seg::Task { ret, refuse } => {
                    let mut s =
                        StepDef::task(&format!("s{i}"), "审核", &d, Role::Reviewer, 2).on(Action::Approve, &next);
                    if *ret && i > 0 {
                        s = s.on(Action::Return, &format!("s{}", i - 1));
                    }
                    if *refuse {
                        s = s.on(Action::Refuse, "end_no");
                        refused_used = true;
                    }
                    steps.push(s);
                }
                Seg::Fork(branches) => {
                    let join = format!("s{i}_j");
                    let first = |b: usize| format!("s{i}_b{b}_0");
                    steps.push(StepDef::auto(
                        &format!("s{i}"),
                        "分送",
                        StepKind::Fork {
                            branches: (0..branches.len()).map(|b| key(&first(b))).collect(),
                        },
                    ));
                    let mut any_refuse = false;
                    for (b, tasks) in branches.iter().enumerate() {
                        for (j, (ret, refuse)) in tasks.iter().enumerate() {
                            let to = if j + 1 < tasks.len() {
                                format!("s{i}_b{b}_{}", j + 1)
                            } else {
                                join.clone()
                            };
                            let mut s = StepDef::task(&format!("s{i}_b{b}_{j}"), "部门审核", &d, Role::Reviewer, 3)
                                .on(Action::Approve, &to);
                            if *ret && j > 0 {
                                s = s.on(Action::Return, &format!("s{i}_b{b}_{}", j - 1));
                            }
                            if *refuse {
                                s = s.on(Action::Refuse, &join);
                                any_refuse = true;
                            }
                            steps.push(s);
                        }
                    }
                    refused_used |= any_refuse;
                    steps.push(StepDef::auto(
                        &join,
                        "汇合",
                        StepKind::Join {
                            fork: key(&format!("s{i}")),
                            next: key(&next),
                            refused_next: any_refuse.then(|| key("end_no")),
                        },
                    ));
                }
            }
        }
        steps.push(StepDef::auto(
            "end_ok",
            "办结",
            StepKind::End {
                outcome: Conclusion::Approved,
            },
        ));
        if refused_used {
            steps.push(StepDef::auto(
                "end_no",
                "不予许可",
                StepKind::End {
                    outcome: Conclusion::Refused,
                },
            ));
        }
        WorkflowDefinition {
            start: key(&entry(0)),
            instant: false,
            steps,
        }
    }

    fn seg_strategy() -> impl Strategy<Value = Seg> {
        prop_oneof![
            (any::<bool>(), any::<bool>()).prop_map(|(ret, refuse)| Seg::Task { ret, refuse }),
            prop::collection::vec(prop::collection::vec((any::<bool>(), any::<bool>()), 1..4), 1..4)
                .prop_map(Seg::Fork),
        ]
    }

    /// Drives a case: random legal actions from `choices`, then always the action that gets closest
    /// to an end. Returns the conclusion and the number of actions taken.
    fn drive(def: &WorkflowDefinition, choices: &[u16]) -> (Option<Conclusion>, usize) {
        let dist = distance_to_end(def);
        let (mut st, _) = start(def).unwrap();
        let bound = choices.len() + 10 * def.steps.len() * def.steps.len() + 10;
        for n in 0..bound {
            if st.concluded.is_some() {
                return (st.concluded, n);
            }
            let candidates: Vec<(StepKey, Action, u32)> = st
                .open
                .iter()
                .flat_map(|o| {
                    let s = def.step(&o.step).unwrap();
                    s.actions
                        .iter()
                        .map(|t| (o.step.clone(), t.action, dist.get(&t.to).copied().unwrap_or(u32::MAX)))
                })
                .collect();
            assert!(!candidates.is_empty(), "stuck with open steps {:?}", st);
            let pick = match choices.get(n) {
                Some(&c) => candidates[usize::from(c) % candidates.len()].clone(),
                None => candidates.iter().min_by_key(|c| c.2).unwrap().clone(),
            };
            apply(def, &mut st, &pick.0, pick.1).unwrap();
        }
        (st.concluded, bound)
    }

    fn arb_key() -> impl Strategy<Value = StepKey> {
        prop::sample::select(vec!["a", "b", "c", "d", "e", "", "bad key"]).prop_map(StepKey::new)
    }

    fn arb_def() -> impl Strategy<Value = WorkflowDefinition> {
        let kind = prop_oneof![
            Just(StepKind::Task),
            prop::collection::vec(arb_key(), 0..3).prop_map(|branches| StepKind::Fork { branches }),
            (arb_key(), arb_key(), prop::option::of(arb_key())).prop_map(|(fork, next, refused_next)| StepKind::Join {
                fork,
                next,
                refused_next
            }),
            any::<bool>().prop_map(|ok| StepKind::End {
                outcome: if ok { Conclusion::Approved } else { Conclusion::Refused }
            }),
        ];
        let action = prop::sample::select(Action::ALL.to_vec());
        let step = (
            arb_key(),
            kind,
            prop::collection::vec((action, arb_key()), 0..3),
            0u32..3,
            any::<bool>(),
        )
            .prop_map(|(key, kind, actions, days, has_dept)| StepDef {
                key,
                name: "步骤".to_owned(),
                department: has_dept.then(|| DepartmentRef::new("D01")),
                role: Some(Role::Reviewer),
                time_limit_days: days,
                kind,
                actions: actions
                    .into_iter()
                    .map(|(action, to)| Transition { action, to })
                    .collect(),
            });
        (arb_key(), any::<bool>(), prop::collection::vec(step, 0..7))
            .prop_map(|(start, instant, steps)| WorkflowDefinition { start, instant, steps })
    }

    proptest! {
        #[test]
        fn generated_definitions_validate_and_conclude(
            segs in prop::collection::vec(seg_strategy(), 1..5),
            choices in prop::collection::vec(any::<u16>(), 0..60),
        ) {
            let def = build(&segs);
            prop_assert_eq!(validate(&def), Ok(()));
            let (concluded, _) = drive(&def, &choices);
            prop_assert!(concluded.is_some());
        }

        #[test]
        fn arbitrary_definitions_never_panic(def in arb_def(), choices in prop::collection::vec(any::<u16>(), 0..20)) {
            let valid = validate(&def).is_ok();
            match start(&def) {
                Ok((mut st, _)) => {
                    prop_assert!(valid);
                    // Random actions, legal or not, never panic and never touch a concluded case.
                    for c in &choices {
                        let step = def.steps[usize::from(*c) % def.steps.len()].key.clone();
                        let action = Action::ALL[usize::from(*c) % 3];
                        let was = st.concluded;
                        let res = apply(&def, &mut st, &step, action);
                        if was.is_some() {
                            prop_assert_eq!(res.map_err(|e| e.code()), Err("case_concluded"));
                        }
                    }
                    // Every definition that validates can reach a conclusion from the start.
                    let (concluded, _) = drive(&def, &[]);
                    prop_assert!(concluded.is_some());
                }
                Err(e) => {
                    prop_assert!(!valid);
                    prop_assert_eq!(e.code(), "workflow_invalid");
                }
            }
        }
    }
}
