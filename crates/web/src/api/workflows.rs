//! Workflows and calendars API: the workflow in force at a region for a service or bundle (with
//! its origin, versions and diagram), saving a new version, checking a draft, resetting to inherit;
//! the working-day calendar of a region (days, closures with their origin, years), deadlines
//! counted on it, closures and year files.
use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::workflows::calendar::{self as cal, CalendarView, DayInfo, Deadline};
use crate::workflows::diagram::{Graph, Link, Node, graph};
use crate::workflows::{self as wf, WorkflowView};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use onestop_domain::workflow_draft::DraftDefinition;
use onestop_store::calendars::{ClosureRow, YearInfo};
use onestop_store::workflows::{Subject, VersionRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows/regions/{id}", get(list))
        .route("/workflows/regions/{id}/check", post(check))
        .route(
            "/workflows/regions/{id}/services/{service_id}",
            get(get_service).put(save_service).delete(reset_service),
        )
        .route(
            "/workflows/regions/{id}/bundles/{bundle_id}",
            get(get_bundle).put(save_bundle).delete(reset_bundle),
        )
        .route("/workflows/versions/{id}", get(get_version))
        .route("/regions/{id}/calendar", get(calendar))
        .route("/regions/{id}/calendar/deadline", get(deadline))
        .route("/regions/{id}/calendar/closures", post(add_closure))
        .route("/regions/{id}/calendar/closures/{date}", delete(remove_closure))
        .route(
            "/regions/{id}/calendar/years",
            get(region_years).post(import_region_year),
        )
        .route("/regions/{id}/calendar/years/{year}", delete(remove_region_year))
        .route("/calendar/years", get(national_years).post(import_national_year))
        .route("/calendar/years/{year}", delete(remove_national_year))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list, check, get_service, save_service, reset_service, get_bundle, save_bundle, reset_bundle, get_version,
        calendar, deadline, add_closure, remove_closure, region_years, import_region_year, remove_region_year,
        national_years, import_national_year, remove_national_year
    ),
    components(schemas(WorkflowDto, WorkflowSummaryDto, SaveWorkflow, CheckBody, CheckDto, IssueDto, VersionDto,
        Graph, Node, Link, CalendarView, DayInfo, Deadline, ClosureDto, AddClosure, YearDto, ImportYear)),
    tags((name = "workflows", description = "审批流程（按实施清单继承）与工作日历"))
)]
pub struct WorkflowsDoc;

type S = State<AppState>;

// ---- DTOs -------------------------------------------------------------------------------------

/// The workflow in force at a region: the definition (see docs/API.md for its JSON shape), the
/// version in force (`version_id` null: the generated default), where it comes from (`origin`:
/// `{"from":"default"}`, `{"from":"inherited","region":{…}}` or `{"from":"own","region":{…}}`),
/// each task step's department as resolved at this region, the versions saved here and above,
/// warnings, and the diagram.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDto {
    #[schema(value_type = Object)]
    pub subject: Subject,
    pub name: String,
    pub code: String,
    #[schema(value_type = Object)]
    pub region: onestop_store::catalogue::OriginRegion,
    pub version_id: Option<i64>,
    pub version_number: Option<i64>,
    #[schema(value_type = Object)]
    pub origin: onestop_store::workflows::WorkflowOrigin,
    pub origin_label: String,
    #[schema(value_type = Object)]
    pub definition: onestop_domain::workflow::WorkflowDefinition,
    #[schema(value_type = Vec<Object>)]
    pub departments: Vec<onestop_store::workflows::StepDepartment>,
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<wf::VersionSummary>,
    pub warnings: Vec<String>,
    pub graph: Graph,
}

impl From<WorkflowView> for WorkflowDto {
    fn from(v: WorkflowView) -> Self {
        Self {
            graph: graph(&v.effective.definition, &[]),
            subject: v.subject,
            name: v.name,
            code: v.code,
            region: v.region,
            version_id: v.effective.version_id,
            version_number: v.effective.version_number,
            origin: v.effective.origin,
            origin_label: v.origin_label,
            definition: v.effective.definition,
            departments: v.effective.departments,
            versions: v.versions,
            warnings: v.warnings,
        }
    }
}

/// A service or bundle with where its workflow comes from at the region.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSummaryDto {
    #[schema(value_type = Object)]
    pub subject: Subject,
    pub code: String,
    pub name: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub origin: onestop_store::workflows::WorkflowOrigin,
    pub origin_label: String,
    pub version_number: Option<i64>,
}

/// A new version: the whole definition (the JSON shape of docs/API.md) and an optional note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveWorkflow {
    #[schema(value_type = Object)]
    pub definition: DraftDefinition,
    /// 修改说明, at most 200 characters.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    #[schema(value_type = Object)]
    pub definition: DraftDefinition,
}

/// One problem of a definition: a stable code, the step it is about (if any), a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueDto {
    pub code: String,
    pub step: Option<String>,
    pub message: String,
}

/// What a check found, and the diagram of the draft as far as it could be read.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckDto {
    pub valid: bool,
    pub issues: Vec<IssueDto>,
    pub graph: Graph,
}

/// A saved version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDto {
    pub id: i64,
    #[schema(value_type = Object)]
    pub subject: Subject,
    #[schema(value_type = Object)]
    pub region: onestop_store::catalogue::OriginRegion,
    pub number: i64,
    #[schema(value_type = Object)]
    pub definition: onestop_domain::workflow::WorkflowDefinition,
    pub note: String,
    pub created_at: i64,
    pub created_by: String,
}

impl From<VersionRow> for VersionDto {
    fn from(v: VersionRow) -> Self {
        Self {
            id: v.id,
            subject: v.subject,
            region: v.region,
            number: v.number,
            definition: v.definition,
            note: v.note,
            created_at: v.created_at,
            created_by: v.created_by,
        }
    }
}

/// A closure (闭厅日) and the region that set it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClosureDto {
    pub id: i64,
    #[schema(value_type = Object)]
    pub region: onestop_store::catalogue::OriginRegion,
    #[schema(value_type = String)]
    pub date: jiff::civil::Date,
    pub reason: String,
    pub created_at: i64,
    pub created_by: String,
}

impl From<ClosureRow> for ClosureDto {
    fn from(c: ClosureRow) -> Self {
        Self {
            id: c.id,
            region: c.region,
            date: c.date,
            reason: c.reason,
            created_at: c.created_at,
            created_by: c.created_by,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddClosure {
    /// `2026-08-12`.
    pub date: String,
    /// Why the hall is closed (shown on the calendar), 1 to 200 characters.
    pub reason: String,
}

/// A year of the calendar: its number, source, where it comes from (`{"from":"builtin"}`,
/// `{"from":"national"}` or `{"from":"region","region":{…}}`) and counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct YearDto {
    pub year: i16,
    pub source: String,
    #[schema(value_type = Object)]
    pub origin: onestop_store::calendars::YearOrigin,
    pub holidays: usize,
    pub makeup_days: usize,
    pub loaded_at: Option<i64>,
    pub loaded_by: Option<String>,
}

impl From<YearInfo> for YearDto {
    fn from(y: YearInfo) -> Self {
        Self {
            year: y.year,
            source: y.source,
            origin: y.origin,
            holidays: y.holidays,
            makeup_days: y.makeup_days,
            loaded_at: y.loaded_at,
            loaded_by: y.loaded_by,
        }
    }
}

/// A year file: the TOML text (the format of `crates/domain/data/calendar/cn-2026.toml`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportYear {
    pub toml: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// First day (default: the first of this month).
    pub from: Option<String>,
    /// Last day, at most 366 days after `from` (default: the end of `from`'s month).
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadlineQuery {
    /// The day counting starts after (e.g. the acceptance day), `2026-03-18`.
    pub from: String,
    /// Working days, 0 to 1000.
    pub days: u32,
}

// ---- workflows ----------------------------------------------------------------------------------

/// Every service in force and every bundle, with where its workflow comes from at this region.
#[utoipa::path(get, path = "/api/v1/workflows/regions/{id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id")),
    responses((status = 200, body = Vec<WorkflowSummaryDto>), (status = 404, body = ErrorBody)))]
async fn list(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<WorkflowSummaryDto>>> {
    Ok(Json(
        wf::list(&state, &p, id)
            .await?
            .into_iter()
            .map(|s| WorkflowSummaryDto {
                subject: s.subject,
                code: s.code,
                name: s.name,
                enabled: s.enabled,
                origin: s.origin,
                origin_label: s.origin_label,
                version_number: s.version_number,
            })
            .collect(),
    ))
}

/// Checks a draft definition for this region without saving it: every issue, at its step
/// (departments must exist in the region, above or below it), and the draft's diagram.
#[utoipa::path(post, path = "/api/v1/workflows/regions/{id}/check", tag = "workflows",
    params(("id" = i64, Path, description = "Region id")), request_body = CheckBody,
    responses((status = 200, body = CheckDto), (status = 404, body = ErrorBody)))]
async fn check(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CheckBody>,
) -> ApiResult<Json<CheckDto>> {
    let c = wf::check(&state, &p, id, &body.definition).await?;
    Ok(Json(check_dto(c)))
}

pub(crate) fn check_dto(c: wf::Checked) -> CheckDto {
    CheckDto {
        valid: c.issues.is_empty(),
        graph: graph(&c.definition, &c.issues),
        issues: c
            .issues
            .into_iter()
            .map(|i| IssueDto {
                code: i.code.to_owned(),
                step: i.step.map(|s| s.as_str().to_owned()),
                message: i.message,
            })
            .collect(),
    }
}

/// The workflow in force at the region for a service's implementation.
#[utoipa::path(get, path = "/api/v1/workflows/regions/{id}/services/{service_id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("service_id" = i64, Path, description = "Service id")),
    responses((status = 200, body = WorkflowDto), (status = 404, body = ErrorBody)))]
async fn get_service(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, sid)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(wf::view(&state, &p, id, Subject::Service(sid)).await?.into()))
}

/// Saves a new version of the region's own workflow for a service and puts it in force here (and
/// below, where nobody defines their own). 422 `workflow_invalid` lists every issue in `fields`
/// (`steps.<key>`); nothing is saved then.
#[utoipa::path(put, path = "/api/v1/workflows/regions/{id}/services/{service_id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("service_id" = i64, Path, description = "Service id")),
    request_body = SaveWorkflow,
    responses((status = 200, body = WorkflowDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_service(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, sid)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<SaveWorkflow>,
) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(
        wf::save(&state, &p, id, Subject::Service(sid), &body.definition, &body.note)
            .await?
            .into(),
    ))
}

/// Stops the region defining its own workflow for a service: it inherits again (its versions stay).
#[utoipa::path(delete, path = "/api/v1/workflows/regions/{id}/services/{service_id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("service_id" = i64, Path, description = "Service id")),
    responses((status = 200, body = WorkflowDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_service(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, sid)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(wf::reset(&state, &p, id, Subject::Service(sid)).await?.into()))
}

/// The workflow in force at the region for a bundle (一件事).
#[utoipa::path(get, path = "/api/v1/workflows/regions/{id}/bundles/{bundle_id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("bundle_id" = i64, Path, description = "Bundle id")),
    responses((status = 200, body = WorkflowDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_bundle(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, bid)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(wf::view(&state, &p, id, Subject::Bundle(bid)).await?.into()))
}

/// Saves a new version of the region's own workflow for a bundle (see the service's).
#[utoipa::path(put, path = "/api/v1/workflows/regions/{id}/bundles/{bundle_id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("bundle_id" = i64, Path, description = "Bundle id")),
    request_body = SaveWorkflow,
    responses((status = 200, body = WorkflowDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_bundle(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, bid)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<SaveWorkflow>,
) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(
        wf::save(&state, &p, id, Subject::Bundle(bid), &body.definition, &body.note)
            .await?
            .into(),
    ))
}

/// Stops the region defining its own workflow for a bundle: it inherits again.
#[utoipa::path(delete, path = "/api/v1/workflows/regions/{id}/bundles/{bundle_id}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("bundle_id" = i64, Path, description = "Bundle id")),
    responses((status = 200, body = WorkflowDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn reset_bundle(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, bid)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<WorkflowDto>> {
    Ok(Json(wf::reset(&state, &p, id, Subject::Bundle(bid)).await?.into()))
}

/// One saved version (what a case that pinned it runs on).
#[utoipa::path(get, path = "/api/v1/workflows/versions/{id}", tag = "workflows",
    params(("id" = i64, Path, description = "Version id")),
    responses((status = 200, body = VersionDto), (status = 404, body = ErrorBody)))]
async fn get_version(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<VersionDto>> {
    Ok(Json(wf::version(&state, &p, id).await?.into()))
}

// ---- calendars ----------------------------------------------------------------------------------

/// Today in the hall's time zone.
fn today(state: &AppState) -> jiff::civil::Date {
    crate::catalogue::today(state)
}

/// The first and last day of `d`'s month.
pub(crate) fn month_of(d: jiff::civil::Date) -> (jiff::civil::Date, jiff::civil::Date) {
    let first = d.first_of_month();
    (first, d.last_of_month())
}

/// The region's working-day calendar: loaded years and their origin, closures in force (own and
/// inherited, with the region that set each), and the days of a range (default: this month), each
/// `workday`, `weekend`, `holiday`, `makeup`, `closed` or `not_covered`.
#[utoipa::path(get, path = "/api/v1/regions/{id}/calendar", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), RangeQuery),
    responses((status = 200, body = CalendarView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn calendar(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<CalendarView>> {
    let from = match &q.from {
        Some(f) => cal::parse_date(f, "from")?,
        None => month_of(today(&state)).0,
    };
    let to = match &q.to {
        Some(t) => cal::parse_date(t, "to")?,
        None => month_of(from).1,
    };
    Ok(Json(cal::view(&state, &p, id, from, to).await?))
}

/// The `days`-th working day after `from` on the region's calendar. A count that runs past the
/// loaded years is not guessed: `beyond_calendar` true, `code` `calendar_date_not_covered`.
#[utoipa::path(get, path = "/api/v1/regions/{id}/calendar/deadline", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), DeadlineQuery),
    responses((status = 200, body = Deadline), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn deadline(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DeadlineQuery>,
) -> ApiResult<Json<Deadline>> {
    let from = cal::parse_date(&q.from, "from")?;
    Ok(Json(cal::deadline(&state, &p, id, from, q.days).await?))
}

/// Closes a day at the region (and every region below it): it stops counting as a working day.
/// 422 `calendar_date_not_covered` outside the loaded years, 409 `calendar_closure_exists`.
#[utoipa::path(post, path = "/api/v1/regions/{id}/calendar/closures", tag = "workflows",
    params(("id" = i64, Path, description = "Region id")), request_body = AddClosure,
    responses((status = 201, body = ClosureDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_closure(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddClosure>,
) -> ApiResult<(StatusCode, Json<ClosureDto>)> {
    let date = cal::parse_date(&body.date, "date")?;
    let c = cal::add_closure(&state, &p, id, date, &body.reason).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Reopens a day the region itself closed (409 `calendar_closure_inherited` for a closure set
/// above; 404 `calendar_closure_unknown` when the day is not closed here).
#[utoipa::path(delete, path = "/api/v1/regions/{id}/calendar/closures/{date}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("date" = String, Path, description = "The day, 2026-08-12")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_closure(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, date)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    let date = cal::parse_date(&date, "date")?;
    cal::remove_closure(&state, &p, id, date).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Years loaded as the region's own variants (local holidays).
#[utoipa::path(get, path = "/api/v1/regions/{id}/calendar/years", tag = "workflows",
    params(("id" = i64, Path, description = "Region id")),
    responses((status = 200, body = Vec<YearDto>), (status = 404, body = ErrorBody)))]
async fn region_years(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<YearDto>>> {
    Ok(Json(
        cal::own_years(&state, &p, id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Loads a year file as the region's own variant: it replaces that year for the region and every
/// region below it. 422 with the domain's code and the line for a file that does not parse or
/// contradicts itself; 422 `calendar_years_not_contiguous` for a gap.
#[utoipa::path(post, path = "/api/v1/regions/{id}/calendar/years", tag = "workflows",
    params(("id" = i64, Path, description = "Region id")), request_body = ImportYear,
    responses((status = 201, body = YearDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_region_year(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ImportYear>,
) -> ApiResult<(StatusCode, Json<YearDto>)> {
    let y = cal::import_year(&state, &p, Some(id), &body.toml).await?;
    Ok((StatusCode::CREATED, Json(y.into())))
}

/// Removes the region's own variant of a year.
#[utoipa::path(delete, path = "/api/v1/regions/{id}/calendar/years/{year}", tag = "workflows",
    params(("id" = i64, Path, description = "Region id"), ("year" = i16, Path, description = "The year")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_region_year(
    State(state): S,
    Auth(p): Auth,
    ApiPath((id, year)): ApiPath<(i64, i16)>,
) -> ApiResult<StatusCode> {
    cal::remove_year(&state, &p, Some(id), year).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The national calendar's years: built in, and loaded for the whole country.
#[utoipa::path(get, path = "/api/v1/calendar/years", tag = "workflows",
    responses((status = 200, body = Vec<YearDto>), (status = 403, body = ErrorBody)))]
async fn national_years(State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<YearDto>>> {
    Ok(Json(
        cal::national_years(&state, &p)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Loads a year file for the whole country (the State Council's notice): it reaches every region
/// that has no variant of that year. For the settings keepers of a root region.
#[utoipa::path(post, path = "/api/v1/calendar/years", tag = "workflows", request_body = ImportYear,
    responses((status = 201, body = YearDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn import_national_year(
    State(state): S,
    Auth(p): Auth,
    ApiJson(body): ApiJson<ImportYear>,
) -> ApiResult<(StatusCode, Json<YearDto>)> {
    let y = cal::import_year(&state, &p, None, &body.toml).await?;
    Ok((StatusCode::CREATED, Json(y.into())))
}

/// Removes a year loaded for the whole country (a built-in year of that number applies again).
#[utoipa::path(delete, path = "/api/v1/calendar/years/{year}", tag = "workflows",
    params(("year" = i16, Path, description = "The year")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_national_year(State(state): S, Auth(p): Auth, ApiPath(year): ApiPath<i16>) -> ApiResult<StatusCode> {
    cal::remove_year(&state, &p, None, year).await?;
    Ok(StatusCode::NO_CONTENT)
}
