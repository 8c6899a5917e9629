//! Pages of the hall floor: the clerk's window console (keyboard-first), the hall manager's live
//! floor view, the kiosk and its printable slip, the display board (live, spoken calls), and the
//! public page that follows a ticket from the QR code on the slip.
use super::{Chrome, PageAuth, PageError, PageResult, StaffForm, page_err, render, see_other};
use crate::auth::DeviceAuth;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::queue::{self as ops, Floor, Taker, TransferTo, WindowAction, WindowChange};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onestop_domain::region::RegionPath;
use onestop_domain::role::Permission;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/queue", get(index))
        .route("/queue/window/{id}", get(console))
        .route("/queue/window/{id}/{op}", post(console_action))
        .route("/queue/floor/{hall_id}", get(floor_page))
        .route("/queue/floor/{hall_id}/live", get(floor_live))
        .route("/queue/floor/window/{id}/categories", post(floor_mapping))
        .route("/device/kiosk", get(kiosk))
        .route("/device/kiosk/take", post(kiosk_take))
        .route("/device/kiosk/check-in", post(kiosk_check_in))
        .route("/device/board", get(board))
        .route("/t/{code}", get(follow))
}

fn state_label(c: &Chrome, s: &str) -> String {
    c.t.get(&format!("queue.state.{s}")).to_owned()
}

// ---- index -----------------------------------------------------------------------------------

struct HallLinks {
    id: i64,
    name: String,
    windows: Vec<(i64, String, String, String)>,
}

#[derive(Template)]
#[template(path = "queue_index.html")]
struct IndexPage {
    c: Chrome,
    halls: Vec<HallLinks>,
}

async fn index(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    let err = page_err(&p);
    p.require_any(Permission::WindowWork).map_err(&err)?;
    let mut halls = Vec::new();
    for scope in p.scopes(Permission::WindowWork) {
        for h in onestop_store::org::halls_in(state.store.read(), scope.as_str()).await? {
            if p.user.hall_id.is_some_and(|mine| mine != h.id) {
                continue;
            }
            let floor = onestop_store::queue::floor(state.store.read(), h.id).await?;
            halls.push(HallLinks {
                id: h.id,
                name: h.name,
                windows: floor
                    .into_iter()
                    .map(|w| (w.window_id, w.number, w.name, w.state))
                    .collect(),
            });
        }
    }
    let page = IndexPage {
        c: Chrome::for_principal(&p, "/queue"),
        halls,
    };
    Ok(render(StatusCode::OK, &page))
}

// ---- window console --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "queue_console.html")]
struct ConsolePage {
    c: Chrome,
    window_id: i64,
    hall_id: i64,
    number: String,
    name: String,
    state: String,
    state_label: String,
    clerk_name: String,
    current: Option<(i64, String, String, String, i64)>,
    floor: Floor,
    categories: Vec<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct ConsoleQuery {
    notice: Option<String>,
}

async fn console(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    axum::extract::Query(q): axum::extract::Query<ConsoleQuery>,
) -> PageResult {
    let err = page_err(&p);
    let w = onestop_store::org::window(state.store.read(), id).await?;
    p.require(Permission::WindowWork, &RegionPath::from_stored(w.region_path.clone()))
        .map_err(&err)?;
    let floor = ops::floor(&state, &p, w.hall_id).await.map_err(&err)?;
    let me = floor
        .windows
        .iter()
        .find(|x| x.id == id)
        .cloned()
        .ok_or_else(|| err(ApiError::not_found()))?;
    let c = Chrome::for_principal(&p, "/queue");
    let current = me.current.as_ref().map(|t| {
        (
            t.id,
            t.ticket_no.clone(),
            t.state.clone(),
            state_label(&c, &t.state),
            t.recalls,
        )
    });
    let page = ConsolePage {
        window_id: id,
        hall_id: w.hall_id,
        number: me.number.clone(),
        name: me.name.clone(),
        state_label: c.t.get(&format!("queue.window_state.{}", me.state)).to_owned(),
        state: me.state.clone(),
        clerk_name: me.clerk_name.clone(),
        current,
        categories: floor.categories.iter().map(|c| c.prefix.clone()).collect(),
        floor,
        notice: q.notice.filter(|n| n.len() < 200),
        c,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct ConsoleForm {
    ticket_id: Option<i64>,
    to_category: Option<String>,
}

async fn console_action(
    State(state): State<AppState>,
    ApiPath((id, op)): ApiPath<(i64, String)>,
    f: StaffForm<ConsoleForm>,
) -> PageResult {
    let p = &f.p;
    let back = |notice: Option<String>| match notice {
        Some(n) => see_other(&format!("/queue/window/{id}?notice={}", super::urlencode(&n))),
        None => see_other(&format!("/queue/window/{id}")),
    };
    let result = match op.as_str() {
        "open" => ops::change_window(&state, p, id, WindowChange::Open).await.map(|_| ()),
        "pause" => ops::change_window(&state, p, id, WindowChange::Pause).await.map(|_| ()),
        "resume" => ops::change_window(&state, p, id, WindowChange::Resume)
            .await
            .map(|_| ()),
        "close" => ops::change_window(&state, p, id, WindowChange::Close).await.map(|_| ()),
        "call-next" => ops::call_next(&state, p, id).await.map(|_| ()),
        "walk-in" => ops::walk_in(&state, p, id, None).await.map(|_| ()),
        other => {
            let action = WindowAction::parse(other).ok_or_else(|| page_err(p)(ApiError::not_found()))?;
            let ticket = f
                .form
                .ticket_id
                .ok_or_else(|| page_err(p)(ApiError::validation("ticket_missing", "请选择号码")))?;
            let to = TransferTo {
                category: f.form.to_category.clone().filter(|c| !c.is_empty()),
                window_id: None,
            };
            ops::ticket_action(&state, p, id, ticket, action, to).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(back(None)),
        // Refusals (closed window, empty queue...) are shown on the console, not as an error page.
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => Ok(back(Some(e.message))),
        Err(e) => Err(page_err(p)(e)),
    }
}

// ---- floor view ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "queue_floor.html")]
struct FloorPage {
    c: Chrome,
    f: Floor,
    manager: bool,
}

#[derive(Template)]
#[template(path = "queue_floor_live.html")]
struct FloorLive {
    c: Chrome,
    f: Floor,
    manager: bool,
}

async fn floor_data(state: &AppState, p: &crate::auth::Principal, hall_id: i64) -> Result<(Floor, bool), PageError> {
    let err = page_err(p);
    let hall = onestop_store::org::hall(state.store.read(), hall_id).await?;
    let manager = p.can(Permission::HallManage, &RegionPath::from_stored(hall.region_path));
    let f = ops::floor(state, p, hall_id).await.map_err(&err)?;
    Ok((f, manager))
}

async fn floor_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(hall_id): ApiPath<i64>,
) -> PageResult {
    let (f, manager) = floor_data(&state, &p, hall_id).await?;
    let page = FloorPage {
        c: Chrome::for_principal(&p, "/queue"),
        f,
        manager,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The live part of the floor, re-fetched by htmx on every event of the hall's stream.
async fn floor_live(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(hall_id): ApiPath<i64>,
) -> PageResult {
    let (f, manager) = floor_data(&state, &p, hall_id).await?;
    let page = FloorLive {
        c: Chrome::for_principal(&p, "/queue"),
        f,
        manager,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct MappingForm {
    mapping: String,
    hall_id: i64,
}

/// Parses "A:1, B:2" into (prefix, rank) pairs.
fn parse_mapping(raw: &str) -> Result<Vec<(String, i64)>, ApiError> {
    raw.split([',', '，', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (p, r) = item.split_once([':', '：']).unwrap_or((item, "1"));
            let rank = r
                .trim()
                .parse::<i64>()
                .map_err(|_| ApiError::validation("mapping_invalid", "格式应为 前缀:优先级，例如 A:1, B:2"))?;
            Ok((p.trim().to_ascii_uppercase(), rank))
        })
        .collect()
}

async fn floor_mapping(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    f: StaffForm<MappingForm>,
) -> PageResult {
    let err = page_err(&f.p);
    let cats = parse_mapping(&f.form.mapping).map_err(&err)?;
    ops::set_window_categories(&state, &f.p, id, &cats)
        .await
        .map_err(&err)?;
    Ok(see_other(&format!("/queue/floor/{}", f.form.hall_id)))
}

// ---- devices ---------------------------------------------------------------------------------

/// A device page's guard: the device cookie of a paired device of `kind`, or the pairing page.
async fn device(state: &AppState, req: Request, kind: &str) -> Result<onestop_store::devices::Device, Response> {
    let (mut parts, _) = req.into_parts();
    match DeviceAuth::from_request_parts(&mut parts, state).await {
        Ok(DeviceAuth(d)) if d.kind == kind => Ok(d),
        Ok(_) => Err(PageError::from(ApiError::new(
            StatusCode::FORBIDDEN,
            "device_wrong_kind",
            "该设备类型不能打开此页面",
        ))
        .into_response()),
        Err(e) if e.code == "device_unpaired" => Err(see_other("/device/pair")),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

#[derive(Template)]
#[template(path = "queue_kiosk.html")]
struct KioskPage {
    c: Chrome,
    hall_name: String,
    categories: Vec<ops::CategoryFloor>,
    error: Option<String>,
}

async fn kiosk_page(state: &AppState, d: &onestop_store::devices::Device, error: Option<String>) -> Response {
    let hall = match onestop_store::org::hall(state.store.read(), d.hall_id).await {
        Ok(h) => h,
        Err(e) => return PageError::from(e).into_response(),
    };
    match ops::floor_unchecked(state, &hall).await {
        Ok(f) => render(
            StatusCode::OK,
            &KioskPage {
                c: Chrome::anonymous(String::new()),
                hall_name: hall.name,
                categories: f.categories,
                error,
            },
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn kiosk(State(state): State<AppState>, req: Request) -> Response {
    match device(&state, req, "kiosk").await {
        Ok(d) => kiosk_page(&state, &d, None).await,
        Err(r) => r,
    }
}

#[derive(Template)]
#[template(path = "queue_slip.html")]
struct SlipPage {
    c: Chrome,
    hall_name: String,
    t: ops::TakenTicket,
    issued: String,
    qr_svg: String,
    follow_url: String,
}

/// The QR code of the follow page as inline SVG (no image dependencies).
fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(160, 160)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

#[derive(Deserialize)]
struct TakeForm {
    category: String,
    priority: Option<String>,
}

async fn slip(
    state: &AppState,
    d: &onestop_store::devices::Device,
    host: &str,
    r: crate::error::ApiResult<ops::TakenTicket>,
) -> Response {
    match r {
        Ok(t) => {
            let hall_name = onestop_store::org::hall(state.store.read(), d.hall_id)
                .await
                .map(|h| h.name)
                .unwrap_or_default();
            let follow_url = format!("http://{host}/t/{}", t.code);
            let page = SlipPage {
                c: Chrome::anonymous(String::new()),
                hall_name,
                issued: super::show_time(t.issued_at),
                qr_svg: qr_svg(&follow_url),
                follow_url,
                t,
            };
            render(StatusCode::OK, &page)
        }
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS || e.status.is_client_error() => {
            let mut res = kiosk_page(state, d, Some(e.message.clone())).await;
            *res.status_mut() = e.status;
            res
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

fn host_of(req: &Request) -> String {
    req.headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() < 200 && h.chars().all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c)))
        .unwrap_or("localhost")
        .to_owned()
}

async fn kiosk_take(State(state): State<AppState>, req: Request) -> Response {
    let host = host_of(&req);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let d = match device(&state, Request::from_parts(parts, axum::body::Body::empty()), "kiosk").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let r = async {
        let form: TakeForm =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| ApiError::validation("invalid_form", "请选择业务"))?;
        let d = crate::api::queue::device_of_kind(&state, d.clone(), "kiosk").await?;
        let priority = ops::parse_priority(form.priority.as_deref())?;
        ops::take_ticket(
            &state,
            d.hall_id,
            &form.category,
            priority,
            Taker::Kiosk { device_id: d.id },
        )
        .await
    }
    .await;
    slip(&state, &d, &host, r).await
}

#[derive(Deserialize)]
struct CheckInForm {
    code: String,
}

async fn kiosk_check_in(State(state): State<AppState>, req: Request) -> Response {
    let host = host_of(&req);
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let d = match device(&state, Request::from_parts(parts, axum::body::Body::empty()), "kiosk").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let r = async {
        let form: CheckInForm =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| ApiError::validation("invalid_form", "请输入预约码"))?;
        let d = crate::api::queue::device_of_kind(&state, d.clone(), "kiosk").await?;
        let code = form.code.trim();
        // An 18-character entry is an ID number; anything else a booking code.
        let (c, id) = if code.len() == 18 {
            (None, Some(code))
        } else {
            (Some(code), None)
        };
        ops::check_in(&state, d.id, d.hall_id, c, id).await
    }
    .await;
    slip(&state, &d, &host, r).await
}

#[derive(Template)]
#[template(path = "queue_board.html")]
struct BoardPage {
    c: Chrome,
    f: Floor,
    announce: String,
}

async fn board(State(state): State<AppState>, req: Request) -> Response {
    let d = match device(&state, req, "board").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let hall = match onestop_store::org::hall(state.store.read(), d.hall_id).await {
        Ok(h) => h,
        Err(e) => return PageError::from(e).into_response(),
    };
    match ops::floor_unchecked(&state, &hall).await {
        Ok(f) => {
            let c = Chrome::anonymous(String::new());
            // A JSON string literal for the script; the catalogue text holds no `</`.
            let announce = serde_json::to_string(c.t.get("queue.announce")).unwrap_or_else(|_| "\"\"".into());
            render(StatusCode::OK, &BoardPage { c, f, announce })
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

// ---- public follow page ----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "queue_follow.html")]
struct FollowPage {
    c: Chrome,
    t: ops::PublicTicket,
    state_label: String,
}

async fn follow(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let client = crate::auth::client_ip(&state, &parts)
        .map(|c| c.to_string())
        .unwrap_or_default();
    if let Err(e) = crate::auth::rate_limit(
        &state,
        format!("follow:addr:{client}"),
        600,
        jiff::SignedDuration::from_mins(10),
    )
    .await
    {
        return PageError::from(e).into_response();
    }
    let code = match ApiPath::<String>::from_request_parts(&mut parts, &state).await {
        Ok(ApiPath(c)) => c,
        Err(e) => return PageError::from(e).into_response(),
    };
    match ops::public_ticket(&state, &code).await {
        Ok(t) => {
            let c = Chrome::anonymous(String::new());
            let state_label = state_label(&c, &t.state);
            render(StatusCode::OK, &FollowPage { c, t, state_label })
        }
        Err(e) => PageError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mapping_text_parses_with_chinese_punctuation() {
        assert_eq!(
            super::parse_mapping("A:1，b：2 C").ok(),
            Some(vec![("A".into(), 1), ("B".into(), 2), ("C".into(), 1)])
        );
        assert!(super::parse_mapping("A:x").is_err());
    }
}
