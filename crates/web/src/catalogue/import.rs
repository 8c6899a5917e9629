//! Workbook import (preview, then commit) and export of a region's implementation list. The plan is
//! computed from the file and the catalogue as it stands; commit recomputes it inside the write
//! transaction, so what is written is exactly what a fresh preview would show, and nothing is
//! written while any issue remains.
use super::sheet::{self, ImportIssue, RowAction};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use jiff::civil::Date;
use onestop_domain::catalogue::{ImplementationOverrides, ServiceLevel, VersionStatus};
use onestop_domain::role::Permission;
use onestop_store::StoreError;
use onestop_store::audit::AuditEntry;
use onestop_store::catalogue::{self as store, VersionContent};
use onestop_store::regions::{self, Region};
use onestop_workbook::{Limits, Sheet, WorkbookError};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// One row of the preview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedRow {
    pub row: usize,
    pub base_code: String,
    pub name: String,
    pub action: RowAction,
    /// Columns whose values change (for a region: the overrides set).
    pub changes: Vec<String>,
}

/// What an import would do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub upload_id: i64,
    pub region_id: i64,
    /// Whether this region keeps the base catalogue (rows create services and versions).
    pub base_catalogue: bool,
    pub rows: Vec<PlannedRow>,
    pub issues: Vec<ImportIssue>,
    pub committed: bool,
}

enum Op {
    Create(VersionContent),
    NewVersion(i64, VersionContent),
    Implementation(i64, Option<bool>, ImplementationOverrides),
}

struct Plan {
    rows: Vec<PlannedRow>,
    issues: Vec<ImportIssue>,
    ops: Vec<Op>,
}

pub fn workbook_error(e: WorkbookError) -> ApiError {
    let status = if e.is_size() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Reads the two sheets of an upload safely (size, zip bomb and cell limits).
pub fn read_upload(bytes: &[u8]) -> ApiResult<Vec<Sheet>> {
    onestop_workbook::read_xlsx(
        bytes,
        &[(sheet::SERVICE_SHEET, true), (sheet::MATERIAL_SHEET, false)],
        &Limits::default(),
    )
    .map_err(workbook_error)
}

fn level_of(region: &Region) -> ServiceLevel {
    region.level().map(store::level_of).unwrap_or(ServiceLevel::Province)
}

async fn plan(
    conn: &mut sqlx::AnyConnection,
    region: &Region,
    sheets: &[Sheet],
    date: Date,
) -> Result<Plan, StoreError> {
    let owner = region.parent_id.is_none();
    let mut issues = Vec::new();
    let (services, materials) = sheet::parse(sheets, &mut issues);
    let current: HashMap<String, store::Effective> = store::effective_all(conn, region.id, date)
        .await?
        .into_iter()
        .map(|e| (e.record.base_code.clone(), e))
        .collect();
    // Blank forms and samples name stored uploads by digest; one that is not stored is an error
    // where it is written.
    let refs: Vec<String> = materials
        .iter()
        .flat_map(|m| [m.material.blank_form.clone(), m.material.sample.clone()])
        .flatten()
        .filter(|r| onestop_domain::catalogue::file_ref_ok(r))
        .collect();
    if !refs.is_empty() {
        let stored = store::stored_files(conn, &refs).await?;
        for m in &materials {
            for (header, r) in [("空白表格", &m.material.blank_form), ("示例样表", &m.material.sample)] {
                if let Some(r) = r
                    .as_deref()
                    .filter(|r| onestop_domain::catalogue::file_ref_ok(r) && !stored.contains_key(*r))
                {
                    issues.push(ImportIssue {
                        sheet: sheet::MATERIAL_SHEET.into(),
                        row: m.row,
                        column: sheet::column_of(sheets, sheet::MATERIAL_SHEET, header),
                        header: header.into(),
                        code: "file_ref_unknown".into(),
                        message: format!("“{header}”引用的文件 {r} 不存在，请先在事项编辑页上传"),
                    });
                }
            }
        }
    }
    let mut mats: HashMap<&str, Vec<&sheet::ParsedMaterial>> = HashMap::new();
    for m in &materials {
        mats.entry(m.base_code.as_str()).or_default().push(m);
    }
    let mut rows = Vec::new();
    let mut ops = Vec::new();
    let issue = |row: usize, header: &str, code: &str, message: String| ImportIssue {
        sheet: sheet::SERVICE_SHEET.into(),
        row,
        column: sheet::SERVICE_COLUMNS
            .iter()
            .position(|(h, _)| *h == header)
            .map(sheet_column)
            .unwrap_or_default(),
        header: header.into(),
        code: code.into(),
        message,
    };
    for s in services.iter().filter(|s| !s.broken) {
        let code = s.record.base_code.as_str();
        let row_materials: Option<Vec<_>> = mats.get(code).map(|ms| ms.iter().map(|m| m.material.clone()).collect());
        let existing = current.get(code);
        let mut planned = PlannedRow {
            row: s.row,
            base_code: code.to_owned(),
            name: s.record.name.clone(),
            action: RowAction::Unchanged,
            changes: Vec::new(),
        };
        if owner {
            // Base records carry no implementation code: it is derived for each implementing region.
            let mut record = s.record.clone();
            record.implementation_code.clear();
            // The sheet has no column for the department's code: keep the one the record has.
            if let Some(e) = existing {
                record.department_code = e.record.department_code.clone();
            }
            match existing {
                None => {
                    if store::service_by_code(conn, code).await?.is_some() {
                        issues.push(issue(
                            s.row,
                            "基本编码",
                            "service_not_in_force",
                            format!("事项 {code} 已存在但当前没有生效的版本，请在事项管理中处理"),
                        ));
                        continue;
                    }
                    let content = VersionContent {
                        form: super::forms::default_form(&record),
                        record,
                        materials: row_materials.unwrap_or_default(),
                    };
                    planned.action = RowAction::Create;
                    ops.push(Op::Create(content));
                }
                Some(e) => {
                    let mut shown = e.record.clone();
                    shown.implementation_code.clear();
                    let mut changes: Vec<String> = sheet::differing_headers(&shown, &record)
                        .into_iter()
                        .filter(|h| *h != "实施编码")
                        .map(str::to_owned)
                        .collect();
                    // No material rows for a service keeps its materials (a sheet of services only).
                    let materials = row_materials.unwrap_or_else(|| e.materials.clone());
                    if materials != e.materials {
                        changes.push("申请材料".into());
                    }
                    if !changes.is_empty() {
                        planned.action = RowAction::NewVersion;
                        planned.changes = changes;
                        ops.push(Op::NewVersion(
                            e.service_id,
                            VersionContent {
                                record,
                                materials,
                                form: e.form.clone(),
                            },
                        ));
                    }
                }
            }
        } else {
            let Some(e) = existing else {
                issues.push(issue(
                    s.row,
                    "基本编码",
                    "service_unknown",
                    format!("基本目录中没有基本编码为 {code} 的生效事项"),
                ));
                continue;
            };
            let expected_level = level_of(region);
            let mut bad = false;
            if s.record.level != expected_level {
                issues.push(issue(
                    s.row,
                    "行使层级",
                    "level_mismatch",
                    format!("本区划实施的事项，行使层级应为“{}”", expected_level.label()),
                ));
                bad = true;
            }
            let mut own = e.own.clone();
            let mut changes = Vec::new();
            for h in sheet::differing_headers(&e.record, &s.record) {
                if matches!(h, "实施编码" | "行使层级") {
                    continue; // derived; the quality rules checked the code against the row
                }
                match sheet::overridable_of(h) {
                    Some(field) => {
                        if !changes.contains(&field.to_owned()) {
                            changes.push(field.to_owned());
                            if let Some((_, set)) = sheet::OVERRIDABLE.iter().find(|(n, _)| *n == field) {
                                set(&mut own, &s.record);
                            }
                        }
                    }
                    None => {
                        issues.push(issue(
                            s.row,
                            h,
                            "field_not_overridable",
                            format!("“{h}”由基本目录统一维护，本级不能修改"),
                        ));
                        bad = true;
                    }
                }
            }
            if let Some(ms) = mats.get(code) {
                let given: Vec<_> = ms.iter().map(|m| &m.material).collect();
                let same = given.len() == e.materials.len() && given.iter().zip(&e.materials).all(|(a, b)| *a == b);
                if !same {
                    let row = ms.first().map(|m| m.row).unwrap_or(1);
                    issues.push(ImportIssue {
                        sheet: sheet::MATERIAL_SHEET.into(),
                        row,
                        column: sheet::column_of(sheets, sheet::MATERIAL_SHEET, "材料名称"),
                        header: "材料名称".into(),
                        code: "field_not_overridable".into(),
                        message: format!("事项 {code} 的申请材料由基本目录统一维护，本级不能修改"),
                    });
                    bad = true;
                }
            }
            if bad {
                continue;
            }
            let enable = if e.enabled { None } else { Some(true) };
            if enable.is_some() {
                changes.insert(0, "启用".into());
            }
            if !changes.is_empty() {
                let enabled = enable.or(current_own_enabled(e));
                planned.action = RowAction::Change;
                planned.changes = changes;
                ops.push(Op::Implementation(e.service_id, enabled, own));
            }
        }
        rows.push(planned);
    }
    Ok(Plan { rows, issues, ops })
}

/// The region's own switch, kept as it is when the import does not need to change it.
fn current_own_enabled(e: &store::Effective) -> Option<bool> {
    match &e.enabled_origin {
        Some(o) if o.id == e.region.id => Some(e.enabled),
        _ => None,
    }
}

fn sheet_column(i: usize) -> String {
    let mut s = Vec::new();
    let mut i = i;
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

async fn writable_region(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::CatalogueWrite, &r.region_path())?;
    Ok(r)
}

/// Stores an upload and previews what importing it would do. Writes nothing to the catalogue.
pub async fn preview(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    file_name: &str,
    bytes: Vec<u8>,
) -> ApiResult<ImportReport> {
    let region = writable_region(state, p, region_id).await?;
    let sheets = read_upload(&bytes)?;
    let date = super::today(state);
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let plan = plan(&mut conn, &region, &sheets, date).await?;
    drop(conn);
    let at = state.clock.now();
    let user_id = p.user.id;
    let name = file_name.chars().take(200).collect::<String>();
    let upload_id = state
        .store
        .write(move |tx| Box::pin(async move { store::save_upload(tx, region_id, user_id, &name, bytes, at).await }))
        .await?;
    Ok(ImportReport {
        upload_id,
        region_id,
        base_catalogue: region.parent_id.is_none(),
        rows: plan.rows,
        issues: plan.issues,
        committed: false,
    })
}

/// Commits a previewed upload: recomputes the plan in the write transaction and applies it, or
/// answers 422 with every issue and writes nothing.
pub async fn commit(state: &AppState, p: &Principal, upload_id: i64) -> ApiResult<ImportReport> {
    let upload = store::upload(
        &mut *state.store.read().acquire().await.map_err(StoreError::from)?,
        upload_id,
    )
    .await?;
    let region = writable_region(state, p, upload.region_id).await?;
    if upload.user_id != p.user.id {
        return Err(ApiError::not_found());
    }
    let sheets = read_upload(&upload.content)?;
    let date = super::today(state);
    let at = state.clock.now();
    let actor = p.actor();
    let region_for_tx = region.clone();
    let result = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let plan = plan(tx.conn(), &region_for_tx, &sheets, date).await?;
                if !plan.issues.is_empty() {
                    return Ok::<_, StoreError>(Err(plan));
                }
                store::mark_committed(tx, upload_id, at).await?;
                let mut created = 0usize;
                let mut versions = 0usize;
                let mut changed = 0usize;
                for op in &plan.ops {
                    match op {
                        Op::Create(content) => {
                            store::create_service(tx, region_for_tx.id, content, VersionStatus::Published, date, at)
                                .await?;
                            created += 1;
                        }
                        Op::NewVersion(service_id, content) => {
                            store::add_published_version(tx, *service_id, content, date, at).await?;
                            versions += 1;
                        }
                        Op::Implementation(service_id, enabled, own) => {
                            store::set_implementation(tx, region_for_tx.id, *service_id, *enabled, own, at).await?;
                            changed += 1;
                        }
                    }
                }
                tx.audit(AuditEntry {
                    region_id: region_for_tx.id,
                    at,
                    actor,
                    action: "catalogue.import",
                    entity: "catalogue_upload",
                    entity_id: upload_id.to_string(),
                    detail: json!({"created": created, "new_versions": versions, "implementations": changed}),
                })
                .await?;
                Ok(Ok(plan))
            })
        })
        .await?;
    match result {
        Ok(plan) => Ok(ImportReport {
            upload_id,
            region_id: region.id,
            base_catalogue: region.parent_id.is_none(),
            rows: plan.rows,
            issues: Vec::new(),
            committed: true,
        }),
        Err(plan) => {
            let mut err = ApiError::validation(
                "import_has_errors",
                format!("工作簿有 {} 处问题，未导入任何数据", plan.issues.len()),
            );
            err.fields = plan
                .issues
                .iter()
                .map(|i| crate::error::FieldError {
                    field: format!("{}!{}{}", i.sheet, i.column, i.row),
                    code: i.code.clone(),
                    message: i.message.clone(),
                })
                .collect();
            Err(err)
        }
    }
}

/// The sheets of a region's list: every service in force for the base catalogue's keeper, the
/// services the region offers for anyone else.
pub async fn export(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<(Region, Vec<Sheet>)> {
    let region = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::RegionRead, &region.region_path())?;
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let all = store::effective_all(&mut conn, region_id, super::today(state)).await?;
    let owner = region.parent_id.is_none();
    let shown: Vec<_> = all.into_iter().filter(|e| owner || e.enabled).collect();
    Ok((region, sheet::export_sheets(&shown)))
}
