//! The region admin's settings page: every configurable rule with the value in force, where it
//! comes from (默认值 / 继承自 久安市 / 本级设置), a form to override it here, and a reset.
use super::{Chrome, PageAuth, PageResult, StaffForm, page_err, render, see_other};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::settings::{self, SettingView};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use onestop_domain::role::Permission;
use onestop_store::region_settings::SettingOrigin;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/regions/{id}/settings", get(page))
        .route("/admin/regions/{id}/settings/{key}", post(save))
        .route("/admin/regions/{id}/settings/{key}/reset", post(reset))
}

/// How one field of a value is edited.
pub(crate) enum FieldKind {
    Number,
    Bool,
    Text,
}

pub(crate) struct FieldRow {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    /// The value in force, as the input shows it.
    pub shown: String,
    pub checked: bool,
    pub default_shown: String,
}

pub(crate) struct SettingCard {
    pub key: String,
    pub title: String,
    pub origin: String,
    pub overridden_here: bool,
    pub own_invalid: bool,
    pub fields: Vec<FieldRow>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "region_settings.html")]
struct SettingsPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    writable: bool,
    cards: Vec<SettingCard>,
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn card(v: SettingView, region_id: i64, error: Option<String>) -> SettingCard {
    let t = crate::i18n::messages(None);
    let origin = match &v.origin {
        SettingOrigin::Default => t.get("settings.origin_default").to_owned(),
        SettingOrigin::Region { id, .. } if *id == region_id => t.get("settings.origin_here").to_owned(),
        SettingOrigin::Region { name, .. } => format!("{}{}", t.get("settings.origin_inherited"), name),
    };
    let fields = match (&v.value, &v.default) {
        (Value::Object(value), Value::Object(default)) => default
            .iter()
            .map(|(name, d)| {
                let current = value.get(name).unwrap_or(d);
                FieldRow {
                    label: t.get(&format!("settings.{}.{}", v.key, name)).to_owned(),
                    kind: match d {
                        Value::Bool(_) => FieldKind::Bool,
                        Value::Number(_) => FieldKind::Number,
                        _ => FieldKind::Text,
                    },
                    shown: shown(current),
                    checked: current.as_bool().unwrap_or(false),
                    default_shown: shown(d),
                    name: name.clone(),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    SettingCard {
        key: v.key,
        title: v.title,
        origin,
        overridden_here: v.overridden_here,
        own_invalid: v.own_invalid,
        fields,
        error,
    }
}

async fn render_page(
    state: &AppState,
    p: &crate::auth::Principal,
    region_id: i64,
    error: Option<(String, ApiError)>,
) -> PageResult {
    let err = page_err(p);
    let region = crate::ops::get_region(state, p, region_id).await.map_err(&err)?;
    let views = settings::list(state, p, region_id).await.map_err(&err)?;
    let status = error.as_ref().map_or(StatusCode::OK, |(_, e)| e.status);
    let cards = views
        .into_iter()
        .map(|v| {
            let msg = error
                .as_ref()
                .filter(|(k, _)| *k == v.key)
                .map(|(_, e)| e.message.clone());
            card(v, region_id, msg)
        })
        .collect();
    let page = SettingsPage {
        c: Chrome::for_principal(p, "/admin/regions"),
        writable: p.can(Permission::SettingsWrite, &region.region_path()),
        region_id,
        region_name: region.name,
        cards,
    };
    Ok(render(status, &page))
}

async fn page(State(state): State<AppState>, PageAuth(p): PageAuth, ApiPath(id): ApiPath<i64>) -> PageResult {
    p.require_any(Permission::StructureBrowse).map_err(page_err(&p))?;
    render_page(&state, &p, id, None).await
}

/// Builds the value from the form: each field of the default, read in the default's type.
fn value_from_form(default: &Value, form: &HashMap<String, String>) -> Result<Value, ApiError> {
    let Value::Object(fields) = default else {
        return Err(ApiError::validation("setting_invalid", "该设置不能在页面上修改"));
    };
    let mut out = serde_json::Map::new();
    for (name, d) in fields {
        let raw = form.get(name).map(|s| s.trim());
        let v = match d {
            Value::Bool(_) => Value::Bool(matches!(raw, Some("on" | "true" | "1"))),
            Value::Number(n) => {
                let raw = raw.unwrap_or("");
                let parsed = if n.is_f64() {
                    raw.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                } else {
                    raw.parse::<i64>().ok().map(Value::from)
                };
                parsed.ok_or_else(|| ApiError::validation("setting_invalid", format!("“{raw}”不是有效的数字")))?
            }
            _ => Value::String(raw.unwrap_or("").to_owned()),
        };
        out.insert(name.clone(), v);
    }
    Ok(Value::Object(out))
}

async fn save(
    State(state): State<AppState>,
    ApiPath((id, key)): ApiPath<(i64, String)>,
    f: StaffForm<HashMap<String, String>>,
) -> PageResult {
    let p = f.p;
    let result = match settings::info(&key) {
        Ok(info) => match value_from_form(&info.default_value(), &f.form) {
            Ok(value) => settings::set(&state, &p, id, &key, &value).await.map(|_| ()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/admin/regions/{id}/settings#{key}"))),
        // Out of scope or without permission: the plain error page, as elsewhere.
        Err(e) if matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => Err(page_err(&p)(e)),
        Err(e) => render_page(&state, &p, id, Some((key, e))).await,
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn reset(
    State(state): State<AppState>,
    ApiPath((id, key)): ApiPath<(i64, String)>,
    f: StaffForm<Empty>,
) -> PageResult {
    settings::reset(&state, &f.p, id, &key).await.map_err(page_err(&f.p))?;
    Ok(see_other(&format!("/admin/regions/{id}/settings#{key}")))
}
