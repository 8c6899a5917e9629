//! Workflow definitions (审批流程) as use cases, shared by the JSON API and the admin pages: the
//! workflow in force at a region with where it comes from, its versions, checking a draft (every
//! issue at its step, departments included), saving a new version, and resetting to inherit. The
//! working-day calendar's use cases are in [`calendar`]. Each write is one transaction with its
//! audit entry.
pub mod calendar;
pub mod demo;
pub mod diagram;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use onestop_domain::role::Permission;
use onestop_domain::workflow::{StepKind, WorkflowDefinition, WorkflowIssue};
use onestop_domain::workflow_draft::DraftDefinition;
use onestop_store::StoreError;
use onestop_store::audit::AuditEntry;
use onestop_store::catalogue::{self as cat_store, OriginRegion};
use onestop_store::regions::{self, Region};
use onestop_store::workflows::{self as store, EffectiveWorkflow, Subject, VersionRow, WorkflowOrigin};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// Longest note (修改说明) on a saved version, in characters.
pub const MAX_NOTE_CHARS: usize = 200;

pub(crate) async fn conn(state: &AppState) -> ApiResult<sqlx::pool::PoolConnection<sqlx::Any>> {
    state
        .store
        .read()
        .acquire()
        .await
        .map_err(|e| ApiError::from(StoreError::from(e)))
}

pub(crate) async fn readable_region(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::RegionRead, &r.region_path())?;
    Ok(r)
}

pub(crate) fn origin_region(r: &Region) -> OriginRegion {
    OriginRegion {
        id: r.id,
        code: r.code.clone(),
        name: r.name.clone(),
    }
}

/// `默认流程` / `继承自 静江省` / `本级设置`, from the message catalogue.
pub fn origin_label(o: &WorkflowOrigin) -> String {
    let t = crate::i18n::messages(None);
    match o {
        WorkflowOrigin::Default => t.get("workflows.origin_default").to_owned(),
        WorkflowOrigin::Inherited { region } => format!("{}{}", t.get("workflows.origin_inherited"), region.name),
        WorkflowOrigin::Own { .. } => t.get("workflows.origin_own").to_owned(),
    }
}

/// A saved version as listed beside the workflow.
#[derive(Debug, Clone, Serialize)]
pub struct VersionSummary {
    pub id: i64,
    pub number: i64,
    pub region: OriginRegion,
    pub note: String,
    pub created_at: i64,
    pub created_by: String,
    /// Whether this is the version in force at the region asked about.
    pub in_force: bool,
    /// Whether its region has it in force (for itself and those below that inherit).
    pub in_force_at_its_region: bool,
}

/// A workflow as a region sees it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowView {
    pub subject: Subject,
    /// 事项 or 一件事 name and code.
    pub name: String,
    pub code: String,
    pub region: OriginRegion,
    pub effective: EffectiveWorkflow,
    /// `默认流程` / `继承自 …` / `本级设置`.
    pub origin_label: String,
    pub versions: Vec<VersionSummary>,
    /// Things an admin should know that do not stop the workflow from being saved (a department
    /// that does not exist here, steps that together take longer than the promised limit).
    pub warnings: Vec<String>,
}

async fn subject_name(conn: &mut sqlx::AnyConnection, subject: Subject) -> ApiResult<(String, String)> {
    Ok(match subject {
        Subject::Service(id) => {
            let s = cat_store::service(conn, id).await?;
            (s.name, s.base_code)
        }
        Subject::Bundle(id) => {
            let b = cat_store::bundle(conn, id).await?;
            (b.name, b.code)
        }
    })
}

/// Working days of the longest path of task steps from the start (parallel branches count once,
/// by their longest branch; returns are not followed).
pub fn longest_path_days(def: &WorkflowDefinition) -> u32 {
    fn walk(def: &WorkflowDefinition, key: &onestop_domain::workflow::StepKey, depth: usize) -> u32 {
        if depth > def.steps.len() {
            return 0;
        }
        let Some(step) = def.step(key) else {
            return 0;
        };
        match &step.kind {
            StepKind::End { .. } => 0,
            StepKind::Task => {
                let next = step
                    .actions
                    .iter()
                    .filter(|t| t.action != onestop_domain::workflow::Action::Return)
                    .map(|t| walk(def, &t.to, depth + 1))
                    .max()
                    .unwrap_or(0);
                step.time_limit_days.saturating_add(next)
            }
            StepKind::Fork { branches } => branches.iter().map(|b| walk(def, b, depth + 1)).max().unwrap_or(0),
            StepKind::Join { next, .. } => walk(def, next, depth + 1),
        }
    }
    walk(def, &def.start, 0)
}

async fn warnings(
    conn: &mut sqlx::AnyConnection,
    region_id: i64,
    subject: Subject,
    eff: &EffectiveWorkflow,
) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for d in eff.departments.iter().filter(|d| d.resolved.is_none()) {
        out.push(format!(
            "步骤“{}”的办理部门“{}”在本区划及上级区划中不存在，本区划的办件无法分送到该步骤",
            d.step, d.department
        ));
    }
    if let Subject::Service(sid) = subject
        && let Ok(date) = latest_date(conn, sid).await
        && let Ok(e) = cat_store::effective(conn, region_id, sid, date).await
        && let Some(limit) = e.record.promised_limit
        && limit.unit == onestop_domain::catalogue::TimeUnit::WorkingDays
        && limit.value > 0
    {
        let total = longest_path_days(&eff.definition);
        if total > limit.value {
            out.push(format!(
                "各步骤时限合计 {total} 个工作日，超过承诺办结时限 {} 个工作日",
                limit.value
            ));
        }
    }
    Ok(out)
}

async fn latest_date(conn: &mut sqlx::AnyConnection, service_id: i64) -> Result<jiff::civil::Date, StoreError> {
    cat_store::versions(conn, service_id)
        .await?
        .into_iter()
        .filter(|v| v.status == onestop_domain::catalogue::VersionStatus::Published)
        .map(|v| v.effective_from)
        .max()
        .ok_or(StoreError::NotFound)
}

fn summarise(versions: Vec<VersionRow>, in_force_here: Option<i64>, in_force_ids: &[i64]) -> Vec<VersionSummary> {
    versions
        .into_iter()
        .map(|v| VersionSummary {
            in_force: Some(v.id) == in_force_here,
            in_force_at_its_region: in_force_ids.contains(&v.id),
            id: v.id,
            number: v.number,
            region: v.region,
            note: v.note,
            created_at: v.created_at,
            created_by: v.created_by,
        })
        .collect()
}

/// The workflow in force at `region_id` for `subject`, its origin, versions and warnings.
pub async fn view(state: &AppState, p: &Principal, region_id: i64, subject: Subject) -> ApiResult<WorkflowView> {
    let region = readable_region(state, p, region_id).await?;
    let mut c = conn(state).await?;
    let (name, code) = subject_name(&mut c, subject).await?;
    let effective = store::effective_subject(&mut c, region_id, subject).await?;
    let versions = store::versions(&mut c, subject, region_id).await?;
    let ids = store::in_force_ids(&mut c, subject, region_id).await?;
    let warnings = warnings(&mut c, region_id, subject, &effective).await?;
    Ok(WorkflowView {
        subject,
        name,
        code,
        region: origin_region(&region),
        origin_label: origin_label(&effective.origin),
        versions: summarise(versions, effective.version_id, &ids),
        effective,
        warnings,
    })
}

/// One row of a region's workflow list.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowSummary {
    pub subject: Subject,
    pub code: String,
    pub name: String,
    /// Whether the region offers it (a bundle: every member).
    pub enabled: bool,
    pub origin: WorkflowOrigin,
    pub origin_label: String,
    /// The version number in force (None: the generated default).
    pub version_number: Option<i64>,
}

/// Every service in force and every bundle, with where its workflow comes from at `region_id`.
pub async fn list(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Vec<WorkflowSummary>> {
    readable_region(state, p, region_id).await?;
    let mut c = conn(state).await?;
    let origins = store::origins_at(&mut c, region_id).await?;
    let today = crate::catalogue::today(state);
    let services = cat_store::effective_all(&mut c, region_id, today).await?;
    let enabled: HashMap<i64, bool> = services.iter().map(|e| (e.service_id, e.enabled)).collect();
    let mut out = Vec::new();
    let row = |subject: Subject, code: String, name: String, enabled: bool| {
        let (origin, number) = match origins.get(&subject) {
            Some((o, n)) => (o.clone(), Some(*n)),
            None => (WorkflowOrigin::Default, None),
        };
        WorkflowSummary {
            subject,
            code,
            name,
            enabled,
            origin_label: origin_label(&origin),
            origin,
            version_number: number,
        }
    };
    for e in &services {
        out.push(row(
            Subject::Service(e.service_id),
            e.record.base_code.clone(),
            e.record.name.clone(),
            e.enabled,
        ));
    }
    for b in cat_store::bundles(&mut c).await? {
        let on = b.service_ids.iter().all(|s| enabled.get(s).copied().unwrap_or(false));
        out.push(row(Subject::Bundle(b.id), b.code, b.name, on));
    }
    Ok(out)
}

/// Issues as the API's field errors: `steps.<key>` for a step's, `definition` for the whole.
pub fn issue_fields(issues: &[WorkflowIssue]) -> Vec<FieldError> {
    issues
        .iter()
        .map(|i| FieldError {
            field: i
                .step
                .as_ref()
                .map(|k| format!("steps.{k}"))
                .unwrap_or_else(|| "definition".into()),
            code: i.code.to_owned(),
            message: i.message.clone(),
        })
        .collect()
}

/// The 422 for a definition that fails its checks.
pub fn invalid(issues: &[WorkflowIssue]) -> ApiError {
    let mut e = ApiError::validation(
        "workflow_invalid",
        format!("流程定义未通过校验（{} 处问题）", issues.len()),
    );
    e.fields = issue_fields(issues);
    e
}

/// What checking a draft found.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The definition as far as it could be read (drawn even while invalid).
    pub definition: WorkflowDefinition,
    pub issues: Vec<WorkflowIssue>,
}

/// Reads and checks a draft for `region_id`: the rules, and that every task step names a
/// department that exists in the region's chain or below it.
pub async fn check_draft(
    conn: &mut sqlx::AnyConnection,
    region_id: i64,
    draft: &DraftDefinition,
) -> ApiResult<Checked> {
    let (definition, mut issues) = draft.read();
    let known = store::department_names(conn, region_id).await?;
    for s in &definition.steps {
        if let (StepKind::Task, Some(d)) = (&s.kind, &s.department)
            && !known.iter().any(|k| k == d.as_str())
        {
            issues.push(WorkflowIssue {
                code: "department_unknown",
                step: Some(s.key.clone()),
                message: format!("步骤“{}”的办理部门“{}”在本区划、上级及下级区划中都不存在", s.key, d),
            });
        }
    }
    Ok(Checked { definition, issues })
}

/// Checks a draft without saving it (the editor's live check).
pub async fn check(state: &AppState, p: &Principal, region_id: i64, draft: &DraftDefinition) -> ApiResult<Checked> {
    readable_region(state, p, region_id).await?;
    check_draft(&mut *conn(state).await?, region_id, draft).await
}

fn check_note(note: &str) -> ApiResult<String> {
    let note = note.trim();
    if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control) {
        let mut e = ApiError::validation(
            "workflow_note_invalid",
            format!("修改说明不能超过 {MAX_NOTE_CHARS} 个字符"),
        );
        e.fields.push(FieldError {
            field: "note".into(),
            code: "workflow_note_invalid".into(),
            message: e.message.clone(),
        });
        return Err(e);
    }
    Ok(note.to_owned())
}

async fn writable_region(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Region> {
    let region = readable_region(state, p, region_id).await?;
    p.require(Permission::CatalogueWrite, &region.region_path())?;
    Ok(region)
}

/// Saves `draft` as a new version of `region_id` for `subject` and puts it in force there (and
/// below, where nobody defines their own). Every issue is refused at once with 422
/// `workflow_invalid`; nothing is written then.
pub async fn save(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    subject: Subject,
    draft: &DraftDefinition,
    note: &str,
) -> ApiResult<WorkflowView> {
    writable_region(state, p, region_id).await?;
    let note = check_note(note)?;
    {
        let mut c = conn(state).await?;
        // The subject must exist (404) before its definition is judged.
        subject_name(&mut c, subject).await?;
        let checked = check_draft(&mut c, region_id, draft).await?;
        if !checked.issues.is_empty() {
            return Err(invalid(&checked.issues));
        }
    }
    let Ok(definition) = draft.build() else {
        return Err(ApiError::internal());
    };
    let at = state.clock.now();
    let actor = p.actor();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                // Departments can close between the check and the write: check again inside it.
                let checked = check_draft(tx.conn(), region_id, &DraftDefinition::from_definition(&definition))
                    .await
                    .map_err(WriteError::Api)?;
                if !checked.issues.is_empty() {
                    return Err(WriteError::Api(invalid(&checked.issues)));
                }
                let v = store::save(tx, subject, region_id, &definition, &note, at, &actor).await?;
                tx.audit(AuditEntry {
                    region_id,
                    at,
                    actor: actor.clone(),
                    action: "workflow.save",
                    entity: "workflow",
                    entity_id: format!("{}:{}@{region_id}", subject.kind(), subject.id()),
                    detail: json!({"subject": subject.kind(), "subject_id": subject.id(), "version_id": v.id,
                        "number": v.number, "steps": definition.steps.len(), "note": note}),
                })
                .await?;
                Ok::<_, WriteError>(())
            })
        })
        .await
        .map_err(ApiError::from)?;
    view(state, p, region_id, subject).await
}

/// Stops `region_id` defining its own workflow for `subject`: it inherits again.
pub async fn reset(state: &AppState, p: &Principal, region_id: i64, subject: Subject) -> ApiResult<WorkflowView> {
    writable_region(state, p, region_id).await?;
    subject_name(&mut *conn(state).await?, subject).await?;
    let at = state.clock.now();
    let actor = p.actor();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if store::reset(tx, subject, region_id).await? {
                    tx.audit(AuditEntry {
                        region_id,
                        at,
                        actor,
                        action: "workflow.reset",
                        entity: "workflow",
                        entity_id: format!("{}:{}@{region_id}", subject.kind(), subject.id()),
                        detail: json!({"subject": subject.kind(), "subject_id": subject.id()}),
                    })
                    .await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    view(state, p, region_id, subject).await
}

/// A saved version, for anyone who works in its region's tree (above it or below it: a county
/// reads the province's version it inherits).
pub async fn version(state: &AppState, p: &Principal, version_id: i64) -> ApiResult<VersionRow> {
    let mut c = conn(state).await?;
    let v = store::version_row(&mut c, version_id).await?;
    let region = regions::get(&mut *c, v.region.id).await?;
    let path = region.region_path();
    let related = p.grants.iter().any(|g| {
        g.role.allows(Permission::RegionRead) && (g.region_path.contains(&path) || path.contains(&g.region_path))
    });
    if !related {
        return Err(ApiError::not_found());
    }
    Ok(v)
}

/// An error inside a write: the store's, or a use-case refusal found inside the transaction.
pub(crate) enum WriteError {
    Store(StoreError),
    Api(ApiError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Store(s) => s.into(),
            WriteError::Api(a) => a,
        }
    }
}
