//! Staff pages of cases (issue 4): the case page (details masked with an audited reveal, step
//! records, events, the clock, and the actions allowed now: the intake decision, claim, step
//! actions with an opinion, special procedures and extensions), the back-office inbox (claim,
//! assign) and the warnings list filtered by hall, department and person. Every action goes
//! through the same use case as the API (`crate::cases`); a refused action re-renders the case
//! page with the message and the API's status, never a 500.
use super::{Chrome, PageAuth, PageResult, StaffForm, page_err, render, see_other, show_time};
use crate::auth::Principal;
use crate::cases::{self as ops, ActRequest, CaseView, ClockRequest, IntakeDecision};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onestop_domain::region::RegionPath;
use onestop_domain::role::{Permission, Role};
use onestop_domain::workflow::StepKey;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cases/warnings", get(warnings_page))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/intake", post(intake))
        .route("/cases/{id}/act", post(act))
        .route("/cases/{id}/claim", post(claim))
        .route("/cases/{id}/clock", post(clock))
        .route("/cases/{id}/reveal", post(reveal))
        .route("/inbox", get(inbox_page))
        .route("/inbox/steps/{id}/claim", post(inbox_claim))
        .route("/inbox/steps/{id}/assign", post(inbox_assign))
}

fn action_label(a: &str) -> &'static str {
    match a {
        "approve" => "通过",
        "return" => "退回",
        "refuse" => "不予通过",
        "auto" => "自动",
        _ => "",
    }
}

fn warning_label(w: &str) -> &'static str {
    match w {
        "yellow" => "黄牌预警",
        "red" => "红牌超期",
        _ => "",
    }
}

/// 简体 name of an event kind (unknown kinds are shown as they are).
pub(crate) fn event_label(kind: &str) -> String {
    let l = match kind {
        "submit" => "收件",
        "intake.accept" => "受理",
        "intake.refuse" => "不予受理",
        "intake.accept_pending" => "容缺受理",
        "intake.notice_missing" => "一次性告知",
        "intake.deemed" => "视为受理",
        "step.open" => "进入环节",
        "step.act" => "环节办理",
        "step.claim" => "认领",
        "step.assign" => "指派",
        "step.reassign" => "转交",
        "clock.start_special" => "特别程序开始（计时暂停）",
        "clock.end_special" => "特别程序结束（恢复计时）",
        "clock.extend" => "延长办理期限",
        "warning" => "预警",
        "conclude" => "办结",
        "reveal" => "查看个人信息",
        "certificate" => "颁发电子证照",
        other => return other.to_owned(),
    };
    l.to_owned()
}

fn role_label(r: &str) -> &'static str {
    Role::parse(r).map(|r| r.label()).unwrap_or("")
}

// ---- the case page ------------------------------------------------------------------------------

pub struct StepView {
    pub id: i64,
    pub name: String,
    pub department: String,
    pub role: &'static str,
    pub handler: String,
    pub opinion: String,
    pub action: &'static str,
    pub started: String,
    pub ended: String,
    pub due_on: String,
    pub warning: String,
    pub warning_label: &'static str,
    pub open: bool,
    pub claimable: bool,
    /// (action, label) the workflow allows on this step.
    pub actions: Vec<(&'static str, &'static str)>,
}

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "cases/case.html")]
struct CasePage {
    c: Chrome,
    v: CaseView,
    warning_label: &'static str,
    clock_label: &'static str,
    paused: bool,
    pause_label: String,
    remaining_promised: Option<i64>,
    remaining_legal: Option<i64>,
    steps: Vec<StepView>,
    events: Vec<EventView>,
    /// (kind, title, issued)
    notices: Vec<(String, String, String)>,
    /// (name, status label, source)
    materials: Vec<(String, &'static str, String)>,
    can_intake: bool,
    can_clock: bool,
    can_extend: bool,
    can_reveal: bool,
    ticket_no: String,
    done: Option<String>,
    error: Option<String>,
    today: String,
}

fn done_message(code: &str) -> Option<String> {
    Some(
        match code {
            "intake" => "已作出受理决定，可打印下方的通知书。",
            "act" => "已办理该环节。",
            "claim" => "已认领。",
            "clock" => "已记录。",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn case_page_of(
    state: &AppState,
    p: &Principal,
    id: i64,
    done: Option<String>,
    error: Option<String>,
) -> Result<CasePage, ApiError> {
    let v = ops::get(state, p, id).await?;
    let l = ops::load(state, id).await?;
    let path = RegionPath::from_stored(l.row.region_path.clone());
    let today = ops::today_at(state.clock.now());
    let cal = {
        let mut c = state
            .store
            .read()
            .acquire()
            .await
            .map_err(onestop_store::StoreError::from)?;
        onestop_store::calendars::calendar_for(&mut c, v.region_id).await?
    };
    let remaining = l.clock.remaining(&cal, today).ok();
    let open_pause = l.clock.open_pause();
    let pause_label = open_pause
        .map(|pz| format!("{}（自 {} 起）", pz.procedure.label(), pz.start))
        .unwrap_or_default();
    let steps = v
        .steps
        .iter()
        .map(|s| {
            let open = s.ended_at.is_none();
            let actions = if open {
                l.definition
                    .step(&StepKey::new(s.step_key.clone()))
                    .map(|d| {
                        d.actions
                            .iter()
                            .map(|t| (t.action.as_str(), action_label(t.action.as_str())))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let mut actions_dedup: Vec<(&'static str, &'static str)> = Vec::new();
            for a in actions {
                if !actions_dedup.contains(&a) {
                    actions_dedup.push(a);
                }
            }
            StepView {
                id: s.id,
                name: s.step_name.clone(),
                department: s.department_name.clone(),
                role: role_label(&s.role),
                handler: s.handler.clone().unwrap_or_default(),
                opinion: s.opinion.clone().unwrap_or_default(),
                action: action_label(s.action.as_deref().unwrap_or("")),
                started: show_time(s.started_at),
                ended: s.ended_at.map(show_time).unwrap_or_default(),
                due_on: s.due_on.clone().unwrap_or_default(),
                warning: s.warning.clone(),
                warning_label: warning_label(&s.warning),
                open,
                claimable: open && s.handler.is_none(),
                actions: actions_dedup,
            }
        })
        .collect();
    let events = v
        .events
        .iter()
        .map(|e| EventView {
            at: show_time(e.at),
            actor: e.actor.clone(),
            label: event_label(&e.kind),
        })
        .collect();
    let notices = v
        .notices
        .iter()
        .map(|n| {
            let title = onestop_domain::intake::NoticeKind::parse(&n.kind)
                .map(|k| k.title().to_owned())
                .unwrap_or_else(|_| n.kind.clone());
            (n.kind.clone(), title, show_time(n.issued_at))
        })
        .collect();
    let materials = v
        .materials
        .iter()
        .map(|m| {
            let status = match m.status.as_str() {
                "provided" => "已提交",
                "pending" => "容缺后补",
                "missing" => "需补正",
                _ => "",
            };
            let source = match (&m.certificate_number, &m.sha256) {
                (Some(c), _) => format!("复用电子证照 {c}"),
                (None, Some(sha)) => format!("上传文件 {}", &sha[..sha.len().min(12)]),
                _ => String::new(),
            };
            (m.name.clone(), status, source)
        })
        .collect();
    let ticket_no = match v.ticket_id {
        Some(t) => onestop_store::queue::ticket(state.store.read(), t)
            .await
            .map(|t| t.ticket_no)
            .unwrap_or_default(),
        None => String::new(),
    };
    let open_intake = matches!(v.status.as_str(), "submitted" | "awaiting_correction");
    let running = matches!(v.status.as_str(), "in_progress" | "suspended");
    Ok(CasePage {
        c: Chrome::for_principal(p, "/inbox"),
        warning_label: warning_label(&v.warning),
        clock_label: match v.clock_state.as_str() {
            "running" => "计时中",
            "paused" => "已暂停（特别程序）",
            "not_started" => "未开始（受理后次一工作日起算）",
            "stopped" => "已停止",
            _ => "",
        },
        paused: open_pause.is_some(),
        pause_label,
        remaining_promised: remaining.map(|r| r.promised).filter(|_| running),
        remaining_legal: remaining.map(|r| r.legal).filter(|_| running),
        steps,
        events,
        notices,
        materials,
        can_intake: open_intake && p.can(Permission::WindowWork, &path),
        can_clock: running && p.can(Permission::BackOfficeWork, &path),
        can_extend: running && p.can(Permission::HallManage, &path),
        can_reveal: p.can(Permission::WindowWork, &path) || p.can(Permission::BackOfficeWork, &path),
        ticket_no,
        done,
        error,
        today: today.to_string(),
        v,
    })
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

async fn case_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let page = case_page_of(&state, &p, id, q.done.as_deref().and_then(done_message), None)
        .await
        .map_err(page_err(&p))?;
    Ok(render(StatusCode::OK, &page))
}

/// After an action: back to the case page, or the page again with the refusal and its status.
async fn after(state: &AppState, p: &Principal, id: i64, done: &str, r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => see_other(&format!("/cases/{id}?done={done}")),
        Err(e) => match case_page_of(state, p, id, None, Some(e.message.clone())).await {
            Ok(page) => render(e.status, &page),
            Err(_) => page_err(p)(e).into_response(),
        },
    }
}

#[derive(Deserialize)]
struct IntakeForm {
    decision: String,
    #[serde(default)]
    reasons: String,
    /// One material a line.
    #[serde(default)]
    materials: String,
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    commitment_signed: Option<String>,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn intake(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, form }: StaffForm<IntakeForm>,
) -> Response {
    let decision = match form.decision.as_str() {
        "accept" => Ok(IntakeDecision::Accept),
        "refuse" => Ok(IntakeDecision::Refuse { reasons: form.reasons }),
        "accept_pending" => match form.deadline.trim().parse::<jiff::civil::Date>() {
            Ok(deadline) => Ok(IntakeDecision::AcceptPending {
                materials: lines(&form.materials),
                deadline,
                commitment_signed: form.commitment_signed.is_some(),
            }),
            Err(_) => Err(ApiError::validation("deadline_invalid", "请填写补交材料的期限（日期）")),
        },
        "notice_missing" => Ok(IntakeDecision::NoticeMissing {
            materials: lines(&form.materials),
        }),
        _ => Err(ApiError::validation("decision_invalid", "请选择一种受理决定")),
    };
    let r = match decision {
        Ok(d) => ops::decide_intake(&state, &p, id, d).await.map(|_| ()),
        Err(e) => Err(e),
    };
    after(&state, &p, id, "intake", r).await
}

#[derive(Deserialize)]
struct ActForm {
    step_id: i64,
    action: String,
    #[serde(default)]
    opinion: String,
}

async fn act(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, form }: StaffForm<ActForm>,
) -> Response {
    let r = ops::act(
        &state,
        &p,
        id,
        ActRequest {
            step_id: form.step_id,
            action: form.action,
            opinion: form.opinion,
        },
    )
    .await
    .map(|_| ());
    after(&state, &p, id, "act", r).await
}

#[derive(Deserialize)]
struct StepForm {
    step_id: i64,
}

async fn claim(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, form }: StaffForm<StepForm>,
) -> Response {
    let r = ops::claim(&state, &p, form.step_id).await.map(|_| ());
    after(&state, &p, id, "claim", r).await
}

#[derive(Deserialize)]
struct ClockForm {
    action: String,
    #[serde(default)]
    procedure: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
}

async fn clock(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, form }: StaffForm<ClockForm>,
) -> Response {
    let req = match form.action.as_str() {
        "start_special" => Ok(ClockRequest::StartSpecial {
            procedure: form.procedure,
            reason: form.reason,
        }),
        "end_special" => Ok(ClockRequest::EndSpecial),
        "extend" => match form.days.trim().parse::<u32>() {
            Ok(days) => Ok(ClockRequest::Extend {
                days,
                reason: form.reason,
            }),
            Err(_) => Err(ApiError::validation("days_invalid", "请填写延长的工作日数")),
        },
        _ => Err(ApiError::validation("clock_action_invalid", "未知的计时操作")),
    };
    let r = match req {
        Ok(req) => ops::clock_action(&state, &p, id, req).await.map(|_| ()),
        Err(e) => Err(e),
    };
    after(&state, &p, id, "clock", r).await
}

#[derive(Deserialize)]
struct RevealForm {
    field: String,
}

#[derive(Template)]
#[template(
    source = "<span class=\"mono revealed\" data-field=\"{{ field }}\">{{ value }}</span>",
    ext = "html"
)]
struct Revealed {
    field: String,
    value: String,
}

/// The audited reveal of one field (an htmx swap of the masked value).
async fn reveal(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, form }: StaffForm<RevealForm>,
) -> PageResult {
    let value = ops::reveal(&state, &p, id, form.field.trim())
        .await
        .map_err(page_err(&p))?;
    Ok(render(
        StatusCode::OK,
        &Revealed {
            field: form.field,
            value,
        },
    ))
}

// ---- inbox --------------------------------------------------------------------------------------

pub struct InboxLine {
    pub step_id: i64,
    pub case_id: i64,
    pub case_no: String,
    pub title: String,
    pub step: String,
    pub department: String,
    pub handler: String,
    pub mine: bool,
    pub since: String,
    pub due_on: String,
    pub warning: String,
    pub warning_label: &'static str,
}

#[derive(Template)]
#[template(path = "cases/inbox.html")]
struct InboxPage {
    c: Chrome,
    /// (title, element id, lines): mine, the department's unclaimed, others' in progress.
    sections: Vec<(&'static str, &'static str, Vec<InboxLine>)>,
    can_assign: bool,
    /// Usernames a manager may assign to (reviewers of the subtree).
    staff: Vec<(String, String)>,
    can_intake: bool,
    can_warnings: bool,
    error: Option<String>,
}

fn line_of(p: &Principal, i: &onestop_store::cases::InboxItem) -> InboxLine {
    let warning = if i.step.warning != "none" {
        i.step.warning.clone()
    } else {
        i.case_warning.clone()
    };
    InboxLine {
        step_id: i.step.id,
        case_id: i.step.case_id,
        case_no: i.case_no.clone(),
        title: i.title.clone(),
        step: i.step.step_name.clone(),
        department: i.step.department_name.clone(),
        handler: i.step.handler.clone().unwrap_or_default(),
        mine: i.step.handler.as_deref() == Some(p.user.username.as_str()),
        since: show_time(i.step.started_at),
        due_on: i.step.due_on.clone().unwrap_or_default(),
        warning_label: warning_label(&warning),
        warning,
    }
}

async fn inbox_page_of(state: &AppState, p: &Principal, error: Option<String>) -> Result<InboxPage, ApiError> {
    if p.require_any(Permission::BackOfficeWork).is_err()
        && p.require_any(Permission::WindowWork).is_err()
        && p.require_any(Permission::HallManage).is_err()
    {
        return Err(ApiError::forbidden());
    }
    let items = ops::inbox(state, p).await?;
    let (mut mine, mut shared, mut others) = (Vec::new(), Vec::new(), Vec::new());
    for i in &items {
        let l = line_of(p, i);
        if l.mine {
            mine.push(l);
        } else if l.handler.is_empty() {
            shared.push(l);
        } else {
            others.push(l);
        }
    }
    let can_assign = p.require_any(Permission::HallManage).is_ok();
    let mut staff = Vec::new();
    if can_assign {
        // Back-office staff have a department; the use case checks the rest on assignment.
        let scopes = p.scope_strings(Permission::HallManage);
        for u in onestop_store::users::list_in(state.store.read(), &scopes).await? {
            if !u.is_disabled() && u.department_id.is_some() {
                staff.push((u.username.clone(), u.display_name.clone()));
            }
        }
    }
    Ok(InboxPage {
        c: Chrome::for_principal(p, "/inbox"),
        sections: vec![
            ("我的待办", "inbox-mine", mine),
            ("部门共享待办（待认领）", "inbox-shared", shared),
            ("他人在办", "inbox-others", others),
        ],
        can_assign,
        staff,
        can_intake: p.require_any(Permission::WindowWork).is_ok(),
        can_warnings: p.require_any(Permission::HallManage).is_ok()
            || p.require_any(Permission::SupervisionRead).is_ok(),
        error,
    })
}

async fn inbox_page(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    let page = inbox_page_of(&state, &p, None).await.map_err(page_err(&p))?;
    Ok(render(StatusCode::OK, &page))
}

async fn inbox_after(state: &AppState, p: &Principal, r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => see_other("/inbox"),
        Err(e) => match inbox_page_of(state, p, Some(e.message.clone())).await {
            Ok(page) => render(e.status, &page),
            Err(_) => page_err(p)(e).into_response(),
        },
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn inbox_claim(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, .. }: StaffForm<Empty>,
) -> Response {
    let r = ops::claim(&state, &p, id).await.map(|_| ());
    inbox_after(&state, &p, r).await
}

#[derive(Deserialize)]
struct AssignForm {
    username: String,
}

async fn inbox_assign(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    StaffForm { p, form }: StaffForm<AssignForm>,
) -> Response {
    let r = ops::assign(&state, &p, id, form.username.trim()).await.map(|_| ());
    inbox_after(&state, &p, r).await
}

// ---- warnings -----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct WarningQuery {
    hall_id: Option<String>,
    department: Option<String>,
    handler: Option<String>,
    level: Option<String>,
}

#[derive(Template)]
#[template(path = "cases/warnings.html")]
struct WarningsPage {
    c: Chrome,
    lines: Vec<InboxLine>,
    halls: Vec<(i64, String)>,
    departments: Vec<String>,
    handlers: Vec<String>,
    hall_id: i64,
    department: String,
    handler: String,
    level: String,
}

/// Open steps with a yellow or red warning (the step's or its case's), of the caller's subtree:
/// for hall managers and supervisors. Filters are applied here over the subtree's open steps.
async fn warnings_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    Query(q): Query<WarningQuery>,
) -> PageResult {
    let err = page_err(&p);
    let mut scopes = p.scope_strings(Permission::HallManage);
    scopes.extend(p.scope_strings(Permission::SupervisionRead));
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(err(ApiError::forbidden()));
    }
    let hall_id: i64 = match q.hall_id.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => h
            .parse()
            .map_err(|_| err(ApiError::validation("hall_id_invalid", "大厅编号应为数字")))?,
        None => 0,
    };
    let level = q.level.clone().unwrap_or_default();
    if !["", "yellow", "red"].contains(&level.as_str()) {
        return Err(err(ApiError::validation("warning_invalid", "预警级别须为黄牌或红牌")));
    }
    let items = {
        let mut c = state
            .store
            .read()
            .acquire()
            .await
            .map_err(|e| err(onestop_store::StoreError::from(e).into()))?;
        onestop_store::cases::inbox(
            &mut c,
            &onestop_store::cases::InboxQuery {
                scopes: scopes.clone(),
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err(e.into()))?
    };
    let mut halls = Vec::new();
    for s in &scopes {
        for h in onestop_store::org::halls_in(state.store.read(), s).await? {
            if !halls.iter().any(|(id, _)| *id == h.id) {
                halls.push((h.id, h.name));
            }
        }
    }
    let mut departments: Vec<String> = Vec::new();
    let mut handlers: Vec<String> = Vec::new();
    let department = q.department.clone().unwrap_or_default();
    let handler = q.handler.clone().unwrap_or_default();
    let mut lines = Vec::new();
    for i in &items {
        let l = line_of(&p, i);
        if l.warning == "none" || l.warning.is_empty() {
            continue;
        }
        if !departments.contains(&l.department) {
            departments.push(l.department.clone());
        }
        if !l.handler.is_empty() && !handlers.contains(&l.handler) {
            handlers.push(l.handler.clone());
        }
        if (hall_id != 0 && i.step.hall_id != Some(hall_id))
            || (!department.is_empty() && l.department != department)
            || (!handler.is_empty() && l.handler != handler)
            || (!level.is_empty() && l.warning != level)
        {
            continue;
        }
        lines.push(l);
    }
    // Red first, then the oldest.
    lines.sort_by_key(|l| (l.warning != "red", l.step_id));
    departments.sort();
    handlers.sort();
    let page = WarningsPage {
        c: Chrome::for_principal(&p, "/inbox"),
        lines,
        halls,
        departments,
        handlers,
        hall_id,
        department,
        handler,
        level,
    };
    Ok(render(StatusCode::OK, &page))
}
