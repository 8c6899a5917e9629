//! The hall floor over the JSON API: kiosks take tickets, windows call and serve them, boards
//! and floor views follow one event stream per hall, citizens book appointments. Every route is
//! in this module's OpenAPI document, merged into the main one.
use crate::auth::{Auth, DeviceAuth, client_ip};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::queue::{
    self as ops, Booking, CategoryStats, Floor, PublicTicket, QueueEvent, Served, TakenTicket, Taker, TransferTo,
    WindowAction, WindowChange, WindowOutcome,
};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use onestop_domain::role::Permission;
use onestop_store::devices::Device;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use utoipa::{IntoParams, OpenApi, ToSchema};

type S = State<AppState>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/queue/halls/{id}/floor", get(hall_floor))
        .route("/queue/halls/{id}/stats", get(hall_stats))
        .route("/queue/halls/{id}/events", get(hall_events))
        .route(
            "/queue/halls/{id}/categories",
            get(list_categories).post(create_category),
        )
        .route("/queue/halls/{id}/tickets", post(staff_take))
        .route("/queue/halls/{id}/slots", get(list_slots).put(set_slots))
        .route("/queue/windows/{id}/open", post(window_open))
        .route("/queue/windows/{id}/pause", post(window_pause))
        .route("/queue/windows/{id}/resume", post(window_resume))
        .route("/queue/windows/{id}/close", post(window_close))
        .route("/queue/windows/{id}/categories", put(window_categories))
        .route("/queue/windows/{id}/call-next", post(call_next))
        .route("/queue/windows/{id}/walk-in", post(walk_in))
        .route("/queue/windows/{id}/tickets/{ticket_id}/{action}", post(ticket_action))
        .route("/queue/kiosk/categories", get(kiosk_categories))
        .route("/queue/kiosk/tickets", post(kiosk_take))
        .route("/queue/kiosk/check-in", post(kiosk_check_in))
        .route("/queue/board", get(board_snapshot))
        .route("/queue/board/events", get(board_events))
        .route("/queue/tickets/{code}", get(follow_ticket))
        .route("/queue/appointments", post(book))
        .route("/queue/appointments/{code}/cancel", post(cancel_booking))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        hall_floor,
        hall_stats,
        hall_events,
        list_categories,
        create_category,
        staff_take,
        list_slots,
        set_slots,
        window_open,
        window_pause,
        window_resume,
        window_close,
        window_categories,
        call_next,
        walk_in,
        ticket_action,
        kiosk_categories,
        kiosk_take,
        kiosk_check_in,
        board_snapshot,
        board_events,
        follow_ticket,
        book,
        cancel_booking
    ),
    components(schemas(
        TakenTicket,
        WindowOutcome,
        ops::TicketView,
        Floor,
        ops::CategoryFloor,
        ops::WindowFloor,
        ops::RecentCall,
        Served,
        PublicTicket,
        CategoryStats,
        Booking,
        CategoryDto,
        SlotDto,
        WindowStateDto,
        WindowAction
    ))
)]
pub struct QueueApiDoc;

// ---- DTOs ------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryDto {
    pub id: i64,
    pub hall_id: i64,
    /// 1–2 capital letters, the ticket number's prefix.
    pub prefix: String,
    pub name: String,
}

impl From<onestop_store::queue::Category> for CategoryDto {
    fn from(c: onestop_store::queue::Category) -> Self {
        Self {
            id: c.id,
            hall_id: c.hall_id,
            prefix: c.prefix,
            name: c.name,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotDto {
    pub id: i64,
    pub hall_id: i64,
    pub category_id: i64,
    pub day: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub capacity: i64,
    pub booked: i64,
}

impl From<onestop_store::queue::Slot> for SlotDto {
    fn from(s: onestop_store::queue::Slot) -> Self {
        Self {
            id: s.id,
            hall_id: s.hall_id,
            category_id: s.category_id,
            day: s.day,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            capacity: s.capacity,
            booked: s.booked,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WindowStateDto {
    pub window_id: i64,
    pub number: String,
    /// closed, open or paused
    pub state: String,
    pub clerk_name: String,
    pub current_ticket_id: Option<i64>,
}

impl From<onestop_store::queue::WindowFloorRow> for WindowStateDto {
    fn from(w: onestop_store::queue::WindowFloorRow) -> Self {
        Self {
            window_id: w.window_id,
            number: w.number,
            state: w.state,
            clerk_name: w.clerk_name,
            current_ticket_id: w.current_ticket_id,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeRequest {
    /// Category prefix, e.g. `A`.
    pub category: String,
    /// none (default), senior70, disabled; green_channel only by staff.
    pub priority: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    pub prefix: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowCategories {
    pub categories: Vec<Served>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WalkInRequest {
    /// Defaults to the window's main category.
    pub category: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// For transfer: the category prefix to send the ticket to.
    pub to_category: Option<String>,
    /// For transfer: a window to send it to by name.
    pub to_window_id: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    pub code: Option<String>,
    pub id_number: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub slot_id: i64,
    pub id_number: String,
    pub name: String,
    /// Mainland mobile number (optional); stored sealed, answered masked. 422 `phone_invalid`.
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub id_number: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSlots {
    pub category: String,
    /// YYYY-MM-DD
    pub day: String,
    /// Local start hours; each slot lasts one hour.
    pub hours: Vec<i8>,
    pub capacity: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DayParams {
    /// YYYY-MM-DD (default: today in the hall).
    pub day: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SlotParams {
    /// How many days ahead (1–31, default 7).
    pub days: Option<i64>,
}

fn parse_day(raw: Option<&str>) -> ApiResult<Option<jiff::civil::Date>> {
    raw.filter(|d| !d.is_empty())
        .map(|d| {
            d.parse()
                .map_err(|_| ApiError::validation("date_invalid", "日期格式须为 YYYY-MM-DD"))
        })
        .transpose()
}

// ---- staff -----------------------------------------------------------------------------------

/// The live floor of a hall: waiting per category, longest wait, windows and their tickets.
#[utoipa::path(get, path = "/api/v1/queue/halls/{id}/floor", params(("id" = i64, Path)),
    responses((status = 200, body = Floor), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn hall_floor(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Floor>> {
    Ok(Json(ops::floor(&state, &p, id).await?))
}

/// Day figures per category from the counters (no scan of tickets).
#[utoipa::path(get, path = "/api/v1/queue/halls/{id}/stats", params(("id" = i64, Path), DayParams),
    responses((status = 200, body = [CategoryStats]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn hall_stats(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DayParams>,
) -> ApiResult<Json<Vec<CategoryStats>>> {
    let day = parse_day(q.day.as_deref())?;
    Ok(Json(ops::day_stats(&state, &p, id, day).await?))
}

/// Server-sent events of a hall (`call`, `recall`, `update`, `resync`), for staff floor views.
#[utoipa::path(get, path = "/api/v1/queue/halls/{id}/events", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 403, body = ErrorBody)))]
async fn hall_events(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    ops::floor(&state, &p, id).await?;
    Ok(hall_stream(&state, id).into_response())
}

/// Queue categories of a hall.
#[utoipa::path(get, path = "/api/v1/queue/halls/{id}/categories", params(("id" = i64, Path)),
    responses((status = 200, body = [CategoryDto]), (status = 404, body = ErrorBody)))]
async fn list_categories(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<CategoryDto>>> {
    let hall = onestop_store::org::hall(state.store.read(), id).await?;
    p.require(
        Permission::RegionRead,
        &onestop_domain::region::RegionPath::from_stored(hall.region_path),
    )?;
    let cats = onestop_store::queue::categories(state.store.read(), id).await?;
    Ok(Json(
        cats.into_iter()
            .filter(|c| c.closed_at.is_none())
            .map(Into::into)
            .collect(),
    ))
}

/// Creates a queue category (hall managers).
#[utoipa::path(post, path = "/api/v1/queue/halls/{id}/categories", params(("id" = i64, Path)), request_body = CreateCategory,
    responses((status = 201, body = CategoryDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_category(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<CreateCategory>,
) -> ApiResult<(StatusCode, Json<CategoryDto>)> {
    let c = ops::create_category(&state, &p, id, &b.prefix, &b.name).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Takes a ticket for a visitor at the floor (staff; may give 绿色通道).
#[utoipa::path(post, path = "/api/v1/queue/halls/{id}/tickets", params(("id" = i64, Path)), request_body = TakeRequest,
    responses((status = 201, body = TakenTicket), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn staff_take(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<TakeRequest>,
) -> ApiResult<(StatusCode, Json<TakenTicket>)> {
    let hall = onestop_store::org::hall(state.store.read(), id).await?;
    p.require(
        Permission::WindowWork,
        &onestop_domain::region::RegionPath::from_stored(hall.region_path),
    )?;
    let priority = ops::parse_priority(b.priority.as_deref())?;
    let t = ops::take_ticket(&state, id, &b.category, priority, Taker::Staff { actor: p.actor() }).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Bookable slots of a hall from today (public).
#[utoipa::path(get, path = "/api/v1/queue/halls/{id}/slots", params(("id" = i64, Path), SlotParams), security(()),
    responses((status = 200, body = [SlotDto]), (status = 404, body = ErrorBody)))]
async fn list_slots(
    State(state): S,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SlotParams>,
) -> ApiResult<Json<Vec<SlotDto>>> {
    onestop_store::org::hall(state.store.read(), id).await?;
    let slots = ops::open_slots(&state, id, q.days.unwrap_or(7)).await?;
    Ok(Json(slots.into_iter().map(Into::into).collect()))
}

/// Creates or resizes a category's slots on a day (hall managers).
#[utoipa::path(put, path = "/api/v1/queue/halls/{id}/slots", params(("id" = i64, Path)), request_body = SetSlots,
    responses((status = 200, body = [SlotDto]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_slots(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<SetSlots>,
) -> ApiResult<Json<Vec<SlotDto>>> {
    let day = parse_day(Some(&b.day))?.ok_or_else(|| ApiError::validation("date_invalid", "请填写日期"))?;
    let slots = ops::set_slots(&state, &p, id, &b.category, day, &b.hours, b.capacity).await?;
    Ok(Json(slots.into_iter().map(Into::into).collect()))
}

async fn change(
    state: &AppState,
    p: &crate::auth::Principal,
    id: i64,
    c: WindowChange,
) -> ApiResult<Json<WindowStateDto>> {
    Ok(Json(ops::change_window(state, p, id, c).await?.into()))
}

/// Opens a window and takes duty there (clerk) or opens it for the floor (manager).
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/open", params(("id" = i64, Path)),
    responses((status = 200, body = WindowStateDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn window_open(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<WindowStateDto>> {
    change(&state, &p, id, WindowChange::Open).await
}

/// Pauses a window: no calls until resumed.
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/pause", params(("id" = i64, Path)),
    responses((status = 200, body = WindowStateDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn window_pause(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<WindowStateDto>> {
    change(&state, &p, id, WindowChange::Pause).await
}

/// Resumes a paused window.
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/resume", params(("id" = i64, Path)),
    responses((status = 200, body = WindowStateDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn window_resume(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<WindowStateDto>> {
    change(&state, &p, id, WindowChange::Resume).await
}

/// Closes a window (it must hold no called or serving ticket).
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = WindowStateDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn window_close(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<WindowStateDto>> {
    change(&state, &p, id, WindowChange::Close).await
}

/// Sets the categories a window serves, with ranks (hall managers).
#[utoipa::path(put, path = "/api/v1/queue/windows/{id}/categories", params(("id" = i64, Path)), request_body = WindowCategories,
    responses((status = 200, body = [Served]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn window_categories(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<WindowCategories>,
) -> ApiResult<Json<Vec<Served>>> {
    let cats: Vec<(String, i64)> = b.categories.into_iter().map(|c| (c.category, c.rank)).collect();
    let m = ops::set_window_categories(&state, &p, id, &cats).await?;
    Ok(Json(
        m.into_iter()
            .map(|m| Served {
                category: m.prefix,
                rank: m.rank,
            })
            .collect(),
    ))
}

/// Calls the next ticket at a window (the queue policy picks it). 409 `window_closed`,
/// `window_paused`, `window_busy` or `queue_empty`.
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/call-next", params(("id" = i64, Path)),
    responses((status = 200, body = WindowOutcome), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn call_next(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<WindowOutcome>> {
    Ok(Json(ops::call_next(&state, &p, id).await?))
}

/// Serves a walk-in without a ticket: a number is issued and served at once.
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/walk-in", params(("id" = i64, Path)), request_body = WalkInRequest,
    responses((status = 200, body = WindowOutcome), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn walk_in(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<WalkInRequest>,
) -> ApiResult<Json<WindowOutcome>> {
    Ok(Json(ops::walk_in(&state, &p, id, b.category.as_deref()).await?))
}

/// Acts on a ticket at a window: `recall`, `start`, `no-show`, `park`, `unpark`, `transfer`,
/// `finish`, `cancel`. A ticket held by another window gives 409 `ticket_not_yours`.
#[utoipa::path(post, path = "/api/v1/queue/windows/{id}/tickets/{ticket_id}/{action}",
    params(("id" = i64, Path), ("ticket_id" = i64, Path), ("action" = String, Path, description = "recall, start, no-show, park, unpark, transfer, finish, cancel")),
    request_body = ActionRequest,
    responses((status = 200, body = WindowOutcome), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn ticket_action(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, ticket_id, action)): ApiPath<(i64, i64, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<WindowOutcome>> {
    let action = WindowAction::parse(&action)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "没有这个操作"))?;
    // The body is optional: only a transfer needs one.
    let b: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation("invalid_body", format!("请求内容不符合要求：{e}")))?
    };
    let to = TransferTo {
        category: b.to_category,
        window_id: b.to_window_id,
    };
    Ok(Json(ops::ticket_action(&state, &p, id, ticket_id, action, to).await?))
}

// ---- devices ---------------------------------------------------------------------------------

/// Authenticates a device of `kind` and counts the request against its rate limit.
pub async fn device_of_kind(state: &AppState, d: Device, kind: &str) -> ApiResult<Device> {
    if d.kind != kind {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "device_wrong_kind",
            "该设备类型不能执行此操作",
        ));
    }
    crate::auth::rate_limit(
        state,
        format!("device:{}", d.id),
        state.settings.device_limit_per_minute,
        jiff::SignedDuration::from_mins(1),
    )
    .await?;
    Ok(d)
}

/// The categories a kiosk offers.
#[utoipa::path(get, path = "/api/v1/queue/kiosk/categories", security(()),
    responses((status = 200, body = [ops::CategoryFloor]), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn kiosk_categories(State(state): S, DeviceAuth(d): DeviceAuth) -> ApiResult<Json<Vec<ops::CategoryFloor>>> {
    let d = device_of_kind(&state, d, "kiosk").await?;
    let hall = onestop_store::org::hall(state.store.read(), d.hall_id).await?;
    Ok(Json(ops::floor_unchecked(&state, &hall).await?.categories))
}

/// Takes a ticket at a kiosk (`Authorization: Device <credential>`). Rate-limited per device.
#[utoipa::path(post, path = "/api/v1/queue/kiosk/tickets", request_body = TakeRequest, security(()),
    responses((status = 201, body = TakenTicket), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn kiosk_take(
    State(state): S,
    DeviceAuth(d): DeviceAuth,
    ApiJson(b): ApiJson<TakeRequest>,
) -> ApiResult<(StatusCode, Json<TakenTicket>)> {
    let d = device_of_kind(&state, d, "kiosk").await?;
    let priority = ops::parse_priority(b.priority.as_deref())?;
    let t = ops::take_ticket(
        &state,
        d.hall_id,
        &b.category,
        priority,
        Taker::Kiosk { device_id: d.id },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Checks in an appointment at a kiosk by booking code or ID number.
#[utoipa::path(post, path = "/api/v1/queue/kiosk/check-in", request_body = CheckInRequest, security(()),
    responses((status = 201, body = TakenTicket), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn kiosk_check_in(
    State(state): S,
    DeviceAuth(d): DeviceAuth,
    ApiJson(b): ApiJson<CheckInRequest>,
) -> ApiResult<(StatusCode, Json<TakenTicket>)> {
    let d = device_of_kind(&state, d, "kiosk").await?;
    let t = ops::check_in(&state, d.id, d.hall_id, b.code.as_deref(), b.id_number.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// What a display board shows now (then follow `/queue/board/events`).
#[utoipa::path(get, path = "/api/v1/queue/board", security(()),
    responses((status = 200, body = Floor), (status = 401, body = ErrorBody)))]
async fn board_snapshot(State(state): S, DeviceAuth(d): DeviceAuth) -> ApiResult<Json<Floor>> {
    let d = device_of_kind(&state, d, "board").await?;
    let hall = onestop_store::org::hall(state.store.read(), d.hall_id).await?;
    Ok(Json(ops::floor_unchecked(&state, &hall).await?))
}

/// The board's event stream: one per hall; EventSource reconnects by itself.
#[utoipa::path(get, path = "/api/v1/queue/board/events", security(()),
    responses((status = 200, content_type = "text/event-stream", body = String), (status = 401, body = ErrorBody)))]
async fn board_events(State(state): S, DeviceAuth(d): DeviceAuth) -> ApiResult<Response> {
    let d = device_of_kind(&state, d, "board").await?;
    Ok(hall_stream(&state, d.hall_id).into_response())
}

/// One event stream per hall: the queue notifications of that hall, as committed by any process.
pub fn hall_stream(
    state: &AppState,
    hall_id: i64,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>> + use<>> {
    use tokio::sync::broadcast::error::RecvError;
    let rx = state.store.subscribe();
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(n) if n.channel == ops::CHANNEL => {
                    let Ok(ev) = serde_json::from_str::<QueueEvent>(&n.payload) else {
                        continue;
                    };
                    if ev.hall_id != hall_id {
                        continue;
                    }
                    let event = Event::default().event(ev.kind.clone()).data(n.payload);
                    return Some((Ok(event), rx));
                }
                Ok(n) if n.channel == "resync" => {
                    return Some((Ok(Event::default().event("resync").data("{}")), rx));
                }
                Ok(_) => continue,
                // A slow client missed events: tell it to reload its state.
                Err(RecvError::Lagged(_)) => return Some((Ok(Event::default().event("resync").data("{}")), rx)),
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
}

// ---- public ----------------------------------------------------------------------------------

/// Follows a ticket by the random code in its QR (public; numbers are never looked up).
#[utoipa::path(get, path = "/api/v1/queue/tickets/{code}", params(("code" = String, Path)), security(()),
    responses((status = 200, body = PublicTicket), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn follow_ticket(State(state): S, req: axum::extract::Request) -> ApiResult<Json<PublicTicket>> {
    let (mut parts, _) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    crate::auth::rate_limit(
        &state,
        format!("follow:addr:{client}"),
        600,
        jiff::SignedDuration::from_mins(10),
    )
    .await?;
    let ApiPath(code) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    Ok(Json(ops::public_ticket(&state, &code).await?))
}

/// Books an appointment (public). 409 `slot_full` / `booking_blocked`, 422 `slot_past`.
#[utoipa::path(post, path = "/api/v1/queue/appointments", request_body = BookRequest, security(()),
    responses((status = 201, body = Booking), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn book(State(state): S, req: axum::extract::Request) -> ApiResult<(StatusCode, Json<Booking>)> {
    let (parts, body) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    let ApiJson(b) = <ApiJson<BookRequest> as axum::extract::FromRequest<AppState>>::from_request(
        axum::extract::Request::from_parts(parts, body),
        &state,
    )
    .await?;
    let phone = match b.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(onestop_domain::ids::Phone::parse(p)?),
        None => None,
    };
    Ok((
        StatusCode::CREATED,
        Json(ops::book(&state, b.slot_id, &b.id_number, &b.name, phone.as_ref(), &client).await?),
    ))
}

/// Cancels a booking (public; the booking code and the ID number must match).
#[utoipa::path(post, path = "/api/v1/queue/appointments/{code}/cancel", params(("code" = String, Path)), request_body = CancelRequest, security(()),
    responses((status = 200, body = Booking), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn cancel_booking(State(state): S, req: axum::extract::Request) -> ApiResult<Json<Booking>> {
    let (mut parts, body) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    let ApiPath(code) = ApiPath::<String>::from_request_parts(&mut parts, &state).await?;
    let ApiJson(b) = <ApiJson<CancelRequest> as axum::extract::FromRequest<AppState>>::from_request(
        axum::extract::Request::from_parts(parts, body),
        &state,
    )
    .await?;
    Ok(Json(ops::cancel_booking(&state, &code, &b.id_number, &client).await?))
}
