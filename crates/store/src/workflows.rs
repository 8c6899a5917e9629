//! Workflow definitions (审批流程) in the database, inherited live down the region tree like the rest
//! of the catalogue: each save is an immutable version of one region for one service or bundle; a
//! region that defines its own has one of its versions in force; every other region uses the
//! nearest definition above it, or — where nobody defines one — a default generated from the
//! catalogue (`simple_approval` of the implementation's effective department; for a bundle,
//! `bundle_parallel` over its members' departments). Nothing is copied, so the province's new
//! version reaches every county that has not defined its own at once, and a running case keeps the
//! version it started with ([`version`]).
//!
//! Steps name their department by name; [`resolve_department`] finds it in the case's region (see
//! `onestop_domain::workflow::DepartmentRef` for the rule).
//!
//! Reads take a connection (`&mut AnyConnection`), so the same function serves a request (a pooled
//! read connection) and a write job (`tx.conn()`, seeing its own writes).
use crate::catalogue::{self, OriginRegion};
use crate::regions::{self, Region};
use crate::{StoreError, Tx, ms};
use jiff::civil::Date;
use onestop_domain::catalogue::VersionStatus;
use onestop_domain::workflow::{
    DepartmentRef, StepKey, StepKind, WorkflowDefinition, bundle_parallel, simple_approval,
};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// What a workflow belongs to: a service's implementation, or a bundle (一件事).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    Service(i64),
    Bundle(i64),
}

impl Subject {
    pub fn kind(self) -> &'static str {
        match self {
            Self::Service(_) => "service",
            Self::Bundle(_) => "bundle",
        }
    }
    pub fn id(self) -> i64 {
        match self {
            Self::Service(id) | Self::Bundle(id) => id,
        }
    }
    fn from_parts(kind: &str, id: i64) -> Result<Self, StoreError> {
        match kind {
            "service" => Ok(Self::Service(id)),
            "bundle" => Ok(Self::Bundle(id)),
            other => Err(StoreError::Corrupt(format!("workflow subject {other}"))),
        }
    }
}

/// Where the workflow in force at a region comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum WorkflowOrigin {
    /// Nobody on the chain defines one: generated from the catalogue (默认流程).
    Default,
    /// Defined by a region above (继承自 静江省).
    Inherited { region: OriginRegion },
    /// Defined by the region itself (本级设置).
    Own { region: OriginRegion },
}

/// A department as a step's name resolved to it in some region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedDepartment {
    pub id: i64,
    pub name: String,
    pub region: OriginRegion,
}

/// A task step's department at the region asked about; `resolved` is None when neither that
/// region nor any region above it has a department of that name (the case cannot be routed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepDepartment {
    pub step: StepKey,
    pub department: DepartmentRef,
    pub resolved: Option<ResolvedDepartment>,
}

/// The workflow in force at a region for a service or bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveWorkflow {
    /// The version in force; `None`: nobody defines one and `definition` is the generated default
    /// (a case then keeps the definition itself).
    pub version_id: Option<i64>,
    pub definition: WorkflowDefinition,
    pub origin: WorkflowOrigin,
    /// The version's number at the region that saved it.
    pub version_number: Option<i64>,
    pub subject: Subject,
    /// The region asked about.
    pub region_id: i64,
    /// Every task step's department, resolved at `region_id`.
    pub departments: Vec<StepDepartment>,
}

/// One saved version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionRow {
    pub id: i64,
    pub subject: Subject,
    /// The region that saved it.
    pub region: OriginRegion,
    pub number: i64,
    pub definition: WorkflowDefinition,
    pub note: String,
    pub created_at: i64,
    pub created_by: String,
}

fn origin_of(r: &Region) -> OriginRegion {
    OriginRegion {
        id: r.id,
        code: r.code.clone(),
        name: r.name.clone(),
    }
}

fn parse_definition(raw: &str) -> Result<WorkflowDefinition, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("stored workflow definition: {e}")))
}

const VERSION_SQL: &str = "SELECT v.id, v.subject, v.subject_id, v.number, v.definition, v.note, v.created_at, \
     v.created_by, r.id AS region_id, r.code AS region_code, r.name AS region_name \
     FROM workflow_versions v JOIN regions r ON r.id = v.region_id";

fn version_from_row(row: &sqlx::any::AnyRow) -> Result<VersionRow, StoreError> {
    let subject: String = row.try_get("subject")?;
    let definition: String = row.try_get("definition")?;
    Ok(VersionRow {
        id: row.try_get("id")?,
        subject: Subject::from_parts(&subject, row.try_get("subject_id")?)?,
        region: OriginRegion {
            id: row.try_get("region_id")?,
            code: row.try_get("region_code")?,
            name: row.try_get("region_name")?,
        },
        number: row.try_get("number")?,
        definition: parse_definition(&definition)?,
        note: row.try_get("note")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
    })
}

/// The definition of a saved version: what a case that pinned `version_id` runs on.
pub async fn version(conn: &mut AnyConnection, version_id: i64) -> Result<WorkflowDefinition, StoreError> {
    Ok(version_row(conn, version_id).await?.definition)
}

/// A saved version with who saved it where.
pub async fn version_row(conn: &mut AnyConnection, version_id: i64) -> Result<VersionRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{VERSION_SQL} WHERE v.id = $1")))
        .bind(version_id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    version_from_row(&row)
}

/// Every version saved for `subject` by `region_id` or a region above it (what the region
/// inherits, and its own), newest first.
pub async fn versions(
    conn: &mut AnyConnection,
    subject: Subject,
    region_id: i64,
) -> Result<Vec<VersionRow>, StoreError> {
    let leaf = regions::get(&mut *conn, region_id).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VERSION_SQL} WHERE v.subject = $1 AND v.subject_id = $2 AND $3 LIKE r.path || '%' \
         ORDER BY v.created_at DESC, v.id DESC"
    )))
    .bind(subject.kind())
    .bind(subject.id())
    .bind(&leaf.path)
    .fetch_all(conn)
    .await?;
    rows.iter().map(version_from_row).collect()
}

/// The version in force at each region of `chain` that defines its own (region id → version id).
async fn in_force_on_chain(
    conn: &mut AnyConnection,
    subject: Subject,
    leaf: &Region,
) -> Result<HashMap<i64, i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT f.region_id, f.version_id FROM workflow_in_force f JOIN regions r ON r.id = f.region_id \
         WHERE f.subject = $1 AND f.subject_id = $2 AND $3 LIKE r.path || '%'",
    )
    .bind(subject.kind())
    .bind(subject.id())
    .bind(&leaf.path)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("region_id")?, r.try_get("version_id")?)))
        .collect()
}

/// Version ids in force at `region_id` itself and above it, for the history view.
pub async fn in_force_ids(conn: &mut AnyConnection, subject: Subject, region_id: i64) -> Result<Vec<i64>, StoreError> {
    let leaf = regions::get(&mut *conn, region_id).await?;
    Ok(in_force_on_chain(conn, subject, &leaf).await?.into_values().collect())
}

/// Checks that the subject exists and that `chain` lies in its owner's tree.
async fn check_subject(conn: &mut AnyConnection, subject: Subject, chain: &[Region]) -> Result<(), StoreError> {
    let owner = match subject {
        Subject::Service(id) => catalogue::service(conn, id).await?.owner_region_id,
        Subject::Bundle(id) => catalogue::bundle(conn, id).await?.owner_region_id,
    };
    if chain.iter().any(|r| r.id == owner) {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// The date whose catalogue version gives the default's department: `date`, or the day the newest
/// published version took effect.
async fn catalogue_date(conn: &mut AnyConnection, service_id: i64, date: Option<Date>) -> Result<Date, StoreError> {
    if let Some(d) = date {
        return Ok(d);
    }
    catalogue::versions(conn, service_id)
        .await?
        .into_iter()
        .filter(|v| v.status == VersionStatus::Published)
        .map(|v| v.effective_from)
        .max()
        .ok_or(StoreError::NotFound)
}

/// The implementation's effective department (办理部门) at the region.
async fn service_department(
    conn: &mut AnyConnection,
    region_id: i64,
    service_id: i64,
    date: Option<Date>,
) -> Result<DepartmentRef, StoreError> {
    let date = catalogue_date(conn, service_id, date).await?;
    let e = catalogue::effective(conn, region_id, service_id, date).await?;
    Ok(DepartmentRef::new(e.record.department_name.trim()))
}

/// The generated default for a subject at a region (see the module docs).
pub async fn default_definition(
    conn: &mut AnyConnection,
    region_id: i64,
    subject: Subject,
    date: Option<Date>,
) -> Result<WorkflowDefinition, StoreError> {
    match subject {
        Subject::Service(id) => Ok(simple_approval(&service_department(conn, region_id, id, date).await?)),
        Subject::Bundle(id) => {
            let bundle = catalogue::bundle(conn, id).await?;
            let mut departments: Vec<DepartmentRef> = Vec::new();
            for sid in &bundle.service_ids {
                let d = service_department(conn, region_id, *sid, date).await?;
                // Two members decided by one department are one branch of the fan-out.
                if !departments.contains(&d) {
                    departments.push(d);
                }
            }
            Ok(bundle_parallel(&departments)?)
        }
    }
}

async fn resolve(
    conn: &mut AnyConnection,
    region_id: i64,
    subject: Subject,
    date: Option<Date>,
) -> Result<EffectiveWorkflow, StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?.clone();
    check_subject(conn, subject, &chain).await?;
    let in_force = in_force_on_chain(conn, subject, &leaf).await?;
    // The deepest region on the chain that defines one wins.
    let defined = chain.iter().rev().find_map(|r| in_force.get(&r.id).map(|v| (r, *v)));
    let (version_id, version_number, definition, origin) = match defined {
        Some((r, vid)) => {
            let v = version_row(conn, vid).await?;
            let origin = if r.id == leaf.id {
                WorkflowOrigin::Own { region: origin_of(r) }
            } else {
                WorkflowOrigin::Inherited { region: origin_of(r) }
            };
            (Some(v.id), Some(v.number), v.definition, origin)
        }
        None => (
            None,
            None,
            default_definition(conn, region_id, subject, date).await?,
            WorkflowOrigin::Default,
        ),
    };
    let departments = step_departments(conn, &chain, &definition).await?;
    Ok(EffectiveWorkflow {
        version_id,
        definition,
        origin,
        version_number,
        subject,
        region_id,
        departments,
    })
}

/// The workflow in force at `region_id` for a service: the nearest definition on the region's chain,
/// else the generated default (its department from the newest published catalogue version).
pub async fn effective(
    conn: &mut AnyConnection,
    region_id: i64,
    service_id: i64,
) -> Result<EffectiveWorkflow, StoreError> {
    resolve(conn, region_id, Subject::Service(service_id), None).await
}

/// As [`effective`], the default's department taken from the catalogue version in force on `date`.
pub async fn effective_on(
    conn: &mut AnyConnection,
    region_id: i64,
    service_id: i64,
    date: Date,
) -> Result<EffectiveWorkflow, StoreError> {
    resolve(conn, region_id, Subject::Service(service_id), Some(date)).await
}

/// The workflow in force at `region_id` for a bundle (一件事): the nearest definition, else a
/// parallel fan-out to every member's department.
pub async fn effective_for_bundle(
    conn: &mut AnyConnection,
    region_id: i64,
    bundle_id: i64,
) -> Result<EffectiveWorkflow, StoreError> {
    resolve(conn, region_id, Subject::Bundle(bundle_id), None).await
}

/// As [`effective_for_bundle`], with the members' catalogue versions in force on `date`.
pub async fn effective_for_bundle_on(
    conn: &mut AnyConnection,
    region_id: i64,
    bundle_id: i64,
    date: Date,
) -> Result<EffectiveWorkflow, StoreError> {
    resolve(conn, region_id, Subject::Bundle(bundle_id), Some(date)).await
}

/// Either effective function, by subject.
pub async fn effective_subject(
    conn: &mut AnyConnection,
    region_id: i64,
    subject: Subject,
) -> Result<EffectiveWorkflow, StoreError> {
    resolve(conn, region_id, subject, None).await
}

/// Where the workflow of each subject that someone on the chain defines comes from at `region_id`
/// (subjects absent from the map use the generated default), with the version number in force.
pub async fn origins_at(
    conn: &mut AnyConnection,
    region_id: i64,
) -> Result<HashMap<Subject, (WorkflowOrigin, i64)>, StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?;
    let rows = sqlx::query(
        "SELECT f.subject, f.subject_id, f.region_id, v.number FROM workflow_in_force f \
         JOIN regions r ON r.id = f.region_id JOIN workflow_versions v ON v.id = f.version_id \
         WHERE $1 LIKE r.path || '%'",
    )
    .bind(&leaf.path)
    .fetch_all(&mut *conn)
    .await?;
    let depth = |id: i64| chain.iter().position(|r| r.id == id);
    let mut best: HashMap<Subject, (usize, i64)> = HashMap::new();
    for row in &rows {
        let kind: String = row.try_get("subject")?;
        let subject = Subject::from_parts(&kind, row.try_get("subject_id")?)?;
        let Some(d) = depth(row.try_get("region_id")?) else {
            continue;
        };
        let number: i64 = row.try_get("number")?;
        if best.get(&subject).is_none_or(|(bd, _)| d > *bd) {
            best.insert(subject, (d, number));
        }
    }
    Ok(best
        .into_iter()
        .map(|(s, (d, number))| {
            let r = &chain[d];
            let origin = if r.id == leaf.id {
                WorkflowOrigin::Own { region: origin_of(r) }
            } else {
                WorkflowOrigin::Inherited { region: origin_of(r) }
            };
            (s, (origin, number))
        })
        .collect())
}

// ---- departments --------------------------------------------------------------------------------

struct DeptRow {
    id: i64,
    region_id: i64,
    name: String,
}

async fn departments_on_chain(conn: &mut AnyConnection, leaf: &Region) -> Result<Vec<DeptRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.id, d.region_id, d.name FROM departments d JOIN regions r ON r.id = d.region_id \
         WHERE $1 LIKE r.path || '%' AND d.closed_at IS NULL ORDER BY d.id",
    )
    .bind(&leaf.path)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeptRow {
                id: r.try_get("id")?,
                region_id: r.try_get("region_id")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

/// Whether the department `d` of region `r` answers to `name`: its own name, or its region's name
/// followed by it (久安市 + 市场监督管理局).
fn answers_to(r: &Region, d_name: &str, name: &str) -> bool {
    d_name == name || name.strip_prefix(r.name.as_str()) == Some(d_name)
}

fn resolve_on(chain: &[Region], depts: &[DeptRow], name: &str) -> Option<ResolvedDepartment> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    // The case's own region first, then up the tree.
    chain.iter().rev().find_map(|r| {
        depts
            .iter()
            .find(|d| d.region_id == r.id && answers_to(r, &d.name, name))
            .map(|d| ResolvedDepartment {
                id: d.id,
                name: d.name.clone(),
                region: origin_of(r),
            })
    })
}

/// The department a step naming `name` lands at for a case of `region_id`: a department of that
/// name in the region, else in the nearest region above it; a name with a region's name in front
/// (`久安市市场监督管理局`) is that region's department. Closed departments do not count.
pub async fn resolve_department(
    conn: &mut AnyConnection,
    region_id: i64,
    name: &str,
) -> Result<Option<ResolvedDepartment>, StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?;
    let depts = departments_on_chain(conn, leaf).await?;
    Ok(resolve_on(&chain, &depts, name))
}

async fn step_departments(
    conn: &mut AnyConnection,
    chain: &[Region],
    def: &WorkflowDefinition,
) -> Result<Vec<StepDepartment>, StoreError> {
    let Some(leaf) = chain.last() else {
        return Ok(Vec::new());
    };
    let depts = departments_on_chain(conn, leaf).await?;
    Ok(def
        .steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Task))
        .filter_map(|s| {
            s.department.as_ref().map(|d| StepDepartment {
                step: s.key.clone(),
                department: d.clone(),
                resolved: resolve_on(chain, &depts, d.as_str()),
            })
        })
        .collect())
}

/// Department names a definition saved at `region_id` may use: those of the region and the regions
/// above it (also with their region's name in front), and those of the regions below it, where the
/// cases of an inherited definition are routed. Sorted, without repeats.
pub async fn department_names(conn: &mut AnyConnection, region_id: i64) -> Result<Vec<String>, StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?.clone();
    let mut names: Vec<String> = Vec::new();
    for d in departments_on_chain(conn, &leaf).await? {
        if let Some(r) = chain.iter().find(|r| r.id == d.region_id) {
            names.push(format!("{}{}", r.name, d.name));
        }
        names.push(d.name);
    }
    let below = sqlx::query(
        "SELECT DISTINCT d.name FROM departments d JOIN regions r ON r.id = d.region_id \
         WHERE r.path LIKE $1 AND d.closed_at IS NULL",
    )
    .bind(format!("{}%", leaf.path))
    .fetch_all(conn)
    .await?;
    for row in &below {
        names.push(row.try_get("name")?);
    }
    names.sort();
    names.dedup();
    Ok(names)
}

// ---- writes -------------------------------------------------------------------------------------

/// Saves `definition` (already validated by the caller) as the next version of `region_id` for
/// `subject`, and puts it in force there.
pub async fn save(
    tx: &mut Tx,
    subject: Subject,
    region_id: i64,
    definition: &WorkflowDefinition,
    note: &str,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<VersionRow, StoreError> {
    let chain = regions::chain(tx.conn(), region_id).await?;
    check_subject(tx.conn(), subject, &chain).await?;
    let number: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM workflow_versions WHERE subject = $1 AND subject_id = $2 AND region_id = $3",
    )
    .bind(subject.kind())
    .bind(subject.id())
    .bind(region_id)
    .fetch_one(tx.conn())
    .await?;
    let json = serde_json::to_string(definition).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let inserted: Result<i64, StoreError> = sqlx::query_scalar(
        "INSERT INTO workflow_versions (subject, subject_id, region_id, number, definition, note, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(subject.kind())
    .bind(subject.id())
    .bind(region_id)
    .bind(number)
    .bind(json)
    .bind(note)
    .bind(ms(at))
    .bind(actor)
    .fetch_one(tx.conn())
    .await
    .map_err(StoreError::from);
    let id = match inserted {
        Ok(id) => id,
        // Another save of the same region and subject took this number first (PostgreSQL).
        Err(StoreError::Conflict { .. }) => {
            return Err(StoreError::conflict(
                "workflow_save_conflict",
                "另一位管理员同时保存了该流程，请刷新后重试",
            ));
        }
        Err(e) => return Err(e),
    };
    sqlx::query(
        "INSERT INTO workflow_in_force (subject, subject_id, region_id, version_id, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject, subject_id, region_id) DO UPDATE SET \
         version_id = excluded.version_id, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(subject.kind())
    .bind(subject.id())
    .bind(region_id)
    .bind(id)
    .bind(ms(at))
    .bind(actor)
    .execute(tx.conn())
    .await?;
    version_row(tx.conn(), id).await
}

/// Stops `region_id` defining its own workflow for `subject`: it inherits again. Its versions stay
/// (cases may run on them). Returns whether it had one in force.
pub async fn reset(tx: &mut Tx, subject: Subject, region_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM workflow_in_force WHERE subject = $1 AND subject_id = $2 AND region_id = $3")
        .bind(subject.kind())
        .bind(subject.id())
        .bind(region_id)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}
