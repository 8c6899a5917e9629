//! Use cases of ratings (好差评), shared by the API, the pages, the jobs and the demo: issuing the
//! token when a service finishes, rating through the pad, the ticket's QR or the SMS link, the
//! bad-review follow-up driven by the hall manager, the appeal, default ratings and the overdue
//! sweep. Every change is one transaction with its counters and audit entry.
pub mod dashboard;
// ratecase: the case side (一事一评, case figures)
pub mod cases;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use jiff::Timestamp;
use onestop_domain::rating::{
    self as r, CallbackView, Channel, DefaultRatingSetting, FollowUpStep, Level, Rater, RatingInput, Series,
};
use onestop_domain::region::RegionPath;
use onestop_domain::role::{Permission, Role};
use onestop_store::audit::AuditEntry;
use onestop_store::queue::TicketRow;
use onestop_store::ratings::{self as store, FollowUpRow, IssuedToken, RatingRow, Subject, Submission, TokenRow};
use onestop_store::{StoreError, Tx, org};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The live channel that wakes evaluator pads: payload is a [`PadEvent`] as JSON.
pub const CHANNEL: &str = "ratings";

/// How long after the finish a pad offers the window's token (the citizen is still there).
pub const PAD_WINDOW_MINUTES: i64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PadEvent {
    pub hall_id: i64,
    pub window_id: i64,
    /// `rate`: a service just finished at the window; `rated`: its token was used.
    pub kind: String,
}

async fn pad_notify(tx: &mut Tx, hall_id: i64, window_id: i64, kind: &str) -> Result<(), StoreError> {
    let payload = serde_json::to_string(&PadEvent {
        hall_id,
        window_id,
        kind: kind.to_owned(),
    })
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.notify(CHANNEL, payload).await
}

/// Called inside the transaction that finishes a ticket's service: counts the visitor for the
/// clerk's leaf and issues the ticket's rating token (一次一评), then wakes the window's pad.
#[allow(clippy::too_many_arguments)]
pub async fn on_service_finished(
    tx: &mut Tx,
    row: &TicketRow,
    called_at: Option<Timestamp>,
    service_started_at: Option<Timestamp>,
    window_id: i64,
    department_id: i64,
    person_id: i64,
    region_id: i64,
    now: Timestamp,
) -> Result<IssuedToken, StoreError> {
    let issued = onestop_store::ts(row.returned_at.unwrap_or(row.issued_at));
    let wait_ms = called_at.map(|c| c.as_millisecond() - issued.as_millisecond());
    let service_ms = service_started_at.map(|s| now.as_millisecond() - s.as_millisecond());
    store::count_service(
        tx,
        row.hall_id,
        window_id,
        person_id,
        department_id,
        now,
        store::ServiceDelta { wait_ms, service_ms },
    )
    .await?;
    let subject = Subject {
        series: Series::Ticket,
        subject_id: row.id,
        subject_no: format!("{}-{}", row.day, row.ticket_no),
        region_id,
        hall_id: row.hall_id,
        window_id,
        person_id,
        department_id,
    };
    let token = store::issue_token(tx, &subject, now).await?;
    pad_notify(tx, row.hall_id, window_id, "rate").await?;
    Ok(token)
}

/// Issues the token of a concluded case (一事一评) inside the conclusion's transaction, and
/// sends the rating link by SMS when the applicant's phone is known. The case side calls this
/// through [`cases::on_concluded`] (in the transaction that concludes the case).
pub async fn on_case_concluded(
    tx: &mut Tx,
    state: &AppState,
    subject: &Subject,
    phone: Option<&onestop_domain::ids::Phone>,
    now: Timestamp,
) -> Result<IssuedToken, StoreError> {
    let token = store::issue_token(tx, subject, now).await?;
    if let Some(phone) = phone {
        let keys = state
            .infra
            .data_keys
            .clone()
            .ok_or_else(|| StoreError::Config("crypto.data_key is not configured".into()))?;
        let text = format!(
            "【一站式政务服务】您的办件 {} 已办结，请对本次服务进行评价：{}",
            subject.subject_no,
            rating_link(state, &token.token)
        );
        crate::notify::queue_sms(tx, &keys, phone, &text, now).await?;
    }
    Ok(token)
}

/// The public link that rates with a token (in SMS messages).
pub fn rating_link(state: &AppState, token: &str) -> String {
    format!("{}/rate/{token}", state.infra.public_url.trim_end_matches('/'))
}

/// What the rater submits (the same on every channel).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意.
    pub level: i64,
    /// Levels per dimension of the series (on-site: service_efficiency, service_level,
    /// service_attitude; online: handling_efficiency, guide_accuracy, convenience, usability).
    #[serde(default)]
    pub dimensions: BTreeMap<String, i64>,
    /// The reason; required for levels 4 and 5.
    #[serde(default)]
    pub text: Option<String>,
    /// pc, mobile, qr_code, phone or sms (the pad channel is set by the pad route).
    #[serde(default)]
    pub channel: Option<String>,
}

/// A recorded rating as the rater and the supervisors see it (no personal data).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RatingView {
    pub id: i64,
    /// ticket (一次一评) or case (一事一评)
    pub series: String,
    pub subject_no: String,
    pub channel: String,
    pub level: i64,
    pub level_label: String,
    #[schema(value_type = Object)]
    pub dimensions: serde_json::Value,
    pub text: String,
    pub rated_at: i64,
    pub region_code: String,
    pub defaulted: bool,
    pub excluded: bool,
    pub excluded_reason: Option<String>,
    /// The follow-up a bad review opened.
    pub followup_id: Option<i64>,
}

impl RatingView {
    pub fn of(r: &RatingRow, followup_id: Option<i64>) -> Self {
        Self {
            id: r.id,
            series: r.series.clone(),
            subject_no: r.subject_no.clone(),
            channel: r.channel.clone(),
            level: r.level,
            level_label: Level::from_code(r.level).map(Level::label).unwrap_or("").to_owned(),
            dimensions: serde_json::from_str(&r.dimensions).unwrap_or_default(),
            text: r.text.clone(),
            rated_at: r.rated_at,
            region_code: r.region_code.clone(),
            defaulted: r.defaulted != 0,
            excluded: r.excluded_at.is_some(),
            excluded_reason: r.excluded_reason.clone(),
            followup_id,
        }
    }
}

/// What a token rates, for the rating form.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RatingTarget {
    pub token_id: i64,
    pub series: String,
    pub series_label: String,
    pub subject_no: String,
    pub hall_name: String,
    pub window_no: Option<String>,
    /// (dimension key, 简体 label) asked in this series.
    pub dimensions: Vec<(String, String)>,
    pub used: bool,
    pub expires_at: i64,
}

pub async fn target_of(state: &AppState, t: &TokenRow) -> ApiResult<RatingTarget> {
    let series = t.series()?;
    let hall_name = if t.hall_id != 0 {
        org::hall(state.store.read(), t.hall_id).await?.name
    } else {
        String::new()
    };
    let window_no = if t.window_id != 0 {
        Some(org::window(state.store.read(), t.window_id).await?.number)
    } else {
        None
    };
    Ok(RatingTarget {
        token_id: t.id,
        series: series.as_str().to_owned(),
        series_label: series.label().to_owned(),
        subject_no: t.subject_no.clone(),
        hall_name,
        window_no,
        dimensions: series
            .dimensions()
            .iter()
            .map(|d| (d.as_str().to_owned(), d.label().to_owned()))
            .collect(),
        used: t.used_at.is_some(),
        expires_at: t.expires_at,
    })
}

fn token_invalid() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "rating_token_invalid",
        "评价码无效：请扫描办事凭证上的二维码，或使用短信中的链接",
    )
}

pub(crate) fn event_unknown() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "rating_event_unknown",
        "没有找到可以评价的服务：业务办结后才能评价",
    )
}

/// Refuses staff: a rating comes from the citizen, never from a logged-in member of staff.
pub fn refuse_staff(caller: Option<&Principal>) -> ApiResult<()> {
    let rater = if caller.is_some() { Rater::Staff } else { Rater::Citizen };
    r::check_rater(rater).map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e.code(), e.to_string()))
}

/// The token behind a raw value (from the SMS link or a QR), or 404.
pub async fn token_by_raw(state: &AppState, raw: &str) -> ApiResult<TokenRow> {
    store::token(state.store.read(), raw).await?.ok_or_else(token_invalid)
}

/// The token of the ticket whose follow code is `code` (the QR on the ticket slip), or 404
/// when the ticket does not exist or its service never finished.
pub async fn token_by_ticket_code(state: &AppState, code: &str) -> ApiResult<TokenRow> {
    if code.len() > 64 {
        return Err(event_unknown());
    }
    let t = match onestop_store::queue::ticket_by_code(state.store.read(), code).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Err(event_unknown()),
        Err(e) => return Err(e.into()),
    };
    store::token_of_subject(state.store.read(), Series::Ticket, t.id)
        .await?
        .ok_or_else(event_unknown)
}

fn parse_input(series: Series, req: &RateRequest) -> ApiResult<RatingInput> {
    let dims: Vec<(String, i64)> = req.dimensions.iter().map(|(k, v)| (k.clone(), *v)).collect();
    Ok(RatingInput::parse(series, req.level, &dims, req.text.as_deref())?)
}

/// Rates with `token` through `channel`. Staff callers are refused before anything is read.
pub async fn rate(
    state: &AppState,
    caller: Option<&Principal>,
    token: TokenRow,
    req: &RateRequest,
    channel: Channel,
    rater: &str,
) -> ApiResult<RatingView> {
    refuse_staff(caller)?;
    let series = token.series()?;
    let input = parse_input(series, req)?;
    let now = state.clock.now();
    let rater = rater.to_owned();
    let view = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let row = store::submit(
                    tx,
                    &token,
                    Submission {
                        input: &input,
                        channel,
                        rater: &rater,
                        defaulted: false,
                    },
                    now,
                )
                .await?;
                let followup: Option<i64> = sqlx::query_scalar("SELECT id FROM rating_followups WHERE rating_id = $1")
                    .bind(row.id)
                    .fetch_optional(tx.conn())
                    .await?;
                tx.audit(AuditEntry {
                    region_id: row.region_id,
                    at: now,
                    actor: format!("rater:{}", channel.as_str()),
                    action: "rating.submit",
                    entity: "rating",
                    entity_id: row.id.to_string(),
                    detail: json!({"series": row.series, "subject": row.subject_no, "level": row.level,
                        "channel": row.channel, "followup": followup}),
                })
                .await?;
                if token.window_id != 0 {
                    pad_notify(tx, token.hall_id, token.window_id, "rated").await?;
                }
                Ok::<_, StoreError>(RatingView::of(&row, followup))
            })
        })
        .await?;
    Ok(view)
}

/// Public channels a rater may name (the pad is set by its route, defaults by the job).
pub fn public_channel(raw: Option<&str>, default: Channel) -> ApiResult<Channel> {
    let c = match raw {
        None | Some("") => default,
        Some(raw) => Channel::parse(raw)?,
    };
    if matches!(c, Channel::Pad | Channel::HallTerminal | Channel::Other) {
        return Err(ApiError::validation(
            "rating_channel_invalid",
            "评价器渠道只能由已配对的评价器使用",
        ));
    }
    Ok(c)
}

/// The token a pad offers now: the newest unused one issued at its window in the last minutes.
pub async fn pad_current(state: &AppState, window_id: i64) -> ApiResult<Option<TokenRow>> {
    let since = state.clock.now() - jiff::SignedDuration::from_mins(PAD_WINDOW_MINUTES);
    Ok(store::pending_at_window(state.store.read(), window_id, since).await?)
}

/// Rates the token `token_id` on the pad of `window_id`: only the window's current token.
pub async fn rate_at_pad(
    state: &AppState,
    device_id: i64,
    window_id: i64,
    token_id: i64,
    req: &RateRequest,
) -> ApiResult<RatingView> {
    let token = store::token_by_id(state.store.read(), token_id).await?;
    let Some(token) = token.filter(|t| t.window_id == window_id) else {
        return Err(ApiError::conflict(
            "rating_token_not_current",
            "该评价已不是本窗口当前的服务，请刷新",
        ));
    };
    if token.used_at.is_some() {
        return Err(ApiError::conflict(
            "rating_token_used",
            "该次服务已评价，每次服务只能评价一次",
        ));
    }
    // Only the window's newest service, while the citizen is still at the window.
    let current = pad_current(state, window_id).await?;
    let Some(current) = current.filter(|c| c.id == token.id) else {
        return Err(ApiError::conflict(
            "rating_token_not_current",
            "该评价已不是本窗口当前的服务，请刷新",
        ));
    };
    rate(state, None, current, req, Channel::Pad, &format!("pad:{device_id}")).await
}

// ---- follow-ups ------------------------------------------------------------------------------

/// A follow-up as the hall manager works it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUpView {
    pub id: i64,
    pub state: String,
    pub state_label: String,
    pub rating: RatingView,
    pub hall_id: i64,
    pub window_id: i64,
    pub opened_at: i64,
    /// The rectification deadline (YYYY-MM-DD, working days on the region's calendar).
    pub rectify_due: String,
    pub overdue: bool,
    pub verify_note: Option<String>,
    pub rectify_note: Option<String>,
    pub feedback_note: Option<String>,
    pub callback_view: Option<String>,
    pub callback_note: Option<String>,
    pub appeal_outcome: Option<String>,
    pub appeal_reason: Option<String>,
}

pub async fn followup_view(state: &AppState, f: &FollowUpRow) -> ApiResult<FollowUpView> {
    let rating = store::rating(state.store.read(), f.rating_id).await?;
    let st = f.state()?;
    let today = store::local_date(state.clock.now()).to_string();
    Ok(FollowUpView {
        id: f.id,
        state: f.state.clone(),
        state_label: st.label().to_owned(),
        rating: RatingView::of(&rating, Some(f.id)),
        hall_id: f.hall_id,
        window_id: f.window_id,
        opened_at: f.opened_at,
        rectify_due: f.rectify_due.clone(),
        overdue: st.awaits_rectification() && today > f.rectify_due,
        verify_note: f.verify_note.clone(),
        rectify_note: f.rectify_note.clone(),
        feedback_note: f.feedback_note.clone(),
        callback_view: f.callback_view.clone(),
        callback_note: f.callback_note.clone(),
        appeal_outcome: f.appeal_outcome.clone(),
        appeal_reason: f.appeal_reason.clone(),
    })
}

async fn followup_region_path(state: &AppState, f: &FollowUpRow) -> ApiResult<RegionPath> {
    let region = onestop_store::regions::get(state.store.read(), f.region_id).await?;
    Ok(RegionPath::from_stored(region.path))
}

/// A follow-up the caller may see (hall managers and supervisors of its region), else 404.
async fn visible_followup(state: &AppState, p: &Principal, id: i64) -> ApiResult<(FollowUpRow, RegionPath)> {
    let f = store::followup(state.store.read(), id).await?;
    let path = followup_region_path(state, &f).await?;
    if !p.can(Permission::SupervisionRead, &path) && !p.can(Permission::HallManage, &path) {
        return Err(ApiError::not_found());
    }
    Ok((f, path))
}

pub async fn followups_of_hall(state: &AppState, p: &Principal, hall_id: i64) -> ApiResult<Vec<FollowUpView>> {
    let hall = org::hall(state.store.read(), hall_id).await?;
    let path = RegionPath::from_stored(hall.region_path.clone());
    if !p.can(Permission::SupervisionRead, &path) && !p.can(Permission::HallManage, &path) {
        return Err(ApiError::not_found());
    }
    let rows = store::followups_of_hall(state.store.read(), hall_id, 200).await?;
    let mut out = Vec::with_capacity(rows.len());
    for f in &rows {
        out.push(followup_view(state, f).await?);
    }
    Ok(out)
}

pub async fn get_followup(state: &AppState, p: &Principal, id: i64) -> ApiResult<FollowUpView> {
    let (f, _) = visible_followup(state, p, id).await?;
    followup_view(state, &f).await
}

/// One step of the follow-up by the hall manager: verify, rectify, feed back, call back.
pub async fn followup_step(
    state: &AppState,
    p: &Principal,
    id: i64,
    step: &str,
    note: &str,
    view: Option<&str>,
) -> ApiResult<FollowUpView> {
    let (f, path) = visible_followup(state, p, id).await?;
    p.require(Permission::HallManage, &path)?;
    let step = FollowUpStep::parse(step)?;
    let note = r::check_note(note, "note")?;
    let view = match (step, view) {
        (FollowUpStep::Callback, Some(v)) => Some(CallbackView::parse(v)?),
        (FollowUpStep::Callback, None) => {
            return Err(ApiError::validation(
                "callback_view_required",
                "回访时请记录办事人对整改的意见",
            ));
        }
        _ => None,
    };
    let next = r::follow_up_next(f.state()?, step)?;
    let now = state.clock.now();
    let actor = p.actor();
    let row = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let row = store::advance(tx, &f, step, next, &note, view, now).await?;
                tx.audit(AuditEntry {
                    region_id: f.region_id,
                    at: now,
                    actor,
                    action: "rating.followup",
                    entity: "rating_followup",
                    entity_id: f.id.to_string(),
                    detail: json!({"step": step.as_str(), "state": next.as_str(), "note": note,
                        "view": view.map(CallbackView::as_str)}),
                })
                .await?;
                Ok::<_, StoreError>(row)
            })
        })
        .await?;
    followup_view(state, &row).await
}

/// Whether `p` may decide appeals at `path`: the supervision side (效能监察), region admins and
/// system admins, not the hall that was rated.
fn may_decide_appeal(p: &Principal, path: &RegionPath) -> bool {
    p.grants.iter().any(|g| {
        matches!(g.role, Role::Supervisor | Role::RegionAdmin | Role::SystemAdmin) && g.region_path.contains(path)
    })
}

/// Decides the appeal (申诉复核) of a bad review: `exclude` takes it out of the figures from the
/// bucket of the decision on; the reason is kept either way.
pub async fn decide_appeal(
    state: &AppState,
    p: &Principal,
    id: i64,
    exclude: bool,
    reason: &str,
) -> ApiResult<FollowUpView> {
    let (f, path) = visible_followup(state, p, id).await?;
    if !may_decide_appeal(p, &path) {
        return Err(ApiError::forbidden());
    }
    let reason = r::check_note(reason, "reason")?;
    let next = r::appeal(f.state()?, exclude)?;
    if !exclude && f.appeal_outcome.is_some() {
        return Err(ApiError::conflict("appeal_decided", "该差评的申诉已复核"));
    }
    let now = state.clock.now();
    let actor = p.actor();
    let row = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let row = store::decide_appeal(tx, &f, next, exclude, &reason, now).await?;
                tx.audit(AuditEntry {
                    region_id: f.region_id,
                    at: now,
                    actor,
                    action: "rating.appeal",
                    entity: "rating_followup",
                    entity_id: f.id.to_string(),
                    detail: json!({"exclude": exclude, "reason": reason, "rating": f.rating_id}),
                })
                .await?;
                Ok::<_, StoreError>(row)
            })
        })
        .await?;
    followup_view(state, &row).await
}

// ---- jobs ------------------------------------------------------------------------------------

/// Warns overdue follow-ups once (counted as a warning in the bucket of the sweep). Returns how
/// many were warned.
pub async fn sweep_overdue(state: &AppState) -> Result<u64, StoreError> {
    let now = state.clock.now();
    let today = store::local_date(now);
    let due = store::overdue_unwarned(state.store.read(), today, 500).await?;
    let mut n = 0;
    for f in due {
        let warned = state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    let warned = store::mark_overdue(tx, &f, now).await?;
                    if warned {
                        tx.audit(AuditEntry {
                            region_id: f.region_id,
                            at: now,
                            actor: "system:ratings".into(),
                            action: "rating.followup_overdue",
                            entity: "rating_followup",
                            entity_id: f.id.to_string(),
                            detail: json!({"due": f.rectify_due}),
                        })
                        .await?;
                    }
                    Ok::<_, StoreError>(warned)
                })
            })
            .await?;
        n += u64::from(warned);
    }
    Ok(n)
}

/// Defaults unrated events to 基本满意 where the region's rule is on and its days have passed.
/// Defaulted ratings count apart (`defaulted`), never as real ones. Returns how many.
pub async fn default_unrated(state: &AppState) -> Result<u64, StoreError> {
    let now = state.clock.now();
    // The shortest rule allowed is one day, so nothing younger can be due anywhere.
    let candidates = store::unused_before(state.store.read(), now - jiff::SignedDuration::from_hours(24), 500).await?;
    let mut rules: BTreeMap<i64, r::DefaultRatingRule> = BTreeMap::new();
    let input = RatingInput::parse(Series::Ticket, Level::FairlySatisfied.code(), &[], None)?;
    let mut n = 0;
    for t in candidates {
        let rule = match rules.get(&t.region_id) {
            Some(rule) => rule.clone(),
            None => {
                let mut conn = state.store.read().acquire().await?;
                let rule = onestop_store::region_settings::effective::<DefaultRatingSetting>(&mut conn, t.region_id)
                    .await?
                    .value;
                rules.insert(t.region_id, rule.clone());
                rule
            }
        };
        if !rule.enabled || now.as_millisecond() - t.issued_at < i64::from(rule.after_days) * 86_400_000 {
            continue;
        }
        let input = input.clone();
        let done = state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    match store::submit(
                        tx,
                        &t,
                        Submission {
                            input: &input,
                            channel: Channel::Other,
                            rater: "system:default",
                            defaulted: true,
                        },
                        now,
                    )
                    .await
                    {
                        Ok(_) => Ok(true),
                        // Rated meanwhile, or expired: nothing to default.
                        Err(StoreError::Conflict { .. }) => Ok(false),
                        Err(e) => Err(e),
                    }
                })
            })
            .await?;
        n += u64::from(done);
    }
    Ok(n)
}
