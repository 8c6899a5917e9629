//! Pages of ratings: the evaluator pad (full screen, woken by the hall's live events), the public
//! rating form reached by the ticket's QR or the SMS link (complete without JavaScript), and the
//! supervision dashboard with its ECharts trend.
use super::{Chrome, PageAuth, PageError, PageResult, page_err, render};
use crate::auth::DeviceAuth;
use crate::error::ApiError;
use crate::extract::{ApiQuery, PageForm};
use crate::ratings::dashboard::{self, DashboardQuery};
use crate::ratings::{self as ops, RateRequest, RatingTarget};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use onestop_domain::rating::{Channel, Level};
use onestop_store::ratings::TokenRow;
use std::collections::{BTreeMap, HashMap};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/device/pad", get(pad))
        .route("/rate/t/{code}", get(rate_ticket_form).post(rate_ticket_submit))
        .route("/rate/{token}", get(rate_token_form).post(rate_token_submit))
        // ratecase: the QR on the case receipt (tracking code)
        .route("/rate/c/{code}", get(rate_case_form).post(rate_case_submit))
        .route("/supervision/dashboard", get(dashboard_page))
}

fn levels() -> Vec<(i64, &'static str)> {
    Level::ALL.iter().map(|l| (l.code(), l.label())).collect()
}

// ---- the pad ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "ratings/pad.html")]
struct PadPage {
    c: Chrome,
    window_label: String,
    levels: Vec<(i64, &'static str)>,
    levels_json: String,
}

async fn pad(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let d = match DeviceAuth::from_request_parts(&mut parts, &state).await {
        Ok(DeviceAuth(d)) if d.kind == "pad" => d,
        Ok(_) => {
            return PageError::from(ApiError::new(
                StatusCode::FORBIDDEN,
                "device_wrong_kind",
                "该设备类型不能打开此页面",
            ))
            .into_response();
        }
        Err(e) if e.code == "device_unpaired" => return super::see_other("/device/pair"),
        Err(e) => return PageError::from(e).into_response(),
    };
    let c = Chrome::anonymous(String::new());
    let window_label = match d.window_id {
        Some(w) => match onestop_store::org::window(state.store.read(), w).await {
            Ok(w) => format!("{} 号窗口", w.number),
            Err(e) => return PageError::from(e).into_response(),
        },
        None => c.t.get("ratings.pad_no_window").to_owned(),
    };
    let levels = levels();
    let levels_json = serde_json::to_string(&levels).unwrap_or_else(|_| "[]".into());
    render(
        StatusCode::OK,
        &PadPage {
            c,
            window_label,
            levels,
            levels_json,
        },
    )
}

// ---- the public form -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "ratings/form.html")]
struct FormPage {
    c: Chrome,
    target: RatingTarget,
    levels: Vec<(i64, &'static str)>,
    error: Option<String>,
    done: Option<String>,
    chosen: i64,
    text: String,
}

async fn form_page(
    state: &AppState,
    t: &TokenRow,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
    chosen: i64,
    text: String,
) -> Response {
    match ops::target_of(state, t).await {
        Ok(target) => render(
            status,
            &FormPage {
                c: Chrome::anonymous(String::new()),
                target,
                levels: levels(),
                error,
                done,
                chosen,
                text,
            },
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn rate_ticket_form(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match ops::token_by_ticket_code(&state, &code).await {
        Ok(t) => form_page(&state, &t, StatusCode::OK, None, None, 0, String::new()).await,
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn rate_token_form(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match ops::token_by_raw(&state, &token).await {
        Ok(t) => form_page(&state, &t, StatusCode::OK, None, None, 0, String::new()).await,
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The form's fields as a rating request: `level`, `dim_<name>`, `text`.
fn request_of(fields: &HashMap<String, String>, channel: Channel) -> Result<RateRequest, ApiError> {
    let level = fields
        .get("level")
        .and_then(|l| l.parse::<i64>().ok())
        .ok_or_else(|| ApiError::validation("rating_level_invalid", "请选择满意程度"))?;
    let mut dimensions = BTreeMap::new();
    for (k, v) in fields {
        if let Some(name) = k.strip_prefix("dim_") {
            let v = v
                .parse::<i64>()
                .map_err(|_| ApiError::validation("rating_level_invalid", "评价等级须为 1 至 5"))?;
            dimensions.insert(name.to_owned(), v);
        }
    }
    Ok(RateRequest {
        level,
        dimensions,
        text: fields.get("text").cloned(),
        channel: Some(channel.as_str().to_owned()),
    })
}

/// Submits the form. No CSRF token: the rating token in the URL is the capability (unguessable),
/// and a staff session on the request is refused anyway.
async fn submit(
    state: &AppState,
    parts: &axum::http::request::Parts,
    t: TokenRow,
    fields: HashMap<String, String>,
    channel: Channel,
) -> Response {
    let staff = crate::auth::authenticate(state, parts).await.ok().flatten();
    let text = fields.get("text").cloned().unwrap_or_default();
    let chosen = fields.get("level").and_then(|l| l.parse().ok()).unwrap_or(0);
    let result = match request_of(&fields, channel) {
        Ok(req) => ops::rate(state, staff.as_ref(), t.clone(), &req, channel, "citizen").await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            let msg = Chrome::anonymous(String::new()).t.get("ratings.thanks").to_owned();
            form_page(state, &t, StatusCode::CREATED, None, Some(msg), chosen, text).await
        }
        Err(e) => {
            // Rated meanwhile (twice, or on the pad): the page says so rather than offer the form.
            let fresh = onestop_store::ratings::token_by_id(state.store.read(), t.id)
                .await
                .ok()
                .flatten()
                .unwrap_or(t);
            form_page(state, &fresh, e.status, Some(e.message.clone()), None, chosen, text).await
        }
    }
}

async fn rate_ticket_submit(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(Path(code)) = Path::<String>::from_request_parts(&mut parts, &state).await else {
        return PageError::from(ApiError::not_found()).into_response();
    };
    let t = match ops::token_by_ticket_code(&state, &code).await {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let fields = match read_form(&state, &parts, body).await {
        Ok(f) => f,
        Err(e) => return PageError::from(e).into_response(),
    };
    submit(&state, &parts, t, fields, Channel::QrCode).await
}

async fn rate_token_submit(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(Path(token)) = Path::<String>::from_request_parts(&mut parts, &state).await else {
        return PageError::from(ApiError::not_found()).into_response();
    };
    let t = match ops::token_by_raw(&state, &token).await {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let fields = match read_form(&state, &parts, body).await {
        Ok(f) => f,
        Err(e) => return PageError::from(e).into_response(),
    };
    submit(&state, &parts, t, fields, Channel::Sms).await
}

// ratecase: 一事一评 through the receipt's QR (the case's tracking code is the capability)
async fn rate_case_form(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    match crate::ratings::cases::token_by_tracking_code(&state, &code).await {
        Ok(t) => form_page(&state, &t, StatusCode::OK, None, None, 0, String::new()).await,
        Err(e) => PageError::from(e).into_response(),
    }
}

async fn rate_case_submit(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(Path(code)) = Path::<String>::from_request_parts(&mut parts, &state).await else {
        return PageError::from(ApiError::not_found()).into_response();
    };
    let t = match crate::ratings::cases::token_by_tracking_code(&state, &code).await {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let fields = match read_form(&state, &parts, body).await {
        Ok(f) => f,
        Err(e) => return PageError::from(e).into_response(),
    };
    submit(&state, &parts, t, fields, Channel::QrCode).await
}

async fn read_form(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
) -> Result<HashMap<String, String>, ApiError> {
    let req = Request::from_parts(parts.clone(), body);
    let PageForm(f) =
        <PageForm<HashMap<String, String>> as axum::extract::FromRequest<AppState>>::from_request(req, state).await?;
    Ok(f)
}

// ---- the dashboard ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "ratings/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    d: dashboard::Dashboard,
    rows: Vec<(String, String)>,
    trends: Vec<(&'static str, &'static str)>,
    query: String,
    chart_json: String,
}

async fn dashboard_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiQuery(q): ApiQuery<DashboardQuery>,
) -> PageResult {
    let err = page_err(&p);
    let d = dashboard::dashboard(&state, &p, &q).await.map_err(&err)?;
    let c = Chrome::for_principal(&p, "/supervision/dashboard");
    let sheet = dashboard::sheet(&d);
    let rows = match (sheet.rows.first(), sheet.rows.get(1)) {
        (Some(h), Some(v)) => h.iter().cloned().zip(v.iter().cloned()).skip(1).collect(),
        _ => Vec::new(),
    };
    let pct = |v: Option<f64>| v.map(|x| (x * 1000.0).round() / 10.0);
    let chart = serde_json::json!({
        "labels": d.points.iter().map(|p| p.start.clone()).collect::<Vec<_>>(),
        "visitors": d.points.iter().map(|p| p.figures.service.visitors).collect::<Vec<_>>(),
        "satisfaction": d.points.iter().map(|p| pct(p.figures.ticket_ratings.satisfaction)).collect::<Vec<_>>(),
        "bad": d.points.iter().map(|p| p.figures.ticket_ratings.bad).collect::<Vec<_>>(),
        "visitors_name": c.t.get("ratings.visitors"),
        "satisfaction_name": c.t.get("ratings.satisfaction"),
        "bad_name": c.t.get("ratings.bad"),
        // ratecase: the case trend
        "accepted": d.points.iter().map(|p| p.figures.cases.accepted).collect::<Vec<_>>(),
        "concluded": d.points.iter().map(|p| p.figures.cases.concluded).collect::<Vec<_>>(),
        "on_time": d.points.iter().map(|p| pct(p.figures.cases.on_time_rate)).collect::<Vec<_>>(),
        "one_visit": d.points.iter().map(|p| pct(p.figures.cases.one_visit_rate)).collect::<Vec<_>>(),
        "accepted_name": c.t.get("ratings.cases_accepted"),
        "concluded_name": c.t.get("ratings.cases_concluded"),
        "on_time_name": c.t.get("ratings.cases_on_time"),
        "one_visit_name": c.t.get("ratings.cases_one_visit"),
    });
    // JSON inside a <script> block: `<` is escaped so that no text can end the block.
    let chart_json = chart.to_string().replace('<', "\\u003c");
    let query = format!(
        "scope={}&id={}&from={}&to={}&trend={}",
        d.scope, d.id, d.from, d.to, d.trend
    );
    Ok(render(
        StatusCode::OK,
        &DashboardPage {
            trends: vec![("day", "按日"), ("week", "按周"), ("month", "按月")],
            c,
            d,
            rows,
            query,
            chart_json,
        },
    ))
}
