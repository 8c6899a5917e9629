//! The service catalogue in the database: base services and their versions, regions' implementation
//! lists, bundles and uploaded workbooks.
//!
//! Inherited, not copied: an implementation row holds only what a region says itself (whether it
//! offers the service, and the fields it overrides). [`effective`] resolves a region's guide at read
//! time over the chain of ancestors (root → leaf) on top of the base version in force, so a change at
//! the city shows at once in every county that has not overridden that field.
//!
//! Every read takes a connection (`&mut AnyConnection`), so the same function serves a request (a
//! pooled read connection) and a write job (`tx.conn()`, seeing its own writes).
use crate::regions::Region;
use crate::{StoreError, Tx, ms};
use jiff::civil::Date;
use onestop_domain::catalogue::{
    EffectiveImplementation, ImplementationOverrides, MaterialRecord, RegionOverrides, ServiceLevel, ServiceRecord,
    Version, VersionStatus, effective_version, resolve_implementation,
};
use onestop_domain::form::FormDefinition;
use onestop_domain::region::RegionLevel;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// What one version holds: the record, its materials and its application form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionContent {
    pub record: ServiceRecord,
    #[serde(default)]
    pub materials: Vec<MaterialRecord>,
    #[serde(default)]
    pub form: FormDefinition,
}

/// A base catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ServiceRow {
    pub id: i64,
    pub owner_region_id: i64,
    pub base_code: String,
    pub name: String,
    pub department_name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored version of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    pub id: i64,
    pub service_id: i64,
    pub number: i64,
    pub status: VersionStatus,
    pub effective_from: Date,
    pub effective_until: Option<Date>,
    pub content: VersionContent,
    pub published_at: Option<i64>,
    pub updated_at: i64,
}

impl VersionRow {
    fn as_domain(&self) -> Version<i64> {
        Version {
            number: u32::try_from(self.number).unwrap_or(u32::MAX),
            status: self.status,
            effective_from: self.effective_from,
            effective_until: self.effective_until,
            content: self.id,
        }
    }
}

/// What a region says about a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImplementationRow {
    pub region_id: i64,
    pub service_id: i64,
    /// `None`: inherit whether the service is offered.
    pub enabled: Option<bool>,
    pub overrides: ImplementationOverrides,
    pub updated_at: i64,
}

/// A region as an origin of an effective value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OriginRegion {
    pub id: i64,
    pub code: String,
    pub name: String,
}

/// A region's guide for a service on a date: the version in force, the record with every effective
/// value put in, and where each overridable value came from. A case pins `service_version_id` and
/// keeps `record`, `materials` and `form` as they were when it was applied for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub service_id: i64,
    pub service_version_id: i64,
    pub version_number: i64,
    pub region: OriginRegion,
    /// Whether the region offers the service, and who decided it (`None`: nobody switched it on).
    pub enabled: bool,
    pub enabled_origin: Option<OriginRegion>,
    pub record: ServiceRecord,
    pub materials: Vec<MaterialRecord>,
    pub form: FormDefinition,
    pub origins: EffectiveImplementation<OriginRegion>,
    /// The region's own overrides (what "reset" removes).
    pub own: ImplementationOverrides,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn parse_date(raw: &str) -> Result<Date, StoreError> {
    raw.parse().map_err(|_| corrupt(format!("bad date {raw}")))
}

/// The 行使层级 of a service implemented by a region of this level.
pub fn level_of(region_level: RegionLevel) -> ServiceLevel {
    match region_level {
        RegionLevel::Province => ServiceLevel::Province,
        RegionLevel::City => ServiceLevel::City,
        RegionLevel::County => ServiceLevel::County,
        RegionLevel::Township => ServiceLevel::Township,
        RegionLevel::Community => ServiceLevel::Community,
    }
}

const VERSION_COLS: &str =
    "id, service_id, number, status, effective_from, effective_until, content, published_at, updated_at";

fn version_from_row(row: &sqlx::any::AnyRow) -> Result<VersionRow, StoreError> {
    let status: String = row.try_get("status")?;
    let content: String = row.try_get("content")?;
    let from: String = row.try_get("effective_from")?;
    let until: Option<String> = row.try_get("effective_until")?;
    Ok(VersionRow {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        number: row.try_get("number")?,
        status: VersionStatus::parse(&status).map_err(corrupt)?,
        effective_from: parse_date(&from)?,
        effective_until: until.as_deref().map(parse_date).transpose()?,
        content: serde_json::from_str(&content).map_err(corrupt)?,
        published_at: row.try_get("published_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn implementation_from_row(row: &sqlx::any::AnyRow) -> Result<ImplementationRow, StoreError> {
    let enabled: Option<i64> = row.try_get("enabled")?;
    let overrides: String = row.try_get("overrides")?;
    Ok(ImplementationRow {
        region_id: row.try_get("region_id")?,
        service_id: row.try_get("service_id")?,
        enabled: enabled.map(|e| e != 0),
        overrides: serde_json::from_str(&overrides).map_err(corrupt)?,
        updated_at: row.try_get("updated_at")?,
    })
}

// ---- reads -------------------------------------------------------------------------------------

/// The catalogue's generation, bumped by every catalogue write (for cache validation).
pub async fn generation(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT generation FROM catalogue_state WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

const SERVICE_COLS: &str = "id, owner_region_id, base_code, name, department_name, created_at, updated_at";

pub async fn service(conn: &mut AnyConnection, id: i64) -> Result<ServiceRow, StoreError> {
    sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLS} FROM services WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn service_by_code(conn: &mut AnyConnection, base_code: &str) -> Result<Option<ServiceRow>, StoreError> {
    Ok(sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLS} FROM services WHERE base_code = $1"
    )))
    .bind(base_code)
    .fetch_optional(conn)
    .await?)
}

/// Every base service, by base code.
pub async fn services(conn: &mut AnyConnection) -> Result<Vec<ServiceRow>, StoreError> {
    Ok(sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLS} FROM services ORDER BY base_code"
    )))
    .fetch_all(conn)
    .await?)
}

/// Every version of a service, newest first.
pub async fn versions(conn: &mut AnyConnection, service_id: i64) -> Result<Vec<VersionRow>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLS} FROM service_versions WHERE service_id = $1 ORDER BY number DESC"
    )))
    .bind(service_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(version_from_row).collect()
}

/// One version by id: what a case that pinned it reads.
pub async fn version(conn: &mut AnyConnection, id: i64) -> Result<VersionRow, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLS} FROM service_versions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    version_from_row(&row)
}

pub use crate::regions::chain;

/// Implementation rows of the regions on `chain` (for one service, or all).
async fn chain_rows(
    conn: &mut AnyConnection,
    leaf: &Region,
    service_id: Option<i64>,
) -> Result<Vec<ImplementationRow>, StoreError> {
    let base = "SELECT i.region_id, i.service_id, i.enabled, i.overrides, i.updated_at FROM implementations i \
                JOIN regions r ON r.id = i.region_id WHERE $1 LIKE r.path || '%'";
    let rows = match service_id {
        Some(sid) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} AND i.service_id = $2")))
                .bind(&leaf.path)
                .bind(sid)
                .fetch_all(conn)
                .await?
        }
        None => sqlx::query(base).bind(&leaf.path).fetch_all(conn).await?,
    };
    rows.iter().map(implementation_from_row).collect()
}

/// The rows a region itself holds.
pub async fn own_rows(conn: &mut AnyConnection, region_id: i64) -> Result<Vec<ImplementationRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT region_id, service_id, enabled, overrides, updated_at FROM implementations WHERE region_id = $1",
    )
    .bind(region_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(implementation_from_row).collect()
}

fn origin_of(r: &Region) -> OriginRegion {
    OriginRegion {
        id: r.id,
        code: r.code.clone(),
        name: r.name.clone(),
    }
}

/// Resolves one service for the leaf of `chain` given its version in force and the chain's rows.
fn resolve(chain: &[Region], version: &VersionRow, rows: &[&ImplementationRow]) -> Effective {
    let leaf = chain.last();
    let mut enabled = false;
    let mut enabled_origin = None;
    let mut overrides = Vec::with_capacity(chain.len());
    let mut own = ImplementationOverrides::default();
    for region in chain {
        let row = rows.iter().find(|r| r.region_id == region.id);
        if let Some(row) = row {
            if let Some(e) = row.enabled {
                enabled = e;
                enabled_origin = Some(origin_of(region));
            }
            if Some(region.id) == leaf.map(|l| l.id) {
                own = row.overrides.clone();
            }
            overrides.push(RegionOverrides {
                region: origin_of(region),
                overrides: row.overrides.clone(),
            });
        }
    }
    let base = &version.content.record;
    let origins = resolve_implementation(base, &overrides);
    let mut record = origins.apply_to(base);
    // 行使层级 and 实施编码 follow from who implements it: the leaf's level and body.
    if let Some(level) = leaf.and_then(Region::level) {
        record.level = level_of(level);
        if !record.implementing_body_credit_code.trim().is_empty() {
            record.implementation_code = format!(
                "{}{}{}",
                record.implementing_body_credit_code,
                record.level.code(),
                record.base_code
            );
        }
    }
    Effective {
        service_id: version.service_id,
        service_version_id: version.id,
        version_number: version.number,
        region: leaf.map(origin_of).unwrap_or(OriginRegion {
            id: 0,
            code: String::new(),
            name: String::new(),
        }),
        enabled,
        enabled_origin,
        record,
        materials: version.content.materials.clone(),
        form: version.content.form.clone(),
        origins,
        own,
    }
}

/// The published version of a service in force on `date`.
pub async fn version_in_force(
    conn: &mut AnyConnection,
    service_id: i64,
    date: Date,
) -> Result<Option<VersionRow>, StoreError> {
    let all = versions(conn, service_id).await?;
    let domain: Vec<Version<i64>> = all.iter().map(VersionRow::as_domain).collect();
    let id = effective_version(&domain, date).map(|v| v.content);
    Ok(id.and_then(|id| all.into_iter().find(|v| v.id == id)))
}

/// A region's guide for one service on `date` (see [`Effective`]). `NotFound` when the region or
/// service does not exist or no published version is in force; a service the region does not offer
/// comes back with `enabled: false` so that admin pages can still show it.
pub async fn effective(
    conn: &mut AnyConnection,
    region_id: i64,
    service_id: i64,
    date: Date,
) -> Result<Effective, StoreError> {
    let chain = chain(conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?.clone();
    let version = version_in_force(conn, service_id, date)
        .await?
        .ok_or(StoreError::NotFound)?;
    let rows = chain_rows(conn, &leaf, Some(service_id)).await?;
    let refs: Vec<&ImplementationRow> = rows.iter().collect();
    Ok(resolve(&chain, &version, &refs))
}

/// Every service with a version in force on `date`, resolved for the region (offered or not), by
/// base code. One query per table, whatever the catalogue's size.
pub async fn effective_all(conn: &mut AnyConnection, region_id: i64, date: Date) -> Result<Vec<Effective>, StoreError> {
    let versions = published_versions(conn).await?;
    effective_all_with(conn, region_id, date, &versions).await
}

// report
/// Every published version, parsed once: a rollout run reads them once and shares them across its
/// targets instead of re-reading the whole catalogue per target.
#[derive(Debug, Default)]
pub struct PublishedVersions(HashMap<i64, Vec<VersionRow>>);

pub async fn published_versions(conn: &mut AnyConnection) -> Result<PublishedVersions, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLS} FROM service_versions WHERE status = 'published'"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut by_service: HashMap<i64, Vec<VersionRow>> = HashMap::new();
    for row in &rows {
        let v = version_from_row(row)?;
        by_service.entry(v.service_id).or_default().push(v);
    }
    Ok(PublishedVersions(by_service))
}

/// [`effective_all`] over versions already read.
pub async fn effective_all_with(
    conn: &mut AnyConnection,
    region_id: i64,
    date: Date,
    versions: &PublishedVersions,
) -> Result<Vec<Effective>, StoreError> {
    let chain = chain(conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?.clone();
    let by_service = &versions.0;
    let impl_rows = chain_rows(conn, &leaf, None).await?;
    let mut impls: HashMap<i64, Vec<&ImplementationRow>> = HashMap::new();
    for r in &impl_rows {
        impls.entry(r.service_id).or_default().push(r);
    }
    let mut out = Vec::with_capacity(by_service.len());
    for versions in by_service.values() {
        let domain: Vec<Version<i64>> = versions.iter().map(VersionRow::as_domain).collect();
        let Some(id) = effective_version(&domain, date).map(|v| v.content) else {
            continue;
        };
        let Some(version) = versions.iter().find(|v| v.id == id) else {
            continue;
        };
        let rows = impls.get(&version.service_id).map(Vec::as_slice).unwrap_or(&[]);
        out.push(resolve(&chain, version, rows));
    }
    out.sort_by(|a, b| a.record.base_code.cmp(&b.record.base_code));
    Ok(out)
}

/// The open regions with at least one open hall, in tree order: those whose guides the public
/// portal shows (one query, as every public search asks for them).
pub async fn public_regions(conn: &mut AnyConnection) -> Result<Vec<Region>, StoreError> {
    Ok(sqlx::query_as::<_, Region>(
        "SELECT r.id, r.code, r.name, r.level, r.parent_id, r.path, r.closed_at FROM regions r
         WHERE r.closed_at IS NULL
           AND EXISTS (SELECT 1 FROM halls h WHERE h.region_id = r.id AND h.closed_at IS NULL)
         ORDER BY r.path",
    )
    .fetch_all(conn)
    .await?)
}

// ---- writes ------------------------------------------------------------------------------------

/// Marks the catalogue changed; every catalogue write calls it in its transaction.
pub async fn bump(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query("UPDATE catalogue_state SET generation = generation + 1 WHERE id = 1")
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn content_json(content: &VersionContent) -> Result<String, StoreError> {
    serde_json::to_string(content).map_err(corrupt)
}

/// Creates a base service with its first version (a draft, or published from `effective_from`).
pub async fn create_service(
    tx: &mut Tx,
    owner_region_id: i64,
    content: &VersionContent,
    status: VersionStatus,
    effective_from: Date,
    at: jiff::Timestamp,
) -> Result<(ServiceRow, VersionRow), StoreError> {
    let code = &content.record.base_code;
    if service_by_code(tx.conn(), code).await?.is_some() {
        return Err(StoreError::conflict(
            "duplicate_base_code",
            format!("基本编码 {code} 已存在"),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO services (owner_region_id, base_code, name, department_name, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(owner_region_id)
    .bind(code)
    .bind(&content.record.name)
    .bind(&content.record.department_name)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    let v = insert_version(tx, id, 1, status, effective_from, content, at).await?;
    bump(tx).await?;
    Ok((service(tx.conn(), id).await?, v))
}

async fn insert_version(
    tx: &mut Tx,
    service_id: i64,
    number: i64,
    status: VersionStatus,
    effective_from: Date,
    content: &VersionContent,
    at: jiff::Timestamp,
) -> Result<VersionRow, StoreError> {
    let published = (status == VersionStatus::Published).then(|| ms(at));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO service_versions (service_id, number, status, effective_from, effective_until, content, created_at, updated_at, published_at)
         VALUES ($1, $2, $3, $4, NULL, $5, $6, $6, $7) RETURNING id",
    )
    .bind(service_id)
    .bind(number)
    .bind(status.code())
    .bind(effective_from.to_string())
    .bind(content_json(content)?)
    .bind(ms(at))
    .bind(published)
    .fetch_one(tx.conn())
    .await?;
    version(tx.conn(), id).await
}

async fn touch_service(
    tx: &mut Tx,
    service_id: i64,
    record: &ServiceRecord,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE services SET name = $1, department_name = $2, updated_at = $3 WHERE id = $4")
        .bind(&record.name)
        .bind(&record.department_name)
        .bind(ms(at))
        .bind(service_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// What an editor saw before saving: the open draft's id and a digest of its content and date, or
/// `"new"` when there was no draft (the editor started from a published version). Saving with a
/// token that no longer matches is a conflict, so two people editing at once cannot silently
/// overwrite each other (a digest rather than `updated_at`, which two saves in the same
/// millisecond would share).
pub fn draft_token(draft: Option<&VersionRow>) -> String {
    use sha2::{Digest, Sha256};
    match draft {
        None => "new".into(),
        Some(v) => {
            let mut h = Sha256::new();
            h.update(serde_json::to_vec(&v.content).unwrap_or_default());
            h.update(v.effective_from.to_string().as_bytes());
            format!("{}:{}", v.id, &hex::encode(h.finalize())[..16])
        }
    }
}

/// Saves the draft of a service: updates the open draft, or starts a new one numbered after the
/// newest version. The base code cannot change (it is the service's identity). With `expected`
/// (a [`draft_token`]), refuses with `draft_changed` when the draft is no longer what the editor saw.
pub async fn save_draft(
    tx: &mut Tx,
    service_id: i64,
    content: &VersionContent,
    effective_from: Date,
    at: jiff::Timestamp,
    expected: Option<&str>,
) -> Result<VersionRow, StoreError> {
    let svc = service(tx.conn(), service_id).await?;
    if svc.base_code != content.record.base_code {
        return Err(onestop_domain::DomainError::invalid(
            "base_code_immutable",
            "base_code",
            "基本编码是事项的标识，不能修改",
        )
        .into());
    }
    let all = versions(tx.conn(), service_id).await?;
    let open = all.iter().find(|v| v.status == VersionStatus::Draft);
    if let Some(expected) = expected
        && draft_token(open) != expected
    {
        return Err(StoreError::conflict(
            "draft_changed",
            "草稿在您编辑期间已被他人修改或发布，请重新打开草稿后再修改",
        ));
    }
    let v = match open {
        Some(draft) => {
            sqlx::query("UPDATE service_versions SET content = $1, effective_from = $2, updated_at = $3 WHERE id = $4")
                .bind(content_json(content)?)
                .bind(effective_from.to_string())
                .bind(ms(at))
                .bind(draft.id)
                .execute(tx.conn())
                .await?;
            version(tx.conn(), draft.id).await?
        }
        None => {
            let number = all.iter().map(|v| v.number).max().unwrap_or(0) + 1;
            insert_version(
                tx,
                service_id,
                number,
                VersionStatus::Draft,
                effective_from,
                content,
                at,
            )
            .await?
        }
    };
    touch_service(tx, service_id, &content.record, at).await?;
    bump(tx).await?;
    Ok(v)
}

/// Adds a published version in force from `effective_from` (the importer's path; the editor's path is
/// draft → [`publish`]). Any open draft is left alone.
pub async fn add_published_version(
    tx: &mut Tx,
    service_id: i64,
    content: &VersionContent,
    effective_from: Date,
    at: jiff::Timestamp,
) -> Result<VersionRow, StoreError> {
    let number: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) FROM service_versions WHERE service_id = $1")
        .bind(service_id)
        .fetch_one(tx.conn())
        .await?;
    let v = insert_version(
        tx,
        service_id,
        number + 1,
        VersionStatus::Published,
        effective_from,
        content,
        at,
    )
    .await?;
    touch_service(tx, service_id, &content.record, at).await?;
    bump(tx).await?;
    Ok(v)
}

/// Publishes a draft, in force from `effective_from` (until `effective_until`, exclusive, if given).
pub async fn publish(
    tx: &mut Tx,
    version_id: i64,
    effective_from: Date,
    effective_until: Option<Date>,
    at: jiff::Timestamp,
) -> Result<VersionRow, StoreError> {
    let v = version(tx.conn(), version_id).await?;
    if v.status != VersionStatus::Draft {
        return Err(StoreError::conflict("version_not_draft", "只有草稿可以发布"));
    }
    if effective_until.is_some_and(|u| u <= effective_from) {
        return Err(onestop_domain::DomainError::invalid(
            "effective_dates_invalid",
            "effective_until",
            "失效日期应晚于生效日期",
        )
        .into());
    }
    sqlx::query(
        "UPDATE service_versions SET status = 'published', effective_from = $1, effective_until = $2, published_at = $3, updated_at = $3 WHERE id = $4",
    )
    .bind(effective_from.to_string())
    .bind(effective_until.map(|d| d.to_string()))
    .bind(ms(at))
    .bind(version_id)
    .execute(tx.conn())
    .await?;
    bump(tx).await?;
    version(tx.conn(), version_id).await
}

/// Withdraws a published version: it stops applying to new applications (cases that pinned it keep it).
pub async fn withdraw(tx: &mut Tx, version_id: i64, at: jiff::Timestamp) -> Result<VersionRow, StoreError> {
    let v = version(tx.conn(), version_id).await?;
    if v.status != VersionStatus::Published {
        return Err(StoreError::conflict(
            "version_not_published",
            "只有已发布的版本可以撤回",
        ));
    }
    sqlx::query("UPDATE service_versions SET status = 'withdrawn', updated_at = $1 WHERE id = $2")
        .bind(ms(at))
        .bind(version_id)
        .execute(tx.conn())
        .await?;
    bump(tx).await?;
    version(tx.conn(), version_id).await
}

/// Writes what a region says about a service. A row that says nothing (inherits everything) is
/// deleted, so that "reset" leaves no trace.
pub async fn set_implementation(
    tx: &mut Tx,
    region_id: i64,
    service_id: i64,
    enabled: Option<bool>,
    overrides: &ImplementationOverrides,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    if enabled.is_none() && overrides.is_empty() {
        sqlx::query("DELETE FROM implementations WHERE region_id = $1 AND service_id = $2")
            .bind(region_id)
            .bind(service_id)
            .execute(tx.conn())
            .await?;
    } else {
        let json = serde_json::to_string(overrides).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO implementations (region_id, service_id, enabled, overrides, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (region_id, service_id) DO UPDATE SET enabled = $3, overrides = $4, updated_at = $5",
        )
        .bind(region_id)
        .bind(service_id)
        .bind(enabled.map(i64::from))
        .bind(json)
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
    }
    bump(tx).await
}

// ---- bundles -----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleRow {
    pub id: i64,
    pub owner_region_id: i64,
    pub code: String,
    pub name: String,
    pub description: String,
    pub themes: Vec<String>,
    /// Member services, in order.
    pub service_ids: Vec<i64>,
}

/// Every bundle with its members.
pub async fn bundles(conn: &mut AnyConnection) -> Result<Vec<BundleRow>, StoreError> {
    let rows = sqlx::query("SELECT id, owner_region_id, code, name, description, themes FROM bundles ORDER BY code")
        .fetch_all(&mut *conn)
        .await?;
    let members = sqlx::query("SELECT bundle_id, service_id FROM bundle_members ORDER BY bundle_id, position")
        .fetch_all(&mut *conn)
        .await?;
    let mut by_bundle: HashMap<i64, Vec<i64>> = HashMap::new();
    for m in &members {
        by_bundle
            .entry(m.try_get("bundle_id")?)
            .or_default()
            .push(m.try_get("service_id")?);
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let themes: String = r.try_get("themes")?;
            Ok(BundleRow {
                id,
                owner_region_id: r.try_get("owner_region_id")?,
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                description: r.try_get("description")?,
                themes: serde_json::from_str(&themes).map_err(corrupt)?,
                service_ids: by_bundle.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

pub async fn bundle(conn: &mut AnyConnection, id: i64) -> Result<BundleRow, StoreError> {
    bundles(conn)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or(StoreError::NotFound)
}

/// A new bundle (一件事).
#[derive(Debug, Clone)]
pub struct NewBundle {
    pub owner_region_id: i64,
    pub code: String,
    pub name: String,
    pub description: String,
    pub themes: Vec<String>,
    pub service_ids: Vec<i64>,
}

pub async fn create_bundle(tx: &mut Tx, new: &NewBundle, at: jiff::Timestamp) -> Result<BundleRow, StoreError> {
    let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bundles WHERE code = $1")
        .bind(&new.code)
        .fetch_one(tx.conn())
        .await?;
    if taken > 0 {
        return Err(StoreError::conflict(
            "duplicate_bundle_code",
            format!("一件事编码 {} 已存在", new.code),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO bundles (owner_region_id, code, name, description, themes, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(new.owner_region_id)
    .bind(&new.code)
    .bind(&new.name)
    .bind(&new.description)
    .bind(serde_json::to_string(&new.themes).map_err(corrupt)?)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    for (i, sid) in new.service_ids.iter().enumerate() {
        service(tx.conn(), *sid).await?;
        sqlx::query("INSERT INTO bundle_members (bundle_id, service_id, position) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(*sid)
            .bind(i as i64)
            .execute(tx.conn())
            .await?;
    }
    bump(tx).await?;
    bundle(tx.conn(), id).await
}

/// Which of these SHA-256 digests name a stored upload, with its original name and type (the
/// newest row when the same bytes were uploaded more than once).
pub async fn stored_files(
    conn: &mut AnyConnection,
    digests: &[String],
) -> Result<HashMap<String, (String, String)>, StoreError> {
    let mut out = HashMap::new();
    for d in digests {
        if out.contains_key(d) {
            continue;
        }
        let row = sqlx::query("SELECT original_name, mime FROM uploads WHERE sha256 = $1 ORDER BY id DESC LIMIT 1")
            .bind(d)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(r) = row {
            out.insert(d.clone(), (r.try_get("original_name")?, r.try_get("mime")?));
        }
    }
    Ok(out)
}

// ---- uploads -----------------------------------------------------------------------------------

/// A stored upload awaiting commit.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: i64,
    pub region_id: i64,
    pub user_id: i64,
    pub file_name: String,
    pub content: Vec<u8>,
    pub created_at: i64,
    pub committed_at: Option<i64>,
}

pub async fn save_upload(
    tx: &mut Tx,
    region_id: i64,
    user_id: i64,
    file_name: &str,
    content: Vec<u8>,
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    // Uploads older than a day were previews nobody committed; drop them as new ones come.
    sqlx::query("DELETE FROM catalogue_uploads WHERE created_at < $1")
        .bind(ms(at) - 86_400_000)
        .execute(tx.conn())
        .await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO catalogue_uploads (region_id, user_id, file_name, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(region_id)
    .bind(user_id)
    .bind(file_name)
    .bind(content)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?)
}

pub async fn upload(conn: &mut AnyConnection, id: i64) -> Result<Upload, StoreError> {
    let r = sqlx::query(
        "SELECT id, region_id, user_id, file_name, content, created_at, committed_at FROM catalogue_uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Upload {
        id: r.try_get("id")?,
        region_id: r.try_get("region_id")?,
        user_id: r.try_get("user_id")?,
        file_name: r.try_get("file_name")?,
        content: r.try_get("content")?,
        created_at: r.try_get("created_at")?,
        committed_at: r.try_get("committed_at")?,
    })
}

/// Marks an upload committed; refuses a second commit of the same upload.
pub async fn mark_committed(tx: &mut Tx, id: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
    let n = sqlx::query("UPDATE catalogue_uploads SET committed_at = $1 WHERE id = $2 AND committed_at IS NULL")
        .bind(ms(at))
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::conflict("upload_already_committed", "该工作簿已经导入过"));
    }
    Ok(())
}
