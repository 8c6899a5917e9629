//! The rollout admin page (推广): pick a source and targets, read the dry run per target (what would
//! be switched on and created, local overrides and conflicting codes, refusals), start the run and
//! watch its progress (the page refreshes itself while it runs; no JavaScript needed).
use super::{Chrome, PageAuth, PageResult, StaffForm, page_err, render, see_other};
use crate::api::rollout::spawn_drive;
use crate::extract::{ApiPath, ApiQuery};
use crate::rollout::{self as ro, Preview, RolloutRequest};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use onestop_domain::role::Permission;
use onestop_store::rollout::Run;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rollout", get(page))
        .route("/admin/rollout/runs", post(start))
        .route("/admin/rollout/runs/{id}", get(run_page))
        .route("/admin/rollout/runs/{id}/resume", post(resume))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Query {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    reset: Option<String>,
}

#[derive(Template)]
#[template(path = "rollout.html")]
struct RolloutPage {
    c: Chrome,
    from: String,
    to: String,
    reset: bool,
    staff_csv: String,
    sources: Vec<(String, String)>,
    preview: Option<Preview>,
    error: Option<String>,
    error_lines: Vec<String>,
    runs: Vec<Run>,
    // report: the spread across the admin's subtree
    spread: Vec<SpreadView>,
    spread_adopted: usize,
    spread_pending: i64,
}

/// One region of the progress view.
struct SpreadView {
    depth: usize,
    name: String,
    code: String,
    adopted: String,
    pending: i64,
    refused: i64,
}

/// The progress across the first subtree the admin may roll out in: which regions have adopted
/// the model (when, from where) and how many targets are still pending.
async fn spread_of(state: &AppState, p: &crate::auth::Principal) -> Result<Vec<SpreadView>, onestop_store::StoreError> {
    let Some(scope) = p.scopes(Permission::CatalogueWrite).into_iter().next() else {
        return Ok(Vec::new());
    };
    let mut conn = state.store.read().acquire().await?;
    let rows = onestop_store::model_report::spread(&mut conn, scope.as_str()).await?;
    Ok(rows
        .into_iter()
        .map(|r| SpreadView {
            depth: r.depth,
            adopted: match (r.adopted_at, &r.source_code) {
                (Some(at), Some(src)) => {
                    let d = onestop_store::ratings::local_date(onestop_store::ts(at));
                    format!("{}年{}月{}日（来自 {src}）", d.year(), d.month(), d.day())
                }
                _ => String::new(),
            },
            name: r.name,
            code: r.code,
            pending: r.pending,
            refused: r.refused,
        })
        .collect())
}

#[derive(Template)]
#[template(path = "rollout_run.html")]
struct RunPage {
    c: Chrome,
    run: Run,
    done: usize,
    total: usize,
    running: bool,
    resumable: bool,
}

async fn render_page(
    state: &AppState,
    p: &crate::auth::Principal,
    from: String,
    to: String,
    reset: bool,
    staff_csv: String,
    error: Option<crate::error::ApiError>,
) -> PageResult {
    let err = page_err(p);
    let mut sources = Vec::new();
    for r in crate::ops::list_regions(state, p).await.map_err(&err)? {
        if p.can(Permission::CatalogueWrite, &r.region_path()) && r.is_open() {
            sources.push((r.code, r.name));
        }
    }
    let mut preview = None;
    let mut status = StatusCode::OK;
    let (mut error_text, mut error_lines) = (None, Vec::new());
    if let Some(e) = error {
        status = e.status;
        error_lines = e.fields.iter().map(|f| f.message.clone()).collect();
        error_text = Some(e.message);
    } else if !from.trim().is_empty() {
        let req = RolloutRequest {
            from: from.clone(),
            to: if to.trim().is_empty() {
                "children".into()
            } else {
                to.clone()
            },
            reset_overrides: reset,
            staff_csv: None,
            limit: None,
        };
        match ro::preview(state, p, &req).await {
            Ok(pv) => preview = Some(pv),
            Err(e) if matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => return Err(err(e)),
            Err(e) => {
                status = e.status;
                error_lines = e.fields.iter().map(|f| f.message.clone()).collect();
                error_text = Some(e.message);
            }
        }
    }
    let mut runs = Vec::new();
    if let Ok(src) = onestop_store::regions::get_by_code(state.store.read(), from.trim()).await
        && p.can(Permission::CatalogueWrite, &src.region_path())
    {
        runs = ro::runs_of(state, p, src.id).await.map_err(&err)?;
    }
    let spread = spread_of(state, p).await.map_err(|e| err(e.into()))?;
    let page = RolloutPage {
        spread_adopted: spread.iter().filter(|s| !s.adopted.is_empty()).count(),
        spread_pending: spread.iter().map(|s| s.pending).sum(),
        spread,
        c: Chrome::for_principal(p, "/admin/rollout"),
        from,
        to,
        reset,
        staff_csv,
        sources,
        preview,
        error: error_text,
        error_lines,
        runs,
    };
    Ok(render(status, &page))
}

async fn page(State(state): State<AppState>, PageAuth(p): PageAuth, ApiQuery(q): ApiQuery<Query>) -> PageResult {
    p.require_any(Permission::CatalogueWrite).map_err(page_err(&p))?;
    let reset = q.reset.as_deref().is_some_and(|r| matches!(r, "on" | "1" | "true"));
    render_page(
        &state,
        &p,
        q.from.unwrap_or_default(),
        q.to.unwrap_or_default(),
        reset,
        String::new(),
        None,
    )
    .await
}

#[derive(Debug, Deserialize)]
struct StartForm {
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reset_overrides: Option<String>,
    #[serde(default)]
    staff_csv: String,
}

async fn start(State(state): State<AppState>, f: StaffForm<StartForm>) -> PageResult {
    let p = f.p;
    let reset = f.form.reset_overrides.is_some();
    let req = RolloutRequest {
        from: f.form.from.clone(),
        to: if f.form.to.trim().is_empty() {
            "children".into()
        } else {
            f.form.to.clone()
        },
        reset_overrides: reset,
        staff_csv: Some(f.form.staff_csv.clone()),
        limit: None,
    };
    match ro::start(&state, &p, &req).await {
        Ok(run) => {
            spawn_drive(&state, &p, run.id, None);
            Ok(see_other(&format!("/admin/rollout/runs/{}", run.id)))
        }
        Err(e) if matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => Err(page_err(&p)(e)),
        Err(e) => render_page(&state, &p, f.form.from, f.form.to, reset, f.form.staff_csv, Some(e)).await,
    }
}

async fn run_page(State(state): State<AppState>, PageAuth(p): PageAuth, ApiPath(id): ApiPath<i64>) -> PageResult {
    let run = ro::get_run(&state, &p, id).await.map_err(page_err(&p))?;
    let page = RunPage {
        c: Chrome::for_principal(&p, "/admin/rollout"),
        done: run.done_count(),
        total: run.targets.len(),
        running: run.state == "running",
        resumable: run.targets.iter().any(|t| t.state == "pending" || t.state == "failed"),
        run,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct Empty {}

async fn resume(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, f: StaffForm<Empty>) -> PageResult {
    ro::retry_failed(&state, &f.p, id).await.map_err(page_err(&f.p))?;
    spawn_drive(&state, &f.p, id, None);
    Ok(see_other(&format!("/admin/rollout/runs/{id}")))
}
