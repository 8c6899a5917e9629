//! Catalogue use cases shared by the JSON API and the pages: the base catalogue (静江省 keeps it),
//! versions, regions' implementation lists with live inheritance, bundles, public guides and search,
//! application forms, and workbook import/export. Each use case checks who may do it, validates with
//! the domain's rules, and writes in one transaction with its audit entry.
pub mod demo;
pub mod editor;
pub mod forms;
pub mod import;
pub mod search;
pub mod sheet;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use jiff::civil::Date;
use onestop_domain::catalogue::{
    Bundle, BundleMember, ImplementationOverrides, MergedBundle, QualityIssue, Severity, merge_bundle,
    validate_material, validate_service,
};
use onestop_domain::role::Permission;
use onestop_store::StoreError;
use onestop_store::audit::AuditEntry;
use onestop_store::catalogue::{self as store, BundleRow, Effective, ServiceRow, VersionContent, VersionRow};
use onestop_store::regions::{self, Region};
use serde::Serialize;
use serde_json::{Value, json};

/// Today in the hall's time zone: the date that picks the version in force.
pub fn today(state: &AppState) -> Date {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    state.clock.now().to_zoned(tz).date()
}

/// A date as shown to people: 2026年3月18日.
pub fn show_date(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

async fn conn(state: &AppState) -> ApiResult<sqlx::pool::PoolConnection<sqlx::Any>> {
    state
        .store
        .read()
        .acquire()
        .await
        .map_err(|e| ApiError::from(StoreError::from(e)))
}

fn audit(
    p: &Principal,
    region_id: i64,
    action: &'static str,
    entity: &'static str,
    id: i64,
    detail: Value,
) -> AuditEntry {
    AuditEntry {
        region_id,
        at: jiff::Timestamp::UNIX_EPOCH,
        actor: p.actor(),
        action,
        entity,
        entity_id: id.to_string(),
        detail,
    }
}

/// Every quality problem of a version's content: errors (with the field path, e.g.
/// `materials[2].issuer` or `form.child_name`) and warnings.
fn content_issues(content: &VersionContent) -> (Vec<FieldError>, Vec<QualityIssue>) {
    let mut issues = validate_service(&content.record);
    for (i, m) in content.materials.iter().enumerate() {
        for mut issue in validate_material(m) {
            issue.field = format!("materials[{i}].{}", issue.field);
            issues.push(issue);
        }
    }
    let mut errors: Vec<FieldError> = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| FieldError {
            field: i.field.clone(),
            code: i.code.to_owned(),
            message: i.message.clone(),
        })
        .collect();
    if let Err(form_errors) = content.form.validate() {
        errors.extend(form_errors.into_iter().map(|e| FieldError {
            field: format!("form.{}", e.key),
            code: e.code.to_owned(),
            message: e.message,
        }));
    }
    let warnings = issues.into_iter().filter(|i| i.severity == Severity::Warning).collect();
    (errors, warnings)
}

fn quality_error(errors: Vec<FieldError>) -> ApiError {
    let mut err = ApiError::validation(
        "catalogue_quality",
        format!("事项数据未通过质量校验（{} 处问题）", errors.len()),
    );
    err.fields = errors;
    err
}

/// Turns quality issues into a 422 when any is an error; returns the warnings otherwise.
pub fn check_content(content: &VersionContent) -> ApiResult<Vec<QualityIssue>> {
    let (errors, warnings) = content_issues(content);
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(quality_error(errors))
    }
}

/// [`check_content`] plus the files: every blank form and sample must name a stored upload.
pub async fn check_content_and_files(state: &AppState, content: &VersionContent) -> ApiResult<Vec<QualityIssue>> {
    let (mut errors, warnings) = content_issues(content);
    let mut refs = Vec::new();
    for (i, m) in content.materials.iter().enumerate() {
        for (what, r) in [("blank_form", &m.blank_form), ("sample", &m.sample)] {
            if let Some(r) = r.as_deref().filter(|r| onestop_domain::catalogue::file_ref_ok(r)) {
                refs.push((format!("materials[{i}].{what}"), r.to_owned()));
            }
        }
    }
    if !refs.is_empty() {
        let digests: Vec<String> = refs.iter().map(|(_, d)| d.clone()).collect();
        let stored = store::stored_files(&mut *conn(state).await?, &digests).await?;
        for (field, d) in refs {
            if !stored.contains_key(&d) {
                errors.push(FieldError {
                    field,
                    code: "file_ref_unknown".into(),
                    message: "引用的文件不存在，请重新上传".into(),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(quality_error(errors))
    }
}

// ---- base catalogue ----------------------------------------------------------------------------

/// The base catalogue (any member of staff may read it).
pub async fn list_services(state: &AppState, p: &Principal) -> ApiResult<Vec<ServiceRow>> {
    p.require_any(Permission::RegionRead)?;
    Ok(store::services(&mut *conn(state).await?).await?)
}

/// A base service with all its versions, newest first.
pub async fn service_detail(state: &AppState, p: &Principal, id: i64) -> ApiResult<(ServiceRow, Vec<VersionRow>)> {
    p.require_any(Permission::RegionRead)?;
    let mut c = conn(state).await?;
    let s = store::service(&mut c, id).await?;
    let v = store::versions(&mut c, id).await?;
    Ok((s, v))
}

/// Requires the right to keep the base catalogue of `owner` (a root region: the province).
async fn require_owner(state: &AppState, p: &Principal, owner_region_id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), owner_region_id).await?;
    p.require(Permission::CatalogueWrite, &r.region_path())?;
    if r.parent_id.is_some() {
        return Err(ApiError::forbidden());
    }
    Ok(r)
}

/// Creates a base service as a draft (version 1).
pub async fn create_service(
    state: &AppState,
    p: &Principal,
    owner_region_id: i64,
    mut content: VersionContent,
) -> ApiResult<(ServiceRow, VersionRow, Vec<QualityIssue>)> {
    require_owner(state, p, owner_region_id).await?;
    if content.form.fields.is_empty() {
        content.form = forms::default_form(&content.record);
    }
    let warnings = check_content_and_files(state, &content).await?;
    let at = state.clock.now();
    let from = today(state);
    let entry = audit(p, owner_region_id, "catalogue.service.create", "service", 0, json!({}));
    let (s, v) = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let (s, v) = store::create_service(
                    tx,
                    owner_region_id,
                    &content,
                    onestop_domain::catalogue::VersionStatus::Draft,
                    from,
                    at,
                )
                .await?;
                tx.audit(AuditEntry {
                    at,
                    entity_id: s.id.to_string(),
                    detail: json!({"base_code": s.base_code, "name": s.name}),
                    ..entry
                })
                .await?;
                Ok::<_, StoreError>((s, v))
            })
        })
        .await?;
    Ok((s, v, warnings))
}

/// Saves the draft of a base service (creating a new draft version if none is open). `expected`
/// is the [`store::draft_token`] of what the editor started from; a mismatch is 409 `draft_changed`.
pub async fn save_draft(
    state: &AppState,
    p: &Principal,
    service_id: i64,
    content: VersionContent,
    effective_from: Option<Date>,
    expected: Option<String>,
) -> ApiResult<(VersionRow, Vec<QualityIssue>)> {
    let svc = store::service(&mut *conn(state).await?, service_id).await?;
    require_owner(state, p, svc.owner_region_id).await?;
    let warnings = check_content_and_files(state, &content).await?;
    let at = state.clock.now();
    let from = effective_from.unwrap_or_else(|| today(state));
    let entry = audit(
        p,
        svc.owner_region_id,
        "catalogue.draft.save",
        "service",
        service_id,
        json!({"base_code": svc.base_code}),
    );
    let v = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let v = store::save_draft(tx, service_id, &content, from, at, expected.as_deref()).await?;
                tx.audit(AuditEntry { at, ..entry }).await?;
                Ok::<_, StoreError>(v)
            })
        })
        .await?;
    Ok((v, warnings))
}

/// Publishes a draft version.
pub async fn publish(
    state: &AppState,
    p: &Principal,
    version_id: i64,
    from: Option<Date>,
    until: Option<Date>,
) -> ApiResult<VersionRow> {
    let mut c = conn(state).await?;
    let v = store::version(&mut c, version_id).await?;
    let svc = store::service(&mut c, v.service_id).await?;
    drop(c);
    require_owner(state, p, svc.owner_region_id).await?;
    // A draft saved before a rule changed is checked again before it goes public.
    check_content_and_files(state, &v.content).await?;
    let at = state.clock.now();
    let from = from.unwrap_or(v.effective_from);
    let entry = audit(
        p,
        svc.owner_region_id,
        "catalogue.version.publish",
        "service_version",
        version_id,
        json!({"base_code": svc.base_code, "number": v.number, "from": from.to_string()}),
    );
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let v = store::publish(tx, version_id, from, until, at).await?;
                tx.audit(AuditEntry { at, ..entry }).await?;
                Ok::<_, StoreError>(v)
            })
        })
        .await?)
}

/// Withdraws a published version.
pub async fn withdraw(state: &AppState, p: &Principal, version_id: i64) -> ApiResult<VersionRow> {
    let mut c = conn(state).await?;
    let v = store::version(&mut c, version_id).await?;
    let svc = store::service(&mut c, v.service_id).await?;
    drop(c);
    require_owner(state, p, svc.owner_region_id).await?;
    let at = state.clock.now();
    let entry = audit(
        p,
        svc.owner_region_id,
        "catalogue.version.withdraw",
        "service_version",
        version_id,
        json!({"base_code": svc.base_code, "number": v.number}),
    );
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let v = store::withdraw(tx, version_id, at).await?;
                tx.audit(AuditEntry { at, ..entry }).await?;
                Ok::<_, StoreError>(v)
            })
        })
        .await?)
}

// ---- implementation lists ----------------------------------------------------------------------

async fn readable_region(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Region> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::RegionRead, &r.region_path())?;
    Ok(r)
}

/// A region's implementation list: every service in force today, offered or not, with origins.
pub async fn implementation_list(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Vec<Effective>> {
    readable_region(state, p, region_id).await?;
    Ok(store::effective_all(&mut *conn(state).await?, region_id, today(state)).await?)
}

/// One service as a region implements it today.
pub async fn implementation(state: &AppState, p: &Principal, region_id: i64, service_id: i64) -> ApiResult<Effective> {
    readable_region(state, p, region_id).await?;
    Ok(store::effective(&mut *conn(state).await?, region_id, service_id, today(state)).await?)
}

/// A change to what a region says about a service: switch it on/off (or back to inheriting), set
/// overrides, reset overrides (the field inherits again).
#[derive(Debug, Clone, Default)]
pub struct ImplementationChange {
    /// `Some(None)`: inherit; `Some(Some(b))`: set here; `None`: unchanged.
    pub enabled: Option<Option<bool>>,
    pub set: serde_json::Map<String, Value>,
    pub reset: Vec<String>,
}

fn unknown_field(field: &str) -> ApiError {
    let mut e = ApiError::validation("field_not_overridable", format!("字段 {field} 不能在实施清单中设置"));
    e.fields.push(FieldError {
        field: field.to_owned(),
        code: "field_not_overridable".into(),
        message: "该字段由基本目录统一维护，或不存在".into(),
    });
    e
}

/// Applies a change to a region's own overrides (pure; checks field names and value shapes).
pub fn apply_change(
    own: &ImplementationOverrides,
    change: &ImplementationChange,
) -> ApiResult<ImplementationOverrides> {
    let mut obj = match serde_json::to_value(own) {
        Ok(Value::Object(o)) => o,
        _ => return Err(ApiError::internal()),
    };
    for field in &change.reset {
        if !ImplementationOverrides::FIELDS.contains(&field.as_str()) {
            return Err(unknown_field(field));
        }
        obj.insert(field.clone(), json!({"mode": "inherited"}));
    }
    for (field, value) in &change.set {
        if !ImplementationOverrides::FIELDS.contains(&field.as_str()) {
            return Err(unknown_field(field));
        }
        obj.insert(field.clone(), json!({"mode": "overridden", "value": value}));
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| {
        let mut err = ApiError::validation("override_value_invalid", format!("覆盖值的格式不正确：{e}"));
        err.fields.push(FieldError {
            field: change.set.keys().next().cloned().unwrap_or_default(),
            code: "override_value_invalid".into(),
            message: e.to_string(),
        });
        err
    })
}

/// Changes what `region_id` says about a service, after checking the result against the quality
/// rules (e.g. a promised limit above the legal one is refused) and the windows against the halls.
pub async fn change_implementation(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    service_id: i64,
    change: ImplementationChange,
) -> ApiResult<Effective> {
    let region = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::CatalogueWrite, &region.region_path())?;
    let date = today(state);
    let mut c = conn(state).await?;
    let current = store::effective(&mut c, region_id, service_id, date).await?;
    let own = apply_change(&current.own, &change)?;
    let enabled = match change.enabled {
        Some(e) => e,
        None => store::own_rows(&mut c, region_id)
            .await?
            .into_iter()
            .find(|r| r.service_id == service_id)
            .and_then(|r| r.enabled),
    };
    if let Some(windows) = own.windows.overridden() {
        check_windows(state, &region, windows).await?;
    }
    drop(c);
    // Check what the public would see with the change in place.
    let preview = preview_record(state, region_id, service_id, &own, date).await?;
    let errors: Vec<FieldError> = validate_service(&preview)
        .into_iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| FieldError {
            field: i.field,
            code: i.code.to_owned(),
            message: i.message,
        })
        .collect();
    if !errors.is_empty() {
        let mut err = ApiError::validation(
            "catalogue_quality",
            format!("修改后的办事指南未通过质量校验（{} 处问题）", errors.len()),
        );
        err.fields = errors;
        return Err(err);
    }
    let at = state.clock.now();
    let entry = audit(
        p,
        region_id,
        "catalogue.implementation.change",
        "implementation",
        service_id,
        json!({"set": change.set.keys().collect::<Vec<_>>(), "reset": change.reset, "enabled": change.enabled}),
    );
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::set_implementation(tx, region_id, service_id, enabled, &own, at).await?;
                tx.audit(AuditEntry { at, ..entry }).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(store::effective(&mut *conn(state).await?, region_id, service_id, date).await?)
}

/// The record `region_id` would show with `own` as its overrides.
async fn preview_record(
    state: &AppState,
    region_id: i64,
    service_id: i64,
    own: &ImplementationOverrides,
    date: Date,
) -> ApiResult<onestop_domain::catalogue::ServiceRecord> {
    let mut c = conn(state).await?;
    let chain = store::chain(&mut c, region_id).await?;
    let Some((leaf, ancestors)) = chain.split_last() else {
        return Err(ApiError::not_found());
    };
    let version = store::version_in_force(&mut c, service_id, date)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut overrides = Vec::new();
    if let Some(parent) = ancestors.last() {
        let parent_eff = store::effective(&mut c, parent.id, service_id, date).await?;
        // The parent's effective values stand in for everything above; our overrides go on top.
        let base = parent_eff.origins.apply_to(&version.content.record);
        overrides.push(onestop_domain::catalogue::RegionOverrides {
            region: leaf.id,
            overrides: own.clone(),
        });
        let eff = onestop_domain::catalogue::resolve_implementation(&base, &overrides);
        let mut r = eff.apply_to(&base);
        r.implementation_code = String::new();
        return Ok(r);
    }
    overrides.push(onestop_domain::catalogue::RegionOverrides {
        region: leaf.id,
        overrides: own.clone(),
    });
    let eff = onestop_domain::catalogue::resolve_implementation(&version.content.record, &overrides);
    let mut r = eff.apply_to(&version.content.record);
    r.implementation_code = String::new();
    Ok(r)
}

/// Windows that serve a service must be open windows of halls inside the region's subtree.
async fn check_windows(state: &AppState, region: &Region, windows: &[String]) -> ApiResult<()> {
    for w in windows {
        let ok = match w.parse::<i64>() {
            Ok(id) => match onestop_store::org::window(state.store.read(), id).await {
                Ok(win) => win.closed_at.is_none() && win.region_path.starts_with(&region.path),
                Err(StoreError::NotFound) => false,
                Err(e) => return Err(e.into()),
            },
            Err(_) => false,
        };
        if !ok {
            let mut err = ApiError::validation("window_invalid", format!("窗口 {w} 不存在或不属于本区划的大厅"));
            err.fields.push(FieldError {
                field: "windows".into(),
                code: "window_invalid".into(),
                message: format!("窗口 {w} 不存在或不属于本区划的大厅"),
            });
            return Err(err);
        }
    }
    Ok(())
}

// ---- bundles -----------------------------------------------------------------------------------

/// A bundle as a region offers it: merged materials and form of its members' guides.
#[derive(Debug, Clone, Serialize)]
pub struct BundleGuide {
    pub bundle: BundleRow,
    pub members: Vec<Effective>,
    pub merged: MergedBundle,
    /// Whether the region offers every member.
    pub available: bool,
}

pub async fn bundles(state: &AppState) -> ApiResult<Vec<BundleRow>> {
    Ok(store::bundles(&mut *conn(state).await?).await?)
}

pub async fn bundle_guide(state: &AppState, region_id: i64, bundle_id: i64) -> ApiResult<BundleGuide> {
    let mut c = conn(state).await?;
    let bundle = store::bundle(&mut c, bundle_id).await?;
    let date = today(state);
    let mut members = Vec::new();
    for sid in &bundle.service_ids {
        members.push(store::effective(&mut c, region_id, *sid, date).await?);
    }
    let domain = Bundle {
        name: bundle.name.clone(),
        services: members.iter().map(|m| m.record.base_code.clone()).collect(),
    };
    let refs: Vec<BundleMember<'_>> = members
        .iter()
        .map(|m| BundleMember {
            service: &m.record,
            materials: &m.materials,
            form: &m.form,
        })
        .collect();
    let merged = merge_bundle(&domain, &refs)?;
    let available = members.iter().all(|m| m.enabled);
    Ok(BundleGuide {
        bundle,
        members,
        merged,
        available,
    })
}

/// Creates a bundle of base services (the base catalogue's keeper does).
pub async fn create_bundle(state: &AppState, p: &Principal, new: store::NewBundle) -> ApiResult<BundleRow> {
    require_owner(state, p, new.owner_region_id).await?;
    if new.name.trim().is_empty() {
        return Err(onestop_domain::DomainError::invalid("name_required", "name", "一件事名称不能为空").into());
    }
    if new.service_ids.len() < 2 {
        return Err(
            onestop_domain::DomainError::invalid("bundle_too_small", "service_ids", "一件事至少包含两个事项").into(),
        );
    }
    let at = state.clock.now();
    let entry = audit(
        p,
        new.owner_region_id,
        "catalogue.bundle.create",
        "bundle",
        0,
        json!({"code": new.code, "services": new.service_ids}),
    );
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let b = store::create_bundle(tx, &new, at).await?;
                tx.audit(AuditEntry {
                    at,
                    entity_id: b.id.to_string(),
                    ..entry
                })
                .await?;
                Ok::<_, StoreError>(b)
            })
        })
        .await?)
}

// ---- public ------------------------------------------------------------------------------------

/// Regions whose guides the public portal shows: those with an open hall, in tree order.
pub async fn public_regions(state: &AppState) -> ApiResult<Vec<Region>> {
    Ok(store::public_regions(&mut *conn(state).await?).await?)
}

/// The public region by code (or the first one when no code is given).
pub async fn public_region(state: &AppState, code: Option<&str>) -> ApiResult<Region> {
    let all = public_regions(state).await?;
    let found = match code.filter(|c| !c.trim().is_empty()) {
        Some(c) => all.into_iter().find(|r| r.code == c.trim()),
        None => all.into_iter().next(),
    };
    found.ok_or_else(|| ApiError::new(axum::http::StatusCode::NOT_FOUND, "region_not_found", "没有找到该地区"))
}

/// The public guide of a service in a region (404 unless the region offers it today).
pub async fn public_guide(state: &AppState, region_code: &str, base_code: &str) -> ApiResult<Effective> {
    let region = public_region(state, Some(region_code)).await?;
    let mut c = conn(state).await?;
    let svc = store::service_by_code(&mut c, base_code)
        .await?
        .ok_or_else(guide_not_found)?;
    match store::effective(&mut c, region.id, svc.id, today(state)).await {
        Ok(e) if e.enabled => Ok(e),
        Ok(_) | Err(StoreError::NotFound) => Err(guide_not_found()),
        Err(e) => Err(e.into()),
    }
}

fn guide_not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "guide_not_found",
        "该地区没有提供这项服务，或办事指南尚未发布",
    )
}

/// Validates an application against the guide's form, with the same rules the page shows.
pub fn validate_application(
    state: &AppState,
    guide: &Effective,
    values: &std::collections::BTreeMap<String, String>,
) -> ApiResult<std::collections::BTreeMap<String, String>> {
    onestop_domain::form::validate_submission(&guide.form, values, today(state)).map_err(form_errors)
}

pub fn form_errors(errors: Vec<onestop_domain::form::FieldError>) -> ApiError {
    let mut err = ApiError::validation("form_invalid", format!("申请表有 {} 处需要修改", errors.len()));
    err.fields = errors
        .into_iter()
        .map(|e| FieldError {
            field: e.key,
            code: e.code.to_owned(),
            message: e.message,
        })
        .collect();
    err
}
