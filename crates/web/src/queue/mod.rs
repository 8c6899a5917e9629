//! Use cases of the hall floor (取号叫号 · 预约), shared by the JSON API, the pages, the demo
//! simulator and the benchmark. Each one checks who may act, then does all of its writing in one
//! transaction: the ticket's new state (decided by `onestop_domain::queue`), an event row, the
//! counters of its leaf, the audit entry, and a live notification for the hall's boards.
pub mod sim;

use crate::auth::{Principal, random_code, random_token, sha256_hex};
use crate::crypto::{DataKeys, purpose};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use jiff::Timestamp;
use onestop_domain::DomainError;
use onestop_domain::ids::{IdNumber, Phone};
use onestop_domain::queue::{
    CategoryPrefix, EstimatorConfig, EstimatorSetting, NoShowSetting, PriorityGroup, QueuePolicy, QueuePolicySetting,
    ServedCategory, ServiceSample, Ticket, TicketNo, TicketSource, TicketState, WaitingTicket, WindowServing,
    booking_blocked, choose_next_with_reason, estimate_wait,
};
use onestop_domain::region::RegionPath;
use onestop_domain::role::Permission;
use onestop_store::audit::AuditEntry;
use onestop_store::queue::{self as q, CounterDelta, TicketEvent, TicketRow};
use onestop_store::{StoreError, Tx, org};
use serde::Serialize;
use serde_json::json;

/// The live channel of queue events; the payload is a [`QueueEvent`] as JSON.
pub const CHANNEL: &str = "queue";

/// The hall floor's time zone: ticket days and counter days are local days.
pub fn hall_tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// The hall's day of `at` ('YYYY-MM-DD') and its local midnight.
pub fn hall_day(at: Timestamp) -> (String, Timestamp) {
    let z = at.to_zoned(hall_tz());
    let start = z.start_of_day().map(|s| s.timestamp()).unwrap_or(at);
    (z.date().to_string(), start)
}

/// What boards and floor views receive after every committed queue change of a hall.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct QueueEvent {
    pub hall_id: i64,
    /// `call` and `recall` are announced; `update` only refreshes counts and lists.
    pub kind: String,
    pub ticket_no: Option<String>,
    pub window_no: Option<String>,
    pub at: i64,
    /// (prefix, waiting) for every open category of the hall.
    pub waiting: Vec<(String, i64)>,
}

async fn notify(
    tx: &mut Tx,
    hall_id: i64,
    kind: &str,
    ticket_no: Option<String>,
    window_no: Option<String>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let waiting = q::waiting_counts(tx.conn(), hall_id)
        .await?
        .into_iter()
        .map(|(_, prefix, _, n, _)| (prefix, n))
        .collect();
    let ev = QueueEvent {
        hall_id,
        kind: kind.to_owned(),
        ticket_no,
        window_no,
        at: at.as_millisecond(),
        waiting,
    };
    let payload = serde_json::to_string(&ev).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.notify(CHANNEL, payload).await
}

/// Who takes a ticket: a paired kiosk, or staff at a window or on the floor.
#[derive(Debug, Clone)]
pub enum Taker {
    Kiosk { device_id: i64 },
    Staff { actor: String },
}

impl Taker {
    fn actor(&self) -> String {
        match self {
            Self::Kiosk { device_id } => format!("device:{device_id}"),
            Self::Staff { actor } => actor.clone(),
        }
    }
}

/// A freshly taken ticket, as printed on the slip.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TakenTicket {
    pub id: i64,
    pub hall_id: i64,
    pub ticket_no: String,
    /// Random code for the public follow page `/t/{code}` (in the slip's QR code).
    pub code: String,
    pub category: String,
    pub category_name: String,
    /// none, senior70, disabled or green_channel
    pub priority: String,
    pub issued_at: i64,
    pub ahead: i64,
    /// Minutes; `None` when no open window serves the category now.
    pub estimated_wait_min: Option<i64>,
}

fn conflict(code: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::conflict(code, message)
}

/// The hall of a window with the region path for scope checks.
async fn window_scope(state: &AppState, window_id: i64) -> ApiResult<(org::Window, org::Hall)> {
    let w = org::window(state.store.read(), window_id).await?;
    let h = org::hall(state.store.read(), w.hall_id).await?;
    Ok((w, h))
}

async fn hall_scoped(state: &AppState, p: &Principal, hall_id: i64, perm: Permission) -> ApiResult<org::Hall> {
    let h = org::hall(state.store.read(), hall_id).await?;
    p.require(perm, &RegionPath::from_stored(h.region_path.clone()))?;
    Ok(h)
}

fn audit(
    actor: &str,
    region_id: i64,
    at: Timestamp,
    action: &'static str,
    id: i64,
    detail: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        region_id,
        at,
        actor: actor.to_owned(),
        action,
        entity: "ticket",
        entity_id: id.to_string(),
        detail,
    }
}

/// Issues a number and inserts a waiting ticket (inside the caller's transaction).
#[allow(clippy::too_many_arguments)]
async fn issue(
    tx: &mut Tx,
    hall: &org::Hall,
    cat: &q::Category,
    priority: PriorityGroup,
    source: TicketSource,
    appointment_id: Option<i64>,
    device_id: Option<i64>,
    actor: &str,
    now: Timestamp,
) -> Result<(i64, Ticket<i64>, String), StoreError> {
    let (day, day_start) = hall_day(now);
    let seq = q::next_number(tx, hall.id, &day, &cat.prefix).await?;
    let prefix = CategoryPrefix::parse(&cat.prefix)?;
    let no = TicketNo::new(prefix, u32::try_from(seq).unwrap_or(u32::MAX))?;
    let t = Ticket::take(no, priority, source, now);
    let code = random_token()[..20].to_owned();
    let new = q::NewTicket {
        hall_id: hall.id,
        day,
        code: code.clone(),
        category_id: cat.id,
        appointment_id,
        device_id,
    };
    let id = q::insert_ticket(tx, &new, &t).await?;
    q::append_event(
        tx,
        TicketEvent {
            ticket_id: id,
            hall_id: hall.id,
            at: now,
            action: "take",
            state: TicketState::Waiting,
            window_id: None,
            category_id: cat.id,
            actor,
            detail: json!({"priority": q::priority_str(priority)}),
        },
    )
    .await?;
    q::count(
        tx,
        hall.id,
        None,
        cat.id,
        now,
        day_start,
        CounterDelta {
            taken: 1,
            ..Default::default()
        },
    )
    .await?;
    tx.audit(audit(
        actor,
        hall.region_id,
        now,
        "ticket.take",
        id,
        json!({"no": t.no.to_string()}),
    ))
    .await?;
    Ok((id, t, code))
}

async fn open_category(state: &AppState, hall_id: i64, prefix: &str) -> ApiResult<q::Category> {
    match q::category_by_prefix(state.store.read(), hall_id, prefix.trim()).await? {
        Some(c) if c.closed_at.is_none() => Ok(c),
        _ => Err(ApiError::validation("category_unknown", "本大厅没有这个业务类别")),
    }
}

/// Takes a ticket (取号) at a kiosk or for a visitor at the floor.
pub async fn take_ticket(
    state: &AppState,
    hall_id: i64,
    category: &str,
    priority: PriorityGroup,
    taker: Taker,
) -> ApiResult<TakenTicket> {
    if priority == PriorityGroup::GreenChannel && matches!(taker, Taker::Kiosk { .. }) {
        return Err(ApiError::validation("priority_not_allowed", "绿色通道须由工作人员办理"));
    }
    let hall = org::hall(state.store.read(), hall_id).await?;
    if hall.closed_at.is_some() {
        return Err(ApiError::conflict("hall_closed", "该大厅已停止服务"));
    }
    let cat = open_category(state, hall_id, category).await?;
    let now = state.clock.now();
    let device_id = match taker {
        Taker::Kiosk { device_id } => Some(device_id),
        Taker::Staff { .. } => None,
    };
    let actor = taker.actor();
    let (h, c) = (hall.clone(), cat.clone());
    let (id, t, code) = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let r = issue(tx, &h, &c, priority, TicketSource::WalkIn, None, device_id, &actor, now).await?;
                notify(tx, h.id, "update", None, None, now).await?;
                Ok::<_, StoreError>(r)
            })
        })
        .await?;
    let (ahead, estimate) = estimate_for(state, &hall, &cat, Some(id)).await?;
    Ok(TakenTicket {
        id,
        hall_id,
        ticket_no: t.no.to_string(),
        code,
        category: cat.prefix,
        category_name: cat.name,
        priority: q::priority_str(priority).to_owned(),
        issued_at: now.as_millisecond(),
        ahead,
        estimated_wait_min: estimate,
    })
}

/// People ahead of a ticket in its category (or all waiting when `ticket` is None) and the
/// estimated wait in minutes (see the method in `onestop_domain::queue`).
pub async fn estimate_for(
    state: &AppState,
    hall: &org::Hall,
    cat: &q::Category,
    ticket: Option<i64>,
) -> ApiResult<(i64, Option<i64>)> {
    let hall_id = hall.id;
    let queued = q::queued(state.store.read(), hall_id).await?;
    let me = ticket.and_then(|id| queued.iter().find(|t| t.id == id));
    let ahead = queued
        .iter()
        .filter(|t| t.state == "waiting" && t.category_id == cat.id && Some(t.id) != ticket)
        .filter(|t| me.is_none_or(|m| (t.issued_at, t.id) < (m.issued_at, m.id) || t.returned_at.is_some()))
        .count() as i64;
    let samples: Vec<ServiceSample> = q::service_samples(state.store.read(), cat.id, 40)
        .await?
        .into_iter()
        .map(|(at, dur)| ServiceSample {
            finished_at: onestop_store::ts(at),
            duration: jiff::SignedDuration::from_millis(dur),
        })
        .collect();
    let open = open_windows(state, hall_id).await?;
    let prefix = CategoryPrefix::parse(&cat.prefix).map_err(ApiError::from)?;
    let cfg = estimator_of(state, hall.region_id).await?;
    let est = estimate_wait(&prefix, ahead as usize, &samples, &open, &cfg).map(|e| (e.wait.as_secs() + 59) / 60);
    Ok((ahead, est))
}

/// The queue policy in force at a region (`queue.policy`).
pub async fn policy_of(state: &AppState, region_id: i64) -> ApiResult<QueuePolicy> {
    Ok(crate::settings::effective::<QueuePolicySetting>(state, region_id)
        .await?
        .policy())
}

/// The estimator's tuning in force at a region (`queue.estimator`).
pub async fn estimator_of(state: &AppState, region_id: i64) -> ApiResult<EstimatorConfig> {
    Ok(crate::settings::effective::<EstimatorSetting>(state, region_id)
        .await?
        .config())
}

/// The open windows of a hall and what they serve.
async fn open_windows(state: &AppState, hall_id: i64) -> ApiResult<Vec<WindowServing<i64>>> {
    let floor = q::floor(state.store.read(), hall_id).await?;
    let maps = q::mappings(state.store.read(), hall_id).await?;
    Ok(floor
        .iter()
        .filter(|w| w.state == q::WINDOW_OPEN)
        .map(|w| serving_of(w.window_id, &maps))
        .collect())
}

fn serving_of(window_id: i64, maps: &[q::Mapping]) -> WindowServing<i64> {
    WindowServing {
        window: window_id,
        categories: maps
            .iter()
            .filter(|m| m.window_id == window_id)
            .filter_map(|m| {
                Some(ServedCategory {
                    category: CategoryPrefix::parse(&m.prefix).ok()?,
                    rank: u8::try_from(m.rank).unwrap_or(u8::MAX),
                })
            })
            .collect(),
    }
}

/// What a window action returns: the window's state and the ticket it acted on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WindowOutcome {
    pub window_id: i64,
    pub window_state: String,
    pub ticket: Option<TicketView>,
    /// Why the policy picked this ticket (for call-next).
    pub reason: Option<String>,
}

/// A ticket as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub id: i64,
    pub ticket_no: String,
    pub category: String,
    pub state: String,
    pub priority: String,
    pub source: String,
    pub window_id: Option<i64>,
    pub issued_at: i64,
    pub called_at: Option<i64>,
    pub recalls: i64,
    pub service_started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl From<&TicketRow> for TicketView {
    fn from(t: &TicketRow) -> Self {
        Self {
            id: t.id,
            ticket_no: t.ticket_no.clone(),
            category: t.category_prefix.clone(),
            state: t.state.clone(),
            priority: t.priority.clone(),
            source: t.source.clone(),
            window_id: t.window_id,
            issued_at: t.issued_at,
            called_at: t.called_at,
            recalls: t.recalls,
            service_started_at: t.service_started_at,
            finished_at: t.finished_at,
        }
    }
}

/// Checks the window may be worked by `p`: clerks work their own window (or a free one);
/// hall managers may act at any window of their hall.
fn check_operator(p: &Principal, w: &q::WindowFloorRow, path: &RegionPath) -> Result<(), StoreError> {
    let manager = p.can(Permission::HallManage, path);
    match w.clerk_id {
        Some(c) if c != p.user.id && c != 0 && !manager => Err(StoreError::conflict(
            "window_not_yours",
            format!("{} 号窗口由 {} 值守", w.number, w.clerk_name),
        )),
        _ => Ok(()),
    }
}

fn require_open(w: &q::WindowFloorRow) -> Result<(), StoreError> {
    match w.state.as_str() {
        q::WINDOW_OPEN => Ok(()),
        q::WINDOW_PAUSED => Err(conflict("window_paused", format!("{} 号窗口已暂停服务", w.number))),
        _ => Err(conflict("window_closed", format!("{} 号窗口未开放", w.number))),
    }
}

async fn require_idle(tx: &mut Tx, w: &q::WindowFloorRow) -> Result<(), StoreError> {
    if let Some(cur) = w.current_ticket_id {
        let t = q::ticket(tx.conn(), cur).await?;
        if matches!(t.state.as_str(), "called" | "serving") {
            return Err(conflict(
                "window_busy",
                format!("请先办结、过号或挂起当前号码 {}", t.ticket_no),
            ));
        }
    }
    Ok(())
}

/// Maps store conflicts that mean "not yours" to 403, the rest stay as they are.
fn to_api(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict {
            code: "window_not_yours",
            message,
        } => ApiError::new(StatusCode::FORBIDDEN, "window_not_yours", message),
        other => other.into(),
    }
}

/// Calls the next ticket (叫号) at a window; the queue policy decides which.
pub async fn call_next(state: &AppState, p: &Principal, window_id: i64) -> ApiResult<WindowOutcome> {
    let (win, hall) = window_scope(state, window_id).await?;
    let path = RegionPath::from_stored(win.region_path.clone());
    p.require(Permission::WindowWork, &path)?;
    let now = state.clock.now();
    let actor = p.actor();
    let pp = p.clone();
    let policy = policy_of(state, hall.region_id).await?;
    // The policy's inputs are read before the write transaction, from the read pool, so the
    // single writer (SQLite) or the row locks (PostgreSQL) are held only for the writes. The
    // conditional update below tells when another window took the pick in between; then the
    // line is read again inside the transaction.
    let maps = q::mappings(state.store.read(), hall.id).await?;
    let mut first = Some(q::queued(state.store.read(), hall.id).await?);
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let w = q::lock_window(tx, window_id, hall.id, now).await?;
                check_operator(&pp, &w, &path)?;
                require_open(&w)?;
                require_idle(tx, &w).await?;
                let serving = serving_of(window_id, &maps);
                let mut skip: Vec<i64> = Vec::new();
                for _ in 0..8 {
                    let (queued, pre_read) = match first.take() {
                        // An empty line read outside may be stale: look again inside.
                        Some(pre) if !pre.is_empty() => (pre, true),
                        _ => (q::queued(tx.conn(), hall.id).await?, false),
                    };
                    let rows: Vec<&TicketRow> = queued.iter().filter(|t| !skip.contains(&t.id)).collect();
                    let mut waiting: Vec<WaitingTicket<i64, i64>> = Vec::with_capacity(rows.len());
                    for r in &rows {
                        if let Some(wt) = r.to_domain()?.as_waiting(r.id) {
                            waiting.push(wt);
                        }
                    }
                    let Some((id, reason)) = choose_next_with_reason(&serving, &waiting, now, &policy) else {
                        return Err(conflict("queue_empty", "当前没有可呼叫的号码"));
                    };
                    let Some(row) = rows.iter().find(|r| r.id == id) else {
                        return Err(conflict("queue_empty", "当前没有可呼叫的号码"));
                    };
                    // A pick from the line read outside counts only if the ticket is still
                    // exactly as read (not transferred, returned or re-prioritised since).
                    if pre_read && q::ticket(tx.conn(), id).await? != **row {
                        continue;
                    }
                    let mut t = row.to_domain()?;
                    t.call(window_id, now)?;
                    if !q::save_ticket(tx, id, TicketState::Waiting, &t, row.category_id, Some(pp.user.id)).await? {
                        skip.push(id);
                        continue;
                    }
                    q::set_current(tx, window_id, Some(id)).await?;
                    let wait_ms = now.as_millisecond() - row.issued_at;
                    record(
                        tx,
                        row,
                        "call",
                        TicketState::Called,
                        Some(window_id),
                        &actor,
                        now,
                        CounterDelta {
                            called: 1,
                            wait_ms: Some(wait_ms),
                            ..Default::default()
                        },
                        hall.region_id,
                        json!({"reason": reason}),
                    )
                    .await?;
                    notify(
                        tx,
                        hall.id,
                        "call",
                        Some(row.ticket_no.clone()),
                        Some(w.number.clone()),
                        now,
                    )
                    .await?;
                    let saved = q::ticket(tx.conn(), id).await?;
                    return Ok(WindowOutcome {
                        window_id,
                        window_state: w.state.clone(),
                        ticket: Some((&saved).into()),
                        reason: Some(format!("{reason:?}").to_lowercase()),
                    });
                }
                Err(conflict("queue_contended", "呼叫冲突，请重试"))
            })
        })
        .await
        .map_err(to_api)
}

/// The event row, the counters and the audit entry of one ticket change.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut Tx,
    row: &TicketRow,
    action: &'static str,
    new_state: TicketState,
    window_id: Option<i64>,
    actor: &str,
    now: Timestamp,
    delta: CounterDelta,
    region_id: i64,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    let (_, day_start) = hall_day(now);
    q::append_event(
        tx,
        TicketEvent {
            ticket_id: row.id,
            hall_id: row.hall_id,
            at: now,
            action,
            state: new_state,
            window_id,
            category_id: row.category_id,
            actor,
            detail: detail.clone(),
        },
    )
    .await?;
    q::count(tx, row.hall_id, window_id, row.category_id, now, day_start, delta).await?;
    let audit_action: &'static str = match action {
        "call" => "ticket.call",
        "recall" => "ticket.recall",
        "start" => "ticket.start",
        "no_show" => "ticket.no_show",
        "park" => "ticket.park",
        "unpark" => "ticket.unpark",
        "transfer" => "ticket.transfer",
        "finish" => "ticket.finish",
        "cancel" => "ticket.cancel",
        "walk_in" => "ticket.walk_in",
        _ => "ticket.change",
    };
    tx.audit(audit(
        actor,
        region_id,
        now,
        audit_action,
        row.id,
        json!({"no": row.ticket_no, "window": window_id, "detail": detail}),
    ))
    .await
}

/// Clerk actions on one ticket at a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowAction {
    Recall,
    Start,
    NoShow,
    Park,
    Unpark,
    Transfer,
    Finish,
    Cancel,
}

impl WindowAction {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "recall" => Self::Recall,
            "start" => Self::Start,
            "no-show" | "no_show" => Self::NoShow,
            "park" => Self::Park,
            "unpark" => Self::Unpark,
            "transfer" => Self::Transfer,
            "finish" => Self::Finish,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }
}

/// Where a transferred ticket goes.
#[derive(Debug, Clone, Default)]
pub struct TransferTo {
    pub category: Option<String>,
    pub window_id: Option<i64>,
}

/// Recall, start, no-show, park, unpark, transfer, finish or cancel a ticket at a window.
pub async fn ticket_action(
    state: &AppState,
    p: &Principal,
    window_id: i64,
    ticket_id: i64,
    action: WindowAction,
    to: TransferTo,
) -> ApiResult<WindowOutcome> {
    let (win, hall) = window_scope(state, window_id).await?;
    let path = RegionPath::from_stored(win.region_path.clone());
    p.require(Permission::WindowWork, &path)?;
    let row = q::ticket(state.store.read(), ticket_id).await?;
    if row.hall_id != hall.id {
        return Err(ApiError::not_found());
    }
    let transfer_cat = match (action, &to.category) {
        (WindowAction::Transfer, Some(c)) => Some(open_category(state, hall.id, c).await?),
        (WindowAction::Transfer, None) => Some(q::category(state.store.read(), row.category_id).await?),
        _ => None,
    };
    if let Some(tw) = to.window_id {
        let w = org::window(state.store.read(), tw).await?;
        if w.hall_id != hall.id {
            return Err(ApiError::validation("window_unknown", "目标窗口不在本大厅"));
        }
    }
    if action == WindowAction::Transfer && to.category.is_none() && to.window_id.is_none() {
        return Err(ApiError::validation(
            "transfer_target_missing",
            "请选择转往的业务类别或窗口",
        ));
    }
    let now = state.clock.now();
    let actor = p.actor();
    let pp = p.clone();
    let policy = policy_of(state, hall.region_id).await?;
    // ratings: the leaf the finished service counts in
    let department_id = win.department_id.unwrap_or(0);
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let w = q::lock_window(tx, window_id, hall.id, now).await?;
                check_operator(&pp, &w, &path)?;
                let row = q::ticket(tx.conn(), ticket_id).await?;
                let before = row.to_domain()?;
                let mut t = before.clone();
                let mut category_id = row.category_id;
                let mut delta = CounterDelta::default();
                let mut announce = None;
                let mut clears_window = false;
                let name: &'static str = match action {
                    WindowAction::Recall => {
                        t.recall(window_id, policy.max_recalls)?;
                        announce = Some("recall");
                        "recall"
                    }
                    WindowAction::Start => {
                        t.start_service(window_id, now)?;
                        "start"
                    }
                    WindowAction::NoShow => {
                        t.no_show(window_id, now)?;
                        delta.no_show = 1;
                        clears_window = true;
                        "no_show"
                    }
                    WindowAction::Park => {
                        t.park(window_id)?;
                        clears_window = true;
                        "park"
                    }
                    WindowAction::Unpark => {
                        t.unpark(now)?;
                        "unpark"
                    }
                    WindowAction::Transfer => {
                        let cat = transfer_cat
                            .clone()
                            .ok_or_else(|| conflict("transfer_target_missing", "请选择转往的业务类别"))?;
                        let prefix = CategoryPrefix::parse(&cat.prefix)?;
                        t.transfer(window_id, prefix, to.window_id, now)?;
                        category_id = cat.id;
                        delta.transferred = 1;
                        clears_window = true;
                        "transfer"
                    }
                    WindowAction::Finish => {
                        t.finish(window_id, now)?;
                        delta.served = 1;
                        delta.service_ms = t.service_started_at.map(|s| now.as_millisecond() - s.as_millisecond());
                        clears_window = true;
                        "finish"
                    }
                    WindowAction::Cancel => {
                        t.cancel(now)?;
                        "cancel"
                    }
                };
                if !q::save_ticket(tx, ticket_id, before.state, &t, category_id, None).await? {
                    return Err(conflict(
                        "ticket_changed",
                        format!("号码 {} 的状态刚刚发生变化，请刷新后再试", row.ticket_no),
                    ));
                }
                if clears_window && w.current_ticket_id == Some(ticket_id) {
                    q::set_current(tx, window_id, None).await?;
                }
                let mut at_row = row.clone();
                at_row.category_id = category_id;
                record(
                    tx,
                    &at_row,
                    name,
                    t.state,
                    Some(window_id),
                    &actor,
                    now,
                    delta,
                    hall.region_id,
                    json!({
                        "to_category": transfer_cat.as_ref().map(|c| c.prefix.clone()),
                        "to_window": to.window_id,
                    }),
                )
                .await?;
                // ratings: the finish issues the ticket's rating token in this transaction
                if action == WindowAction::Finish {
                    crate::ratings::on_service_finished(
                        tx,
                        &row,
                        t.called_at,
                        t.service_started_at,
                        window_id,
                        department_id,
                        pp.user.id,
                        hall.region_id,
                        now,
                    )
                    .await?;
                }
                match announce {
                    Some(kind) => {
                        notify(
                            tx,
                            hall.id,
                            kind,
                            Some(row.ticket_no.clone()),
                            Some(w.number.clone()),
                            now,
                        )
                        .await?
                    }
                    None => notify(tx, hall.id, "update", None, None, now).await?,
                }
                let saved = q::ticket(tx.conn(), ticket_id).await?;
                let w = q::floor_window(tx.conn(), window_id).await?;
                Ok(WindowOutcome {
                    window_id,
                    window_state: w.state,
                    ticket: Some((&saved).into()),
                    reason: None,
                })
            })
        })
        .await
        .map_err(to_api)
}

/// Serves a walk-in without a ticket (无号受理): a number is issued and served at once, so the
/// visit still counts and can be rated.
pub async fn walk_in(
    state: &AppState,
    p: &Principal,
    window_id: i64,
    category: Option<&str>,
) -> ApiResult<WindowOutcome> {
    let (win, hall) = window_scope(state, window_id).await?;
    let path = RegionPath::from_stored(win.region_path.clone());
    p.require(Permission::WindowWork, &path)?;
    let maps = q::mappings(state.store.read(), hall.id).await?;
    let cat = match category {
        Some(c) if !c.trim().is_empty() => open_category(state, hall.id, c).await?,
        _ => {
            let main = maps
                .iter()
                .filter(|m| m.window_id == window_id)
                .min_by_key(|m| m.rank)
                .ok_or_else(|| ApiError::validation("window_has_no_category", "该窗口尚未设置业务类别"))?;
            q::category(state.store.read(), main.category_id).await?
        }
    };
    let now = state.clock.now();
    let actor = p.actor();
    let pp = p.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let w = q::lock_window(tx, window_id, hall.id, now).await?;
                check_operator(&pp, &w, &path)?;
                require_open(&w)?;
                require_idle(tx, &w).await?;
                let (id, mut t, _) = issue(
                    tx,
                    &hall,
                    &cat,
                    PriorityGroup::None,
                    TicketSource::WalkIn,
                    None,
                    None,
                    &actor,
                    now,
                )
                .await?;
                t.call(window_id, now)?;
                t.start_service(window_id, now)?;
                q::save_ticket(tx, id, TicketState::Waiting, &t, cat.id, Some(pp.user.id)).await?;
                q::set_current(tx, window_id, Some(id)).await?;
                let row = q::ticket(tx.conn(), id).await?;
                record(
                    tx,
                    &row,
                    "walk_in",
                    TicketState::Serving,
                    Some(window_id),
                    &actor,
                    now,
                    CounterDelta {
                        called: 1,
                        wait_ms: Some(0),
                        ..Default::default()
                    },
                    hall.region_id,
                    json!({}),
                )
                .await?;
                notify(tx, hall.id, "update", None, None, now).await?;
                Ok(WindowOutcome {
                    window_id,
                    window_state: w.state.clone(),
                    ticket: Some((&row).into()),
                    reason: None,
                })
            })
        })
        .await
        .map_err(to_api)
}

/// Window states a clerk or manager can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChange {
    /// Open and take the window (on duty).
    Open,
    Pause,
    Resume,
    Close,
}

/// Opens (and takes duty at), pauses, resumes or closes a window.
pub async fn change_window(
    state: &AppState,
    p: &Principal,
    window_id: i64,
    change: WindowChange,
) -> ApiResult<q::WindowFloorRow> {
    let (win, hall) = window_scope(state, window_id).await?;
    if win.closed_at.is_some() {
        return Err(ApiError::conflict("window_removed", "该窗口已撤销"));
    }
    let path = RegionPath::from_stored(win.region_path.clone());
    if !p.can(Permission::WindowWork, &path) {
        p.require(Permission::HallManage, &path)?;
    }
    let now = state.clock.now();
    let actor = p.actor();
    let pp = p.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let w = q::lock_window(tx, window_id, hall.id, now).await?;
                check_operator(&pp, &w, &path)?;
                let (new_state, clerk): (&str, Option<(i64, String)>) = match change {
                    WindowChange::Open => (q::WINDOW_OPEN, Some((pp.user.id, pp.user.display_name.clone()))),
                    WindowChange::Pause => {
                        if w.state == q::WINDOW_CLOSED {
                            return Err(conflict("window_closed", format!("{} 号窗口未开放", w.number)));
                        }
                        (q::WINDOW_PAUSED, w.clerk_id.map(|c| (c, w.clerk_name.clone())))
                    }
                    WindowChange::Resume => {
                        if w.state == q::WINDOW_CLOSED {
                            return Err(conflict("window_closed", format!("{} 号窗口未开放", w.number)));
                        }
                        (q::WINDOW_OPEN, w.clerk_id.map(|c| (c, w.clerk_name.clone())))
                    }
                    WindowChange::Close => {
                        require_idle(tx, &w).await?;
                        (q::WINDOW_CLOSED, None)
                    }
                };
                q::set_window_state(tx, window_id, new_state, clerk.as_ref().map(|(i, n)| (*i, n.as_str()))).await?;
                tx.audit(AuditEntry {
                    region_id: hall.region_id,
                    at: now,
                    actor: actor.clone(),
                    action: "window.state",
                    entity: "window",
                    entity_id: window_id.to_string(),
                    detail: json!({"from": w.state, "to": new_state}),
                })
                .await?;
                notify(tx, hall.id, "update", None, None, now).await?;
                q::floor_window(tx.conn(), window_id).await
            })
        })
        .await
        .map_err(to_api)
}

/// Sets which categories a window serves, with ranks (hall managers).
pub async fn set_window_categories(
    state: &AppState,
    p: &Principal,
    window_id: i64,
    cats: &[(String, i64)],
) -> ApiResult<Vec<q::Mapping>> {
    let (win, hall) = window_scope(state, window_id).await?;
    let path = RegionPath::from_stored(win.region_path.clone());
    p.require(Permission::HallManage, &path)?;
    let mut resolved = Vec::new();
    for (prefix, rank) in cats {
        if !(1..=9).contains(rank) {
            return Err(ApiError::validation("rank_invalid", "优先级须在 1 到 9 之间"));
        }
        let c = open_category(state, hall.id, prefix).await?;
        if resolved.iter().any(|(id, _)| *id == c.id) {
            return Err(ApiError::validation(
                "category_repeated",
                format!("业务类别 {prefix} 重复"),
            ));
        }
        resolved.push((c.id, *rank));
    }
    let now = state.clock.now();
    let actor = p.actor();
    let detail = json!({"categories": cats});
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                q::lock_window(tx, window_id, hall.id, now).await?;
                q::set_mappings(tx, window_id, &resolved).await?;
                tx.audit(AuditEntry {
                    region_id: hall.region_id,
                    at: now,
                    actor,
                    action: "window.categories",
                    entity: "window",
                    entity_id: window_id.to_string(),
                    detail,
                })
                .await?;
                notify(tx, hall.id, "update", None, None, now).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(q::mappings(state.store.read(), hall.id)
        .await?
        .into_iter()
        .filter(|m| m.window_id == window_id)
        .collect())
}

/// Creates a queue category in a hall (hall managers).
pub async fn create_category(
    state: &AppState,
    p: &Principal,
    hall_id: i64,
    prefix: &str,
    name: &str,
) -> ApiResult<q::Category> {
    let hall = hall_scoped(state, p, hall_id, Permission::HallManage).await?;
    let prefix = CategoryPrefix::parse(prefix)?;
    let name = onestop_domain::names::Name::parse(name)?.as_str().to_owned();
    let now = state.clock.now();
    let actor = p.actor();
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let c = q::create_category(tx, hall.id, &prefix, &name, now).await?;
                tx.audit(AuditEntry {
                    region_id: hall.region_id,
                    at: now,
                    actor,
                    action: "queue_category.create",
                    entity: "queue_category",
                    entity_id: c.id.to_string(),
                    detail: json!({"prefix": c.prefix, "name": c.name}),
                })
                .await?;
                Ok::<_, StoreError>(c)
            })
        })
        .await?)
}

// ---- floor and board views -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryFloor {
    pub id: i64,
    pub prefix: String,
    pub name: String,
    pub waiting: i64,
    /// Minutes the oldest waiting ticket has waited.
    pub longest_wait_min: Option<i64>,
    pub estimated_wait_min: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WindowFloor {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub clerk_name: String,
    pub current: Option<TicketView>,
    pub categories: Vec<Served>,
}

/// A category a window serves and its rank there (1 = main).
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Served {
    pub category: String,
    pub rank: i64,
}

/// One call shown on the board.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecentCall {
    pub ticket_no: String,
    pub window_no: String,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Floor {
    pub hall_id: i64,
    pub hall_name: String,
    pub at: i64,
    pub categories: Vec<CategoryFloor>,
    pub windows: Vec<WindowFloor>,
    /// Newest first.
    pub recent_calls: Vec<RecentCall>,
    pub parked: Vec<TicketView>,
}

impl Floor {
    /// The staff on duty: the clerk of every window that is open or paused.
    pub fn on_duty(&self) -> Vec<&WindowFloor> {
        self.windows
            .iter()
            .filter(|w| !w.clerk_name.is_empty() && w.state != q::WINDOW_CLOSED)
            .collect()
    }
}

/// The live floor of a hall, read without scope checks (callers check).
pub async fn floor_unchecked(state: &AppState, hall: &org::Hall) -> ApiResult<Floor> {
    let now = state.clock.now();
    let read = state.store.read();
    let floor = q::floor(read, hall.id).await?;
    let maps = q::mappings(read, hall.id).await?;
    let at_windows = q::at_windows(read, hall.id).await?;
    let queued = q::queued(read, hall.id).await?;
    let cfg = estimator_of(state, hall.region_id).await?;
    let open: Vec<WindowServing<i64>> = floor
        .iter()
        .filter(|w| w.state == q::WINDOW_OPEN)
        .map(|w| serving_of(w.window_id, &maps))
        .collect();
    let mut categories = Vec::new();
    for (id, prefix, name, waiting, oldest) in q::waiting_counts(read, hall.id).await? {
        let samples: Vec<ServiceSample> = q::service_samples(read, id, 40)
            .await?
            .into_iter()
            .map(|(at, dur)| ServiceSample {
                finished_at: onestop_store::ts(at),
                duration: jiff::SignedDuration::from_millis(dur),
            })
            .collect();
        let est = CategoryPrefix::parse(&prefix).ok().and_then(|p| {
            estimate_wait(&p, waiting as usize, &samples, &open, &cfg).map(|e| (e.wait.as_secs() + 59) / 60)
        });
        categories.push(CategoryFloor {
            id,
            prefix,
            name,
            waiting,
            longest_wait_min: oldest.map(|o| (now.as_millisecond() - o).max(0) / 60_000),
            estimated_wait_min: est,
        });
    }
    let windows = floor
        .iter()
        .map(|w| WindowFloor {
            id: w.window_id,
            number: w.number.clone(),
            name: w.name.clone(),
            kind: w.kind.clone(),
            state: w.state.clone(),
            clerk_name: w.clerk_name.clone(),
            current: at_windows
                .iter()
                .find(|t| Some(t.id) == w.current_ticket_id)
                .map(TicketView::from),
            categories: maps
                .iter()
                .filter(|m| m.window_id == w.window_id)
                .map(|m| Served {
                    category: m.prefix.clone(),
                    rank: m.rank,
                })
                .collect(),
        })
        .collect();
    Ok(Floor {
        hall_id: hall.id,
        hall_name: hall.name.clone(),
        at: now.as_millisecond(),
        categories,
        windows,
        recent_calls: q::recent_calls(read, hall.id, 10)
            .await?
            .into_iter()
            .map(|(ticket_no, window_no, at)| RecentCall {
                ticket_no,
                window_no,
                at,
            })
            .collect(),
        parked: queued
            .iter()
            .filter(|t| t.state == "parked")
            .map(TicketView::from)
            .collect(),
    })
}

/// The live floor of a hall for staff of that hall.
pub async fn floor(state: &AppState, p: &Principal, hall_id: i64) -> ApiResult<Floor> {
    let hall = hall_scoped(state, p, hall_id, Permission::RegionRead).await?;
    if !p.can(
        Permission::WindowWork,
        &RegionPath::from_stored(hall.region_path.clone()),
    ) {
        p.require(
            Permission::HallManage,
            &RegionPath::from_stored(hall.region_path.clone()),
        )?;
    }
    floor_unchecked(state, &hall).await
}

/// A ticket as the public follow page shows it (no personal data).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicTicket {
    pub ticket_no: String,
    pub hall_name: String,
    pub category_name: String,
    pub state: String,
    pub ahead: i64,
    pub estimated_wait_min: Option<i64>,
    pub window_no: Option<String>,
}

/// Looks up a ticket by its random follow code (never by number: numbers are guessable).
pub async fn public_ticket(state: &AppState, code: &str) -> ApiResult<PublicTicket> {
    if code.len() > 64 {
        return Err(ApiError::not_found());
    }
    let t = q::ticket_by_code(state.store.read(), code).await?;
    let hall = org::hall(state.store.read(), t.hall_id).await?;
    let cat = q::category(state.store.read(), t.category_id).await?;
    let (ahead, est) = if t.state == "waiting" {
        estimate_for(state, &hall, &cat, Some(t.id)).await?
    } else {
        (0, None)
    };
    let window_no = match t.window_id {
        Some(w) if matches!(t.state.as_str(), "called" | "serving") => {
            Some(org::window(state.store.read(), w).await?.number)
        }
        _ => None,
    };
    Ok(PublicTicket {
        ticket_no: t.ticket_no,
        hall_name: hall.name,
        category_name: cat.name,
        state: t.state,
        ahead,
        estimated_wait_min: est,
        window_no,
    })
}

/// Daily statistics of a hall per category, read from the counters only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryStats {
    pub category: String,
    pub name: String,
    pub taken: i64,
    pub called: i64,
    pub served: i64,
    pub no_show: i64,
    pub transferred: i64,
    pub avg_wait_min: Option<f64>,
    pub p50_wait_min: Option<f64>,
    pub p90_wait_min: Option<f64>,
    pub max_wait_min: Option<f64>,
    /// Share of called tickets that waited more than 30 minutes (upper bound from the buckets).
    pub over_30_min_share: Option<f64>,
    pub avg_service_min: Option<f64>,
    pub p90_service_min: Option<f64>,
}

pub async fn day_stats(
    state: &AppState,
    p: &Principal,
    hall_id: i64,
    day: Option<jiff::civil::Date>,
) -> ApiResult<Vec<CategoryStats>> {
    let hall = hall_scoped(state, p, hall_id, Permission::RegionRead).await?;
    let path = RegionPath::from_stored(hall.region_path.clone());
    if !p.can(Permission::SupervisionRead, &path) {
        p.require(Permission::HallManage, &path)?;
    }
    let date = day.unwrap_or_else(|| state.clock.now().to_zoned(hall_tz()).date());
    let from = date
        .to_zoned(hall_tz())
        .map_err(|_| ApiError::validation("date_invalid", "日期无效"))?
        .timestamp();
    let to = from + jiff::SignedDuration::from_hours(24);
    let cats = q::categories(state.store.read(), hall.id).await?;
    let sums = q::sums_by_category(state.store.read(), hall.id, "day", from, to).await?;
    Ok(cats
        .into_iter()
        .map(|c| {
            let s = sums
                .iter()
                .find(|(id, _)| *id == c.id)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            let mins = |ms: i64| ms as f64 / 60_000.0;
            let over30: i64 = s.wait_hist[7..].iter().sum();
            CategoryStats {
                category: c.prefix,
                name: c.name,
                taken: s.taken,
                called: s.called,
                served: s.served,
                no_show: s.no_show,
                transferred: s.transferred,
                avg_wait_min: (s.wait_count > 0).then(|| mins(s.wait_sum_ms) / s.wait_count as f64),
                p50_wait_min: q::hist_quantile(&s.wait_hist, 0.5, s.wait_max_ms),
                p90_wait_min: q::hist_quantile(&s.wait_hist, 0.9, s.wait_max_ms),
                max_wait_min: (s.wait_count > 0).then(|| mins(s.wait_max_ms)),
                over_30_min_share: (s.wait_count > 0).then(|| over30 as f64 / s.wait_count as f64),
                avg_service_min: (s.service_count > 0).then(|| mins(s.service_sum_ms) / s.service_count as f64),
                p90_service_min: q::hist_quantile(&s.service_hist, 0.9, s.service_max_ms),
            }
        })
        .collect())
}

// ---- appointments ----------------------------------------------------------------------------

/// Kind of the look-up hash of a booking's ID number (crypto.rs `lookup_hash`).
const PERSON_LOOKUP: &str = "booking.id_number";

/// A person's key for new bookings: the ID number's HMAC under a key derived from the data key
/// (`<key id>.<hex>`), so the number itself is not stored and the hash cannot be recomputed
/// without the key.
fn person_hash(keys: &DataKeys, id: &IdNumber) -> String {
    keys.lookup_hash(PERSON_LOOKUP, id.as_str())
}

/// Every form a person's key may be stored in: under each data key of the ring (rotation), and
/// the unkeyed SHA-256 of bookings made before migration 0008 (they stay findable).
fn person_hashes(keys: &DataKeys, id: &IdNumber) -> Vec<String> {
    let mut all = keys.lookup_hashes(PERSON_LOOKUP, id.as_str());
    all.push(sha256_hex(&format!("onestop-person:{}", id.as_str())));
    all
}

fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Booking {
    pub code: String,
    pub hall_id: i64,
    pub category: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub state: String,
    pub name_masked: String,
    /// `138****5678`, when the booking has a phone.
    pub phone_masked: Option<String>,
}

/// Books a place in a slot (预约). Refuses a full slot (409), a slot that has started (422), and
/// a person blocked by the no-show rule (409). The phone, when given, is stored sealed.
pub async fn book(
    state: &AppState,
    slot_id: i64,
    id_number: &str,
    name: &str,
    phone: Option<&Phone>,
    client: &str,
) -> ApiResult<Booking> {
    crate::auth::rate_limit(
        state,
        format!("book:addr:{client}"),
        30,
        jiff::SignedDuration::from_mins(10),
    )
    .await?;
    let now = state.clock.now();
    let today = now.to_zoned(hall_tz()).date();
    let id = IdNumber::parse_as_of(id_number, today)?;
    let name = onestop_domain::names::Name::parse(name)?;
    let keys = state.data_keys()?;
    let slot = q::slot(state.store.read(), slot_id)
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "slot_not_found", "没有这个预约时段"))?;
    if slot.starts_at <= now.as_millisecond() {
        return Err(ApiError::validation(
            "slot_past",
            "该时段已开始或已过去，请选择其他时段",
        ));
    }
    let who = person_hash(&keys, &id);
    let misses: Vec<jiff::civil::Date> = q::no_show_days(state.store.read(), &person_hashes(&keys, &id))
        .await?
        .iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    // The rule is the hall's region's setting (inherited down the tree).
    let hall = onestop_store::org::hall(state.store.read(), slot.hall_id).await?;
    let rule = crate::settings::effective::<NoShowSetting>(state, hall.region_id).await?;
    if let Some(until) = booking_blocked(&misses, today, &rule) {
        return Err(ApiError::conflict(
            "booking_blocked",
            format!(
                "因多次预约未到，{}年{}月{}日前暂停预约",
                until.year(),
                until.month(),
                until.day()
            ),
        ));
    }
    let cat = q::category(state.store.read(), slot.category_id).await?;
    let masked = mask_name(name.as_str());
    let code = random_code();
    let (c, m) = (code.clone(), masked.clone());
    let region_id = org::hall(state.store.read(), slot.hall_id).await?.region_id;
    let s = slot.clone();
    let sealed = phone.map(|p| keys.seal_str(purpose::PHONE, p.as_str()));
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if !q::take_place(tx, s.id, now).await? {
                    return Err(conflict("slot_full", "该时段已约满，请选择其他时段"));
                }
                let aid = q::insert_appointment(tx, &s, &c, &who, &m, sealed.as_deref(), now).await?;
                tx.audit(AuditEntry {
                    region_id,
                    at: now,
                    actor: "public".into(),
                    action: "appointment.book",
                    entity: "appointment",
                    entity_id: aid.to_string(),
                    detail: json!({"slot": s.id}),
                })
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(Booking {
        code,
        hall_id: slot.hall_id,
        category: cat.prefix,
        starts_at: slot.starts_at,
        ends_at: slot.ends_at,
        state: "booked".into(),
        name_masked: masked,
        phone_masked: phone.map(Phone::masked),
    })
}

/// The masked phone of a booking, opened from its sealed form (None without one, or when it
/// does not open: a missing old key must not stop a cancellation).
fn masked_phone(state: &AppState, a: &q::Appointment) -> Option<String> {
    let keys = state.infra.data_keys.clone()?;
    let plain = keys.open_str(purpose::PHONE, a.phone_sealed.as_deref()?).ok()?;
    Phone::parse(&plain).ok().map(|p| p.masked())
}

fn booking_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "booking_not_found",
        "预约码不存在或与身份证号不符",
    )
}

/// Cancels a booking; the code and the ID number must match.
pub async fn cancel_booking(state: &AppState, code: &str, id_number: &str, client: &str) -> ApiResult<Booking> {
    crate::auth::rate_limit(
        state,
        format!("book:addr:{client}"),
        30,
        jiff::SignedDuration::from_mins(10),
    )
    .await?;
    let id = IdNumber::parse(id_number)?;
    let hashes = person_hashes(&*state.data_keys()?, &id);
    let a = q::appointment_by_code(state.store.read(), code.trim())
        .await?
        .filter(|a| {
            hashes
                .iter()
                .any(|h| crate::auth::constant_time_eq(a.person_hash.as_bytes(), h.as_bytes()))
        })
        .ok_or_else(booking_not_found)?;
    let now = state.clock.now();
    let region_id = org::hall(state.store.read(), a.hall_id).await?.region_id;
    let aa = a.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if !q::set_appointment_state(tx, aa.id, "booked", "cancelled", None, now).await? {
                    return Err(conflict("booking_not_cancellable", "该预约已签到、已取消或已过期"));
                }
                q::release_place(tx, aa.slot_id).await?;
                tx.audit(AuditEntry {
                    region_id,
                    at: now,
                    actor: "public".into(),
                    action: "appointment.cancel",
                    entity: "appointment",
                    entity_id: aa.id.to_string(),
                    detail: json!({}),
                })
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    let cat = q::category(state.store.read(), a.category_id).await?;
    let phone_masked = masked_phone(state, &a);
    Ok(Booking {
        code: a.code,
        hall_id: a.hall_id,
        category: cat.prefix,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        state: "cancelled".into(),
        phone_masked,
        name_masked: a.name_masked,
    })
}

/// Checks in at the kiosk with a booking code or an ID number: issues a ticket that the policy
/// serves within its slot ahead of walk-ins of the same category.
pub async fn check_in(
    state: &AppState,
    device_id: i64,
    hall_id: i64,
    code: Option<&str>,
    id_number: Option<&str>,
) -> ApiResult<TakenTicket> {
    let now = state.clock.now();
    let a = match (
        code.map(str::trim).filter(|c| !c.is_empty()),
        id_number.map(str::trim).filter(|c| !c.is_empty()),
    ) {
        (Some(c), _) => q::appointment_by_code(state.store.read(), &c.to_ascii_uppercase())
            .await?
            .filter(|a| a.hall_id == hall_id)
            .ok_or_else(booking_not_found)?,
        (None, Some(n)) => {
            let id = IdNumber::parse(n)?;
            let today = hall_day(now).0;
            q::appointments_of_person(state.store.read(), hall_id, &person_hashes(&*state.data_keys()?, &id))
                .await?
                .into_iter()
                .find(|a| hall_day(onestop_store::ts(a.starts_at)).0 == today)
                .ok_or_else(booking_not_found)?
        }
        (None, None) => return Err(ApiError::validation("booking_code_missing", "请输入预约码或身份证号")),
    };
    if a.state != "booked" {
        return Err(ApiError::conflict("booking_not_open", "该预约已签到、已取消或已过期"));
    }
    let hall = org::hall(state.store.read(), hall_id).await?;
    let late = policy_of(state, hall.region_id).await?.appointment_late_grace;
    if now > onestop_store::ts(a.ends_at) + late {
        return Err(ApiError::conflict("booking_expired", "预约时段已过，请按普通取号办理"));
    }
    if hall_day(onestop_store::ts(a.starts_at)).0 != hall_day(now).0 {
        return Err(ApiError::conflict("booking_not_today", "预约日期不是今天"));
    }
    let cat = q::category(state.store.read(), a.category_id).await?;
    let source = TicketSource::Appointment {
        slot_start: onestop_store::ts(a.starts_at),
        slot_end: onestop_store::ts(a.ends_at),
    };
    let actor = format!("device:{device_id}");
    let (h, c, aa) = (hall.clone(), cat.clone(), a.clone());
    let (id, t, tcode) = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let r = issue(
                    tx,
                    &h,
                    &c,
                    PriorityGroup::None,
                    source,
                    Some(aa.id),
                    Some(device_id),
                    &actor,
                    now,
                )
                .await?;
                if !q::set_appointment_state(tx, aa.id, "booked", "checked_in", Some(r.0), now).await? {
                    return Err(conflict("booking_not_open", "该预约已签到"));
                }
                notify(tx, h.id, "update", None, None, now).await?;
                Ok::<_, StoreError>(r)
            })
        })
        .await?;
    let (ahead, est) = estimate_for(state, &hall, &cat, Some(id)).await?;
    Ok(TakenTicket {
        id,
        hall_id,
        ticket_no: t.no.to_string(),
        code: tcode,
        category: cat.prefix,
        category_name: cat.name,
        priority: "none".into(),
        issued_at: now.as_millisecond(),
        ahead,
        estimated_wait_min: est,
    })
}

/// Open slots of a hall from today for `days` days (public).
pub async fn open_slots(state: &AppState, hall_id: i64, days: i64) -> ApiResult<Vec<q::Slot>> {
    let now = state.clock.now();
    let today = now.to_zoned(hall_tz()).date();
    let last = today
        .checked_add(jiff::Span::new().days(days.clamp(1, 31)))
        .unwrap_or(today);
    Ok(
        q::slots(state.store.read(), hall_id, &today.to_string(), &last.to_string())
            .await?
            .into_iter()
            .filter(|s| s.starts_at > now.as_millisecond())
            .collect(),
    )
}

/// Creates or resizes slots of a category on a day (hall managers): `hours` are local start
/// hours, each slot an hour long.
pub async fn set_slots(
    state: &AppState,
    p: &Principal,
    hall_id: i64,
    category: &str,
    day: jiff::civil::Date,
    hours: &[i8],
    capacity: i64,
) -> ApiResult<Vec<q::Slot>> {
    let hall = hall_scoped(state, p, hall_id, Permission::HallManage).await?;
    if !(0..=200).contains(&capacity) {
        return Err(ApiError::validation(
            "capacity_invalid",
            "每个时段的名额须在 0 到 200 之间",
        ));
    }
    let cat = open_category(state, hall_id, category).await?;
    let now = state.clock.now();
    let mut slots = Vec::new();
    for h in hours {
        if !(0..=23).contains(h) {
            return Err(ApiError::validation("hour_invalid", "时段须在 0 到 23 点之间"));
        }
        let start = day
            .at(*h, 0, 0, 0)
            .to_zoned(hall_tz())
            .map_err(|_| ApiError::validation("date_invalid", "日期无效"))?
            .timestamp();
        slots.push(q::Slot {
            id: 0,
            hall_id,
            category_id: cat.id,
            day: day.to_string(),
            starts_at: start.as_millisecond(),
            ends_at: (start + jiff::SignedDuration::from_hours(1)).as_millisecond(),
            capacity,
            booked: 0,
        });
    }
    let actor = p.actor();
    let region_id = hall.region_id;
    let ss = slots.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                for s in &ss {
                    q::upsert_slot(tx, s, now).await?;
                }
                tx.audit(AuditEntry {
                    region_id,
                    at: now,
                    actor,
                    action: "appointment_slots.set",
                    entity: "hall",
                    entity_id: hall_id.to_string(),
                    detail: json!({"slots": ss.len()}),
                })
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(q::slots(state.store.read(), hall_id, &day.to_string(), &day.to_string()).await?)
}

pub fn parse_priority(raw: Option<&str>) -> ApiResult<PriorityGroup> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(PriorityGroup::None),
        Some(s) => q::parse_priority(s).ok_or_else(|| {
            DomainError::invalid(
                "priority_invalid",
                "priority",
                "优先类别须为 none、senior70、disabled 或 green_channel",
            )
            .into()
        }),
    }
}
