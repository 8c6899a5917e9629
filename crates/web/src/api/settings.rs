//! Region settings API: the configurable numbers of the rules as a region sees them (value in force
//! and its origin), a region's own override, and its reset.
use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::settings::{self, SettingView};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/regions/{id}/settings", get(list))
        .route("/regions/{id}/settings/{key}", get(get_one).put(set).delete(reset))
}

#[derive(OpenApi)]
#[openapi(paths(list, get_one, set, reset), components(schemas(SettingView)))]
pub struct SettingsDoc;

/// Every setting as the region sees it: the value in force, where it comes from (the default or
/// the nearest region above, or this one, that overrides it), and the default.
#[utoipa::path(get, path = "/api/v1/regions/{id}/settings", params(("id" = i64, Path, description = "Region id")),
    responses((status = 200, body = Vec<SettingView>), (status = 404, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<SettingView>>> {
    Ok(Json(settings::list(&state, &p, id).await?))
}

/// One setting as the region sees it.
#[utoipa::path(get, path = "/api/v1/regions/{id}/settings/{key}",
    params(("id" = i64, Path, description = "Region id"), ("key" = String, Path, description = "Setting key, e.g. queue.no_show")),
    responses((status = 200, body = SettingView), (status = 404, body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, key)): ApiPath<(i64, String)>,
) -> ApiResult<Json<SettingView>> {
    Ok(Json(settings::get(&state, &p, id, &key).await?))
}

/// Overrides the setting at this region (and, unless they override it again, below it). The
/// body is the whole value, an object with every field; it is checked against the setting's
/// rules (422 `setting_invalid` or the rule's own code).
#[utoipa::path(put, path = "/api/v1/regions/{id}/settings/{key}",
    params(("id" = i64, Path, description = "Region id"), ("key" = String, Path, description = "Setting key")),
    request_body(content = Object, description = "The new value"),
    responses((status = 200, body = SettingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, key)): ApiPath<(i64, String)>,
    ApiJson(value): ApiJson<serde_json::Value>,
) -> ApiResult<Json<SettingView>> {
    Ok(Json(settings::set(&state, &p, id, &key, &value).await?))
}

/// Removes this region's override: the setting inherits again from above.
#[utoipa::path(delete, path = "/api/v1/regions/{id}/settings/{key}",
    params(("id" = i64, Path, description = "Region id"), ("key" = String, Path, description = "Setting key")),
    responses((status = 200, body = SettingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath((id, key)): ApiPath<(i64, String)>,
) -> ApiResult<Json<SettingView>> {
    Ok(Json(settings::reset(&state, &p, id, &key).await?))
}
