//! Region settings as use cases: the registry of every configurable rule, and reading, overriding
//! and resetting them for a region (API and admin page call the same code). Values inherit live
//! down the region tree; see `onestop_domain::settings`.
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use onestop_domain::DomainError;
use onestop_domain::role::Permission;
use onestop_domain::settings::{Setting, parse};
use onestop_store::StoreError;
use onestop_store::audit::AuditEntry;
use onestop_store::region_settings::{self, SettingOrigin};
use onestop_store::regions;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A registered setting, known by its key: the generic API and page work through this.
pub struct SettingInfo {
    pub key: &'static str,
    default_json: fn() -> Value,
    check: fn(&Value) -> Result<Value, DomainError>,
}

fn default_json<S: Setting>() -> Value {
    serde_json::to_value(S::default_value()).unwrap_or(Value::Null)
}

/// Parses, validates and normalises a value of `S` (fields in their declared form).
fn check_json<S: Setting>(v: &Value) -> Result<Value, DomainError> {
    let value = parse::<S>(v)?;
    Ok(serde_json::to_value(value).unwrap_or(Value::Null))
}

impl SettingInfo {
    pub const fn of<S: Setting>() -> Self {
        Self {
            key: S::KEY,
            default_json: default_json::<S>,
            check: check_json::<S>,
        }
    }
    pub fn default_value(&self) -> Value {
        (self.default_json)()
    }
    pub fn check(&self, v: &Value) -> Result<Value, DomainError> {
        (self.check)(v)
    }
}

/// Every configurable rule. A module that adds a setting adds one line here, plus its labels
/// (`settings.<key>.title`, `settings.<key>.<field>`) in the message catalogue.
pub static REGISTRY: &[SettingInfo] = &[
    SettingInfo::of::<onestop_domain::queue::NoShowSetting>(),
    // queue: the call policy and the wait estimator
    SettingInfo::of::<onestop_domain::queue::QueuePolicySetting>(),
    SettingInfo::of::<onestop_domain::queue::EstimatorSetting>(),
    // ratings
    SettingInfo::of::<onestop_domain::rating::FollowUpSetting>(),
    SettingInfo::of::<onestop_domain::rating::DefaultRatingSetting>(),
    SettingInfo::of::<onestop_domain::rating::ScorecardSetting>(),
    // cases
    SettingInfo::of::<onestop_domain::case_clock::CaseRulesSetting>(),
];

pub fn info(key: &str) -> ApiResult<&'static SettingInfo> {
    REGISTRY
        .iter()
        .find(|s| s.key == key)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "setting_unknown", "没有这个设置项"))
}

/// A setting as a region sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingView {
    /// Stable key, e.g. `queue.no_show`.
    pub key: String,
    /// 简体 title.
    pub title: String,
    /// The value in force here (an object of scalar fields).
    #[schema(value_type = Object)]
    pub value: Value,
    /// Where it comes from: `default`, or the region whose override is in force.
    #[schema(value_type = Object)]
    pub origin: SettingOrigin,
    /// Whether this region itself overrides it.
    pub overridden_here: bool,
    /// This region's stored override no longer passes the rules (an older shape); it is not in
    /// force, and saving or resetting it mends that.
    pub own_invalid: bool,
    /// The built-in default.
    #[schema(value_type = Object)]
    pub default: Value,
}

async fn view(state: &AppState, region_id: i64, s: &SettingInfo) -> ApiResult<SettingView> {
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let (value, origin, own) =
        region_settings::effective_json(&mut conn, region_id, s.key, |v| s.check(v).is_ok()).await?;
    let own_invalid = own.as_ref().is_some_and(|v| s.check(v).is_err());
    let t = crate::i18n::messages(None);
    Ok(SettingView {
        key: s.key.to_owned(),
        title: t.get(&format!("settings.{}.title", s.key)).to_owned(),
        // Stored values are shown normalised; the default when nothing is in force.
        value: value
            .and_then(|v| s.check(&v).ok())
            .unwrap_or_else(|| s.default_value()),
        overridden_here: matches!(&origin, SettingOrigin::Region { id, .. } if *id == region_id),
        origin,
        own_invalid,
        default: s.default_value(),
    })
}

async fn readable_region(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<regions::Region> {
    let r = regions::get(state.store.read(), region_id).await?;
    p.require(Permission::RegionRead, &r.region_path())?;
    Ok(r)
}

/// Every registered setting as `region_id` sees it.
pub async fn list(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Vec<SettingView>> {
    readable_region(state, p, region_id).await?;
    let mut out = Vec::with_capacity(REGISTRY.len());
    for s in REGISTRY {
        out.push(view(state, region_id, s).await?);
    }
    Ok(out)
}

pub async fn get(state: &AppState, p: &Principal, region_id: i64, key: &str) -> ApiResult<SettingView> {
    readable_region(state, p, region_id).await?;
    view(state, region_id, info(key)?).await
}

/// Overrides `key` at `region_id` with `value` (checked against the setting's rules first).
pub async fn set(state: &AppState, p: &Principal, region_id: i64, key: &str, value: &Value) -> ApiResult<SettingView> {
    let region = readable_region(state, p, region_id).await?;
    p.require(Permission::SettingsWrite, &region.region_path())?;
    let s = info(key)?;
    let value = s.check(value)?;
    let at = state.clock.now();
    let actor = p.actor();
    let audit = AuditEntry {
        region_id,
        at,
        actor: actor.clone(),
        action: "setting.set",
        entity: "region_setting",
        entity_id: format!("{region_id}:{key}"),
        detail: json!({"key": s.key, "value": value}),
    };
    let key = s.key;
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                region_settings::set(tx, region_id, key, &value, at, &actor).await?;
                tx.audit(audit).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    view(state, region_id, s).await
}

/// Removes `region_id`'s override of `key`: it inherits again from above.
pub async fn reset(state: &AppState, p: &Principal, region_id: i64, key: &str) -> ApiResult<SettingView> {
    let region = readable_region(state, p, region_id).await?;
    p.require(Permission::SettingsWrite, &region.region_path())?;
    let s = info(key)?;
    let at = state.clock.now();
    let audit = AuditEntry {
        region_id,
        at,
        actor: p.actor(),
        action: "setting.reset",
        entity: "region_setting",
        entity_id: format!("{region_id}:{key}"),
        detail: json!({"key": s.key}),
    };
    let key = s.key;
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                if region_settings::reset(tx, region_id, key).await? {
                    tx.audit(audit).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    view(state, region_id, s).await
}

/// The value of `S` in force at `region_id`, for use cases that apply a rule.
pub async fn effective<S: Setting>(state: &AppState, region_id: i64) -> ApiResult<S::Value> {
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    Ok(region_settings::effective::<S>(&mut conn, region_id).await?.value)
}
