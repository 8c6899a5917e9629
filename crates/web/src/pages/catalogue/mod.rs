//! Catalogue pages. Public (no login, mobile-first, 适老化 mode in a cookie, no JavaScript needed):
//! guide search with filters, a printable guide, the application form rendered from its definition
//! and checked on the server, bundle guides. Staff: the base catalogue, a region's implementation
//! list, one implementation field by field with where each value comes from and a reset button, and
//! the workbook import with its preview.
use super::{Chrome, PageAuth, PageError, PageResult, StaffForm, render};
use crate::auth::cookie;
use crate::catalogue::{self as cat, import, search};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onestop_domain::catalogue::Origin;
use onestop_domain::form::{FieldKind, FormDefinition};
use onestop_store::catalogue::{Effective, OriginRegion};
use serde::Deserialize;
use std::collections::BTreeMap;

mod editor;
mod overrides;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(overrides::router())
        .merge(editor::router())
        .route("/guide/{region}/{code}/files/{sha}", get(guide_file))
        .route("/guide", get(portal))
        .route("/guide/elderly", post(elderly))
        .route("/guide/{region}/{code}", get(guide_page))
        .route("/guide/{region}/{code}/apply", get(apply_page).post(apply_submit))
        .route("/guide/{region}/bundles/{id}", get(bundle_page))
        .route("/admin/catalogue", get(admin_catalogue))
        .route("/admin/catalogue/regions/{id}", get(admin_region))
        .route("/admin/catalogue/regions/{id}/import", post(admin_import_preview))
        .route("/admin/catalogue/imports/{id}/commit", post(admin_import_commit))
}

const ELDERLY_COOKIE: &str = "elderly";

fn public_chrome(headers: &HeaderMap) -> Chrome {
    let mut c = Chrome::anonymous(String::new());
    if cookie(headers, ELDERLY_COOKIE) == Some("1") {
        c.html_class = "elderly";
    }
    c
}

fn public_error(headers: &HeaderMap, err: ApiError) -> PageError {
    PageError {
        err,
        chrome: Some(public_chrome(headers)),
    }
}

// ---- public portal ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "catalogue/portal.html")]
struct PortalPage {
    c: Chrome,
    elderly: bool,
    back: String,
    regions: Vec<(String, String, bool)>,
    region_code: String,
    region_name: String,
    q: String,
    theme: String,
    department: String,
    object: String,
    themes: Vec<String>,
    departments: Vec<String>,
    guides: Vec<search::GuideEntry>,
    total: usize,
    page: usize,
    pages: usize,
    /// Links to other pages: (label, href, current); `None` href for a gap (…).
    page_links: Vec<(String, Option<String>, bool)>,
    prev_href: Option<String>,
    next_href: Option<String>,
    bundles: Vec<(i64, String, String)>,
}

/// The portal's own query string for another page of the same search.
fn page_href(region: &str, q: &search::GuideQuery, page: usize) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("region", region.to_owned())];
    for (k, v) in [
        ("q", &q.q),
        ("theme", &q.theme),
        ("department", &q.department),
        ("object", &q.object),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v.to_owned()));
        }
    }
    if let Some(n) = q.per_page {
        pairs.push(("per_page", n.to_string()));
    }
    pairs.push(("page", page.to_string()));
    format!("/guide?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

/// Page numbers to offer: the first, the last, and two either side of the current one.
fn page_numbers(current: usize, pages: usize) -> Vec<Option<usize>> {
    let mut out = Vec::new();
    for n in 1..=pages {
        if n == 1 || n == pages || n.abs_diff(current) <= 2 {
            out.push(Some(n));
        } else if out.last().is_some_and(Option::is_some) {
            out.push(None);
        }
    }
    out
}

async fn portal(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> PageResult {
    let q: search::GuideQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| public_error(&headers, ApiError::validation("invalid_query", "查询参数不符合要求")))?;
    q.check().map_err(|e| public_error(&headers, e))?;
    let region = cat::public_region(&state, q.region.as_deref())
        .await
        .map_err(|e| public_error(&headers, e))?;
    let index = search::entries(&state, region.id).await?;
    let (themes, departments) = (index.themes.clone(), index.departments.clone());
    let hits = search::rank(&index.entries, &q);
    let page = q.page_of(hits.len());
    let guides: Vec<search::GuideEntry> = hits
        .get(page.range.clone())
        .unwrap_or_default()
        .iter()
        .map(|e| (*e).clone())
        .collect();
    let href = |n: usize| page_href(&region.code, &q, n);
    let page_links = if page.pages > 1 {
        page_numbers(page.page, page.pages)
            .into_iter()
            .map(|n| match n {
                Some(n) => (n.to_string(), Some(href(n)), n == page.page),
                None => ("…".to_owned(), None, false),
            })
            .collect()
    } else {
        Vec::new()
    };
    let prev_href = (page.page > 1).then(|| href(page.page.min(page.pages + 1) - 1));
    let next_href = (page.page < page.pages).then(|| href(page.page + 1));
    let regions = cat::public_regions(&state)
        .await?
        .into_iter()
        .map(|r| (r.code.clone(), r.name, r.code == region.code))
        .collect();
    let mut bundles = Vec::new();
    for b in cat::bundles(&state).await? {
        if let Ok(g) = cat::bundle_guide(&state, region.id, b.id).await
            && g.available
        {
            bundles.push((b.id, b.name, b.description));
        }
    }
    let c = public_chrome(&headers);
    let view = PortalPage {
        elderly: c.html_class == "elderly",
        // Back to this very search after switching the mode.
        back: match raw.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => format!("/guide?{r}"),
            None => format!("/guide?region={}", region.code),
        },
        c,
        regions,
        region_code: region.code,
        region_name: region.name,
        q: q.q.unwrap_or_default(),
        theme: q.theme.unwrap_or_default(),
        department: q.department.unwrap_or_default(),
        object: q.object.unwrap_or_default(),
        themes,
        departments,
        guides,
        total: page.total,
        page: page.page,
        pages: page.pages,
        page_links,
        prev_href,
        next_href,
        bundles,
    };
    Ok(render(StatusCode::OK, &view))
}

#[derive(Deserialize)]
struct ElderlyForm {
    on: Option<String>,
    back: Option<String>,
}

/// Switches 适老化 mode (a cookie, so it works without JavaScript and without login).
async fn elderly(axum::Form(f): axum::Form<ElderlyForm>) -> Response {
    let on = f.on.as_deref() == Some("1");
    // Only local paths, so the form cannot be used as an open redirect.
    let back = f
        .back
        .filter(|b| b.starts_with('/') && !b.starts_with("//"))
        .unwrap_or_else(|| "/guide".into());
    let cookie = if on {
        format!("{ELDERLY_COOKIE}=1; Path=/; SameSite=Lax; Max-Age=31536000")
    } else {
        format!("{ELDERLY_COOKIE}=; Path=/; SameSite=Lax; Max-Age=0")
    };
    ([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response()
}

/// A guide prepared for display.
pub(super) struct GuideView {
    name: String,
    base_code: String,
    implementation_code: String,
    region_code: String,
    region_name: String,
    rows: Vec<(String, String)>,
    conditions: String,
    process: String,
    materials: Vec<MaterialView>,
    faqs: Vec<(String, String)>,
    version: String,
}

struct MaterialView {
    name: String,
    detail: String,
    required: bool,
    standard: String,
    /// Where the blank form and the sample open (empty: none).
    blank_form: String,
    sample: String,
}

pub(super) fn limit_text(l: Option<onestop_domain::catalogue::TimeLimit>) -> String {
    match l {
        Some(l) if l.value == 0 => "即办".into(),
        Some(l) => format!("{} 个{}", l.value, l.unit.label()),
        None => "无".into(),
    }
}

fn guide_view(g: &Effective) -> GuideView {
    record_view(
        &g.record,
        &g.materials,
        g.version_number,
        &g.region.code,
        &g.region.name,
        Some(&format!("/guide/{}/{}/files/", g.region.code, g.record.base_code)),
    )
}

/// A record and its materials prepared for display; `files` is where their blank forms and
/// samples open (the digest is appended).
pub(super) fn record_view(
    r: &onestop_domain::catalogue::ServiceRecord,
    materials: &[onestop_domain::catalogue::MaterialRecord],
    version_number: i64,
    region_code: &str,
    region_name: &str,
    files: Option<&str>,
) -> GuideView {
    let rows = vec![
        ("事项类型".to_owned(), r.service_type.label().to_owned()),
        (
            "服务对象".into(),
            r.objects.iter().map(|o| o.label()).collect::<Vec<_>>().join("、"),
        ),
        ("实施主体".into(), r.implementing_body.clone()),
        ("办理部门".into(), r.department_name.clone()),
        ("办件类型".into(), r.case_type.label().to_owned()),
        ("法定办结时限".into(), limit_text(r.legal_limit)),
        ("承诺办结时限".into(), limit_text(r.promised_limit)),
        ("到办事现场次数".into(), format!("{} 次", r.onsite_visits)),
        ("网上办理深度".into(), r.online_depth.label().to_owned()),
        (
            "办理形式".into(),
            r.channels.iter().map(|o| o.label()).collect::<Vec<_>>().join("、"),
        ),
        (
            "收费".into(),
            r.fee
                .as_ref()
                .map(|f| format!("{}（依据：{}）", f.amount, f.basis))
                .unwrap_or_else(|| "不收费".into()),
        ),
        ("设定依据".into(), r.legal_basis.clone()),
        ("办理地点".into(), r.address.clone()),
        ("办理时间".into(), r.hours.clone()),
        ("咨询电话".into(), r.consult_phone.clone()),
        ("监督投诉电话".into(), r.supervise_phone.clone()),
    ];
    GuideView {
        name: r.name.clone(),
        base_code: r.base_code.clone(),
        implementation_code: r.implementation_code.clone(),
        region_code: region_code.to_owned(),
        region_name: region_name.to_owned(),
        rows,
        conditions: r.conditions.clone(),
        process: r.process.clone(),
        materials: materials
            .iter()
            .map(|m| MaterialView {
                blank_form: match (files, &m.blank_form) {
                    (Some(base), Some(sha)) => format!("{base}{sha}"),
                    _ => String::new(),
                },
                sample: match (files, &m.sample) {
                    (Some(base), Some(sha)) => format!("{base}{sha}"),
                    _ => String::new(),
                },
                name: m.name.clone(),
                detail: format!(
                    "{}；原件 {} 份，复印件 {} 份；{}{}",
                    m.form.label(),
                    m.originals,
                    m.copies,
                    m.source.label(),
                    if m.issuer.is_empty() {
                        String::new()
                    } else {
                        format!("（{}）", m.issuer)
                    }
                ),
                required: m.required,
                standard: m.acceptance_standard.clone(),
            })
            .collect(),
        faqs: r.faqs.iter().map(|f| (f.question.clone(), f.answer.clone())).collect(),
        version: format!("第 {version_number} 版"),
    }
}

#[derive(Template)]
#[template(path = "catalogue/guide.html")]
struct GuidePage {
    c: Chrome,
    g: GuideView,
    today: String,
}

async fn guide_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((region, code)): ApiPath<(String, String)>,
) -> PageResult {
    let g = cat::public_guide(&state, &region, &code)
        .await
        .map_err(|e| public_error(&headers, e))?;
    let page = GuidePage {
        c: public_chrome(&headers),
        g: guide_view(&g),
        today: cat::show_date(cat::today(&state)),
    };
    Ok(render(StatusCode::OK, &page))
}

/// A blank form or sample of a guide's material, for anyone (only files the guide names are
/// served, so other uploads cannot be read by their digest).
async fn guide_file(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((region, code, sha)): ApiPath<(String, String, String)>,
) -> PageResult {
    let g = cat::public_guide(&state, &region, &code)
        .await
        .map_err(|e| public_error(&headers, e))?;
    let name = editor::file_of(&g.materials, &sha).ok_or_else(|| public_error(&headers, ApiError::not_found()))?;
    editor::file_response(&state, &sha, &name)
        .await
        .map_err(|e| public_error(&headers, e))
}

/// A form field prepared for the template.
struct FieldView {
    key: String,
    label: String,
    input: &'static str,
    required: bool,
    value: String,
    options: Vec<(String, String, bool)>,
    error: String,
    hint: &'static str,
    max_len: usize,
}

fn field_views(
    form: &FormDefinition,
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
) -> Vec<FieldView> {
    form.fields
        .iter()
        .map(|f| {
            let value = values.get(&f.key).cloned().unwrap_or_default();
            let (input, hint) = match &f.kind {
                FieldKind::Text => ("text", ""),
                FieldKind::TextArea => ("textarea", ""),
                FieldKind::Number => ("number", ""),
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
                key: f.key.clone(),
                label: f.label.clone(),
                input,
                required: f.required,
                options,
                error: errors.get(&f.key).cloned().unwrap_or_default(),
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

#[derive(Template)]
#[template(path = "catalogue/apply.html")]
struct ApplyPage {
    c: Chrome,
    name: String,
    region_code: String,
    base_code: String,
    fields: Vec<FieldView>,
    errors: Vec<String>,
    ok: bool,
}

async fn apply_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((region, code)): ApiPath<(String, String)>,
) -> PageResult {
    let g = cat::public_guide(&state, &region, &code)
        .await
        .map_err(|e| public_error(&headers, e))?;
    let page = ApplyPage {
        c: public_chrome(&headers),
        name: g.record.name.clone(),
        region_code: region,
        base_code: code,
        fields: field_views(&g.form, &BTreeMap::new(), &BTreeMap::new()),
        errors: Vec::new(),
        ok: false,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Checks the form on the server with the domain's rules (the same as the JSON API) and shows every
/// error beside its field. Submitting the case itself belongs to the case workflow.
async fn apply_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((region, code)): ApiPath<(String, String)>,
    body: axum::body::Bytes,
) -> PageResult {
    let g = cat::public_guide(&state, &region, &code)
        .await
        .map_err(|e| public_error(&headers, e))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| public_error(&headers, ApiError::validation("invalid_form", "表单内容不符合要求")))?;
    // A checkbox sends "on" when ticked and nothing otherwise.
    let values: BTreeMap<String, String> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let (status, errors, ok) = match cat::validate_application(&state, &g, &values) {
        Ok(_) => (StatusCode::OK, BTreeMap::new(), true),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            e.fields.into_iter().map(|f| (f.field, f.message)).collect(),
            false,
        ),
    };
    let page = ApplyPage {
        c: public_chrome(&headers),
        name: g.record.name.clone(),
        region_code: region,
        base_code: code,
        fields: field_views(&g.form, &values, &errors),
        errors: errors.values().cloned().collect(),
        ok,
    };
    Ok(render(status, &page))
}

#[derive(Template)]
#[template(path = "catalogue/bundle.html")]
struct BundlePage {
    c: Chrome,
    // caseui: the online application link
    code: String,
    name: String,
    description: String,
    region_code: String,
    region_name: String,
    members: Vec<(String, String, String)>,
    materials: Vec<(String, String, String)>,
    fields: Vec<String>,
}

async fn bundle_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath((region, id)): ApiPath<(String, i64)>,
) -> PageResult {
    let r = cat::public_region(&state, Some(&region))
        .await
        .map_err(|e| public_error(&headers, e))?;
    let g = cat::bundle_guide(&state, r.id, id)
        .await
        .map_err(|e| public_error(&headers, e))?;
    if !g.available {
        return Err(public_error(
            &headers,
            ApiError::new(StatusCode::NOT_FOUND, "guide_not_found", "该地区暂未提供这项一件事服务"),
        ));
    }
    let page = BundlePage {
        c: public_chrome(&headers),
        code: g.bundle.code.clone(),
        name: g.bundle.name.clone(),
        description: g.bundle.description.clone(),
        region_code: r.code.clone(),
        region_name: r.name.clone(),
        members: g
            .members
            .iter()
            .map(|m| {
                (
                    m.record.base_code.clone(),
                    m.record.name.clone(),
                    limit_text(m.record.promised_limit),
                )
            })
            .collect(),
        materials: g
            .merged
            .materials
            .iter()
            .map(|m| {
                (
                    m.material.name.clone(),
                    format!("原件 {} 份，复印件 {} 份", m.material.originals, m.material.copies),
                    m.services.join("、"),
                )
            })
            .collect(),
        fields: g.merged.form.fields.iter().map(|f| f.label.clone()).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

// ---- staff pages ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "catalogue/admin.html")]
struct AdminPage {
    c: Chrome,
    regions: Vec<(i64, String, String)>,
    services: Vec<(i64, String, String, String)>,
    can_create: bool,
}

async fn admin_catalogue(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    let services = cat::list_services(&state, &p)
        .await?
        .into_iter()
        .map(|s| (s.id, s.base_code, s.name, s.department_name))
        .collect();
    let all = crate::ops::list_regions(&state, &p).await?;
    let can_create = all.iter().any(|r| {
        r.parent_id.is_none()
            && r.is_open()
            && p.can(onestop_domain::role::Permission::CatalogueWrite, &r.region_path())
    });
    let regions = all
        .into_iter()
        .filter(|r| r.is_open())
        .map(|r| (r.id, r.code, r.name))
        .collect();
    let page = AdminPage {
        c: Chrome::for_principal(&p, "/admin/catalogue"),
        regions,
        services,
        can_create,
    };
    Ok(render(StatusCode::OK, &page))
}

pub(super) fn origin_text(o: &Origin<OriginRegion>, here: i64) -> (String, &'static str) {
    let t = |k: &str| crate::i18n::messages(None).get(k).to_owned();
    match o {
        Origin::Base => (t("impl.from_base"), "inherited"),
        Origin::Region(r) if r.id == here => (t("impl.own"), "own"),
        Origin::Region(r) => (format!("{}{}", t("impl.inherited_from"), r.name), "inherited"),
    }
}

struct ImplRow {
    service_id: i64,
    base_code: String,
    name: String,
    enabled: bool,
    enabled_from: String,
    own_count: usize,
}

#[derive(Template)]
#[template(path = "catalogue/region.html")]
struct RegionPage {
    c: Chrome,
    region_id: i64,
    region_name: String,
    writable: bool,
    rows: Vec<ImplRow>,
}

async fn admin_region(State(state): State<AppState>, PageAuth(p): PageAuth, ApiPath(id): ApiPath<i64>) -> PageResult {
    let list = cat::implementation_list(&state, &p, id).await?;
    let region = onestop_store::regions::get(state.store.read(), id).await?;
    let t = crate::i18n::messages(None);
    let rows = list
        .iter()
        .map(|e| {
            let own = serde_json::to_value(&e.own)
                .ok()
                .and_then(|v| {
                    v.as_object()
                        .map(|o| o.values().filter(|f| f["mode"] == "overridden").count())
                })
                .unwrap_or(0);
            ImplRow {
                service_id: e.service_id,
                base_code: e.record.base_code.clone(),
                name: e.record.name.clone(),
                enabled: e.enabled,
                enabled_from: match &e.enabled_origin {
                    Some(o) if o.id == id => t.get("impl.own").to_owned(),
                    Some(o) => format!("{}{}", t.get("impl.inherited_from"), o.name),
                    None => t.get("impl.never_enabled").to_owned(),
                },
                own_count: own,
            }
        })
        .collect();
    let page = RegionPage {
        c: Chrome::for_principal(&p, "/admin/catalogue"),
        region_id: id,
        writable: p.can(onestop_domain::role::Permission::CatalogueWrite, &region.region_path()),
        region_name: region.name,
        rows,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "catalogue/import.html")]
struct ImportPage {
    c: Chrome,
    region_id: i64,
    report: import::ImportReport,
}

/// Takes the workbook from a multipart upload (field `file`) and shows the preview.
async fn admin_import_preview(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> PageResult {
    let chrome = || Some(Chrome::for_principal(&p, "/admin/catalogue"));
    let page_err = |err: ApiError| PageError { err, chrome: chrome() };
    // The session's CSRF token comes as a query-less header-free multipart field; check it first.
    let bytes = crate::api::catalogue::read_body(body).await.map_err(page_err)?;
    let (csrf, file_name, file) = multipart_parts(&headers, &bytes)
        .ok_or_else(|| page_err(ApiError::validation("invalid_form", "请选择要导入的 .xlsx 文件")))?;
    crate::auth::check_csrf(&p, &axum::http::Method::POST, csrf.as_deref()).map_err(page_err)?;
    let report = import::preview(&state, &p, id, &file_name, file)
        .await
        .map_err(page_err)?;
    let page = ImportPage {
        c: Chrome::for_principal(&p, "/admin/catalogue"),
        region_id: id,
        report,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct Empty {}

async fn admin_import_commit(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    f: StaffForm<Empty>,
) -> PageResult {
    let report = import::commit(&state, &f.p, id).await.map_err(|err| PageError {
        err,
        chrome: Some(Chrome::for_principal(&f.p, "/admin/catalogue")),
    })?;
    Ok(Redirect::to(&format!("/admin/catalogue/regions/{}", report.region_id)).into_response())
}

/// A minimal multipart/form-data reader for one upload (fields `csrf` and `file`), so that the
/// import page works as a plain HTML form without pulling in a multipart crate.
fn multipart_parts(headers: &HeaderMap, body: &[u8]) -> Option<(Option<String>, String, Vec<u8>)> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let delim = format!("--{boundary}");
    let mut csrf = None;
    let mut file = None;
    let mut rest = body;
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content_start = head_end + 4;
        let end = find(&rest[content_start..], format!("\r\n{delim}").as_bytes())?;
        let content = &rest[content_start..content_start + end];
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        match name {
            "csrf" => csrf = Some(String::from_utf8_lossy(content).to_string()),
            "file" => {
                let file_name = head
                    .split("filename=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or("upload.xlsx")
                    .to_owned();
                file = Some((file_name, content.to_vec()));
            }
            _ => {}
        }
        rest = &rest[content_start + end..];
    }
    let (name, bytes) = file?;
    Some((csrf, name, bytes))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
