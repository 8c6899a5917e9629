//! Applying for a case in the browser (issue 4): the citizen's online application
//! (`/apply/{region}/{code}`, `/apply/{region}/bundle/{code}`: public, identified by a phone code)
//! and the clerk's window intake (`/cases/new`, optionally for the served ticket of a visit). Both
//! render the catalogue's form definition as data, take uploads or an e-certificate already issued
//! to the applicant, and submit through the same use case as the JSON API, so the checks and the
//! error codes are the API's; errors are shown beside their fields. The receipt shows the case
//! number, the tracking code (once) and its QR code to `/follow`.
use super::certs::{base_url, qr_svg};
use super::{Chrome, PageAuth, PageError, append_cookie, csrf_cookie, render};
use crate::auth::{Principal, check_csrf, client_ip, double_submit_ok, random_token, rate_limit};
use crate::cases::{self as ops, ApplicantInput, MaterialInput, SubmitRequest, Submitted, Submitter};
use crate::catalogue as cat;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::uploads::Incoming;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onestop_domain::form::{FieldKind, FormDefinition};
use onestop_domain::role::Permission;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    // Uploads stream through `Incoming` with the per-file limit, so the general body limit is off
    // on the submitting routes (as on /api/v1/uploads).
    Router::new()
        .route(
            "/apply/{region}/{code}",
            get(online_service_page)
                .post(online_service_submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/apply/{region}/bundle/{code}",
            get(online_bundle_page)
                .post(online_bundle_submit)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/apply/phone-code", post(phone_code))
        .route(
            "/cases/new",
            get(intake_page).post(intake_submit).layer(DefaultBodyLimit::disable()),
        )
}

/// At most this many material files in one application, and this much non-file form text.
const MAX_FILES: usize = 20;
const MAX_TEXT_BYTES: usize = 64 * 1024;

// ---- what is applied for ------------------------------------------------------------------------

/// The service or bundle applied for, as the region's catalogue offers it today.
struct Subject {
    region_code: String,
    service: Option<String>,
    bundle: Option<String>,
    title: String,
    form: FormDefinition,
    /// (name, required)
    materials: Vec<(String, bool)>,
}

async fn subject(
    state: &AppState,
    region: &str,
    service: Option<&str>,
    bundle: Option<&str>,
) -> Result<Subject, ApiError> {
    match (service.filter(|s| !s.is_empty()), bundle.filter(|s| !s.is_empty())) {
        (Some(code), None) => {
            let g = cat::public_guide(state, region, code).await?;
            Ok(Subject {
                region_code: region.to_owned(),
                service: Some(g.record.base_code.clone()),
                bundle: None,
                title: g.record.name.clone(),
                form: g.form.clone(),
                materials: g.materials.iter().map(|m| (m.name.clone(), m.required)).collect(),
            })
        }
        (None, Some(code)) => {
            let r = cat::public_region(state, Some(region)).await?;
            let b = cat::bundles(state)
                .await?
                .into_iter()
                .find(|b| b.code == code)
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "bundle_unknown", "没有这个一件事"))?;
            let g = cat::bundle_guide(state, r.id, b.id).await?;
            if !g.available {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "bundle_not_offered",
                    "本地区暂不办理该一件事",
                ));
            }
            Ok(Subject {
                region_code: r.code,
                service: None,
                bundle: Some(b.code),
                title: b.name,
                form: g.merged.form.clone(),
                materials: g
                    .merged
                    .materials
                    .iter()
                    .map(|m| (m.material.name.clone(), m.material.required))
                    .collect(),
            })
        }
        _ => Err(ApiError::validation("subject_required", "请选择一个事项或一件事")),
    }
}

// ---- the page -----------------------------------------------------------------------------------

pub struct FieldView {
    pub name: String,
    pub label: String,
    pub input: &'static str,
    pub required: bool,
    pub value: String,
    pub options: Vec<(String, String, bool)>,
    pub error: String,
    pub hint: &'static str,
    pub max_len: usize,
}

fn field_views(
    form: &FormDefinition,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> Vec<FieldView> {
    form.fields
        .iter()
        .map(|f| {
            let name = format!("form.{}", f.key);
            let value = values.get(&name).cloned().unwrap_or_default();
            let (input, hint) = match &f.kind {
                FieldKind::Text => ("text", ""),
                FieldKind::TextArea => ("textarea", ""),
                FieldKind::Number => ("text", "数字"),
                FieldKind::Date => ("date", "如 2026-03-18"),
                FieldKind::Select(_) => ("select", ""),
                FieldKind::IdNumber => ("text", "18 位居民身份证号码"),
                FieldKind::Phone => ("tel", "11 位手机号码"),
                FieldKind::CreditCode => ("text", "18 位统一社会信用代码"),
                FieldKind::Email => ("email", ""),
                FieldKind::Checkbox => ("checkbox", ""),
            };
            let options = match &f.kind {
                FieldKind::Select(opts) => opts
                    .iter()
                    .map(|o| (o.value.clone(), o.label.clone(), o.value == value))
                    .collect(),
                _ => Vec::new(),
            };
            FieldView {
                error: errors.get(&name).cloned().unwrap_or_default(),
                name,
                label: f.label.clone(),
                input,
                required: f.required,
                options,
                hint,
                max_len: f.max_len.unwrap_or(match f.kind {
                    FieldKind::TextArea => onestop_domain::form::DEFAULT_TEXTAREA_MAX_LEN,
                    _ => onestop_domain::form::DEFAULT_MAX_LEN,
                }),
                value,
            }
        })
        .collect()
}

pub struct MaterialView {
    pub idx: usize,
    pub name: String,
    pub required: bool,
    /// A file uploaded by an earlier attempt of this form, kept so it need not be sent again.
    pub upload_id: Option<i64>,
    pub upload_name: String,
    pub cert: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "cases/apply.html")]
struct ApplyPage {
    c: Chrome,
    online: bool,
    action: String,
    title: String,
    region_code: String,
    service: String,
    bundle: String,
    ticket_id: Option<i64>,
    idem: String,
    name: String,
    id_number: String,
    phone: String,
    fields: Vec<FieldView>,
    materials: Vec<MaterialView>,
    errors: Vec<String>,
    field_errors: BTreeMap<String, String>,
}

impl ApplyPage {
    fn err(&self, field: &str) -> &str {
        self.field_errors.get(field).map(String::as_str).unwrap_or("")
    }
}

/// What was entered (kept on a re-render after an error).
#[derive(Default)]
struct Entered {
    text: BTreeMap<String, String>,
    uploads: BTreeMap<usize, (i64, String)>,
}

fn page_of(
    c: Chrome,
    s: &Subject,
    online: bool,
    e: &Entered,
    errors: Vec<String>,
    fe: BTreeMap<String, String>,
) -> ApplyPage {
    let t = |k: &str| e.text.get(k).cloned().unwrap_or_default();
    let materials = s
        .materials
        .iter()
        .enumerate()
        .map(|(i, (name, required))| {
            let up = e.uploads.get(&i);
            MaterialView {
                idx: i,
                name: name.clone(),
                required: *required,
                upload_id: up.map(|u| u.0),
                upload_name: up.map(|u| u.1.clone()).unwrap_or_default(),
                cert: t(&format!("m{i}_cert")),
                error: fe.get(&format!("m{i}")).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let action = match (online, &s.service, &s.bundle) {
        (false, service, bundle) => format!(
            "/cases/new?region={}&service={}&bundle={}",
            super::urlencode(&s.region_code),
            super::urlencode(service.as_deref().unwrap_or("")),
            super::urlencode(bundle.as_deref().unwrap_or(""))
        ),
        (true, Some(code), _) => format!("/apply/{}/{code}", s.region_code),
        (true, None, Some(code)) => format!("/apply/{}/bundle/{code}", s.region_code),
        (true, None, None) => String::new(),
    };
    ApplyPage {
        c,
        online,
        action,
        title: s.title.clone(),
        region_code: s.region_code.clone(),
        service: s.service.clone().unwrap_or_default(),
        bundle: s.bundle.clone().unwrap_or_default(),
        ticket_id: t("ticket_id").parse().ok(),
        idem: e
            .text
            .get("idem")
            .cloned()
            .filter(|k| ops::check_idempotency_key(k).is_ok())
            .unwrap_or_else(random_token),
        name: t("applicant_name"),
        id_number: t("applicant_id_number"),
        phone: t("applicant_phone"),
        fields: field_views(&s.form, &e.text, &fe),
        materials,
        errors,
        field_errors: fe,
    }
}

fn public_chrome(csrf: String) -> Chrome {
    Chrome::anonymous(csrf)
}

/// Renders with a fresh anonymous CSRF token and its cookie.
fn with_csrf(state: &AppState, status: StatusCode, make: impl FnOnce(Chrome) -> ApplyPage) -> Response {
    let csrf = random_token();
    let page = make(public_chrome(csrf.clone()));
    let mut res = render(status, &page);
    append_cookie(&mut res, &csrf_cookie(state, &csrf));
    res
}

fn public_error(e: ApiError) -> Response {
    PageError::from(e).into_response()
}

// ---- online -------------------------------------------------------------------------------------

async fn online_page(state: AppState, region: String, service: Option<String>, bundle: Option<String>) -> Response {
    match subject(&state, &region, service.as_deref(), bundle.as_deref()).await {
        Ok(s) => with_csrf(&state, StatusCode::OK, |c| {
            page_of(c, &s, true, &Entered::default(), Vec::new(), BTreeMap::new())
        }),
        Err(e) => public_error(e),
    }
}

async fn online_service_page(
    State(state): State<AppState>,
    ApiPath((region, code)): ApiPath<(String, String)>,
) -> Response {
    online_page(state, region, Some(code), None).await
}

async fn online_bundle_page(
    State(state): State<AppState>,
    ApiPath((region, code)): ApiPath<(String, String)>,
) -> Response {
    online_page(state, region, None, Some(code)).await
}

async fn online_service_submit(
    State(state): State<AppState>,
    ApiPath((region, code)): ApiPath<(String, String)>,
    req: Request,
) -> Response {
    online_submit(state, region, Some(code), None, req).await
}

async fn online_bundle_submit(
    State(state): State<AppState>,
    ApiPath((region, code)): ApiPath<(String, String)>,
    req: Request,
) -> Response {
    online_submit(state, region, None, Some(code), req).await
}

async fn online_submit(
    state: AppState,
    region: String,
    service: Option<String>,
    bundle: Option<String>,
    req: Request,
) -> Response {
    let s = match subject(&state, &region, service.as_deref(), bundle.as_deref()).await {
        Ok(s) => s,
        Err(e) => return public_error(e),
    };
    let (parts, body) = req.into_parts();
    let address = client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default();
    let headers = parts.headers.clone();
    let check = |token: Option<&str>| {
        if double_submit_ok(&headers, token) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_invalid",
                "页面已过期，请刷新后重新提交",
            ))
        }
    };
    let uploaded_by = format!("anonymous:{address}");
    let read = read_application(
        &state,
        Request::from_parts(parts, body),
        &s,
        check,
        &uploaded_by,
        Some(&address),
    )
    .await;
    let entered = match read {
        Ok(e) => e,
        Err(e) => return public_error(e),
    };
    let req = request_of(&s, &entered, true);
    let key = entered
        .text
        .get("idem")
        .cloned()
        .and_then(|k| ops::check_idempotency_key(&k).ok());
    match ops::submit(&state, Submitter::Online { address }, req, key).await {
        Ok(sub) => receipt(&state, &headers, public_chrome(String::new()), &s, sub, true),
        Err(e) => {
            let (errors, fe) = split_errors(&e, &s);
            with_csrf(&state, e.status, |c| page_of(c, &s, true, &entered, errors, fe))
        }
    }
}

#[derive(Deserialize)]
struct PhoneCodeForm {
    csrf: Option<String>,
    applicant_phone: Option<String>,
}

#[derive(Template)]
#[template(
    source = "<span id=\"code-status\" class=\"{% if ok %}ok{% else %}field-error{% endif %}\" role=\"status\">{{ message }}</span>",
    ext = "html"
)]
struct CodeStatus {
    ok: bool,
    message: String,
}

/// Sends the phone code (htmx from the apply form; answers with a status line to swap in).
async fn phone_code(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let address = client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default();
    let bytes = axum::body::to_bytes(body, MAX_TEXT_BYTES).await.unwrap_or_default();
    let form: PhoneCodeForm = serde_urlencoded::from_bytes(&bytes).unwrap_or(PhoneCodeForm {
        csrf: None,
        applicant_phone: None,
    });
    let (status, ok, message) = if !double_submit_ok(&parts.headers, form.csrf.as_deref()) {
        (StatusCode::FORBIDDEN, false, "页面已过期，请刷新后重试".to_owned())
    } else {
        match ops::send_phone_code(&state, form.applicant_phone.as_deref().unwrap_or(""), &address).await {
            Ok(()) => (StatusCode::OK, true, "验证码已发送，10 分钟内有效".to_owned()),
            Err(e) => (e.status, false, e.message),
        }
    };
    // htmx swaps only 2xx answers by default: the error is a 200 fragment for htmx, and keeps
    // its status otherwise.
    let htmx = parts.headers.contains_key("hx-request");
    let status = if htmx { StatusCode::OK } else { status };
    render(status, &CodeStatus { ok, message })
}

// ---- window intake ------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct IntakeQuery {
    region: Option<String>,
    service: Option<String>,
    bundle: Option<String>,
    ticket_id: Option<String>,
}

#[derive(Template)]
#[template(path = "cases/pick.html")]
struct PickPage {
    c: Chrome,
    region_code: String,
    regions: Vec<(String, String)>,
    ticket_id: String,
    ticket_no: String,
    services: Vec<(String, String, String)>,
    bundles: Vec<(String, String)>,
}

/// Regions where this clerk works and the public catalogue has guides.
async fn clerk_regions(state: &AppState, p: &Principal) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for r in cat::public_regions(state).await? {
        if p.can(Permission::WindowWork, &r.region_path()) {
            out.push((r.code, r.name));
        }
    }
    Ok(out)
}

/// The ticket's number and its hall's region code (a clerk may only link tickets of their halls).
async fn ticket_context(
    state: &AppState,
    p: &Principal,
    raw: Option<&str>,
) -> Result<Option<(i64, String, String)>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::validation("ticket_unknown", "没有这张号票");
    let id: i64 = raw.parse().map_err(|_| bad())?;
    let t = onestop_store::queue::ticket(state.store.read(), id)
        .await
        .map_err(|_| bad())?;
    let hall = onestop_store::org::hall(state.store.read(), t.hall_id).await?;
    let region = onestop_store::regions::get(state.store.read(), hall.region_id).await?;
    p.require(Permission::WindowWork, &region.region_path())?;
    Ok(Some((t.id, t.ticket_no, region.code)))
}

async fn intake_page(State(state): State<AppState>, PageAuth(p): PageAuth, Query(q): Query<IntakeQuery>) -> Response {
    let err = super::page_err(&p);
    let res: Result<Response, ApiError> = async {
        p.require_any(Permission::WindowWork)?;
        let ticket = ticket_context(&state, &p, q.ticket_id.as_deref()).await?;
        let regions = clerk_regions(&state, &p).await?;
        let region_code = q
            .region
            .clone()
            .filter(|r| regions.iter().any(|(c, _)| c == r))
            .or_else(|| ticket.as_ref().map(|t| t.2.clone()))
            .or_else(|| regions.first().map(|r| r.0.clone()))
            .unwrap_or_default();
        let chosen = q.service.as_deref().filter(|s| !s.is_empty()).is_some()
            || q.bundle.as_deref().filter(|s| !s.is_empty()).is_some();
        if !chosen {
            let mut services = Vec::new();
            let mut bundles = Vec::new();
            if let Ok(r) = cat::public_region(&state, Some(&region_code)).await {
                let guides = cat::search::entries(&state, r.id).await?;
                services = guides
                    .entries
                    .iter()
                    .map(|g| (g.base_code.clone(), g.name.clone(), g.department.clone()))
                    .collect();
                for b in cat::bundles(&state).await? {
                    if cat::bundle_guide(&state, r.id, b.id).await.is_ok_and(|g| g.available) {
                        bundles.push((b.code, b.name));
                    }
                }
            }
            let page = PickPage {
                c: Chrome::for_principal(&p, "/inbox"),
                region_code,
                regions,
                ticket_id: ticket.as_ref().map(|t| t.0.to_string()).unwrap_or_default(),
                ticket_no: ticket.map(|t| t.1).unwrap_or_default(),
                services,
                bundles,
            };
            return Ok(render(StatusCode::OK, &page));
        }
        let s = subject(&state, &region_code, q.service.as_deref(), q.bundle.as_deref()).await?;
        let mut e = Entered::default();
        if let Some(t) = &ticket {
            e.text.insert("ticket_id".into(), t.0.to_string());
        }
        let page = page_of(
            Chrome::for_principal(&p, "/inbox"),
            &s,
            false,
            &e,
            Vec::new(),
            BTreeMap::new(),
        );
        Ok(render(StatusCode::OK, &page))
    }
    .await;
    res.unwrap_or_else(|e| err(e).into_response())
}

async fn intake_submit(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let p = match PageAuth::from_request_parts(&mut parts, &state).await {
        Ok(PageAuth(p)) => p,
        Err(res) => return res,
    };
    let err = super::page_err(&p);
    if let Err(e) = p.require_any(Permission::WindowWork) {
        return err(e).into_response();
    }
    // The subject comes from the form itself (hidden fields), read before the files.
    let uri_query = parts.uri.query().unwrap_or("").to_owned();
    let q: IntakeQuery = serde_urlencoded::from_str(&uri_query).unwrap_or_default();
    let region = q.region.clone().unwrap_or_default();
    let s = match subject(&state, &region, q.service.as_deref(), q.bundle.as_deref()).await {
        Ok(s) => s,
        Err(e) => return err(e).into_response(),
    };
    let headers = parts.headers.clone();
    let check = |token: Option<&str>| check_csrf(&p, &Method::POST, token);
    let read = read_application(&state, Request::from_parts(parts, body), &s, check, &p.actor(), None).await;
    let mut entered = match read {
        Ok(e) => e,
        Err(e) => return err(e).into_response(),
    };
    if let Some(t) = q.ticket_id.filter(|t| !t.is_empty()) {
        entered.text.entry("ticket_id".into()).or_insert(t);
    }
    let mut req = request_of(&s, &entered, false);
    // The hall: the ticket's, else the clerk's own (the use case defaults to the region's first).
    req.hall_id = match req.ticket_id {
        Some(id) => onestop_store::queue::ticket(state.store.read(), id)
            .await
            .ok()
            .map(|t| t.hall_id),
        None => p.user.hall_id,
    };
    let key = entered
        .text
        .get("idem")
        .cloned()
        .and_then(|k| ops::check_idempotency_key(&k).ok());
    match ops::submit(&state, Submitter::Staff(p.clone()), req, key).await {
        Ok(sub) => receipt(&state, &headers, Chrome::for_principal(&p, "/inbox"), &s, sub, false),
        Err(e) => {
            let (errors, fe) = split_errors(&e, &s);
            let page = page_of(Chrome::for_principal(&p, "/inbox"), &s, false, &entered, errors, fe);
            render(e.status, &page)
        }
    }
}

// ---- reading the form ---------------------------------------------------------------------------

/// Reads the multipart application: text fields, and each material's file (stored as an upload
/// on the spot). The CSRF token must come first (the template puts it first), so that no file is
/// stored for a forged request.
async fn read_application(
    state: &AppState,
    req: Request,
    s: &Subject,
    check: impl Fn(Option<&str>) -> Result<(), ApiError>,
    uploaded_by: &str,
    anonymous_address: Option<&str>,
) -> Result<Entered, ApiError> {
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|_| ApiError::bad_request("multipart_expected", "表单提交方式不正确，请在页面上重新提交"))?;
    let max = state.infra.max_upload_bytes;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::uploads::too_large(max)
        } else {
            ApiError::bad_request("multipart_invalid", "表单内容不完整，请重新提交")
        }
    };
    let mut e = Entered::default();
    let mut csrf_ok = false;
    let mut text_bytes = 0usize;
    let mut files = 0usize;
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        if let Some(file_name) = file_name {
            let idx = name
                .strip_prefix('m')
                .and_then(|r| r.strip_suffix("_file"))
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| *i < s.materials.len());
            if !csrf_ok {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_invalid",
                    "页面已过期，请刷新后重新提交",
                ));
            }
            let Some(idx) = idx.filter(|_| !file_name.is_empty()) else {
                // An empty file input (nothing chosen) or an unknown one: skip its bytes.
                while field.chunk().await.map_err(bad)?.is_some() {}
                continue;
            };
            files += 1;
            if files > MAX_FILES {
                return Err(ApiError::validation("materials_too_many", "一次最多上传 20 份材料"));
            }
            if let Some(addr) = anonymous_address {
                rate_limit(state, format!("upload:{addr}"), 60, jiff::SignedDuration::from_mins(10)).await?;
            }
            let mut incoming = Incoming::start(state).await?;
            let mut empty = true;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        empty &= chunk.is_empty();
                        incoming
                            .push(&chunk)
                            .await
                            .map_err(|err| material_error(idx, &s.materials[idx].0, err))?;
                    }
                    Ok(None) => break,
                    Err(err) => {
                        incoming.discard().await;
                        return Err(bad(err));
                    }
                }
            }
            if empty {
                incoming.discard().await;
                continue;
            }
            let u = incoming
                .finish(state, &file_name, uploaded_by)
                .await
                .map_err(|err| material_error(idx, &s.materials[idx].0, err))?;
            e.uploads.insert(idx, (u.id, u.original_name));
            continue;
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            text_bytes += chunk.len();
            if text_bytes > MAX_TEXT_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "表单内容过多",
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value =
            String::from_utf8(value).map_err(|_| ApiError::bad_request("invalid_form", "表单内容不是有效的文字"))?;
        if name == "csrf" {
            check(Some(value.as_str()))?;
            csrf_ok = true;
            continue;
        }
        // An upload kept from an earlier attempt.
        if let Some(idx) = name
            .strip_prefix('m')
            .and_then(|r| r.strip_suffix("_upload"))
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < s.materials.len())
        {
            if let Ok(id) = value.trim().parse::<i64>()
                && !e.uploads.contains_key(&idx)
                && let Ok(u) = onestop_store::uploads::get(state.store.read(), id).await
                && u.uploaded_by == uploaded_by
            {
                e.uploads.insert(idx, (u.id, u.original_name));
            }
            continue;
        }
        e.text.insert(name, value);
    }
    if !csrf_ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_invalid",
            "页面已过期，请刷新后重新提交",
        ));
    }
    Ok(e)
}

fn material_error(idx: usize, name: &str, mut e: ApiError) -> ApiError {
    e.message = format!("材料“{name}”：{}", e.message);
    e.fields.push(crate::error::FieldError {
        field: format!("m{idx}"),
        code: e.code.to_owned(),
        message: e.message.clone(),
    });
    e
}

/// The API request the entered form makes.
fn request_of(s: &Subject, e: &Entered, online: bool) -> SubmitRequest {
    let t = |k: &str| e.text.get(k).cloned().unwrap_or_default();
    let mut form = serde_json::Map::new();
    for f in &s.form.fields {
        let v = t(&format!("form.{}", f.key));
        if !v.trim().is_empty() {
            form.insert(f.key.clone(), Value::String(v));
        }
    }
    let mut materials = Vec::new();
    for (i, (name, _)) in s.materials.iter().enumerate() {
        let cert = t(&format!("m{i}_cert")).trim().to_owned();
        match e.uploads.get(&i) {
            Some((id, _)) => materials.push(MaterialInput {
                name: name.clone(),
                upload_id: Some(*id),
                certificate_number: None,
            }),
            None if !cert.is_empty() => materials.push(MaterialInput {
                name: name.clone(),
                upload_id: None,
                certificate_number: Some(cert),
            }),
            None => {}
        }
    }
    SubmitRequest {
        region: s.region_code.clone(),
        hall_id: None,
        service: s.service.clone(),
        bundle: s.bundle.clone(),
        applicant: ApplicantInput {
            name: t("applicant_name"),
            id_number: t("applicant_id_number"),
            phone: t("applicant_phone"),
        },
        form,
        materials,
        phone_code: online.then(|| t("phone_code")),
        ticket_id: if online {
            None
        } else {
            t("ticket_id").trim().parse().ok()
        },
    }
}

/// The error's messages for the top of the page, and per field (page field names).
fn split_errors(e: &ApiError, s: &Subject) -> (Vec<String>, BTreeMap<String, String>) {
    let mut fe = BTreeMap::new();
    for f in &e.fields {
        let key = match f.field.as_str() {
            "applicant.name" => "applicant_name".to_owned(),
            "applicant.id_number" => "applicant_id_number".to_owned(),
            "applicant.phone" => "applicant_phone".to_owned(),
            other if other.starts_with("materials[") => {
                // materials[i] counts only the materials handed in: map back to the catalogue's.
                let i: usize = other
                    .trim_start_matches("materials[")
                    .trim_end_matches(']')
                    .parse()
                    .unwrap_or(usize::MAX);
                let name = f.message.clone();
                let idx = s
                    .materials
                    .iter()
                    .position(|(n, _)| name.contains(n.as_str()))
                    .unwrap_or(i);
                format!("m{idx}")
            }
            other => other.to_owned(),
        };
        fe.entry(key).or_insert_with(|| f.message.clone());
    }
    let mut errors = vec![e.message.clone()];
    if fe.len() > 1 {
        errors.push(format!("共有 {} 处需要修改，见各栏下方的提示。", fe.len()));
    }
    (errors, fe)
}

// ---- receipt ------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "cases/receipt.html")]
struct ReceiptPage {
    c: Chrome,
    online: bool,
    sub: Submitted,
    title: String,
    follow_url: String,
    qr_svg: String,
}

fn receipt(state: &AppState, headers: &HeaderMap, c: Chrome, s: &Subject, sub: Submitted, online: bool) -> Response {
    let base = base_url(state, headers);
    let follow_url = format!("{base}/follow?code={}", sub.tracking_code.replace('-', ""));
    let page = ReceiptPage {
        c,
        online,
        title: s.title.clone(),
        qr_svg: qr_svg(&follow_url).unwrap_or_default(),
        follow_url,
        sub,
    };
    let mut res = render(StatusCode::CREATED, &page);
    // The receipt is shown once: the browser should not keep it in its cache.
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    if online {
        append_cookie(&mut res, &super::clear_cookie(state, crate::auth::CSRF_COOKIE));
    }
    res
}
