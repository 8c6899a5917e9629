//! The flow diagram of a workflow: nodes placed in columns by their distance from the start
//! (forward moves only; 退回 draws back to the left), for the vendored ECharts `graph` series
//! (`assets/js/workflows.js` draws it). Computed on the server, so the page, the editor's live
//! check and the API draw the same picture.
use onestop_domain::workflow::{Action, StepKey, StepKind, WorkflowDefinition, WorkflowIssue};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, VecDeque};
use utoipa::ToSchema;

/// Horizontal and vertical spacing of the layout, in the chart's own units.
const COLUMN: f64 = 180.0;
const ROW: f64 = 90.0;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Node {
    pub id: String,
    pub name: String,
    /// `task`, `fork`, `join`, `end_approved` or `end_refused`.
    pub kind: &'static str,
    /// Department · role · time limit, for a task.
    pub detail: String,
    pub x: f64,
    pub y: f64,
    pub start: bool,
    /// The check found a problem at this step.
    pub issue: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    pub source: String,
    pub target: String,
    /// 通过 / 退回 / 不予通过 / 分支 / 汇合后 / 有不予通过时.
    pub label: String,
    /// `approve`, `return`, `refuse`, `branch`, `next` or `refused_next`.
    pub kind: &'static str,
}

/// What ECharts draws.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

fn forward(def: &WorkflowDefinition, key: &StepKey) -> Vec<StepKey> {
    let Some(s) = def.step(key) else {
        return Vec::new();
    };
    match &s.kind {
        StepKind::Task => s
            .actions
            .iter()
            .filter(|t| t.action != Action::Return)
            .map(|t| t.to.clone())
            .collect(),
        StepKind::Fork { branches } => branches.clone(),
        StepKind::Join { next, refused_next, .. } => {
            std::iter::once(next.clone()).chain(refused_next.clone()).collect()
        }
        StepKind::End { .. } => Vec::new(),
    }
}

/// The graph of `def` (valid or not: references to unknown steps are left out), with the steps
/// that `issues` name marked.
pub fn graph(def: &WorkflowDefinition, issues: &[WorkflowIssue]) -> Graph {
    let t = crate::i18n::messages(None);
    let known: BTreeSet<&StepKey> = def.steps.iter().map(|s| &s.key).collect();
    // Column: shortest forward distance from the start; steps it never reaches go after the last.
    let mut column: HashMap<StepKey, usize> = HashMap::new();
    let mut queue = VecDeque::new();
    if known.contains(&def.start) {
        column.insert(def.start.clone(), 0);
        queue.push_back(def.start.clone());
    }
    while let Some(k) = queue.pop_front() {
        let c = column.get(&k).copied().unwrap_or(0);
        for n in forward(def, &k) {
            if known.contains(&n) && !column.contains_key(&n) {
                column.insert(n.clone(), c + 1);
                queue.push_back(n);
            }
        }
    }
    // Conclusions share the last column, after every other step, so that refusals from early steps
    // do not sit in the middle of the flow.
    let is_end = |k: &StepKey| def.step(k).is_some_and(|s| matches!(s.kind, StepKind::End { .. }));
    let last = column
        .iter()
        .filter(|(k, _)| !is_end(k))
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0);
    let mut rows_in: HashMap<usize, usize> = HashMap::new();
    let mut placed: Vec<(usize, usize)> = Vec::with_capacity(def.steps.len());
    for s in &def.steps {
        let c = match column.get(&s.key) {
            Some(_) if is_end(&s.key) => last + 1,
            Some(c) => *c,
            None => last + 2,
        };
        let r = rows_in.entry(c).or_insert(0);
        placed.push((c, *r));
        *r += 1;
    }
    let with_issue: BTreeSet<&str> = issues
        .iter()
        .filter_map(|i| i.step.as_ref())
        .map(StepKey::as_str)
        .collect();
    let mut seen = BTreeSet::new();
    let nodes = def
        .steps
        .iter()
        .zip(placed)
        .filter(|(s, _)| seen.insert(s.key.clone()))
        .map(|(s, (c, r))| {
            let height = rows_in.get(&c).copied().unwrap_or(1) as f64;
            let kind = match &s.kind {
                StepKind::Task => "task",
                StepKind::Fork { .. } => "fork",
                StepKind::Join { .. } => "join",
                StepKind::End { outcome } => match outcome {
                    onestop_domain::workflow::Conclusion::Approved => "end_approved",
                    onestop_domain::workflow::Conclusion::Refused => "end_refused",
                },
            };
            let detail = match &s.kind {
                StepKind::Task => format!(
                    "{} · {} · {} 个工作日",
                    s.department.as_ref().map(|d| d.as_str()).unwrap_or("—"),
                    s.role.map(|r| r.label()).unwrap_or("—"),
                    s.time_limit_days
                ),
                _ => String::new(),
            };
            Node {
                id: s.key.as_str().to_owned(),
                name: s.name.clone(),
                kind,
                detail,
                x: c as f64 * COLUMN,
                // Centre each column around the middle line.
                y: (r as f64 - (height - 1.0) / 2.0) * ROW,
                start: s.key == def.start,
                issue: with_issue.contains(s.key.as_str()),
            }
        })
        .collect();
    let mut links = Vec::new();
    let mut link = |from: &StepKey, to: &StepKey, label: String, kind: &'static str| {
        if known.contains(to) {
            links.push(Link {
                source: from.as_str().to_owned(),
                target: to.as_str().to_owned(),
                label,
                kind,
            });
        }
    };
    for s in &def.steps {
        match &s.kind {
            StepKind::Task => {
                for tr in &s.actions {
                    let kind = match tr.action {
                        Action::Approve => "approve",
                        Action::Return => "return",
                        Action::Refuse => "refuse",
                    };
                    link(&s.key, &tr.to, tr.action.label().to_owned(), kind);
                }
            }
            StepKind::Fork { branches } => {
                for b in branches {
                    link(&s.key, b, t.get("workflows.link_branch").to_owned(), "branch");
                }
            }
            StepKind::Join { next, refused_next, .. } => {
                link(&s.key, next, t.get("workflows.link_next").to_owned(), "next");
                if let Some(r) = refused_next {
                    link(
                        &s.key,
                        r,
                        t.get("workflows.link_refused_next").to_owned(),
                        "refused_next",
                    );
                }
            }
            StepKind::End { .. } => {}
        }
    }
    Graph { nodes, links }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use onestop_domain::workflow::{DepartmentRef, bundle_parallel, simple_approval};

    #[test]
    fn columns_follow_the_forward_moves_and_branches_stack() {
        let g = graph(&simple_approval(&DepartmentRef::new("民政局")), &[]);
        let x = |id: &str| g.nodes.iter().find(|n| n.id == id).unwrap().x;
        assert!(x("accept") < x("review") && x("review") < x("decide") && x("decide") < x("done"));
        assert!(
            g.links
                .iter()
                .any(|l| l.source == "review" && l.target == "accept" && l.kind == "return")
        );
        let g = graph(
            &bundle_parallel(&[
                DepartmentRef::new("甲"),
                DepartmentRef::new("乙"),
                DepartmentRef::new("丙"),
            ])
            .unwrap(),
            &[],
        );
        let branch: Vec<&Node> = g.nodes.iter().filter(|n| n.id.starts_with("review_")).collect();
        assert_eq!(branch.len(), 3);
        assert!(branch.iter().all(|n| n.x == branch[0].x));
        let ys: BTreeSet<i64> = branch.iter().map(|n| n.y as i64).collect();
        assert_eq!(ys.len(), 3, "branches stacked, not on top of each other");
        assert!(g.nodes.iter().any(|n| n.id == "fan_out" && n.start && n.kind == "fork"));
    }
}
