//! A region's implementation of one service, field by field: each overridable value with where it
//! comes from (基本目录, an ancestor, or 本级), a form to override it here — text, the promised limit
//! with its unit, the case type, the fee and its basis, the windows that serve it, the department —
//! and a button to reset it so that it inherits again. A refused value is shown again beside its
//! field with the reason, nothing saved. Plain forms: no JavaScript needed.
use super::super::{Chrome, PageAuth, PageError, PageResult, StaffForm, render};
use super::{limit_text, origin_text};
use crate::auth::Principal;
use crate::catalogue::{self as cat, ImplementationChange};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use onestop_domain::catalogue::{CaseType, Origin, TimeUnit};
use onestop_domain::role::Permission;
use onestop_store::catalogue::{Effective, OriginRegion};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/catalogue/regions/{id}/services/{sid}", get(page))
        .route("/admin/catalogue/regions/{id}/services/{sid}/reset", post(reset))
        .route("/admin/catalogue/regions/{id}/services/{sid}/set", post(set))
}

/// How a field is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Limit,
    CaseType,
    Fee,
    Windows,
    Department,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Limit => "limit",
            Kind::CaseType => "case_type",
            Kind::Fee => "fee",
            Kind::Windows => "windows",
            Kind::Department => "department",
        }
    }
}

/// The overridable fields, in page order: key (as in the API), label key, editor.
const FIELDS: &[(&str, &str, Kind)] = &[
    ("promised_limit", "impl.promised_limit", Kind::Limit),
    ("case_type", "impl.case_type", Kind::CaseType),
    ("fee", "impl.fee", Kind::Fee),
    ("windows", "impl.windows", Kind::Windows),
    ("department_name", "impl.department_name", Kind::Department),
    ("implementing_body", "impl.implementing_body", Kind::Text),
    (
        "implementing_body_credit_code",
        "impl.implementing_body_credit_code",
        Kind::Text,
    ),
    ("address", "impl.address", Kind::Text),
    ("hours", "impl.hours", Kind::Text),
    ("consult_phone", "impl.consult_phone", Kind::Text),
    ("supervise_phone", "impl.supervise_phone", Kind::Text),
];

/// A choice in a select or a set of boxes: (value, label, selected).
type Choice = (String, String, bool);

/// A window box, grouped under its hall.
struct WindowGroup {
    hall: String,
    windows: Vec<Choice>,
}

struct FieldRow {
    field: &'static str,
    label: &'static str,
    kind: &'static str,
    /// The effective value as people read it.
    value: String,
    origin: String,
    own: bool,
    /// The reason the last value sent for this field was refused (the form is then open).
    error: String,
    // What the form shows: the effective value, or what was just sent and refused.
    text: String,
    limit_value: String,
    units: Vec<Choice>,
    case_types: Vec<Choice>,
    charged: bool,
    amount: String,
    basis: String,
    window_groups: Vec<WindowGroup>,
    suggestions: Vec<String>,
}

#[derive(Template)]
#[template(path = "catalogue/implementation.html")]
struct ImplementationPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    service_id: i64,
    name: String,
    base_code: String,
    implementation_code: String,
    version: i64,
    enabled: bool,
    enabled_origin: String,
    /// The region's own switch: `1`, `0`, or empty (inherits).
    switch: &'static str,
    writable: bool,
    error: String,
    fields: Vec<FieldRow>,
}

/// What was sent and refused, to be shown again.
struct Refused {
    field: String,
    message: String,
    sent: Vec<(String, String)>,
}

fn sent<'a>(r: Option<&'a Refused>, field: &str, key: &str) -> Option<&'a str> {
    r.filter(|r| r.field == field)
        .and_then(|r| r.sent.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()))
}

/// The open windows of the halls in the region's subtree, and names for any window id.
async fn windows(
    state: &AppState,
    region_path: &str,
) -> Result<(Vec<(i64, String, String)>, BTreeMap<String, String>), PageError> {
    let read = state.store.read();
    let mut open = Vec::new();
    let mut names = BTreeMap::new();
    for hall in onestop_store::org::halls_in(read, region_path).await? {
        for w in onestop_store::org::windows_of_hall(read, hall.id).await? {
            let label = format!("{}号 {}", w.number, w.name);
            names.insert(w.id.to_string(), format!("{} · {label}", hall.name));
            if hall.closed_at.is_none() && w.closed_at.is_none() {
                open.push((w.id, hall.name.clone(), label));
            }
        }
    }
    Ok((open, names))
}

/// Names of windows outside the subtree (inherited from above), looked up one by one.
async fn window_name(state: &AppState, names: &BTreeMap<String, String>, id: &str) -> String {
    if let Some(n) = names.get(id) {
        return n.clone();
    }
    let read = state.store.read();
    match id.parse::<i64>() {
        Ok(n) => match onestop_store::org::window(read, n).await {
            Ok(w) => match onestop_store::org::hall(read, w.hall_id).await {
                Ok(h) => format!("{} · {}号 {}", h.name, w.number, w.name),
                Err(_) => format!("{}号 {}", w.number, w.name),
            },
            Err(_) => id.to_owned(),
        },
        Err(_) => id.to_owned(),
    }
}

async fn build(
    state: &AppState,
    p: &Principal,
    id: i64,
    sid: i64,
    refused: Option<&Refused>,
) -> Result<ImplementationPage, PageError> {
    let e: Effective = cat::implementation(state, p, id, sid).await?;
    let region = onestop_store::regions::get(state.store.read(), id).await?;
    let t = crate::i18n::messages(None);
    let (open_windows, window_names) = windows(state, &region.path).await?;
    let departments: Vec<String> = onestop_store::org::departments_in(state.store.read(), &region.path)
        .await?
        .into_iter()
        .filter(|d| d.closed_at.is_none())
        // The region's own departments are named with the region, as guides show them (久安市市场监督管理局).
        .map(|d| {
            if d.region_id == region.id && !d.name.starts_with(&region.name) {
                format!("{}{}", region.name, d.name)
            } else {
                d.name
            }
        })
        .collect();
    let o = &e.origins;
    let mut fields = Vec::new();
    for (field, label, kind) in FIELDS {
        let origin: &Origin<OriginRegion> = match *field {
            "promised_limit" => &o.promised_limit.origin,
            "case_type" => &o.case_type.origin,
            "fee" => &o.fee.origin,
            "windows" => &o.windows.origin,
            "department_name" => &o.department_name.origin,
            "implementing_body" => &o.implementing_body.origin,
            "implementing_body_credit_code" => &o.implementing_body_credit_code.origin,
            "address" => &o.address.origin,
            "hours" => &o.hours.origin,
            "consult_phone" => &o.consult_phone.origin,
            _ => &o.supervise_phone.origin,
        };
        let (origin_label, origin_kind) = origin_text(origin, id);
        let text_value = match *field {
            "department_name" => o.department_name.value.clone(),
            "implementing_body" => o.implementing_body.value.clone(),
            "implementing_body_credit_code" => o.implementing_body_credit_code.value.clone(),
            "address" => o.address.value.clone(),
            "hours" => o.hours.value.clone(),
            "consult_phone" => o.consult_phone.value.clone(),
            "supervise_phone" => o.supervise_phone.value.clone(),
            _ => String::new(),
        };
        let mut window_labels = Vec::new();
        for w in &o.windows.value {
            window_labels.push(window_name(state, &window_names, w).await);
        }
        let value = match kind {
            Kind::Limit => limit_text(o.promised_limit.value),
            Kind::CaseType => o.case_type.value.label().to_owned(),
            Kind::Fee => o
                .fee
                .value
                .as_ref()
                .map(|f| format!("{}（{}：{}）", f.amount, t.get("impl.fee_basis"), f.basis))
                .unwrap_or_else(|| t.get("impl.no_fee").to_owned()),
            Kind::Windows if window_labels.is_empty() => t.get("impl.no_windows").to_owned(),
            Kind::Windows => window_labels.join("、"),
            Kind::Text | Kind::Department => text_value.clone(),
        };
        let limit = o.promised_limit.value;
        let unit_now = sent(refused, field, "limit_unit")
            .map(str::to_owned)
            .unwrap_or_else(|| limit.map(|l| l.unit).unwrap_or(TimeUnit::WorkingDays).code().to_owned());
        let case_now = sent(refused, field, "value")
            .map(str::to_owned)
            .unwrap_or_else(|| o.case_type.value.code().to_owned());
        let chosen_windows: Vec<String> = match refused.filter(|r| r.field == *field) {
            Some(r) => r
                .sent
                .iter()
                .filter(|(k, _)| k == "windows")
                .map(|(_, v)| v.clone())
                .collect(),
            None => o.windows.value.clone(),
        };
        let mut window_groups: Vec<WindowGroup> = Vec::new();
        if *kind == Kind::Windows {
            for (wid, hall, label) in &open_windows {
                let choice = (
                    wid.to_string(),
                    label.clone(),
                    chosen_windows.contains(&wid.to_string()),
                );
                match window_groups.iter_mut().find(|g| g.hall == *hall) {
                    Some(g) => g.windows.push(choice),
                    None => window_groups.push(WindowGroup {
                        hall: hall.clone(),
                        windows: vec![choice],
                    }),
                }
            }
        }
        let fee = o.fee.value.as_ref();
        fields.push(FieldRow {
            field,
            label: t.get(label),
            kind: kind.name(),
            value,
            origin: origin_label,
            own: origin_kind == "own",
            error: refused
                .filter(|r| r.field == *field)
                .map(|r| r.message.clone())
                .unwrap_or_default(),
            text: sent(refused, field, "value").map(str::to_owned).unwrap_or(text_value),
            limit_value: sent(refused, field, "limit_value")
                .map(str::to_owned)
                .unwrap_or_else(|| limit.map(|l| l.value.to_string()).unwrap_or_default()),
            units: TimeUnit::ALL
                .iter()
                .map(|u| (u.code().to_owned(), u.label().to_owned(), u.code() == unit_now))
                .collect(),
            case_types: CaseType::ALL
                .iter()
                .map(|c| (c.code().to_owned(), c.label().to_owned(), c.code() == case_now))
                .collect(),
            charged: match sent(refused, field, "charged") {
                Some(v) => v == "1",
                None => fee.is_some(),
            },
            amount: sent(refused, field, "amount")
                .map(str::to_owned)
                .unwrap_or_else(|| fee.map(|f| f.amount.clone()).unwrap_or_default()),
            basis: sent(refused, field, "basis")
                .map(str::to_owned)
                .unwrap_or_else(|| fee.map(|f| f.basis.clone()).unwrap_or_default()),
            window_groups,
            suggestions: if *kind == Kind::Department {
                departments.clone()
            } else {
                Vec::new()
            },
        });
    }
    let enabled_origin = match &e.enabled_origin {
        Some(r) if r.id == id => t.get("impl.own").to_owned(),
        Some(r) => format!("{}{}", t.get("impl.inherited_from"), r.name),
        None => t.get("impl.never_enabled").to_owned(),
    };
    let switch = match &e.enabled_origin {
        Some(r) if r.id == id && e.enabled => "1",
        Some(r) if r.id == id => "0",
        _ => "",
    };
    Ok(ImplementationPage {
        switch,
        c: Chrome::for_principal(p, "/admin/catalogue"),
        region_id: id,
        writable: p.can(Permission::CatalogueWrite, &region.region_path()),
        region_name: region.name,
        service_id: sid,
        name: e.record.name.clone(),
        base_code: e.record.base_code.clone(),
        implementation_code: e.record.implementation_code.clone(),
        version: e.version_number,
        enabled: e.enabled,
        enabled_origin,
        error: refused
            .filter(|r| r.field == "enabled")
            .map(|r| r.message.clone())
            .unwrap_or_default(),
        fields,
    })
}

async fn page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath((id, sid)): ApiPath<(i64, i64)>,
) -> PageResult {
    let page = build(&state, &p, id, sid, None).await.map_err(|e| with_chrome(e, &p))?;
    Ok(render(StatusCode::OK, &page))
}

fn with_chrome(mut e: PageError, p: &Principal) -> PageError {
    if e.chrome.is_none() {
        e.chrome = Some(Chrome::for_principal(p, "/admin/catalogue"));
    }
    e
}

fn field_error(field: &str, code: &'static str, message: &str) -> ApiError {
    let mut e = ApiError::validation(code, message.to_owned());
    e.fields.push(crate::error::FieldError {
        field: field.to_owned(),
        code: code.to_owned(),
        message: message.to_owned(),
    });
    e
}

/// The JSON value of an override sent by the page's form for `field`.
fn value_of(field: &str, form: &[(String, String)]) -> Result<Value, ApiError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).unwrap_or("");
    let kind = FIELDS
        .iter()
        .find(|(f, _, _)| *f == field)
        .map(|(_, _, k)| *k)
        .ok_or_else(|| field_error(field, "field_not_overridable", "该字段由基本目录统一维护，或不存在"))?;
    Ok(match kind {
        Kind::Text | Kind::Department => Value::String(get("value").to_owned()),
        Kind::CaseType => Value::String(get("value").to_owned()),
        Kind::Limit => {
            let days: u32 = get("limit_value")
                .parse()
                .map_err(|_| field_error(field, "limit_value_invalid", "请填写天数（不小于 0 的整数）"))?;
            json!({"value": days, "unit": get("limit_unit")})
        }
        Kind::Fee => match get("charged") {
            "1" => json!({"amount": get("amount"), "basis": get("basis")}),
            _ => Value::Null,
        },
        Kind::Windows => Value::Array(
            form.iter()
                .filter(|(k, _)| k == "windows")
                .map(|(_, v)| Value::String(v.trim().to_owned()))
                .collect(),
        ),
    })
}

/// Sets one override (or the enabled switch) from the page's form; a refused value is shown again
/// beside its field (422) with nothing saved.
async fn set(
    State(state): State<AppState>,
    ApiPath((id, sid)): ApiPath<(i64, i64)>,
    f: StaffForm<Vec<(String, String)>>,
) -> PageResult {
    let form = f.form;
    let field = form
        .iter()
        .find(|(k, _)| k == "field")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut change = ImplementationChange::default();
    let result = if field == "enabled" {
        let v = form.iter().find(|(k, _)| k == "value").map(|(_, v)| v.as_str());
        change.enabled = Some(match v {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        });
        cat::change_implementation(&state, &f.p, id, sid, change).await
    } else {
        match value_of(&field, &form) {
            Ok(value) => {
                change.set.insert(field.clone(), value);
                cat::change_implementation(&state, &f.p, id, sid, change).await
            }
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/catalogue/regions/{id}/services/{sid}#f-{field}")).into_response()),
        Err(err) if err.status == StatusCode::UNPROCESSABLE_ENTITY => {
            // Every problem with the resulting guide, in one message beside the field that was sent.
            let message = if err.fields.is_empty() {
                err.message.clone()
            } else {
                err.fields
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("；")
            };
            let refused = Refused {
                field,
                message,
                sent: form,
            };
            let page = build(&state, &f.p, id, sid, Some(&refused))
                .await
                .map_err(|e| with_chrome(e, &f.p))?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(err) => Err(PageError {
            err,
            chrome: Some(Chrome::for_principal(&f.p, "/admin/catalogue")),
        }),
    }
}

async fn reset(
    State(state): State<AppState>,
    ApiPath((id, sid)): ApiPath<(i64, i64)>,
    f: StaffForm<Vec<(String, String)>>,
) -> PageResult {
    let field = f
        .form
        .iter()
        .find(|(k, _)| k == "field")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let change = ImplementationChange {
        reset: vec![field.clone()],
        ..Default::default()
    };
    match cat::change_implementation(&state, &f.p, id, sid, change).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/catalogue/regions/{id}/services/{sid}#f-{field}")).into_response()),
        Err(err) if err.status == StatusCode::UNPROCESSABLE_ENTITY && FIELDS.iter().any(|(k, _, _)| *k == field) => {
            // Inheriting again can break a rule too (e.g. the parent's limit with our case type).
            let message = err
                .fields
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("；");
            let refused = Refused {
                field,
                message: if message.is_empty() { err.message } else { message },
                sent: Vec::new(),
            };
            let page = build(&state, &f.p, id, sid, Some(&refused))
                .await
                .map_err(|e| with_chrome(e, &f.p))?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(err) => Err(PageError {
            err,
            chrome: Some(Chrome::for_principal(&f.p, "/admin/catalogue")),
        }),
    }
}
