//! Rollout use cases (推广), shared by the API, the admin page and the CLI: preview a source's model
//! in its targets (dry run), start a run, drive it target by target (each one transaction, with
//! its progress row), resume it, and keep the source's template.
use crate::auth::{Principal, random_token};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use onestop_domain::role::Permission;
use onestop_domain::rollout::{Problem, RolloutTemplate, StaffAccount, parse_staff_csv};
use onestop_store::audit::AuditEntry;
use onestop_store::catalogue::OriginRegion;
use onestop_store::regions::{self, Region};
use onestop_store::rollout::{self as store, Model, Run, RunOptions, TargetPlan};
use onestop_store::{StoreError, leases};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

/// Most targets one request may name (a province has on the order of 1,000 halls).
pub const MAX_TARGETS: usize = 2000;

/// What a rollout is asked to do.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// Source region code, e.g. 990100.
    pub from: String,
    /// `children`, or region codes separated by commas.
    pub to: String,
    #[serde(default)]
    pub reset_overrides: bool,
    /// Staff accounts to create: CSV `region,username,display_name,role,department`.
    #[serde(default)]
    pub staff_csv: Option<String>,
    /// Apply at most this many targets now; the rest stay pending for a resume.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A dry run: the model and the plan of each target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Preview {
    #[schema(value_type = Object)]
    pub source: OriginRegion,
    pub model_services: usize,
    pub template_stored: bool,
    #[schema(value_type = Vec<Object>)]
    pub model_problems: Vec<Problem>,
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<TargetPlan>,
    /// Targets that would be refused.
    pub refused: usize,
    /// Writes in all, over the targets that would be applied.
    pub changes: usize,
}

struct Resolved {
    source: Region,
    targets: Vec<Region>,
    staff: HashMap<i64, Vec<StaffAccount>>,
}

fn problem_error(code: &'static str, message: &str, problems: Vec<Problem>) -> ApiError {
    let mut e = ApiError::validation(code, message);
    e.fields = problems
        .into_iter()
        .map(|p| crate::error::FieldError {
            field: String::new(),
            code: p.code,
            message: p.message,
        })
        .collect();
    e
}

async fn source_region(state: &AppState, p: &Principal, code: &str) -> ApiResult<Region> {
    let r = regions::get_by_code(state.store.read(), code.trim())
        .await
        .map_err(|_| ApiError::not_found())?;
    p.require(Permission::CatalogueWrite, &r.region_path())?;
    Ok(r)
}

async fn resolve(state: &AppState, p: &Principal, req: &RolloutRequest) -> ApiResult<Resolved> {
    let source = source_region(state, p, &req.from).await?;
    let to = req.to.trim();
    let targets: Vec<Region> = if to == "children" {
        sqlx::query_as::<_, Region>(
            "SELECT id, code, name, level, parent_id, path, closed_at FROM regions WHERE parent_id = $1 AND closed_at IS NULL ORDER BY code",
        )
        .bind(source.id)
        .fetch_all(state.store.read())
        .await
        .map_err(StoreError::from)?
    } else {
        let codes: Vec<&str> = to.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
        if codes.is_empty() {
            return Err(ApiError::validation(
                "rollout_targets_empty",
                "请填写推广目标：children 或区划代码",
            ));
        }
        if codes.len() > MAX_TARGETS {
            return Err(ApiError::validation(
                "rollout_targets_too_many",
                format!("一次最多推广到 {MAX_TARGETS} 个区划"),
            ));
        }
        let mut out: Vec<Region> = Vec::new();
        let mut unknown = Vec::new();
        for c in codes {
            match regions::get_by_code(state.store.read(), c).await {
                Ok(r) if !out.iter().any(|o| o.id == r.id) => out.push(r),
                Ok(_) => {}
                Err(StoreError::NotFound) => {
                    unknown.push(Problem::new("rollout_target_unknown", format!("没有代码为“{c}”的区划")))
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !unknown.is_empty() {
            return Err(problem_error(
                "rollout_target_unknown",
                "推广目标中有不存在的区划代码",
                unknown,
            ));
        }
        out
    };
    if targets.is_empty() {
        return Err(ApiError::validation(
            "rollout_targets_empty",
            "来源区划没有可推广的下级区划",
        ));
    }
    let mut staff: HashMap<i64, Vec<StaffAccount>> = HashMap::new();
    if let Some(csv) = req.staff_csv.as_deref().filter(|c| !c.trim().is_empty()) {
        let rows = parse_staff_csv(csv).map_err(|ps| problem_error("staff_csv_invalid", "人员名单有误", ps))?;
        let mut problems = Vec::new();
        for (code, account) in rows {
            match targets.iter().find(|t| t.code == code) {
                Some(t) => staff.entry(t.id).or_default().push(account),
                None => problems.push(Problem::new(
                    "staff_csv_region",
                    format!("人员 {} 的区划 {code} 不在本次推广目标中", account.username),
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problem_error("staff_csv_invalid", "人员名单有误", problems));
        }
    }
    Ok(Resolved { source, targets, staff })
}

/// Whether the principal may roll out to `target`: it must lie in a subtree where they keep the
/// catalogue, the structure and the staff.
fn in_scope(p: &Principal, target: &Region) -> bool {
    let path = target.region_path();
    [
        Permission::CatalogueWrite,
        Permission::RegionWrite,
        Permission::StaffWrite,
    ]
    .into_iter()
    .all(|perm| p.can(perm, &path))
}

fn outside(target: &Region, model_services: usize) -> TargetPlan {
    TargetPlan {
        region: OriginRegion {
            id: target.id,
            code: target.code.clone(),
            name: target.name.clone(),
        },
        problems: vec![Problem::new(
            "target_outside_subtree",
            format!("“{}”不在您的管辖范围内", target.name),
        )],
        model_services,
        services_inherited: 0,
        services_switch_on: Vec::new(),
        create: Default::default(),
        overrides: Vec::new(),
        resets: 0,
        changes: 0,
    }
}

async fn model_of(state: &AppState, source: &Region) -> ApiResult<Model> {
    let date = crate::catalogue::today(state);
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    Ok(store::model(&mut conn, source.id, date).await?)
}

/// The dry run: what each target would get, and what refuses it. Writes nothing.
pub async fn preview(state: &AppState, p: &Principal, req: &RolloutRequest) -> ApiResult<Preview> {
    let r = resolve(state, p, req).await?;
    let model = model_of(state, &r.source).await?;
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let mut targets = Vec::with_capacity(r.targets.len());
    for t in &r.targets {
        if !in_scope(p, t) {
            targets.push(outside(t, model.services.len()));
            continue;
        }
        let staff = r.staff.get(&t.id).map(Vec::as_slice).unwrap_or(&[]);
        targets.push(store::plan(&mut conn, &model, t.id, staff, req.reset_overrides).await?);
    }
    Ok(Preview {
        source: OriginRegion {
            id: r.source.id,
            code: r.source.code.clone(),
            name: r.source.name.clone(),
        },
        model_services: model.services.len(),
        template_stored: model.template_stored,
        refused: targets.iter().filter(|t| !t.problems.is_empty()).count(),
        changes: targets
            .iter()
            .filter(|t| t.problems.is_empty())
            .map(|t| t.changes)
            .sum(),
        model_problems: model.problems,
        targets,
    })
}

/// Records a run with every target pending. Targets outside the principal's subtree are refused
/// at once (nothing is read or written there).
pub async fn start(state: &AppState, p: &Principal, req: &RolloutRequest) -> ApiResult<Run> {
    let r = resolve(state, p, req).await?;
    let options = RunOptions {
        reset_overrides: req.reset_overrides,
        staff: r.staff,
    };
    let ids: Vec<i64> = r.targets.iter().map(|t| t.id).collect();
    let refused: Vec<(i64, serde_json::Value)> = r
        .targets
        .iter()
        .filter(|t| !in_scope(p, t))
        .map(|t| (t.id, serde_json::to_value(outside(t, 0)).unwrap_or_default()))
        .collect();
    let now = state.clock.now();
    let actor = p.actor();
    let source = r.source.clone();
    let id = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let id = store::create_run(tx, source.id, &actor, &options, &ids, now).await?;
                for (region, summary) in &refused {
                    store::set_target(tx, id, *region, "refused", summary, now).await?;
                }
                tx.audit(AuditEntry {
                    region_id: source.id,
                    at: now,
                    actor,
                    action: "rollout.start",
                    entity: "rollout_run",
                    entity_id: id.to_string(),
                    detail: json!({"targets": ids.len(), "reset_overrides": options.reset_overrides}),
                })
                .await?;
                Ok::<_, StoreError>(id)
            })
        })
        .await?;
    get_run(state, p, id).await
}

/// A run, for whoever may roll out from its source.
pub async fn get_run(state: &AppState, p: &Principal, id: i64) -> ApiResult<Run> {
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let run = store::run(&mut conn, id).await?;
    let source = regions::get(&mut *conn, run.source.id).await?;
    p.require(Permission::CatalogueWrite, &source.region_path())?;
    Ok(run)
}

/// The latest runs from a source region.
pub async fn runs_of(state: &AppState, p: &Principal, source_id: i64) -> ApiResult<Vec<Run>> {
    let source = regions::get(state.store.read(), source_id).await?;
    p.require(Permission::CatalogueWrite, &source.region_path())?;
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let mut out = Vec::new();
    for (id, _, _) in store::runs_of(&mut conn, source_id, 10).await? {
        out.push(store::run(&mut conn, id).await?);
    }
    Ok(out)
}

/// Applies the run's pending targets in order, each in one transaction with its progress row,
/// at most `limit` of them. `progress(done, total, target)` is called after each. Only one driver
/// works a run at a time (a lease); a second one returns at once. Safe to call again after an
/// interruption: applied targets are skipped, and re-applying one would change nothing.
pub async fn drive(
    state: &AppState,
    p: &Principal,
    run_id: i64,
    limit: Option<usize>,
    progress: impl Fn(usize, usize, &store::RunTarget),
) -> ApiResult<Run> {
    let run = get_run(state, p, run_id).await?;
    let source = regions::get(state.store.read(), run.source.id).await?;
    let model = std::sync::Arc::new(model_of(state, &source).await?);
    let lease = format!("rollout:{run_id}");
    let holder = random_token();
    let total = run.targets.len();
    let mut done = run.done_count();
    let reset = run.options.reset_overrides;
    for (n, region_id) in run.pending().into_iter().enumerate() {
        if limit.is_some_and(|l| n >= l) {
            break;
        }
        let staff = run.options.staff.get(&region_id).cloned().unwrap_or_default();
        let now = state.clock.now();
        let (m, l, h, actor) = (model.clone(), lease.clone(), holder.clone(), p.actor());
        let outcome = state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    if !leases::try_acquire(tx, &l, &h, now, jiff::SignedDuration::from_secs(120)).await? {
                        return Ok::<_, StoreError>(None);
                    }
                    let plan = store::apply(tx, &m, region_id, &staff, reset, now).await?;
                    let state = if plan.problems.is_empty() { "applied" } else { "refused" };
                    let summary = serde_json::to_value(&plan).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    store::set_target(tx, run_id, region_id, state, &summary, now).await?;
                    if state == "applied" && plan.changes > 0 {
                        tx.audit(AuditEntry {
                            region_id,
                            at: now,
                            actor,
                            action: "rollout.apply",
                            entity: "rollout_run",
                            entity_id: run_id.to_string(),
                            detail: json!({"source": m.source.code, "changes": plan.changes, "resets": plan.resets}),
                        })
                        .await?;
                    }
                    Ok(Some(()))
                })
            })
            .await;
        match outcome {
            Ok(Some(())) => {}
            // Another driver holds the run.
            Ok(None) => break,
            Err(e) => {
                // The target's transaction rolled back; say so in its row and go on.
                tracing::warn!(run_id, region_id, error = %e, "rollout target failed");
                let message = match &e {
                    StoreError::Conflict { message, .. } => message.clone(),
                    StoreError::Domain(d) => d.to_string(),
                    _ => "写入失败，可稍后续传".into(),
                };
                let summary = json!({"problems": [{"code": e.code(), "message": message}]});
                state
                    .store
                    .write(move |tx| {
                        Box::pin(async move { store::set_target(tx, run_id, region_id, "failed", &summary, now).await })
                    })
                    .await?;
            }
        }
        done += 1;
        let current = get_run(state, p, run_id).await?;
        if let Some(t) = current.targets.iter().find(|t| t.region.id == region_id) {
            progress(done, total, t);
        }
    }
    let (l, h) = (lease, holder);
    state
        .store
        .write(move |tx| Box::pin(async move { leases::release(tx, &l, &h).await }))
        .await?;
    get_run(state, p, run_id).await
}

/// Puts a run's failed targets back to pending, for a resume to try them again.
pub async fn retry_failed(state: &AppState, p: &Principal, run_id: i64) -> ApiResult<Run> {
    let run = get_run(state, p, run_id).await?;
    let failed: Vec<i64> = run
        .targets
        .iter()
        .filter(|t| t.state == "failed")
        .map(|t| t.region.id)
        .collect();
    if !failed.is_empty() {
        let now = state.clock.now();
        state
            .store
            .write(move |tx| {
                Box::pin(async move {
                    for r in &failed {
                        store::set_target(tx, run_id, *r, "pending", &json!({}), now).await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .await?;
    }
    get_run(state, p, run_id).await
}

// ---- templates ---------------------------------------------------------------------------------

/// The template of a source region and whether it is stored (else read off its hall).
pub async fn template(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<(RolloutTemplate, bool)> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::CatalogueWrite, &r.region_path())?;
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    Ok(match store::stored_template(&mut conn, region_id).await? {
        Some(t) => (t, true),
        None => (store::derived_template(&mut conn, region_id).await?, false),
    })
}

pub async fn set_template(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    t: RolloutTemplate,
) -> ApiResult<RolloutTemplate> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::CatalogueWrite, &r.region_path())?;
    let problems = t.problems();
    if !problems.is_empty() {
        return Err(problem_error("rollout_template_invalid", "推广模板有误", problems));
    }
    let now = state.clock.now();
    let actor = p.actor();
    let saved = t.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::set_template(tx, region_id, &saved, now, &actor).await?;
                tx.audit(AuditEntry {
                    region_id,
                    at: now,
                    actor,
                    action: "rollout.template",
                    entity: "region",
                    entity_id: region_id.to_string(),
                    detail: json!({"windows": saved.windows.len(), "staff": saved.staff.len()}),
                })
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(t)
}

pub async fn reset_template(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<RolloutTemplate> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::CatalogueWrite, &r.region_path())?;
    let now = state.clock.now();
    let actor = p.actor();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if store::delete_template(tx, region_id).await? {
                    tx.audit(AuditEntry {
                        region_id,
                        at: now,
                        actor,
                        action: "rollout.template_reset",
                        entity: "region",
                        entity_id: region_id.to_string(),
                        detail: json!({}),
                    })
                    .await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(template(state, p, region_id).await?.0)
}
