//! Ratings over the JSON API: citizens rate with a token (SMS link), the ticket's QR code or the
//! paired evaluator pad; hall managers work the bad-review follow-ups; supervisors decide appeals
//! and read the dashboards and their exports. Every route is in this module's OpenAPI document.
use crate::auth::{Auth, DeviceAuth, client_ip};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::ratings::dashboard::{
    self, CaseFigures, Dashboard, DashboardQuery, Figures, RatingFigures, ServiceFigures, TrendPoint,
};
use crate::ratings::{self as ops, FollowUpView, PadEvent, RateRequest, RatingTarget, RatingView};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use onestop_domain::rating::Channel;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use utoipa::{OpenApi, ToSchema};

type S = State<AppState>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ratings/tokens/{token}", get(token_target).post(rate_with_token))
        .route("/ratings/tickets/{code}", get(ticket_target).post(rate_ticket))
        .route("/ratings/pad", get(pad_current))
        .route("/ratings/pad/events", get(pad_events))
        .route("/ratings/pad/{token_id}", post(pad_rate))
        .route("/ratings/halls/{id}/followups", get(hall_followups))
        .route("/ratings/followups/{id}", get(get_followup))
        .route("/ratings/followups/{id}/appeal", post(appeal))
        .route("/ratings/followups/{id}/steps/{step}", post(followup_step))
        .route("/ratings/dashboard", get(get_dashboard))
        .route("/ratings/dashboard/export/{format}", get(export_dashboard))
        // ratecase: 一事一评 through the QR on the case receipt (its tracking code)
        .route("/ratings/cases/{code}", get(case_target).post(rate_case))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        token_target,
        rate_with_token,
        ticket_target,
        rate_ticket,
        pad_current,
        pad_events,
        pad_rate,
        hall_followups,
        get_followup,
        appeal,
        followup_step,
        get_dashboard,
        export_dashboard,
        case_target,
        rate_case
    ),
    components(schemas(
        RateRequest,
        RatingView,
        RatingTarget,
        PadCurrent,
        FollowUpView,
        StepRequest,
        AppealRequest,
        Dashboard,
        Figures,
        RatingFigures,
        ServiceFigures,
        CaseFigures,
        TrendPoint,
        DashboardQuery
    ))
)]
pub struct RatingsDoc;

/// One rate limit for every public rating request of a client address (a hall shares one NAT
/// address, hence the generous figure; tokens are unguessable anyway).
async fn limit_public(state: &AppState, parts: &axum::http::request::Parts) -> ApiResult<()> {
    let client = client_ip(state, parts).map(|c| c.to_string()).unwrap_or_default();
    crate::auth::rate_limit(
        state,
        format!("rating:addr:{client}"),
        600,
        jiff::SignedDuration::from_mins(10),
    )
    .await
}

/// The staff member behind the request's session or token, if any (a bad credential counts as
/// none: the rating is bound to the token, not to the caller).
async fn caller(state: &AppState, parts: &axum::http::request::Parts) -> Option<crate::auth::Principal> {
    crate::auth::authenticate(state, parts).await.ok().flatten()
}

async fn rate_request(
    state: &AppState,
    parts: axum::http::request::Parts,
    body: axum::body::Body,
) -> ApiResult<RateRequest> {
    let ApiJson(b) = <ApiJson<RateRequest> as axum::extract::FromRequest<AppState>>::from_request(
        axum::extract::Request::from_parts(parts, body),
        state,
    )
    .await?;
    Ok(b)
}

/// What a rating token rates (public; the token comes from the SMS link).
#[utoipa::path(get, path = "/api/v1/ratings/tokens/{token}", params(("token" = String, Path)), security(()),
    responses((status = 200, body = RatingTarget), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn token_target(State(state): S, req: axum::extract::Request) -> ApiResult<Json<RatingTarget>> {
    let (mut parts, _) = req.into_parts();
    limit_public(&state, &parts).await?;
    let ApiPath(token) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let t = ops::token_by_raw(&state, &token).await?;
    Ok(Json(ops::target_of(&state, &t).await?))
}

/// Rates with a token (public, once). 403 `rating_staff_forbidden` for staff sessions, 404
/// `rating_token_invalid`, 409 `rating_token_used` / `rating_token_expired`, 422
/// `rating_reason_required` for a bad review without a reason.
#[utoipa::path(post, path = "/api/v1/ratings/tokens/{token}", params(("token" = String, Path)), request_body = RateRequest, security(()),
    responses((status = 201, body = RatingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn rate_with_token(State(state): S, req: axum::extract::Request) -> ApiResult<(StatusCode, Json<RatingView>)> {
    let (mut parts, body) = req.into_parts();
    limit_public(&state, &parts).await?;
    let staff = caller(&state, &parts).await;
    ops::refuse_staff(staff.as_ref())?;
    let ApiPath(token) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let b = rate_request(&state, parts, body).await?;
    let channel = ops::public_channel(b.channel.as_deref(), Channel::Sms)?;
    let t = ops::token_by_raw(&state, &token).await?;
    let v = ops::rate(&state, staff.as_ref(), t, &b, channel, "citizen").await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// What the ticket with this follow code can be rated for (public; the code is in the QR).
#[utoipa::path(get, path = "/api/v1/ratings/tickets/{code}", params(("code" = String, Path)), security(()),
    responses((status = 200, body = RatingTarget), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn ticket_target(State(state): S, req: axum::extract::Request) -> ApiResult<Json<RatingTarget>> {
    let (mut parts, _) = req.into_parts();
    limit_public(&state, &parts).await?;
    let ApiPath(code) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let t = ops::token_by_ticket_code(&state, &code).await?;
    Ok(Json(ops::target_of(&state, &t).await?))
}

/// Rates a served ticket through the QR on its slip (public, once). 404 `rating_event_unknown`
/// when the ticket was never served.
#[utoipa::path(post, path = "/api/v1/ratings/tickets/{code}", params(("code" = String, Path)), request_body = RateRequest, security(()),
    responses((status = 201, body = RatingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn rate_ticket(State(state): S, req: axum::extract::Request) -> ApiResult<(StatusCode, Json<RatingView>)> {
    let (mut parts, body) = req.into_parts();
    limit_public(&state, &parts).await?;
    let staff = caller(&state, &parts).await;
    ops::refuse_staff(staff.as_ref())?;
    let ApiPath(code) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let b = rate_request(&state, parts, body).await?;
    let channel = ops::public_channel(b.channel.as_deref(), Channel::QrCode)?;
    let t = ops::token_by_ticket_code(&state, &code).await?;
    let v = ops::rate(&state, staff.as_ref(), t, &b, channel, "citizen").await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// What the concluded case with this tracking code can be rated for (public; the code is printed
/// on the case receipt, as a QR code). 404 `rating_event_unknown` until the case is concluded.
#[utoipa::path(get, path = "/api/v1/ratings/cases/{code}", params(("code" = String, Path)), security(()),
    responses((status = 200, body = RatingTarget), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn case_target(State(state): S, req: axum::extract::Request) -> ApiResult<Json<RatingTarget>> {
    let (mut parts, _) = req.into_parts();
    limit_public(&state, &parts).await?;
    let ApiPath(code) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let t = crate::ratings::cases::token_by_tracking_code(&state, &code).await?;
    Ok(Json(ops::target_of(&state, &t).await?))
}

/// Rates a concluded case (一事一评) through the QR on its receipt (public, once; staff refused).
#[utoipa::path(post, path = "/api/v1/ratings/cases/{code}", params(("code" = String, Path)), request_body = RateRequest, security(()),
    responses((status = 201, body = RatingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn rate_case(State(state): S, req: axum::extract::Request) -> ApiResult<(StatusCode, Json<RatingView>)> {
    let (mut parts, body) = req.into_parts();
    limit_public(&state, &parts).await?;
    let staff = caller(&state, &parts).await;
    ops::refuse_staff(staff.as_ref())?;
    let ApiPath(code) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let b = rate_request(&state, parts, body).await?;
    let channel = ops::public_channel(b.channel.as_deref(), Channel::QrCode)?;
    let t = crate::ratings::cases::token_by_tracking_code(&state, &code).await?;
    let v = ops::rate(&state, staff.as_ref(), t, &b, channel, "citizen").await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// What a pad shows now: its window's service waiting for a rating, if any.
#[derive(Debug, Serialize, ToSchema)]
pub struct PadCurrent {
    pub window_id: i64,
    pub pending: Option<RatingTarget>,
}

async fn pad_device(state: &AppState, d: onestop_store::devices::Device) -> ApiResult<(i64, i64)> {
    let d = crate::api::queue::device_of_kind(state, d, "pad").await?;
    let Some(window_id) = d.window_id else {
        return Err(ApiError::conflict(
            "pad_without_window",
            "该评价器尚未绑定窗口，请大厅管理员在设备管理中绑定",
        ));
    };
    Ok((d.id, window_id))
}

/// The pad's current service to rate (device credential; kind `pad`).
#[utoipa::path(get, path = "/api/v1/ratings/pad", security(()),
    responses((status = 200, body = PadCurrent), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn pad_current(State(state): S, DeviceAuth(d): DeviceAuth) -> ApiResult<Json<PadCurrent>> {
    let (_, window_id) = pad_device(&state, d).await?;
    let pending = match ops::pad_current(&state, window_id).await? {
        Some(t) => Some(ops::target_of(&state, &t).await?),
        None => None,
    };
    Ok(Json(PadCurrent { window_id, pending }))
}

/// Rates the pad's current service. 409 `rating_token_not_current`, `rating_token_used`,
/// `rating_nothing_pending`.
#[utoipa::path(post, path = "/api/v1/ratings/pad/{token_id}", params(("token_id" = i64, Path)), request_body = RateRequest, security(()),
    responses((status = 201, body = RatingView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn pad_rate(
    State(state): S,
    DeviceAuth(d): DeviceAuth,
    ApiPath(token_id): ApiPath<i64>,
    ApiJson(b): ApiJson<RateRequest>,
) -> ApiResult<(StatusCode, Json<RatingView>)> {
    let (device_id, window_id) = pad_device(&state, d).await?;
    let v = ops::rate_at_pad(&state, device_id, window_id, token_id, &b).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// The pad's event stream (`rate` when the clerk finishes, `rated`, `resync`); the pad then
/// reloads `/ratings/pad`.
#[utoipa::path(get, path = "/api/v1/ratings/pad/events", security(()),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn pad_events(State(state): S, DeviceAuth(d): DeviceAuth) -> ApiResult<Response> {
    let (_, window_id) = pad_device(&state, d).await?;
    Ok(pad_stream(&state, window_id).into_response())
}

pub fn pad_stream(
    state: &AppState,
    window_id: i64,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>> + use<>> {
    use tokio::sync::broadcast::error::RecvError;
    let rx = state.store.subscribe();
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(n) if n.channel == ops::CHANNEL => {
                    let Ok(ev) = serde_json::from_str::<PadEvent>(&n.payload) else {
                        continue;
                    };
                    if ev.window_id != window_id {
                        continue;
                    }
                    return Some((Ok(Event::default().event(ev.kind.clone()).data(n.payload)), rx));
                }
                Ok(n) if n.channel == "resync" => {
                    return Some((Ok(Event::default().event("resync").data("{}")), rx));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => return Some((Ok(Event::default().event("resync").data("{}")), rx)),
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

// ---- follow-ups ------------------------------------------------------------------------------

/// Bad-review follow-ups of a hall, unfinished first (hall managers, supervisors).
#[utoipa::path(get, path = "/api/v1/ratings/halls/{id}/followups", params(("id" = i64, Path)),
    responses((status = 200, body = [FollowUpView]), (status = 404, body = ErrorBody)))]
async fn hall_followups(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<FollowUpView>>> {
    Ok(Json(ops::followups_of_hall(&state, &p, id).await?))
}

/// One follow-up with its rating.
#[utoipa::path(get, path = "/api/v1/ratings/followups/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = FollowUpView), (status = 404, body = ErrorBody)))]
async fn get_followup(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<FollowUpView>> {
    Ok(Json(ops::get_followup(&state, &p, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// What was done (核实 / 整改 / 反馈 / 回访 record).
    pub note: String,
    /// At the call back: satisfied, unsatisfied or unreachable.
    #[serde(default)]
    pub view: Option<String>,
}

/// The next step of a follow-up: `verify`, `rectify`, `feedback` or `callback` (hall manager).
/// 409 `followup_step_out_of_order`; 422 `followup_note_invalid`, `callback_view_required`.
#[utoipa::path(post, path = "/api/v1/ratings/followups/{id}/steps/{step}", params(("id" = i64, Path), ("step" = String, Path)), request_body = StepRequest,
    responses((status = 200, body = FollowUpView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn followup_step(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, step)): ApiPath<(i64, String)>,
    ApiJson(b): ApiJson<StepRequest>,
) -> ApiResult<Json<FollowUpView>> {
    Ok(Json(
        ops::followup_step(&state, &p, id, &step, &b.note, b.view.as_deref()).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    /// true: the review was misjudged or malicious and leaves the figures.
    pub exclude: bool,
    /// Why (kept with the rating).
    pub reason: String,
}

/// Decides the appeal of a bad review (申诉复核; supervisors, region admins). 409
/// `followup_finished`, `appeal_decided`.
#[utoipa::path(post, path = "/api/v1/ratings/followups/{id}/appeal", params(("id" = i64, Path)), request_body = AppealRequest,
    responses((status = 200, body = FollowUpView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn appeal(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<AppealRequest>,
) -> ApiResult<Json<FollowUpView>> {
    Ok(Json(ops::decide_appeal(&state, &p, id, b.exclude, &b.reason).await?))
}

// ---- dashboards ------------------------------------------------------------------------------

/// The dashboard of a region subtree, hall, department, window or person over a period, with a
/// trend by day, week or month. Reads counters only.
#[utoipa::path(get, path = "/api/v1/ratings/dashboard", params(DashboardQuery),
    responses((status = 200, body = Dashboard), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_dashboard(
    State(state): S,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> ApiResult<Json<Dashboard>> {
    Ok(Json(dashboard::dashboard(&state, &p, &q).await?))
}

/// The dashboard as `xlsx` or `csv` (UTF-8 with BOM).
#[utoipa::path(get, path = "/api/v1/ratings/dashboard/export/{format}", params(("format" = String, Path), DashboardQuery),
    responses((status = 200, content_type = "application/octet-stream", body = String), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export_dashboard(
    State(state): S,
    Auth(p): Auth,
    ApiPath(format): ApiPath<String>,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> ApiResult<Response> {
    if format != "xlsx" && format != "csv" {
        return Err(ApiError::not_found());
    }
    let d = dashboard::dashboard(&state, &p, &q).await?;
    export(
        &dashboard::sheet(&d),
        &format,
        &format!("dashboard-{}-{}-{}", d.scope, d.from, d.to),
    )
}

/// A sheet as a download: `.xlsx` through the workbook crate, or CSV with a BOM.
pub fn export(sheet: &onestop_workbook::Sheet, format: &str, stem: &str) -> ApiResult<Response> {
    let (bytes, ctype) = if format == "xlsx" {
        (
            onestop_workbook::write_xlsx(std::slice::from_ref(sheet)).map_err(|_| ApiError::internal())?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    } else {
        (onestop_workbook::to_csv(sheet), "text/csv; charset=utf-8")
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}.{format}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
