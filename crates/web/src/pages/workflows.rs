//! Admin pages for workflows and calendars. Workflows: a region's list (where each service's and
//! bundle's workflow comes from), and one workflow with its diagram (vendored ECharts), versions,
//! a step editor that works without JavaScript (server-checked; with JavaScript it checks and
//! redraws as the admin types), a JSON view and paste, and a reset to inherit. Calendars: a month
//! grid per region (working days, weekends, holidays, 调休, closures and their origin), closures
//! added and removed with a reason, year files uploaded, and a deadline calculator that flags a
//! count beyond the loaded calendar.
use super::{Chrome, PageAuth, PageResult, StaffForm, page_err, render, see_other, show_time};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::workflows::calendar as cal;
use crate::workflows::diagram::graph;
use crate::workflows::{self as wf};
use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::civil::Date;
use onestop_domain::role::{Permission, Role};
use onestop_domain::workflow::{WorkflowDefinition, WorkflowIssue};
use onestop_domain::workflow_draft::{DraftDefinition, DraftKind, DraftStep, DraftTransition, STEP_KINDS};
use onestop_store::calendars::YearOrigin;
use onestop_store::workflows::Subject;
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/workflows", get(index))
        .route("/admin/workflows/regions/{id}", get(region_list))
        .route(
            "/admin/workflows/regions/{id}/{kind}/{sid}",
            get(editor).post(editor_submit),
        )
        .route("/admin/workflows/regions/{id}/{kind}/{sid}/check", post(editor_check))
        .route("/admin/workflows/regions/{id}/{kind}/{sid}/json", post(json_submit))
        .route("/admin/workflows/regions/{id}/{kind}/{sid}/reset", post(reset))
        .route("/admin/calendars/regions/{id}", get(calendar_page))
        .route("/admin/calendars/regions/{id}/closures", post(closure_add))
        .route(
            "/admin/calendars/regions/{id}/closures/{date}/remove",
            post(closure_remove),
        )
        .route("/admin/calendars/regions/{id}/years", post(year_upload))
        .route("/admin/calendars/regions/{id}/years/{year}/remove", post(year_remove))
}

fn subject_of(kind: &str, id: i64) -> Result<Subject, ApiError> {
    match kind {
        "services" => Ok(Subject::Service(id)),
        "bundles" => Ok(Subject::Bundle(id)),
        _ => Err(ApiError::not_found()),
    }
}

fn kind_of(s: Subject) -> &'static str {
    match s {
        Subject::Service(_) => "services",
        Subject::Bundle(_) => "bundles",
    }
}

/// JSON for a `<script type="application/json">` block. `<`, `>` and `&` only occur inside JSON
/// strings, where their `\u` escapes mean the same, so no step name can end the block (`</script>`)
/// or switch the HTML parser's script state (`<!--`).
fn script_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

// ---- index and list ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "workflows/index.html")]
struct IndexPage {
    c: Chrome,
    regions: Vec<(i64, String, String, usize)>,
}

async fn index(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    p.require_any(Permission::RegionRead).map_err(page_err(&p))?;
    let regions = crate::ops::list_regions(&state, &p)
        .await
        .map_err(page_err(&p))?
        .into_iter()
        .filter(|r| r.is_open())
        .map(|r| {
            let depth = r.region_path().ids().len().saturating_sub(1);
            (r.id, r.code, r.name, depth)
        })
        .collect();
    let page = IndexPage {
        c: Chrome::for_principal(&p, "/admin/workflows"),
        regions,
    };
    Ok(render(StatusCode::OK, &page))
}

struct ListRow {
    kind: &'static str,
    id: i64,
    code: String,
    name: String,
    enabled: bool,
    origin: String,
    own: bool,
    default: bool,
    version: String,
}

#[derive(Template)]
#[template(path = "workflows/region.html")]
struct RegionPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    services: Vec<ListRow>,
    bundles: Vec<ListRow>,
}

async fn region_list(State(state): State<AppState>, PageAuth(p): PageAuth, ApiPath(id): ApiPath<i64>) -> PageResult {
    let err = page_err(&p);
    let region = crate::ops::get_region(&state, &p, id).await.map_err(&err)?;
    let rows = wf::list(&state, &p, id).await.map_err(&err)?;
    let (mut services, mut bundles) = (Vec::new(), Vec::new());
    for r in rows {
        let row = ListRow {
            kind: kind_of(r.subject),
            id: r.subject.id(),
            own: matches!(r.origin, onestop_store::workflows::WorkflowOrigin::Own { .. }),
            default: matches!(r.origin, onestop_store::workflows::WorkflowOrigin::Default),
            code: r.code,
            name: r.name,
            enabled: r.enabled,
            origin: r.origin_label,
            version: r.version_number.map(|n| format!("第 {n} 版")).unwrap_or_default(),
        };
        match r.subject {
            Subject::Service(_) => services.push(row),
            Subject::Bundle(_) => bundles.push(row),
        }
    }
    let page = RegionPage {
        c: Chrome::for_principal(&p, "/admin/workflows"),
        region_id: id,
        region_name: region.name,
        services,
        bundles,
    };
    Ok(render(StatusCode::OK, &page))
}

// ---- the editor -------------------------------------------------------------------------------

/// One step as the editor's form shows it.
struct StepRow {
    i: usize,
    key: String,
    name: String,
    kind: String,
    department: String,
    role: String,
    days: String,
    approve: String,
    ret: String,
    refuse: String,
    branches: String,
    fork: String,
    next: String,
    refused_next: String,
    outcome: String,
    issues: Vec<String>,
}

impl StepRow {
    fn blank(i: usize) -> Self {
        Self {
            i,
            key: String::new(),
            name: String::new(),
            kind: "task".into(),
            department: String::new(),
            role: "reviewer".into(),
            days: String::new(),
            approve: String::new(),
            ret: String::new(),
            refuse: String::new(),
            branches: String::new(),
            fork: String::new(),
            next: String::new(),
            refused_next: String::new(),
            outcome: String::new(),
            issues: Vec::new(),
        }
    }
}

/// Rows for a draft, with each issue at its step's row.
fn rows_of(draft: &DraftDefinition, issues: &[WorkflowIssue], blanks: usize) -> (Vec<StepRow>, Vec<String>) {
    let mut rows: Vec<StepRow> = draft
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let to = |a: &str| {
                s.actions
                    .iter()
                    .find(|t| t.action == a)
                    .map(|t| t.to.clone())
                    .unwrap_or_default()
            };
            StepRow {
                i,
                key: s.key.clone(),
                name: s.name.clone(),
                kind: s.kind.kind.clone(),
                department: s.department.clone().unwrap_or_default(),
                role: s.role.clone().unwrap_or_default(),
                days: if s.kind.kind == "task" {
                    s.time_limit_days.to_string()
                } else {
                    String::new()
                },
                approve: to("approve"),
                ret: to("return"),
                refuse: to("refuse"),
                branches: s.kind.branches.join("、"),
                fork: s.kind.fork.clone().unwrap_or_default(),
                next: s.kind.next.clone().unwrap_or_default(),
                refused_next: s.kind.refused_next.clone().unwrap_or_default(),
                outcome: s.kind.outcome.clone().unwrap_or_default(),
                issues: Vec::new(),
            }
        })
        .collect();
    let mut general = Vec::new();
    for issue in issues {
        let row = issue
            .step
            .as_ref()
            .and_then(|k| rows.iter_mut().find(|r| r.key.trim() == k.as_str()));
        match row {
            Some(r) => r.issues.push(issue.message.clone()),
            None => general.push(issue.message.clone()),
        }
    }
    let n = rows.len();
    rows.extend((n..n + blanks).map(StepRow::blank));
    (rows, general)
}

/// Reads the editor's form: `start`, `instant`, and per step `key_N`, `name_N`, `kind_N`,
/// `department_N`, `role_N`, `days_N`, `approve_N`, `return_N`, `refuse_N` (tasks), `branches_N`
/// (forks, separated by 、 or commas), `fork_N`, `next_N`, `refused_next_N` (joins), `outcome_N`
/// (ends). Steps come in the order of the form. Fields that do not belong to a step's kind are
/// ignored; a row without key and name is an empty row.
fn draft_from_form(form: &[(String, String)]) -> (DraftDefinition, String) {
    let mut fields: BTreeMap<usize, BTreeMap<&str, &str>> = BTreeMap::new();
    // Steps keep the order of the form (the editor moves rows; their numbers stay).
    let mut order: Vec<usize> = Vec::new();
    let mut start = String::new();
    let mut instant = false;
    let mut note = String::new();
    for (k, v) in form {
        match k.as_str() {
            "start" => start = v.clone(),
            "instant" => instant = matches!(v.as_str(), "on" | "1" | "true"),
            "note" => note = v.clone(),
            _ => {
                if let Some((name, i)) = k.rsplit_once('_')
                    && let Ok(i) = i.parse::<usize>()
                    && i < 1000
                {
                    if !fields.contains_key(&i) {
                        order.push(i);
                    }
                    fields.entry(i).or_default().insert(name, v.as_str());
                }
            }
        }
    }
    let mut steps = Vec::new();
    for f in order.iter().filter_map(|i| fields.get(i)) {
        let get = |n: &str| f.get(n).map(|v| v.trim()).unwrap_or("");
        if get("key").is_empty() && get("name").is_empty() {
            continue;
        }
        let kind = if get("kind").is_empty() { "task" } else { get("kind") };
        let opt = |n: &str| (!get(n).is_empty()).then(|| get(n).to_owned());
        let mut step = DraftStep {
            key: get("key").to_owned(),
            name: get("name").to_owned(),
            department: None,
            role: None,
            time_limit_days: 0,
            kind: DraftKind {
                kind: kind.to_owned(),
                ..Default::default()
            },
            actions: Vec::new(),
        };
        match kind {
            "task" => {
                step.department = opt("department");
                step.role = opt("role");
                // Not a number: negative, so that the check reports it at the step.
                step.time_limit_days = match get("days") {
                    "" => 0,
                    d => d.parse().unwrap_or(-1),
                };
                for (field, action) in [("approve", "approve"), ("return", "return"), ("refuse", "refuse")] {
                    if let Some(to) = opt(field) {
                        step.actions.push(DraftTransition {
                            action: action.into(),
                            to,
                        });
                    }
                }
            }
            "fork" => {
                step.kind.branches = get("branches")
                    .split(|c: char| c == ',' || c == '，' || c == '、' || c.is_whitespace())
                    .filter(|b| !b.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "join" => {
                step.kind.fork = opt("fork");
                step.kind.next = opt("next");
                step.kind.refused_next = opt("refused_next");
            }
            "end" => step.kind.outcome = opt("outcome"),
            _ => {}
        }
        steps.push(step);
    }
    (
        DraftDefinition {
            start: start.trim().to_owned(),
            instant,
            steps,
        },
        note,
    )
}

struct VersionLine {
    id: i64,
    number: i64,
    region: String,
    note: String,
    at: String,
    by: String,
    in_force: bool,
    in_force_there: bool,
    own: bool,
}

/// A task step's department as resolved at this region, for the read-only table.
struct StepLine {
    key: String,
    name: String,
    kind: &'static str,
    department: String,
    resolved: String,
    unresolved: bool,
    role: String,
    days: u32,
    moves: String,
}

#[derive(Template)]
#[template(path = "workflows/editor.html")]
struct EditorPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    kind: &'static str,
    subject_id: i64,
    subject_label: &'static str,
    name: String,
    code: String,
    origin: String,
    own: bool,
    default: bool,
    version: String,
    writable: bool,
    graph_json: String,
    steps: Vec<StepLine>,
    versions: Vec<VersionLine>,
    warnings: Vec<String>,
    // The editor.
    rows: Vec<StepRow>,
    start: String,
    instant: bool,
    note: String,
    general_issues: Vec<String>,
    issue_count: usize,
    checked_ok: bool,
    notice: Option<String>,
    error: Option<String>,
    loaded_from: Option<i64>,
    json: String,
    json_error: Option<String>,
    departments: Vec<String>,
    roles: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
}

/// What the editor shows besides the workflow in force: a draft being edited (with its issues),
/// a message, a pasted JSON text.
#[derive(Default)]
struct EditorState {
    draft: Option<DraftDefinition>,
    note: String,
    issues: Vec<WorkflowIssue>,
    checked: bool,
    notice: Option<String>,
    error: Option<String>,
    loaded_from: Option<i64>,
    json: Option<String>,
    json_error: Option<String>,
}

fn step_lines(def: &WorkflowDefinition, eff: &onestop_store::workflows::EffectiveWorkflow) -> Vec<StepLine> {
    use onestop_domain::workflow::StepKind;
    def.steps
        .iter()
        .map(|s| {
            let dep = eff.departments.iter().find(|d| d.step == s.key);
            let moves = match &s.kind {
                StepKind::Task => s
                    .actions
                    .iter()
                    .map(|t| format!("{} → {}", t.action.label(), t.to))
                    .collect::<Vec<_>>()
                    .join("；"),
                StepKind::Fork { branches } => format!(
                    "分送 → {}",
                    branches.iter().map(|b| b.as_str()).collect::<Vec<_>>().join("、")
                ),
                StepKind::Join {
                    fork,
                    next,
                    refused_next,
                } => {
                    let mut m = format!("汇合 {fork} 的各分支 → {next}");
                    if let Some(r) = refused_next {
                        m.push_str(&format!("；有不予通过时 → {r}"));
                    }
                    m
                }
                StepKind::End { outcome } => outcome.label().to_owned(),
            };
            StepLine {
                key: s.key.as_str().to_owned(),
                name: s.name.clone(),
                kind: match &s.kind {
                    StepKind::Task => "办理步骤",
                    StepKind::Fork { .. } => "并行分送",
                    StepKind::Join { .. } => "并行汇合",
                    StepKind::End { .. } => "办结",
                },
                department: s.department.as_ref().map(|d| d.as_str().to_owned()).unwrap_or_default(),
                resolved: dep
                    .and_then(|d| d.resolved.as_ref())
                    .map(|r| format!("{} · {}", r.region.name, r.name))
                    .unwrap_or_default(),
                unresolved: dep.is_some_and(|d| d.resolved.is_none()),
                role: s.role.map(|r| r.label().to_owned()).unwrap_or_default(),
                days: s.time_limit_days,
                moves,
            }
        })
        .collect()
}

async fn render_editor(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    subject: Subject,
    st: EditorState,
) -> PageResult {
    let err = page_err(p);
    let view = wf::view(state, p, region_id, subject).await.map_err(&err)?;
    let region = onestop_store::regions::get(state.store.read(), region_id).await?;
    let writable = p.can(Permission::CatalogueWrite, &region.region_path());
    let departments = {
        let mut c = wf::conn(state).await.map_err(&err)?;
        onestop_store::workflows::department_names(&mut c, region_id).await?
    };
    // The editor starts from: the draft being edited, a version asked for, or the one in force.
    let mut loaded_from = None;
    let draft = match (&st.draft, st.loaded_from) {
        (Some(d), _) => d.clone(),
        (None, Some(vid)) => {
            let v = wf::version(state, p, vid).await.map_err(&err)?;
            if v.subject != subject {
                return Err(err(ApiError::not_found()));
            }
            loaded_from = Some(v.number);
            DraftDefinition::from_definition(&v.definition)
        }
        (None, None) => DraftDefinition::from_definition(&view.effective.definition),
    };
    // The diagram shows the draft while it is being edited, else the workflow in force.
    let graph_json = if st.draft.is_some() {
        let (def, _) = draft.read();
        script_json(&graph(&def, &st.issues))
    } else {
        script_json(&graph(&view.effective.definition, &[]))
    };
    let (rows, general_issues) = rows_of(&draft, &st.issues, 2);
    let status = if st.error.is_some() || st.json_error.is_some() || !st.issues.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let eff = &view.effective;
    let page = EditorPage {
        c: Chrome::for_principal(p, "/admin/workflows"),
        region_id,
        region_name: region.name.clone(),
        kind: kind_of(subject),
        subject_id: subject.id(),
        subject_label: match subject {
            Subject::Service(_) => "事项",
            Subject::Bundle(_) => "一件事",
        },
        name: view.name.clone(),
        code: view.code.clone(),
        origin: view.origin_label.clone(),
        own: matches!(eff.origin, onestop_store::workflows::WorkflowOrigin::Own { .. }),
        default: matches!(eff.origin, onestop_store::workflows::WorkflowOrigin::Default),
        version: eff.version_number.map(|n| format!("第 {n} 版")).unwrap_or_default(),
        writable,
        graph_json,
        steps: step_lines(&eff.definition, eff),
        versions: view
            .versions
            .iter()
            .map(|v| VersionLine {
                id: v.id,
                number: v.number,
                own: v.region.id == region_id,
                region: v.region.name.clone(),
                note: v.note.clone(),
                at: show_time(v.created_at),
                by: v.created_by.clone(),
                in_force: v.in_force,
                in_force_there: v.in_force_at_its_region,
            })
            .collect(),
        warnings: view.warnings.clone(),
        start: draft.start.clone(),
        instant: draft.instant,
        note: st.note.clone(),
        rows,
        issue_count: st.issues.len(),
        general_issues,
        checked_ok: st.checked && st.issues.is_empty(),
        notice: st.notice,
        error: st.error,
        loaded_from: loaded_from.or(if st.draft.is_some() { None } else { st.loaded_from }),
        json: st
            .json
            .unwrap_or_else(|| DraftDefinition::from_definition(&eff.definition).to_json()),
        json_error: st.json_error,
        departments,
        roles: [Role::WindowClerk, Role::Reviewer, Role::HallManager]
            .into_iter()
            .map(|r| (r.as_str(), r.label()))
            .collect(),
        kinds: STEP_KINDS.to_vec(),
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
struct EditorQuery {
    from: Option<i64>,
    saved: Option<i64>,
    reset: Option<u8>,
}

async fn editor(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath((id, kind, sid)): ApiPath<(i64, String, i64)>,
    Query(q): Query<EditorQuery>,
) -> PageResult {
    let subject = subject_of(&kind, sid).map_err(page_err(&p))?;
    let notice = match (q.saved, q.reset) {
        (Some(n), _) => Some(format!("已保存为第 {n} 版，本级及未另行设置的下级立即生效。")),
        (None, Some(_)) => Some("已恢复继承：本级不再单独设置流程。".to_owned()),
        _ => None,
    };
    render_editor(
        &state,
        &p,
        id,
        subject,
        EditorState {
            loaded_from: q.from,
            notice,
            ..Default::default()
        },
    )
    .await
}

/// The outcome of a save, as the page answers it: a redirect to the saved workflow, or the
/// editor again with every issue at its step.
async fn save_or_show(
    state: &AppState,
    p: &Principal,
    id: i64,
    subject: Subject,
    draft: DraftDefinition,
    note: String,
    json: Option<String>,
) -> PageResult {
    match wf::save(state, p, id, subject, &draft, &note).await {
        Ok(view) => {
            let n = view.effective.version_number.unwrap_or(0);
            Ok(see_other(&format!(
                "/admin/workflows/regions/{id}/{}/{}?saved={n}",
                kind_of(subject),
                subject.id()
            )))
        }
        Err(e) if matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => Err(page_err(p)(e)),
        Err(e) if e.code == "workflow_invalid" => {
            let checked = wf::check(state, p, id, &draft).await.map_err(page_err(p))?;
            let json_error = json.as_ref().map(|_| e.message.clone());
            render_editor(
                state,
                p,
                id,
                subject,
                EditorState {
                    draft: Some(draft),
                    note,
                    issues: checked.issues,
                    checked: true,
                    json,
                    json_error,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => {
            render_editor(
                state,
                p,
                id,
                subject,
                EditorState {
                    draft: Some(draft),
                    note,
                    error: Some(e.message.clone()),
                    json,
                    ..Default::default()
                },
            )
            .await
        }
    }
}

async fn editor_submit(
    State(state): State<AppState>,
    ApiPath((id, kind, sid)): ApiPath<(i64, String, i64)>,
    f: StaffForm<Vec<(String, String)>>,
) -> PageResult {
    let p = f.p;
    let subject = subject_of(&kind, sid).map_err(page_err(&p))?;
    let (draft, note) = draft_from_form(&f.form);
    let intent = f.form.iter().find(|(k, _)| k == "intent").map(|(_, v)| v.as_str());
    if intent == Some("save") {
        return save_or_show(&state, &p, id, subject, draft, note, None).await;
    }
    // 检查 (and the no-JavaScript 添加步骤): the editor again, checked, with empty rows to fill.
    let checked = wf::check(&state, &p, id, &draft).await.map_err(page_err(&p))?;
    render_editor(
        &state,
        &p,
        id,
        subject,
        EditorState {
            draft: Some(draft),
            note,
            issues: checked.issues,
            checked: true,
            ..Default::default()
        },
    )
    .await
}

/// The editor's live check (JavaScript): the same form, answered with the issues and diagram.
async fn editor_check(
    State(state): State<AppState>,
    ApiPath((id, kind, sid)): ApiPath<(i64, String, i64)>,
    f: StaffForm<Vec<(String, String)>>,
) -> Response {
    let p = f.p;
    if let Err(e) = subject_of(&kind, sid) {
        return e.into_response();
    }
    let (draft, _) = draft_from_form(&f.form);
    match wf::check(&state, &p, id, &draft).await {
        Ok(c) => axum::Json(crate::api::workflows::check_dto(c)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct JsonForm {
    json: String,
    #[serde(default)]
    note: String,
}

async fn json_submit(
    State(state): State<AppState>,
    ApiPath((id, kind, sid)): ApiPath<(i64, String, i64)>,
    f: StaffForm<JsonForm>,
) -> PageResult {
    let p = f.p;
    let subject = subject_of(&kind, sid).map_err(page_err(&p))?;
    match DraftDefinition::from_json(&f.form.json) {
        Ok(draft) => save_or_show(&state, &p, id, subject, draft, f.form.note, Some(f.form.json)).await,
        Err(e) => {
            render_editor(
                &state,
                &p,
                id,
                subject,
                EditorState {
                    json: Some(f.form.json),
                    json_error: Some(e.to_string()),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn reset(
    State(state): State<AppState>,
    ApiPath((id, kind, sid)): ApiPath<(i64, String, i64)>,
    f: StaffForm<Empty>,
) -> PageResult {
    let subject = subject_of(&kind, sid).map_err(page_err(&f.p))?;
    wf::reset(&state, &f.p, id, subject).await.map_err(page_err(&f.p))?;
    Ok(see_other(&format!(
        "/admin/workflows/regions/{id}/{kind}/{sid}?reset=1"
    )))
}

// ---- the calendar -----------------------------------------------------------------------------

struct Cell {
    day: i8,
    iso: String,
    kind: &'static str,
    label: String,
    today: bool,
}

struct ClosureLine {
    iso: String,
    date: String,
    month: String,
    reason: String,
    origin: String,
    own: bool,
}

struct YearLine {
    year: i16,
    source: String,
    origin: String,
    holidays: usize,
    makeup_days: usize,
    loaded: String,
    /// `region` or `national` when this page may remove it.
    removable: Option<&'static str>,
}

struct HolidayLine {
    name: String,
    days: String,
    makeup: String,
}

struct DeadlineLine {
    from: String,
    days: u32,
    result: Option<String>,
    flag: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "workflows/calendar.html")]
struct CalendarPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    title: String,
    month: String,
    prev: String,
    next: String,
    weeks: Vec<Vec<Cell>>,
    covered: String,
    month_covered: bool,
    years: Vec<YearLine>,
    holidays: Vec<HolidayLine>,
    closures: Vec<ClosureLine>,
    writable: bool,
    national_writable: bool,
    deadline: Option<DeadlineLine>,
    deadline_from: String,
    deadline_days: String,
    closure_date: String,
    closure_reason: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
struct CalendarQuery {
    month: Option<String>,
    from: Option<String>,
    days: Option<String>,
    notice: Option<String>,
}

fn parse_month(raw: &str) -> Result<Date, ApiError> {
    let bad = || {
        ApiError::validation(
            "month_invalid",
            format!("“{raw}”不是有效的月份，应为 2026-08 这样的格式"),
        )
    };
    let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
    let y: i16 = y.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    Date::new(y, m, 1).map_err(|_| bad())
}

fn month_key(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// What the calendar page may show besides the month: a form to refill, an error, a notice.
#[derive(Default)]
struct CalendarExtra {
    closure_date: String,
    closure_reason: String,
    error: Option<ApiError>,
    notice: Option<String>,
}

async fn render_calendar(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    q: CalendarQuery,
    extra: CalendarExtra,
) -> PageResult {
    let err = page_err(p);
    let region = crate::ops::get_region(state, p, region_id).await.map_err(&err)?;
    let today = crate::catalogue::today(state);
    let first = match q.month.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(m) => parse_month(m).map_err(&err)?,
        None => today.first_of_month(),
    };
    let last = first.last_of_month();
    let view = cal::view(state, p, region_id, first, last).await.map_err(&err)?;
    let t = crate::i18n::messages(None);
    // Weeks from Monday; days of the neighbouring months are blank.
    let mut weeks: Vec<Vec<Cell>> = Vec::new();
    let mut week: Vec<Cell> = (1..view.days.first().map(|d| d.weekday).unwrap_or(1))
        .map(|_| Cell {
            day: 0,
            iso: String::new(),
            kind: "pad",
            label: String::new(),
            today: false,
        })
        .collect();
    for d in &view.days {
        let label = match d.kind {
            "holiday" => d.label.clone().unwrap_or_default(),
            "makeup" => format!(
                "{}（{}）",
                t.get("calendar.makeup"),
                d.label.clone().unwrap_or_default()
            ),
            "closed" => format!(
                "{}：{}（{}）",
                t.get("calendar.closed"),
                d.label.clone().unwrap_or_default(),
                d.closure_region.as_ref().map(|r| r.name.as_str()).unwrap_or("")
            ),
            "not_covered" => t.get("calendar.not_covered").to_owned(),
            "weekend" => t.get("calendar.weekend").to_owned(),
            _ => String::new(),
        };
        week.push(Cell {
            day: d.date.day(),
            iso: d.date.to_string(),
            kind: d.kind,
            label,
            today: d.date == today,
        });
        if week.len() == 7 {
            weeks.push(std::mem::take(&mut week));
        }
    }
    if !week.is_empty() {
        while week.len() < 7 {
            week.push(Cell {
                day: 0,
                iso: String::new(),
                kind: "pad",
                label: String::new(),
                today: false,
            });
        }
        weeks.push(week);
    }
    let writable = p.can(Permission::SettingsWrite, &region.region_path());
    let national_writable = cal::may_keep_national(state, p).await.map_err(&err)?;
    let years = view
        .years
        .iter()
        .map(|y| YearLine {
            year: y.year,
            source: y.source.clone(),
            origin: match &y.origin {
                YearOrigin::Builtin => t.get("calendar.year_builtin").to_owned(),
                YearOrigin::National => t.get("calendar.year_national").to_owned(),
                YearOrigin::Region { region: r } if r.id == region_id => t.get("calendar.year_own").to_owned(),
                YearOrigin::Region { region: r } => format!("{}{}", t.get("calendar.year_inherited"), r.name),
            },
            holidays: y.holidays,
            makeup_days: y.makeup_days,
            loaded: match (&y.loaded_at, &y.loaded_by) {
                (Some(at), Some(by)) => format!("{} · {by}", show_time(*at)),
                _ => String::new(),
            },
            removable: match &y.origin {
                YearOrigin::Region { region: r } if r.id == region_id && writable => Some("region"),
                YearOrigin::National if national_writable => Some("national"),
                _ => None,
            },
        })
        .collect();
    let rc_holidays = {
        let rc =
            onestop_store::calendars::region_calendar(&mut *wf::conn(state).await.map_err(&err)?, region_id).await?;
        rc.calendar
            .years()
            .find(|y| y.year() == first.year())
            .map(|y| {
                y.holidays()
                    .iter()
                    .map(|h| HolidayLine {
                        name: h.name.clone(),
                        days: if h.start == h.end {
                            crate::catalogue::show_date(h.start)
                        } else {
                            format!(
                                "{} 至 {}",
                                crate::catalogue::show_date(h.start),
                                crate::catalogue::show_date(h.end)
                            )
                        },
                        makeup: h
                            .makeup_workdays
                            .iter()
                            .map(|d| crate::catalogue::show_date(*d))
                            .collect::<Vec<_>>()
                            .join("、"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let closures = view
        .closures
        .iter()
        .map(|c| ClosureLine {
            iso: c.date.to_string(),
            date: crate::catalogue::show_date(c.date),
            month: month_key(c.date),
            reason: c.reason.clone(),
            origin: if c.region.id == region_id {
                t.get("calendar.closure_own").to_owned()
            } else {
                format!("{}{}", t.get("calendar.closure_inherited"), c.region.name)
            },
            own: c.region.id == region_id,
        })
        .collect();
    // The deadline calculator (a GET form, so it works without JavaScript).
    let mut error = extra.error.map(|e| e.message);
    let deadline = match (q.from.as_deref(), q.days.as_deref()) {
        (Some(f), Some(d)) if !f.trim().is_empty() && !d.trim().is_empty() => {
            let counted = match (cal::parse_date(f, "from"), d.trim().parse::<u32>()) {
                (Ok(from), Ok(days)) => cal::deadline(state, p, region_id, from, days)
                    .await
                    .map_err(|e| e.message),
                (Err(e), _) => Err(e.message),
                (_, Err(_)) => Err(format!("“{d}”不是有效的工作日数")),
            };
            match counted {
                Ok(dl) => Some(DeadlineLine {
                    from: crate::catalogue::show_date(dl.from),
                    days: dl.days,
                    result: dl.deadline.map(crate::catalogue::show_date),
                    flag: dl
                        .beyond_calendar
                        .then(|| (dl.code.unwrap_or_default(), dl.message.unwrap_or_default())),
                }),
                Err(m) => {
                    error = Some(m);
                    None
                }
            }
        }
        _ => None,
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = CalendarPage {
        c: Chrome::for_principal(p, "/admin/workflows"),
        region_id,
        region_name: region.name,
        title: format!("{}年{}月", first.year(), first.month()),
        month: month_key(first),
        prev: month_key(first.yesterday().unwrap_or(first)),
        next: month_key(last.tomorrow().unwrap_or(last)),
        weeks,
        covered: format!(
            "{} 至 {}",
            crate::catalogue::show_date(view.covered_from),
            crate::catalogue::show_date(view.covered_to)
        ),
        month_covered: view.days.iter().all(|d| d.kind != "not_covered"),
        years,
        holidays: rc_holidays,
        closures,
        writable,
        national_writable,
        deadline,
        deadline_from: q.from.unwrap_or_else(|| today.to_string()),
        deadline_days: q.days.unwrap_or_else(|| "20".into()),
        closure_date: extra.closure_date,
        closure_reason: extra.closure_reason,
        error,
        notice: extra.notice.or(q.notice),
    };
    Ok(render(status, &page))
}

async fn calendar_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    Query(q): Query<CalendarQuery>,
) -> PageResult {
    render_calendar(&state, &p, id, q, CalendarExtra::default()).await
}

#[derive(Deserialize)]
struct ClosureForm {
    date: String,
    reason: String,
}

/// Errors of a form on the calendar page: out of scope or not allowed is the plain error page;
/// anything else is the page again, with the message and the form refilled.
async fn calendar_refusal(
    state: &AppState,
    p: &Principal,
    id: i64,
    month: Option<String>,
    extra: CalendarExtra,
) -> PageResult {
    if let Some(e) = &extra.error
        && matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND)
        && e.code != "calendar_closure_unknown"
        && e.code != "calendar_year_unknown"
    {
        return Err(page_err(p)(e.clone()));
    }
    render_calendar(
        state,
        p,
        id,
        CalendarQuery {
            month,
            ..Default::default()
        },
        extra,
    )
    .await
}

async fn closure_add(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    f: StaffForm<ClosureForm>,
) -> PageResult {
    let p = f.p;
    let result = match cal::parse_date(&f.form.date, "date") {
        Ok(date) => cal::add_closure(&state, &p, id, date, &f.form.reason)
            .await
            .map(|_| date),
        Err(e) => Err(e),
    };
    match result {
        Ok(date) => Ok(see_other(&format!(
            "/admin/calendars/regions/{id}?month={}",
            month_key(date)
        ))),
        Err(e) => {
            let month = cal::parse_date(&f.form.date, "date").ok().map(month_key);
            calendar_refusal(
                &state,
                &p,
                id,
                month,
                CalendarExtra {
                    closure_date: f.form.date,
                    closure_reason: f.form.reason,
                    error: Some(e),
                    notice: None,
                },
            )
            .await
        }
    }
}

async fn closure_remove(
    State(state): State<AppState>,
    ApiPath((id, date)): ApiPath<(i64, String)>,
    f: StaffForm<Empty>,
) -> PageResult {
    let p = f.p;
    let result = match cal::parse_date(&date, "date") {
        Ok(d) => cal::remove_closure(&state, &p, id, d).await.map(|_| d),
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Ok(see_other(&format!(
            "/admin/calendars/regions/{id}?month={}",
            month_key(d)
        ))),
        Err(e) => {
            let month = cal::parse_date(&date, "date").ok().map(month_key);
            calendar_refusal(
                &state,
                &p,
                id,
                month,
                CalendarExtra {
                    error: Some(e),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

/// The year file upload (multipart: `csrf`, `scope` = `region` or `national`, `file`).
async fn year_upload(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    mut mp: Multipart,
) -> PageResult {
    let bad_form = || ApiError::validation("invalid_form", "请选择要载入的 .toml 工作日历文件");
    let mut csrf = None;
    let mut scope = String::from("region");
    let mut file: Option<Vec<u8>> = None;
    loop {
        match mp.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let bytes = match field.bytes().await {
                    Ok(b) => b,
                    Err(_) => {
                        return Err(page_err(&p)(crate::extract::body_rejection(
                            StatusCode::PAYLOAD_TOO_LARGE,
                        )));
                    }
                };
                match name.as_str() {
                    "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    "scope" => scope = String::from_utf8_lossy(&bytes).into_owned(),
                    "file" => file = Some(bytes.to_vec()),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return Err(page_err(&p)(bad_form())),
        }
    }
    crate::auth::check_csrf(&p, &axum::http::Method::POST, csrf.as_deref()).map_err(page_err(&p))?;
    let result = match file.filter(|f| !f.is_empty()) {
        None => Err(bad_form()),
        Some(bytes) => match String::from_utf8(bytes) {
            Err(_) => Err(ApiError::validation(
                "calendar_file_invalid",
                "工作日历文件须为 UTF-8 编码的 TOML 文本",
            )),
            Ok(text) => {
                let region = (scope != "national").then_some(id);
                cal::import_year(&state, &p, region, &text).await
            }
        },
    };
    match result {
        Ok(y) => Ok(see_other(&format!(
            "/admin/calendars/regions/{id}?month={}-01&notice={}",
            y.year,
            super::urlencode(&format!("已载入 {} 年工作日历（{} 个节假日）", y.year, y.holidays))
        ))),
        Err(e) => {
            calendar_refusal(
                &state,
                &p,
                id,
                None,
                CalendarExtra {
                    error: Some(e),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct ScopeForm {
    #[serde(default)]
    scope: String,
}

async fn year_remove(
    State(state): State<AppState>,
    ApiPath((id, year)): ApiPath<(i64, i16)>,
    f: StaffForm<ScopeForm>,
) -> PageResult {
    let p = f.p;
    let region = (f.form.scope != "national").then_some(id);
    match cal::remove_year(&state, &p, region, year).await {
        Ok(()) => Ok(see_other(&format!("/admin/calendars/regions/{id}"))),
        Err(e) => {
            calendar_refusal(
                &state,
                &p,
                id,
                None,
                CalendarExtra {
                    error: Some(e),
                    ..Default::default()
                },
            )
            .await
        }
    }
}
