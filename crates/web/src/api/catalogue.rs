//! Catalogue API: the base catalogue and its versions, regions' implementation lists (with where
//! each value comes from), bundles, workbook import/export, and the public guides (no login).
use crate::auth::Auth;
use crate::catalogue::{self as cat, ImplementationChange, import, search};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::civil::Date;
use onestop_store::catalogue::{BundleRow, Effective, NewBundle, ServiceRow, VersionContent, VersionRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/catalogue/services", get(list_services).post(create_service))
        .route("/catalogue/services/{id}", get(get_service))
        .route("/catalogue/services/{id}/draft", axum::routing::put(save_draft))
        .route("/catalogue/versions/{id}", get(get_version))
        .route("/catalogue/versions/{id}/publish", post(publish))
        .route("/catalogue/versions/{id}/withdraw", post(withdraw))
        .route("/catalogue/regions/{id}/implementations", get(list_implementations))
        .route(
            "/catalogue/regions/{id}/implementations/{service_id}",
            get(get_implementation).patch(change_implementation),
        )
        .route("/catalogue/regions/{id}/imports", post(preview_import))
        .route("/catalogue/imports/{id}/commit", post(commit_import))
        .route("/catalogue/regions/{id}/export.xlsx", get(export_xlsx))
        .route("/catalogue/regions/{id}/export/{sheet}", get(export_csv))
        .route("/catalogue/bundles", get(list_bundles).post(create_bundle))
        .route("/guides", get(search_guides))
        .route("/guides/{region}/{base_code}", get(get_guide))
        .route("/guides/{region}/{base_code}/validate", post(validate_form))
        .route("/guides/{region}/bundles/{id}", get(get_bundle_guide))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_services, create_service, get_service, save_draft, get_version, publish, withdraw,
        list_implementations, get_implementation, change_implementation,
        preview_import, commit_import, export_xlsx, export_csv, list_bundles, create_bundle,
        search_guides, get_guide, validate_form, get_bundle_guide
    ),
    components(schemas(ServiceDto, VersionDto, EffectiveDto, SaveResult, CreateService, SaveDraft, PublishBody,
        ChangeImplementation, import::ImportReport, import::PlannedRow, crate::catalogue::sheet::ImportIssue,
        crate::catalogue::sheet::RowAction, BundleDto, CreateBundle, search::GuideEntry, GuideList, ValidatedForm)),
    tags((name = "catalogue", description = "政务服务事项目录、实施清单与办事指南"))
)]
pub struct CatalogueDoc;

type S = State<AppState>;

// ---- DTOs -------------------------------------------------------------------------------------

/// A base catalogue entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDto {
    pub id: i64,
    pub owner_region_id: i64,
    pub base_code: String,
    pub name: String,
    pub department_name: String,
}

impl From<ServiceRow> for ServiceDto {
    fn from(s: ServiceRow) -> Self {
        Self {
            id: s.id,
            owner_region_id: s.owner_region_id,
            base_code: s.base_code,
            name: s.name,
            department_name: s.department_name,
        }
    }
}

/// A version: number, status (draft/published/withdrawn), effective dates and content
/// (`{record, materials, form}` with the GB/T 39046 fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDto {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub version: VersionRow,
}

/// A region's guide for a service: `service_version_id` (what a case pins), `enabled`, the effective
/// `record`, `materials`, `form`, `origins` (each overridable field's value and where it comes from:
/// `{"from":"base"}` or `{"from":"region","region":{id,code,name}}`) and the region's `own` overrides.
#[derive(Debug, Serialize, ToSchema)]
pub struct EffectiveDto {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub effective: Effective,
}

/// A saved version and the quality warnings (errors are refused with 422).
#[derive(Debug, Serialize, ToSchema)]
pub struct SaveResult {
    #[schema(value_type = Object)]
    pub service: Option<ServiceDto>,
    #[schema(value_type = Object)]
    pub version: VersionRow,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<onestop_domain::catalogue::QualityIssue>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    /// The region that keeps the base catalogue (a province).
    pub owner_region_id: i64,
    /// `{record, materials, form}`; an empty form gets a default one.
    #[schema(value_type = Object)]
    pub content: VersionContent,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveDraft {
    #[schema(value_type = Object)]
    pub content: VersionContent,
    /// ISO date the version is to take effect.
    #[schema(value_type = Option<String>)]
    pub effective_from: Option<Date>,
    /// The `draft_token` read with the service: when given and the draft has changed since (or
    /// was published), 409 `draft_changed` instead of overwriting someone else's work.
    #[serde(default)]
    pub expected_draft_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    #[schema(value_type = Option<String>)]
    pub effective_from: Option<Date>,
    #[schema(value_type = Option<String>)]
    pub effective_until: Option<Date>,
}

/// Change what a region says about a service. `set` overrides fields (promised_limit, case_type,
/// address, hours, consult_phone, supervise_phone, fee, windows, implementing_body,
/// implementing_body_credit_code, department_name); `reset` makes them inherit again; `enabled`
/// true/false switches the service on/off here, null inherits the switch.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeImplementation {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub enabled: Option<Option<bool>>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub set: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub reset: Vec<String>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BundleDto {
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub bundle: BundleRow,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBundle {
    pub owner_region_id: i64,
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub themes: Vec<String>,
    pub service_ids: Vec<i64>,
}

/// One page of search results, best first, with the facets for filters.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuideList {
    pub region_code: String,
    pub region_name: String,
    /// Matches over all pages.
    pub total: usize,
    /// This page (from 1), its size, and the number of pages.
    pub page: usize,
    pub per_page: usize,
    pub pages: usize,
    pub guides: Vec<search::GuideEntry>,
    pub themes: Vec<String>,
    pub departments: Vec<String>,
}

/// A valid application: the normalised values.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidatedForm {
    pub values: BTreeMap<String, String>,
}

// ---- base catalogue ---------------------------------------------------------------------------

/// The base catalogue.
#[utoipa::path(get, path = "/api/v1/catalogue/services", tag = "catalogue",
    responses((status = 200, body = [ServiceDto]), (status = 401, body = ErrorBody)))]
async fn list_services(State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<ServiceDto>>> {
    Ok(Json(
        cat::list_services(&state, &p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a base service as a draft; 422 lists every quality problem by field.
#[utoipa::path(post, path = "/api/v1/catalogue/services", tag = "catalogue", request_body = CreateService,
    responses((status = 201, body = SaveResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_service(State(state): S, Auth(p): Auth, ApiJson(b): ApiJson<CreateService>) -> ApiResult<Response> {
    let (s, v, warnings) = cat::create_service(&state, &p, b.owner_region_id, b.content).await?;
    Ok((
        StatusCode::CREATED,
        Json(SaveResult {
            service: Some(s.into()),
            version: v,
            warnings,
        }),
    )
        .into_response())
}

#[derive(Serialize)]
struct ServiceDetail {
    service: ServiceDto,
    versions: Vec<VersionRow>,
    /// Token of the open draft as it is now (`"new"` when there is none), for `expected_draft_token`.
    draft_token: String,
}

/// A base service with its versions (newest first) and the draft token.
#[utoipa::path(get, path = "/api/v1/catalogue/services/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_service(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let (s, versions) = cat::service_detail(&state, &p, id).await?;
    let draft_token = onestop_store::catalogue::draft_token(
        versions
            .iter()
            .find(|v| v.status == onestop_domain::catalogue::VersionStatus::Draft),
    );
    Ok(Json(ServiceDetail {
        service: s.into(),
        versions,
        draft_token,
    })
    .into_response())
}

/// Save the draft of a service (a new draft version when none is open); 409 `draft_changed` when
/// `expected_draft_token` no longer matches.
#[utoipa::path(put, path = "/api/v1/catalogue/services/{id}/draft", tag = "catalogue", params(("id" = i64, Path)), request_body = SaveDraft,
    responses((status = 200, body = SaveResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_draft(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<SaveDraft>,
) -> ApiResult<Json<SaveResult>> {
    let (v, warnings) = cat::save_draft(&state, &p, id, b.content, b.effective_from, b.expected_draft_token).await?;
    Ok(Json(SaveResult {
        service: None,
        version: v,
        warnings,
    }))
}

/// One version by id (what a case that pinned it reads).
#[utoipa::path(get, path = "/api/v1/catalogue/versions/{id}", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = VersionDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_version(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<VersionDto>> {
    p.require_any(onestop_domain::role::Permission::RegionRead)?;
    let mut c = state
        .store
        .read()
        .acquire()
        .await
        .map_err(onestop_store::StoreError::from)?;
    Ok(Json(VersionDto {
        version: onestop_store::catalogue::version(&mut c, id).await?,
    }))
}

/// Publish a draft, in force from `effective_from` (default: the draft's date).
#[utoipa::path(post, path = "/api/v1/catalogue/versions/{id}/publish", tag = "catalogue", params(("id" = i64, Path)), request_body = PublishBody,
    responses((status = 200, body = VersionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn publish(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<PublishBody>,
) -> ApiResult<Json<VersionDto>> {
    Ok(Json(VersionDto {
        version: cat::publish(&state, &p, id, b.effective_from, b.effective_until).await?,
    }))
}

/// Withdraw a published version.
#[utoipa::path(post, path = "/api/v1/catalogue/versions/{id}/withdraw", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = VersionDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn withdraw(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<VersionDto>> {
    Ok(Json(VersionDto {
        version: cat::withdraw(&state, &p, id).await?,
    }))
}

// ---- implementation lists ---------------------------------------------------------------------

/// A region's implementation list: every service in force, offered or not, with origins.
#[utoipa::path(get, path = "/api/v1/catalogue/regions/{id}/implementations", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = [EffectiveDto]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_implementations(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<EffectiveDto>>> {
    Ok(Json(
        cat::implementation_list(&state, &p, id)
            .await?
            .into_iter()
            .map(|effective| EffectiveDto { effective })
            .collect(),
    ))
}

/// One service as a region implements it, with the origin of every overridable field.
#[utoipa::path(get, path = "/api/v1/catalogue/regions/{id}/implementations/{service_id}", tag = "catalogue",
    params(("id" = i64, Path), ("service_id" = i64, Path)),
    responses((status = 200, body = EffectiveDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_implementation(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, service_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<EffectiveDto>> {
    Ok(Json(EffectiveDto {
        effective: cat::implementation(&state, &p, id, service_id).await?,
    }))
}

/// Override, reset or switch a service in a region's list; the result must pass the quality rules.
#[utoipa::path(patch, path = "/api/v1/catalogue/regions/{id}/implementations/{service_id}", tag = "catalogue",
    params(("id" = i64, Path), ("service_id" = i64, Path)), request_body = ChangeImplementation,
    responses((status = 200, body = EffectiveDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_implementation(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, service_id)): ApiPath<(i64, i64)>,
    ApiJson(b): ApiJson<ChangeImplementation>,
) -> ApiResult<Json<EffectiveDto>> {
    let change = ImplementationChange {
        enabled: b.enabled,
        set: b.set,
        reset: b.reset,
    };
    Ok(Json(EffectiveDto {
        effective: cat::change_implementation(&state, &p, id, service_id, change).await?,
    }))
}

// ---- workbooks --------------------------------------------------------------------------------

/// Reads an upload body up to the workbook limit; larger is 413.
pub async fn read_body(body: axum::body::Body) -> ApiResult<Vec<u8>> {
    use futures::StreamExt;
    let limit = onestop_workbook::Limits::default().max_upload;
    // An upload over the limit is still read (and discarded) up to a bound before the 413 is
    // sent: answering mid-body closes the connection while the client is writing, and the client
    // then sees a broken pipe instead of the error (a CI flake). Past the bound we stop reading.
    let drain_until = limit.saturating_mul(4);
    let mut stream = body.into_data_stream();
    let (mut buf, mut total) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "body_unreadable",
                "上传中断，请重新上传",
            )
        })?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            buf.extend_from_slice(&chunk);
        } else if total > drain_until {
            break;
        }
    }
    if total > limit {
        return Err(import::workbook_error(onestop_workbook::WorkbookError::TooLarge {
            size: total,
            limit,
        }));
    }
    Ok(buf)
}

/// Upload an .xlsx (request body) and preview the import: every row's plan and every problem by
/// sheet/row/column. Writes nothing to the catalogue; commit with the returned `upload_id`.
#[utoipa::path(post, path = "/api/v1/catalogue/regions/{id}/imports", tag = "catalogue", params(("id" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    responses((status = 200, body = import::ImportReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview_import(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> ApiResult<Json<import::ImportReport>> {
    let bytes = read_body(req.into_body()).await?;
    Ok(Json(import::preview(&state, &p, id, "upload.xlsx", bytes).await?))
}

/// Commit a previewed import; 422 with every problem (and nothing written) if any remains.
#[utoipa::path(post, path = "/api/v1/catalogue/imports/{id}/commit", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, body = import::ImportReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn commit_import(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<import::ImportReport>> {
    Ok(Json(import::commit(&state, &p, id).await?))
}

fn attachment(content_type: &'static str, file_name: &str, bytes: Vec<u8>) -> Response {
    // RFC 5987 so that the Chinese file name survives.
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"catalogue.{}\"; filename*=UTF-8''{encoded}",
                    file_name.rsplit('.').next().unwrap_or("bin")
                ),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Export a region's implementation list as .xlsx (imports back unchanged).
#[utoipa::path(get, path = "/api/v1/catalogue/regions/{id}/export.xlsx", tag = "catalogue", params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_xlsx(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    let (region, sheets) = import::export(&state, &p, id).await?;
    let bytes = onestop_workbook::write_xlsx(&sheets).map_err(import::workbook_error)?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{}实施清单.xlsx", region.name),
        bytes,
    ))
}

/// Export one sheet (`services.csv` 事项 or `materials.csv` 材料) as CSV with a UTF-8 BOM.
#[utoipa::path(get, path = "/api/v1/catalogue/regions/{id}/export/{sheet}", tag = "catalogue",
    params(("id" = i64, Path), ("sheet" = String, Path, description = "services.csv or materials.csv")),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_csv(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, sheet)): ApiPath<(i64, String)>,
) -> ApiResult<Response> {
    let index = match sheet.as_str() {
        "services.csv" => 0,
        "materials.csv" => 1,
        _ => return Err(ApiError::not_found()),
    };
    let (region, sheets) = import::export(&state, &p, id).await?;
    let sheet = sheets.get(index).ok_or_else(ApiError::not_found)?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        &format!("{}{}.csv", region.name, sheet.name),
        onestop_workbook::to_csv(sheet),
    ))
}

// ---- bundles ----------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/catalogue/bundles", tag = "catalogue",
    responses((status = 200, body = [BundleDto]), (status = 401, body = ErrorBody)))]
async fn list_bundles(State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<BundleDto>>> {
    p.require_any(onestop_domain::role::Permission::RegionRead)?;
    Ok(Json(
        cat::bundles(&state)
            .await?
            .into_iter()
            .map(|bundle| BundleDto { bundle })
            .collect(),
    ))
}

/// Create a bundle (一件事) of base services.
#[utoipa::path(post, path = "/api/v1/catalogue/bundles", tag = "catalogue", request_body = CreateBundle,
    responses((status = 201, body = BundleDto), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_bundle(State(state): S, Auth(p): Auth, ApiJson(b): ApiJson<CreateBundle>) -> ApiResult<Response> {
    let bundle = cat::create_bundle(
        &state,
        &p,
        NewBundle {
            owner_region_id: b.owner_region_id,
            code: b.code,
            name: b.name,
            description: b.description,
            themes: b.themes,
            service_ids: b.service_ids,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(BundleDto { bundle })).into_response())
}

// ---- public guides ----------------------------------------------------------------------------

/// Search the guides a region offers (no login): substring, names ranked above body text, pinyin
/// initials (`yyzz` finds 营业执照); filters by theme, department and object (`person`/`legal`);
/// one page at a time (`page` from 1, `per_page` 1–100, default 20), with the total.
#[utoipa::path(get, path = "/api/v1/guides", tag = "catalogue", params(search::GuideQuery), security(()),
    responses((status = 200, body = GuideList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn search_guides(State(state): S, ApiQuery(q): ApiQuery<search::GuideQuery>) -> ApiResult<Json<GuideList>> {
    q.check()?;
    let region = cat::public_region(&state, q.region.as_deref()).await?;
    let index = search::entries(&state, region.id).await?;
    let (themes, departments) = (index.themes.clone(), index.departments.clone());
    let hits = search::rank(&index.entries, &q);
    let page = q.page_of(hits.len());
    let guides: Vec<search::GuideEntry> = hits
        .get(page.range.clone())
        .unwrap_or_default()
        .iter()
        .map(|e| (*e).clone())
        .collect();
    Ok(Json(GuideList {
        region_code: region.code,
        region_name: region.name,
        total: page.total,
        page: page.page,
        per_page: page.per_page,
        pages: page.pages,
        guides,
        themes,
        departments,
    }))
}

/// The public guide of a service in a region (no login).
#[utoipa::path(get, path = "/api/v1/guides/{region}/{base_code}", tag = "catalogue", security(()),
    params(("region" = String, Path, description = "region code"), ("base_code" = String, Path)),
    responses((status = 200, body = EffectiveDto), (status = 404, body = ErrorBody)))]
async fn get_guide(
    State(state): S,
    ApiPath((region, code)): ApiPath<(String, String)>,
) -> ApiResult<Json<EffectiveDto>> {
    Ok(Json(EffectiveDto {
        effective: cat::public_guide(&state, &region, &code).await?,
    }))
}

/// Check an application against the guide's form with the same rules the page uses (no login).
#[utoipa::path(post, path = "/api/v1/guides/{region}/{base_code}/validate", tag = "catalogue", security(()),
    params(("region" = String, Path), ("base_code" = String, Path)), request_body = Object,
    responses((status = 200, body = ValidatedForm), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn validate_form(
    State(state): S,
    ApiPath((region, code)): ApiPath<(String, String)>,
    ApiJson(values): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Json<ValidatedForm>> {
    let guide = cat::public_guide(&state, &region, &code).await?;
    let values = onestop_domain::form::validate_json_submission(&guide.form, &values, cat::today(&state))
        .map_err(cat::form_errors)?;
    Ok(Json(ValidatedForm { values }))
}

/// A bundle's guide in a region: members, merged material list (asked once) and merged form.
#[utoipa::path(get, path = "/api/v1/guides/{region}/bundles/{id}", tag = "catalogue", security(()),
    params(("region" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_bundle_guide(State(state): S, ApiPath((region, id)): ApiPath<(String, i64)>) -> ApiResult<Response> {
    let region = cat::public_region(&state, Some(&region)).await?;
    let guide = cat::bundle_guide(&state, region.id, id).await?;
    if !guide.available {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "guide_not_found",
            "该地区暂未提供这项一件事服务",
        ));
    }
    Ok(Json(guide).into_response())
}
