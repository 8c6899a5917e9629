//! The JSON API under `/api/v1`. Every handler is listed in the OpenAPI document, which is
//! generated from these same types and annotations so that it says what the server does.
use crate::auth::{Auth, DeviceAuth, client_ip};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::ops;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use onestop_store::org::Unit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub mod catalogue;
pub mod certs;
pub mod queue;
pub mod settings;
pub mod uploads;
pub mod workflows;
// rollout
pub mod rollout;
// ratings
pub mod ratings;
// cases
pub mod cases;
// score
pub mod scorecards;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", post(login).delete(logout))
        .route("/me", get(me))
        .route("/regions", get(list_regions).post(create_region))
        .route("/regions/{id}", get(get_region).patch(rename_region))
        .route("/regions/{id}/move", post(move_region))
        .route("/regions/{id}/close", post(close_region))
        .route("/halls", get(list_halls).post(create_hall))
        .route("/halls/{id}", get(get_hall).patch(rename_hall))
        .route("/halls/{id}/move", post(move_hall))
        .route("/halls/{id}/close", post(close_hall))
        .route("/halls/{id}/windows", get(list_windows))
        .route("/departments", get(list_departments).post(create_department))
        .route("/departments/{id}", get(get_department).patch(rename_department))
        .route("/departments/{id}/move", post(move_department))
        .route("/departments/{id}/close", post(close_department))
        .route("/windows", post(create_window))
        .route("/windows/{id}", get(get_window).patch(rename_window))
        .route("/windows/{id}/move", post(move_window))
        .route("/windows/{id}/close", post(close_window))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/disable", post(disable_user))
        .route("/users/{id}/enable", post(enable_user))
        .route("/users/{id}/reset-password", post(reset_password))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/devices", get(list_devices).post(register_device))
        .route("/devices/{id}/pairing-code", post(new_pairing_code))
        .route("/devices/{id}/revoke", post(revoke_device))
        .route("/devices/pair", post(pair_device))
        .route("/device", get(device_me))
        .route("/audit", get(search_audit))
        .route("/openapi.json", get(openapi_json))
        .merge(catalogue::router())
        .merge(queue::router())
        .merge(certs::router())
        .merge(uploads::router())
        .merge(settings::router())
        .merge(workflows::router())
        // rollout
        .merge(rollout::router())
        // ratings
        .merge(ratings::router())
        // cases
        .merge(cases::router())
        // score
        .merge(scorecards::router())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "OneStop API", version = "1", description = "一站式政务服务平台 JSON API. Errors are `{code, message, request_id}` with stable codes."),
    paths(
        login, logout, me,
        list_regions, create_region, get_region, rename_region, move_region, close_region,
        list_halls, create_hall, get_hall, rename_hall, move_hall, close_hall, list_windows,
        list_departments, create_department, get_department, rename_department, move_department, close_department,
        create_window, get_window, rename_window, move_window, close_window,
        list_users, create_user, get_user, disable_user, enable_user, reset_password,
        list_tokens, create_token, revoke_token,
        list_devices, register_device, new_pairing_code, revoke_device, pair_device, device_me,
        search_audit
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;
impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
        );
        openapi.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

/// The served document: the foundation's paths and those of each API module.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(queue::QueueApiDoc::openapi());
    doc.merge(certs::CertsDoc::openapi());
    doc.merge(uploads::UploadsDoc::openapi());
    doc.merge(catalogue::CatalogueDoc::openapi());
    doc.merge(settings::SettingsDoc::openapi());
    doc.merge(workflows::WorkflowsDoc::openapi());
    // rollout
    doc.merge(rollout::RolloutDoc::openapi());
    // ratings
    doc.merge(ratings::RatingsDoc::openapi());
    // cases
    doc.merge(cases::CasesDoc::openapi());
    // score
    doc.merge(scorecards::ScorecardsDoc::openapi());
    utoipa::Modify::modify(&ExtractorErrors, &mut doc);
    doc
}

/// Answers every operation can give because of the extractors it uses, declared here once, for
/// every module's operations, rather than on each handler (found missing by schemathesis:
/// scripts/api-fuzz, docs/RELIABILITY.md):
/// - a JSON body (`ApiJson`): 400 not JSON, 413 over the body limit, 415 no
///   `Content-Type: application/json`, 422 a body that does not fit the schema;
/// - a path parameter (`ApiPath`): 404 for an id that does not parse or does not exist;
/// - the default security (staff `Auth`): 401 without a valid credential.
struct ExtractorErrors;
impl utoipa::Modify for ExtractorErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                let mut add: Vec<(&str, &str)> = Vec::new();
                if op.request_body.is_some() {
                    add.extend([
                        ("400", "The body is not valid JSON (`malformed_json`)"),
                        (
                            "413",
                            "The body is larger than the server accepts (`payload_too_large`)",
                        ),
                        (
                            "415",
                            "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`)",
                        ),
                        (
                            "422",
                            "The body does not fit the schema (`invalid_body`) or fails validation",
                        ),
                    ]);
                }
                let has_path_param = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path));
                if has_path_param {
                    add.push(("404", "Not found, or outside the caller's scope (`not_found`)"));
                }
                if op.security.is_none() {
                    add.push(("401", "Not authenticated (`unauthenticated`, `token_invalid`, ...)"));
                }
                let responses = &mut op.responses.responses;
                for (code, description) in add {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

async fn openapi_json() -> impl IntoResponse {
    Json(openapi())
}

// ---- DTOs ------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionDto {
    pub id: i64,
    pub code: String,
    pub name: String,
    /// province, city, county, township or community
    pub level: String,
    pub parent_id: Option<i64>,
    pub closed: bool,
}

impl From<onestop_store::regions::Region> for RegionDto {
    fn from(r: onestop_store::regions::Region) -> Self {
        Self {
            closed: r.closed_at.is_some(),
            id: r.id,
            code: r.code,
            name: r.name,
            level: r.level,
            parent_id: r.parent_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HallDto {
    pub id: i64,
    pub region_id: i64,
    pub name: String,
    pub address: String,
    pub closed: bool,
}

impl From<onestop_store::org::Hall> for HallDto {
    fn from(h: onestop_store::org::Hall) -> Self {
        Self {
            id: h.id,
            region_id: h.region_id,
            name: h.name,
            address: h.address,
            closed: h.closed_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentDto {
    pub id: i64,
    pub region_id: i64,
    pub name: String,
    pub closed: bool,
}

impl From<onestop_store::org::Department> for DepartmentDto {
    fn from(d: onestop_store::org::Department) -> Self {
        Self {
            id: d.id,
            region_id: d.region_id,
            name: d.name,
            closed: d.closed_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WindowDto {
    pub id: i64,
    pub hall_id: i64,
    pub number: String,
    pub name: String,
    /// general (综合) or specialised (专业)
    pub kind: String,
    pub department_id: Option<i64>,
    pub closed: bool,
}

impl From<onestop_store::org::Window> for WindowDto {
    fn from(w: onestop_store::org::Window) -> Self {
        Self {
            id: w.id,
            hall_id: w.hall_id,
            number: w.number,
            name: w.name,
            kind: w.kind,
            department_id: w.department_id,
            closed: w.closed_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantDto {
    pub role: String,
    pub region_id: i64,
    pub region_code: String,
    pub region_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub disabled: bool,
    pub hall_id: Option<i64>,
    pub department_id: Option<i64>,
    pub grants: Vec<GrantDto>,
}

fn user_dto(u: onestop_store::users::User, grants: Vec<onestop_store::users::GrantRow>) -> UserDto {
    UserDto {
        disabled: u.is_disabled(),
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        hall_id: u.hall_id,
        department_id: u.department_id,
        grants: grants
            .into_iter()
            .map(|g| GrantDto {
                role: g.role,
                region_id: g.region_id,
                region_code: g.region_code,
                region_name: g.region_name,
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
}

impl From<onestop_store::tokens::ApiToken> for TokenDto {
    fn from(t: onestop_store::tokens::ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked: t.revoked_at.is_some(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDto {
    pub id: i64,
    pub hall_id: i64,
    pub window_id: Option<i64>,
    /// kiosk, board or pad
    pub kind: String,
    pub name: String,
    pub paired: bool,
    pub revoked: bool,
}

impl From<onestop_store::devices::Device> for DeviceDto {
    fn from(d: onestop_store::devices::Device) -> Self {
        Self {
            id: d.id,
            hall_id: d.hall_id,
            window_id: d.window_id,
            kind: d.kind,
            name: d.name,
            paired: d.paired_at.is_some(),
            revoked: d.revoked_at.is_some(),
        }
    }
}

// ---- session ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub user: UserDto,
    /// Send this in the `X-CSRF-Token` header on state-changing requests made with the cookie.
    pub csrf_token: String,
}

/// Log in; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", request_body = LoginRequest, security(()),
    responses((status = 200, body = SessionDto), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
) -> ApiResult<impl IntoResponse> {
    let (mut parts, body) = req.into_parts();
    let client = client_ip(&state, &parts);
    let _ = &mut parts;
    let ApiJson(body) = <ApiJson<LoginRequest> as axum::extract::FromRequest<AppState>>::from_request(
        axum::extract::Request::from_parts(parts, body),
        &state,
    )
    .await?;
    let s = ops::login(&state, &body.username, &body.password, client).await?;
    let grants = onestop_store::users::grants(state.store.read(), s.user.id).await?;
    let cookie = crate::pages::session_cookie(&state, &s.token);
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        Json(SessionDto {
            user: user_dto(s.user, grants),
            csrf_token: s.csrf,
        }),
    ))
}

/// Log out; ends the session.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    axum::extract::State(state): axum::extract::State<AppState>,
    Auth(p): Auth,
) -> ApiResult<impl IntoResponse> {
    ops::logout(&state, &p).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            axum::http::header::SET_COOKIE,
            crate::pages::clear_cookie(&state, crate::auth::SESSION_COOKIE),
        )],
    ))
}

/// Who am I, with my role grants.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = UserDto), (status = 401, body = ErrorBody)))]
async fn me(axum::extract::State(state): axum::extract::State<AppState>, Auth(p): Auth) -> ApiResult<Json<UserDto>> {
    let grants = onestop_store::users::grants(state.store.read(), p.user.id).await?;
    Ok(Json(user_dto(p.user, grants)))
}

// ---- regions ---------------------------------------------------------------------------------

type S = axum::extract::State<AppState>;

/// Regions in my scope, in tree order.
#[utoipa::path(get, path = "/api/v1/regions", responses((status = 200, body = [RegionDto]), (status = 401, body = ErrorBody)))]
async fn list_regions(axum::extract::State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<RegionDto>>> {
    Ok(Json(
        ops::list_regions(&state, &p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegion {
    /// 6 digits (province/city/county), 9 (township) or 12 (community).
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
}

/// Create a region under a parent.
#[utoipa::path(post, path = "/api/v1/regions", request_body = CreateRegion,
    responses((status = 201, body = RegionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_region(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CreateRegion>,
) -> ApiResult<impl IntoResponse> {
    let r = ops::create_region(&state, &p, &b.code, &b.name, b.parent_id).await?;
    Ok((StatusCode::CREATED, Json(RegionDto::from(r))))
}

#[utoipa::path(get, path = "/api/v1/regions/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = RegionDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_region(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RegionDto>> {
    Ok(Json(ops::get_region(&state, &p, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub name: String,
}

/// Rename a region.
#[utoipa::path(patch, path = "/api/v1/regions/{id}", params(("id" = i64, Path)), request_body = Rename,
    responses((status = 200, body = RegionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rename_region(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Rename>,
) -> ApiResult<Json<RegionDto>> {
    Ok(Json(ops::rename_region(&state, &p, id, &b.name).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRegion {
    pub parent_id: i64,
}

/// Move a region with its subtree under another parent.
#[utoipa::path(post, path = "/api/v1/regions/{id}/move", params(("id" = i64, Path)), request_body = MoveRegion,
    responses((status = 200, body = RegionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_region(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MoveRegion>,
) -> ApiResult<Json<RegionDto>> {
    Ok(Json(ops::move_region(&state, &p, id, b.parent_id).await?.into()))
}

/// Close (撤销) a region; refused while it has open children or halls.
#[utoipa::path(post, path = "/api/v1/regions/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = RegionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn close_region(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RegionDto>> {
    Ok(Json(ops::close_region(&state, &p, id).await?.into()))
}

// ---- halls, departments, windows -------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/halls", responses((status = 200, body = [HallDto]), (status = 401, body = ErrorBody)))]
async fn list_halls(axum::extract::State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<HallDto>>> {
    Ok(Json(
        ops::list_halls(&state, &p).await?.into_iter().map(Into::into).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHall {
    pub region_id: i64,
    pub name: String,
    #[serde(default)]
    pub address: String,
}

#[utoipa::path(post, path = "/api/v1/halls", request_body = CreateHall,
    responses((status = 201, body = HallDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_hall(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CreateHall>,
) -> ApiResult<impl IntoResponse> {
    let h = ops::create_hall(&state, &p, b.region_id, &b.name, &b.address).await?;
    Ok((StatusCode::CREATED, Json(HallDto::from(h))))
}

#[utoipa::path(get, path = "/api/v1/halls/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = HallDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_hall(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<HallDto>> {
    Ok(Json(ops::get_hall(&state, &p, id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/halls/{id}", params(("id" = i64, Path)), request_body = Rename,
    responses((status = 200, body = HallDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rename_hall(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Rename>,
) -> ApiResult<Json<HallDto>> {
    ops::rename_unit(&state, &p, Unit::Hall, id, &b.name).await?;
    Ok(Json(ops::get_hall(&state, &p, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveToRegion {
    pub region_id: i64,
}

#[utoipa::path(post, path = "/api/v1/halls/{id}/move", params(("id" = i64, Path)), request_body = MoveToRegion,
    responses((status = 200, body = HallDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_hall(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MoveToRegion>,
) -> ApiResult<Json<HallDto>> {
    ops::move_unit(&state, &p, Unit::Hall, id, b.region_id).await?;
    Ok(Json(ops::get_hall(&state, &p, id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/halls/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = HallDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn close_hall(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<HallDto>> {
    ops::close_unit(&state, &p, Unit::Hall, id).await?;
    Ok(Json(ops::get_hall(&state, &p, id).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/halls/{id}/windows", params(("id" = i64, Path)),
    responses((status = 200, body = [WindowDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_windows(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<WindowDto>>> {
    Ok(Json(
        ops::windows_of_hall(&state, &p, id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/departments", responses((status = 200, body = [DepartmentDto]), (status = 401, body = ErrorBody)))]
async fn list_departments(axum::extract::State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<DepartmentDto>>> {
    Ok(Json(
        ops::list_departments(&state, &p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    pub region_id: i64,
    pub name: String,
}

#[utoipa::path(post, path = "/api/v1/departments", request_body = CreateDepartment,
    responses((status = 201, body = DepartmentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_department(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CreateDepartment>,
) -> ApiResult<impl IntoResponse> {
    let d = ops::create_department(&state, &p, b.region_id, &b.name).await?;
    Ok((StatusCode::CREATED, Json(DepartmentDto::from(d))))
}

#[utoipa::path(get, path = "/api/v1/departments/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = DepartmentDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_department(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<DepartmentDto>> {
    Ok(Json(ops::get_department(&state, &p, id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/departments/{id}", params(("id" = i64, Path)), request_body = Rename,
    responses((status = 200, body = DepartmentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rename_department(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Rename>,
) -> ApiResult<Json<DepartmentDto>> {
    ops::rename_unit(&state, &p, Unit::Department, id, &b.name).await?;
    Ok(Json(ops::get_department(&state, &p, id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/departments/{id}/move", params(("id" = i64, Path)), request_body = MoveToRegion,
    responses((status = 200, body = DepartmentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_department(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MoveToRegion>,
) -> ApiResult<Json<DepartmentDto>> {
    ops::move_unit(&state, &p, Unit::Department, id, b.region_id).await?;
    Ok(Json(ops::get_department(&state, &p, id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/departments/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = DepartmentDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn close_department(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<DepartmentDto>> {
    ops::close_unit(&state, &p, Unit::Department, id).await?;
    Ok(Json(ops::get_department(&state, &p, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWindow {
    pub hall_id: i64,
    /// What the board calls out, e.g. "5".
    pub number: String,
    pub name: String,
    /// general (综合) or specialised (专业)
    pub kind: String,
    pub department_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/windows", request_body = CreateWindow,
    responses((status = 201, body = WindowDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_window(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CreateWindow>,
) -> ApiResult<impl IntoResponse> {
    let w = ops::create_window(
        &state,
        &p,
        ops::WindowInput {
            hall_id: b.hall_id,
            number: &b.number,
            name: &b.name,
            kind: &b.kind,
            department_id: b.department_id,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(WindowDto::from(w))))
}

#[utoipa::path(get, path = "/api/v1/windows/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = WindowDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_window(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<WindowDto>> {
    Ok(Json(ops::get_window(&state, &p, id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/windows/{id}", params(("id" = i64, Path)), request_body = Rename,
    responses((status = 200, body = WindowDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rename_window(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<Rename>,
) -> ApiResult<Json<WindowDto>> {
    ops::rename_unit(&state, &p, Unit::Window, id, &b.name).await?;
    Ok(Json(ops::get_window(&state, &p, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveToHall {
    pub hall_id: i64,
}

#[utoipa::path(post, path = "/api/v1/windows/{id}/move", params(("id" = i64, Path)), request_body = MoveToHall,
    responses((status = 200, body = WindowDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_window(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MoveToHall>,
) -> ApiResult<Json<WindowDto>> {
    ops::move_unit(&state, &p, Unit::Window, id, b.hall_id).await?;
    Ok(Json(ops::get_window(&state, &p, id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/windows/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = WindowDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn close_window(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<WindowDto>> {
    ops::close_unit(&state, &p, Unit::Window, id).await?;
    Ok(Json(ops::get_window(&state, &p, id).await?.into()))
}

// ---- users -----------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [UserDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users(axum::extract::State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<UserDto>>> {
    let mut out = Vec::new();
    for u in ops::list_users(&state, &p).await? {
        let g = onestop_store::users::grants(state.store.read(), u.id).await?;
        out.push(user_dto(u, g));
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantInput {
    /// window_clerk, reviewer, hall_manager, region_admin, supervisor, auditor or system_admin
    pub role: String,
    pub region_id: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub hall_id: Option<i64>,
    pub department_id: Option<i64>,
    pub grants: Vec<GrantInput>,
}

#[utoipa::path(post, path = "/api/v1/users", request_body = CreateUser,
    responses((status = 201, body = UserDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CreateUser>,
) -> ApiResult<impl IntoResponse> {
    let u = ops::create_user(
        &state,
        &p,
        ops::NewUserInput {
            username: b.username,
            display_name: b.display_name,
            password: b.password,
            password_hash: None,
            hall_id: b.hall_id,
            department_id: b.department_id,
            grants: b.grants.into_iter().map(|g| (g.role, g.region_id)).collect(),
        },
    )
    .await?;
    let g = onestop_store::users::grants(state.store.read(), u.id).await?;
    Ok((StatusCode::CREATED, Json(user_dto(u, g))))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserDto>> {
    let (u, g) = ops::get_user(&state, &p, id).await?;
    Ok(Json(user_dto(u, g)))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/disable", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn disable_user(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserDto>> {
    let u = ops::set_user_disabled(&state, &p, id, true).await?;
    let g = onestop_store::users::grants(state.store.read(), u.id).await?;
    Ok(Json(user_dto(u, g)))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/enable", params(("id" = i64, Path)),
    responses((status = 200, body = UserDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_user(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserDto>> {
    let u = ops::set_user_disabled(&state, &p, id, false).await?;
    let g = onestop_store::users::grants(state.store.read(), u.id).await?;
    Ok(Json(user_dto(u, g)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", params(("id" = i64, Path)), request_body = ResetPassword,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reset_password(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<ResetPassword>,
) -> ApiResult<StatusCode> {
    ops::reset_password(&state, &p, id, &b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- tokens ----------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = [TokenDto]), (status = 401, body = ErrorBody)))]
async fn list_tokens(axum::extract::State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<TokenDto>>> {
    Ok(Json(
        onestop_store::tokens::list_for_user(state.store.read(), p.user.id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub grants: Vec<GrantInput>,
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenDto,
    /// The secret, shown only once. Send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Create an API token for a machine client, scoped to some of my own grants.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_token(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CreateToken>,
) -> ApiResult<impl IntoResponse> {
    let (t, secret) = ops::create_token(
        &state,
        &p,
        ops::NewToken {
            name: b.name,
            grants: b.grants.into_iter().map(|g| (g.role, g.region_id)).collect(),
            expires_in_days: b.expires_in_days,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: t.into(),
            secret,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = TokenDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke_token(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TokenDto>> {
    Ok(Json(ops::revoke_token(&state, &p, id).await?.into()))
}

// ---- devices ---------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/devices", responses((status = 200, body = [DeviceDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_devices(axum::extract::State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<DeviceDto>>> {
    Ok(Json(
        ops::list_devices(&state, &p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub hall_id: i64,
    /// kiosk (取号机), board (显示屏) or pad (评价器)
    pub kind: String,
    pub name: String,
    /// The window an evaluator pad faces.
    pub window_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PairingCode {
    pub device: DeviceDto,
    /// Type this code on the device at /device/pair within 15 minutes.
    pub pairing_code: String,
}

/// Register a device; returns a one-time pairing code.
#[utoipa::path(post, path = "/api/v1/devices", request_body = RegisterDevice,
    responses((status = 201, body = PairingCode), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register_device(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiJson(b): ApiJson<RegisterDevice>,
) -> ApiResult<impl IntoResponse> {
    let (d, code) = ops::register_device(&state, &p, b.hall_id, &b.kind, &b.name, b.window_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(PairingCode {
            device: d.into(),
            pairing_code: code,
        }),
    ))
}

/// Issue a new pairing code; the device's current credential stops working.
#[utoipa::path(post, path = "/api/v1/devices/{id}/pairing-code", params(("id" = i64, Path)),
    responses((status = 200, body = PairingCode), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn new_pairing_code(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PairingCode>> {
    let (d, code) = ops::new_pairing_code(&state, &p, id).await?;
    Ok(Json(PairingCode {
        device: d.into(),
        pairing_code: code,
    }))
}

#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", params(("id" = i64, Path)),
    responses((status = 200, body = DeviceDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke_device(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<DeviceDto>> {
    Ok(Json(ops::revoke_device(&state, &p, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    pub pairing_code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCredential {
    pub device: DeviceDto,
    /// Send as `Authorization: Device <credential>`; pages keep it in a cookie.
    pub credential: String,
}

/// A device exchanges its pairing code for its credential. No staff login involved.
#[utoipa::path(post, path = "/api/v1/devices/pair", request_body = PairRequest, security(()),
    responses((status = 200, body = DeviceCredential), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn pair_device(axum::extract::State(state): S, req: axum::extract::Request) -> ApiResult<Json<DeviceCredential>> {
    let (parts, body) = req.into_parts();
    let client = client_ip(&state, &parts).map(|c| c.to_string()).unwrap_or_default();
    crate::auth::rate_limit(
        &state,
        format!("pair:addr:{client}"),
        30,
        jiff::SignedDuration::from_mins(15),
    )
    .await?;
    let ApiJson(b) = <ApiJson<PairRequest> as axum::extract::FromRequest<AppState>>::from_request(
        axum::extract::Request::from_parts(parts, body),
        &state,
    )
    .await?;
    let (d, credential) = ops::pair_device(&state, &b.pairing_code).await?;
    Ok(Json(DeviceCredential {
        device: d.into(),
        credential,
    }))
}

/// The calling device (authenticated by its credential).
#[utoipa::path(get, path = "/api/v1/device", security(()),
    responses((status = 200, body = DeviceDto), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn device_me(axum::extract::State(state): S, DeviceAuth(d): DeviceAuth) -> ApiResult<Json<DeviceDto>> {
    crate::auth::rate_limit(
        &state,
        format!("device:{}", d.id),
        state.settings.device_limit_per_minute,
        jiff::SignedDuration::from_mins(1),
    )
    .await?;
    Ok(Json(d.into()))
}

// ---- audit -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub actor: Option<String>,
    /// Action prefix, e.g. `region.` or `user.create`.
    pub action: Option<String>,
    /// Inclusive start, milliseconds since the epoch.
    pub from: Option<i64>,
    /// Exclusive end, milliseconds since the epoch.
    pub to: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDto {
    pub id: i64,
    pub region_id: i64,
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub detail: serde_json::Value,
    pub digest: String,
}

/// Search the audit trail within my scope (auditors and system admins).
#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams),
    responses((status = 200, body = [AuditDto]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn search_audit(
    axum::extract::State(state): S,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<Vec<AuditDto>>> {
    let rows = crate::pages::audit_rows(&state, &p, q.actor, q.action, q.from, q.to, q.limit.unwrap_or(100)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditDto {
                detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
                id: r.id,
                region_id: r.region_id,
                seq: r.seq,
                at: r.at,
                actor: r.actor,
                action: r.action,
                entity: r.entity,
                entity_id: r.entity_id,
                digest: r.digest,
            })
            .collect(),
    ))
}
