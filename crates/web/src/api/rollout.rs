//! Rollout API (推广): the dry run of a source's model in its targets, runs applied target by
//! target in the background with their progress, resume, and the source's template.
use crate::auth::{Auth, Principal};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::rollout::{self as ro, Preview, RolloutRequest};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use onestop_domain::rollout::RolloutTemplate;
use onestop_store::rollout::Run;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rollout/preview", post(preview))
        .route("/rollout/runs", post(start))
        .route("/rollout/runs/{id}", get(get_run))
        .route("/rollout/runs/{id}/resume", post(resume))
        .route("/regions/{id}/rollout/runs", get(list_runs))
        .route(
            "/regions/{id}/rollout/template",
            get(get_template).put(put_template).delete(reset_template),
        )
}

#[derive(OpenApi)]
#[openapi(
    paths(preview, start, get_run, resume, list_runs, get_template, put_template, reset_template),
    components(schemas(RolloutRequest, Preview, RunDto, TemplateDto)),
    tags((name = "rollout", description = "推广：把来源区划的模式推广到下级区划"))
)]
pub struct RolloutDoc;

/// A run: its source, options, state (`running`, `done`) and each target with its state
/// (`pending`, `applied`, `refused`, `failed`) and summary (the target's plan as applied, or its
/// problems).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDto {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub run: Run,
    pub total: usize,
    pub done: usize,
}

impl From<Run> for RunDto {
    fn from(run: Run) -> Self {
        Self {
            total: run.targets.len(),
            done: run.done_count(),
            run,
        }
    }
}

/// A source's template, and whether it is stored (`false`: read off the source's own hall).
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDto {
    #[schema(value_type = Object)]
    pub template: RolloutTemplate,
    pub stored: bool,
}

/// Drives the run in the background (the response does not wait for it).
pub fn spawn_drive(state: &AppState, p: &Principal, run_id: i64, limit: Option<usize>) {
    let (state, p) = (state.clone(), p.clone());
    tokio::spawn(async move {
        if let Err(e) = ro::drive(&state, &p, run_id, limit, |_, _, _| {}).await {
            tracing::warn!(run_id, error = %e.message, "rollout run stopped");
        }
    });
}

/// The dry run: per target, the services switched on or already inherited, what would be
/// created, the local overrides and conflicting codes that differ from the model, and the
/// problems that refuse it. Writes nothing.
#[utoipa::path(post, path = "/api/v1/rollout/preview", request_body = RolloutRequest,
    responses((status = 200, body = Preview), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<RolloutRequest>,
) -> ApiResult<Json<Preview>> {
    Ok(Json(ro::preview(&state, &p, &req).await?))
}

/// Starts a run: records every target as pending and applies them one by one in the background,
/// each in one transaction (poll `GET /rollout/runs/{id}`). A refused target keeps nothing.
#[utoipa::path(post, path = "/api/v1/rollout/runs", request_body = RolloutRequest,
    responses((status = 202, body = RunDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiJson(req): ApiJson<RolloutRequest>,
) -> ApiResult<(StatusCode, Json<RunDto>)> {
    let run = ro::start(&state, &p, &req).await?;
    spawn_drive(&state, &p, run.id, req.limit);
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// A run and its progress.
#[utoipa::path(get, path = "/api/v1/rollout/runs/{id}", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_run(State(state): State<AppState>, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<RunDto>> {
    Ok(Json(ro::get_run(&state, &p, id).await?.into()))
}

/// Resumes an interrupted run: failed targets are tried again, pending ones applied; applied
/// targets are skipped.
#[utoipa::path(post, path = "/api/v1/rollout/runs/{id}/resume", params(("id" = i64, Path, description = "Run id")),
    responses((status = 202, body = RunDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<RunDto>)> {
    let run = ro::retry_failed(&state, &p, id).await?;
    spawn_drive(&state, &p, id, None);
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// The latest runs from a source region, newest first.
#[utoipa::path(get, path = "/api/v1/regions/{id}/rollout/runs", params(("id" = i64, Path, description = "Source region id")),
    responses((status = 200, body = Vec<RunDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_runs(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<RunDto>>> {
    Ok(Json(
        ro::runs_of(&state, &p, id)
            .await?
            .into_iter()
            .map(RunDto::from)
            .collect(),
    ))
}

/// The source's template of windows, queue categories, appointment slots, devices and staff
/// accounts (see docs/API.md for its JSON).
#[utoipa::path(get, path = "/api/v1/regions/{id}/rollout/template", params(("id" = i64, Path, description = "Source region id")),
    responses((status = 200, body = TemplateDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_template(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TemplateDto>> {
    let (template, stored) = ro::template(&state, &p, id).await?;
    Ok(Json(TemplateDto { template, stored }))
}

/// Stores the source's template; every problem is listed (422 `rollout_template_invalid`).
#[utoipa::path(put, path = "/api/v1/regions/{id}/rollout/template", params(("id" = i64, Path, description = "Source region id")),
    request_body(content = Object, description = "The template"),
    responses((status = 200, body = TemplateDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_template(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(t): ApiJson<RolloutTemplate>,
) -> ApiResult<Json<TemplateDto>> {
    let template = ro::set_template(&state, &p, id, t).await?;
    Ok(Json(TemplateDto { template, stored: true }))
}

/// Removes the stored template: the template is read off the source's hall again.
#[utoipa::path(delete, path = "/api/v1/regions/{id}/rollout/template", params(("id" = i64, Path, description = "Source region id")),
    responses((status = 200, body = TemplateDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_template(
    State(state): State<AppState>,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TemplateDto>> {
    let template = ro::reset_template(&state, &p, id).await?;
    Ok(Json(TemplateDto {
        template,
        stored: false,
    }))
}
