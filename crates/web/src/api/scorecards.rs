//! Scorecards (月度排名), the big screen (大屏) and the public satisfaction figures over the JSON
//! API. Supervisors read and export the month, and freeze it; the public figures need no login.
use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::scorecards::{
    self as ops, BigScreen, BigScreenHall, Card, CardRow, CardTable, FreezeOutcome, PublicHall, PublicRectification,
    ScorecardQuery, Scorecards,
};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use onestop_domain::region::RegionPath;
use onestop_domain::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

type S = State<AppState>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision/scorecards", get(get_scorecards))
        .route("/supervision/scorecards/export/{format}", get(export_scorecards))
        .route("/supervision/scorecards/freeze", post(freeze))
        .route("/supervision/bigscreen", get(get_bigscreen))
        .route("/public/satisfaction", get(public_satisfaction))
        .route("/public/satisfaction/{id}", get(public_hall))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        get_scorecards,
        export_scorecards,
        freeze,
        get_bigscreen,
        public_satisfaction,
        public_hall
    ),
    components(schemas(
        Scorecards,
        CardTable,
        CardRow,
        Card,
        FreezeRequest,
        FreezeOutcome,
        BigScreen,
        BigScreenHall,
        PublicHall,
        PublicRectification,
        PublicList,
        PublicHallView
    ))
)]
pub struct ScorecardsDoc;

/// A region's monthly scorecards: windows, people and departments ranked on the month's
/// objective figures, each rank with the figures behind it. The frozen snapshot when the month
/// is frozen, otherwise computed now (`frozen` is null).
#[utoipa::path(get, path = "/api/v1/supervision/scorecards", params(ScorecardQuery),
    responses((status = 200, body = Scorecards), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_scorecards(
    State(state): S,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ScorecardQuery>,
) -> ApiResult<Json<Scorecards>> {
    Ok(Json(ops::scorecards(&state, &p, &q).await?))
}

/// The scorecards as `xlsx` or `csv` (UTF-8 with BOM).
#[utoipa::path(get, path = "/api/v1/supervision/scorecards/export/{format}", params(("format" = String, Path), ScorecardQuery),
    responses((status = 200, content_type = "application/octet-stream", body = String), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export_scorecards(
    State(state): S,
    Auth(p): Auth,
    ApiPath(format): ApiPath<String>,
    ApiQuery(q): ApiQuery<ScorecardQuery>,
) -> ApiResult<Response> {
    if format != "xlsx" && format != "csv" {
        return Err(ApiError::not_found());
    }
    let s = ops::scorecards(&state, &p, &q).await?;
    super::ratings::export(
        &ops::sheet(&s),
        &format,
        &format!("scorecards-{}-{}", s.region_id, s.month),
    )
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    pub region: i64,
    /// YYYY-MM, a month that has ended.
    pub month: String,
}

/// Freezing is a supervision act: a supervisor, region admin or system admin over the region
/// (a hall manager reads the scorecards but does not freeze them).
fn may_freeze(p: &Principal, path: &RegionPath) -> bool {
    p.grants.iter().any(|g| {
        matches!(g.role, Role::Supervisor | Role::RegionAdmin | Role::SystemAdmin) && g.region_path.contains(path)
    })
}

/// Freezes a region's month into its snapshot. Idempotent: a frozen month answers 200 with
/// `frozen: false` and is left as it was.
#[utoipa::path(post, path = "/api/v1/supervision/scorecards/freeze", request_body = FreezeRequest,
    responses((status = 200, body = FreezeOutcome), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn freeze(
    State(state): S,
    Auth(p): Auth,
    ApiJson(req): ApiJson<FreezeRequest>,
) -> ApiResult<Json<FreezeOutcome>> {
    let region = ops::region_for(&state, &p, Some(req.region)).await?;
    if !may_freeze(&p, &RegionPath::from_stored(region.path.clone())) {
        return Err(ApiError::forbidden());
    }
    let month = onestop_domain::scorecard::Month::parse(&req.month)?;
    Ok(Json(
        ops::freeze(&state, &region, month, &p.actor(), &mut |_, _| {}).await?,
    ))
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct BigScreenQuery {
    /// Region id; default: the caller's own region.
    #[serde(default)]
    region: Option<i64>,
}

/// The big screen's figures for a region (the page polls this).
#[utoipa::path(get, path = "/api/v1/supervision/bigscreen", params(BigScreenQuery),
    responses((status = 200, body = BigScreen), (status = 404, body = ErrorBody)))]
async fn get_bigscreen(
    State(state): S,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<BigScreenQuery>,
) -> ApiResult<Json<BigScreen>> {
    Ok(Json(ops::bigscreen(&state, &p, q.region).await?))
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct PublicQuery {
    /// YYYY-MM; default: this month so far.
    #[serde(default)]
    month: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicList {
    pub month: String,
    pub halls: Vec<PublicHall>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicHallView {
    pub hall: PublicHall,
    pub rectifications: Vec<PublicRectification>,
}

/// Every hall's satisfaction figures of a month (no login; no personal data; rate-limited per
/// client address, 429 `rate_limited`).
#[utoipa::path(get, path = "/api/v1/public/satisfaction", params(PublicQuery), security(()),
    responses((status = 200, body = PublicList), (status = 422, body = ErrorBody)))]
async fn public_satisfaction(
    State(state): S,
    parts: axum::http::request::Parts,
    ApiQuery(q): ApiQuery<PublicQuery>,
) -> ApiResult<Json<PublicList>> {
    ops::limit_public(&state, &parts).await?;
    let (month, halls) = ops::public_halls(&state, q.month.as_deref()).await?;
    Ok(Json(PublicList {
        month: month.to_string(),
        halls,
    }))
}

/// One hall's figures and the rectifications made (整改), without rater, staff or case numbers.
#[utoipa::path(get, path = "/api/v1/public/satisfaction/{id}", params(("id" = i64, Path), PublicQuery), security(()),
    responses((status = 200, body = PublicHallView), (status = 404, body = ErrorBody)))]
async fn public_hall(
    State(state): S,
    parts: axum::http::request::Parts,
    ApiPath(hall_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PublicQuery>,
) -> ApiResult<Json<PublicHallView>> {
    ops::limit_public(&state, &parts).await?;
    Ok(Json(public_hall_view(&state, hall_id, q.month.as_deref()).await?))
}

pub async fn public_hall_view(state: &AppState, hall_id: i64, month: Option<&str>) -> ApiResult<PublicHallView> {
    let hall = onestop_store::org::hall(state.store.read(), hall_id).await?;
    if hall.closed_at.is_some() {
        return Err(ApiError::not_found());
    }
    let month = match month.filter(|m| !m.is_empty()) {
        Some(m) => onestop_domain::scorecard::Month::parse(m)?,
        None => onestop_domain::scorecard::Month::of(onestop_store::ratings::local_date(state.clock.now())),
    };
    Ok(PublicHallView {
        hall: ops::public_hall(state, &hall, month).await?,
        rectifications: ops::public_rectifications(state, hall_id).await?,
    })
}
