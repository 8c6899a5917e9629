//! The base catalogue's editor pages (静江省 keeps the base records): create a service, edit its
//! draft field by field — every GB/T 39046 field and code list, FAQs, materials with their blank
//! form and sample uploaded as files, the application form's fields — with each quality problem
//! beside its input; publish a draft from a date, withdraw a published version, and read every
//! version. Plain HTML forms: rows are added, removed and moved by submit buttons that redraw the
//! form without saving, so it all works without JavaScript; every input has a label, the save
//! button an access key (Alt+S), and the error summary links to the inputs.
use super::super::{Chrome, PageAuth, PageError, PageResult, StaffForm, render};
use super::{GuideView, record_view};
use crate::auth::{Principal, check_csrf};
use crate::catalogue::editor::{DraftInputs, FIELD_KINDS, InputError, MaterialInputs, input_of_issue, kind_name};
use crate::catalogue::{self as cat};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use onestop_domain::catalogue::{
    CaseType, Channel, MaterialForm, MaterialSource, OnlineDepth, QualityIssue, ServiceLevel, ServiceObject,
    ServiceType, TimeUnit, VersionStatus,
};
use onestop_domain::role::Permission;
use onestop_store::StoreError;
use onestop_store::catalogue::{self as store, ServiceRow, VersionRow};
use onestop_store::regions::Region;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Largest editor request: the text of the form plus a few files, each checked against
/// `storage.max_upload_bytes` while it streams.
const EDITOR_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Largest text part of the form (all inputs together).
const EDITOR_TEXT_LIMIT: usize = 2 * 1024 * 1024;
/// Most files in one request.
const EDITOR_MAX_FILES: usize = 40;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/catalogue/services/new", get(new_page))
        .route(
            "/admin/catalogue/services",
            post(create).layer(DefaultBodyLimit::max(EDITOR_BODY_LIMIT)),
        )
        .route("/admin/catalogue/services/{id}", get(service_page))
        .route(
            "/admin/catalogue/services/{id}/draft",
            get(draft_page)
                .post(save)
                .layer(DefaultBodyLimit::max(EDITOR_BODY_LIMIT)),
        )
        .route("/admin/catalogue/versions/{id}", get(version_page))
        .route("/admin/catalogue/versions/{id}/publish", post(publish))
        .route("/admin/catalogue/versions/{id}/withdraw", post(withdraw))
        .route("/admin/catalogue/versions/{id}/files/{sha}", get(version_file))
}

fn t(key: &'static str) -> &'static str {
    crate::i18n::messages(None).get(key)
}

fn chrome(p: &Principal) -> Chrome {
    Chrome::for_principal(p, "/admin/catalogue")
}

fn page_error(p: &Principal) -> impl Fn(ApiError) -> PageError + '_ {
    move |err| PageError {
        err,
        chrome: Some(chrome(p)),
    }
}

/// Root regions (provinces) whose base catalogue this principal keeps.
async fn writable_roots(state: &AppState, p: &Principal) -> Result<Vec<Region>, ApiError> {
    Ok(crate::ops::list_regions(state, p)
        .await?
        .into_iter()
        .filter(|r| r.parent_id.is_none() && r.is_open() && p.can(Permission::CatalogueWrite, &r.region_path()))
        .collect())
}

async fn can_edit(state: &AppState, p: &Principal, svc: &ServiceRow) -> Result<bool, ApiError> {
    let owner = onestop_store::regions::get(state.store.read(), svc.owner_region_id).await?;
    Ok(owner.parent_id.is_none() && p.can(Permission::CatalogueWrite, &owner.region_path()))
}

async fn read_conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, ApiError> {
    Ok(state.store.read().acquire().await.map_err(StoreError::from)?)
}

// ---- the form's view ---------------------------------------------------------------------------

/// One input as the template draws it.
pub(crate) struct Input {
    name: String,
    id: String,
    label: &'static str,
    /// `text`, `textarea`, `number`, `date`, `select`, `boxes` (several check boxes), `check`.
    kind: &'static str,
    value: String,
    options: Vec<(String, String, bool)>,
    checked: bool,
    required: bool,
    hint: &'static str,
    error: String,
    wide: bool,
    max_len: usize,
    readonly: bool,
}

fn id_of(name: &str) -> String {
    format!(
        "f-{}",
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
            .collect::<String>()
    )
}

impl Input {
    fn new(name: &str, label: &'static str, kind: &'static str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            id: id_of(name),
            label,
            kind,
            value: value.to_owned(),
            options: Vec::new(),
            checked: false,
            required: false,
            hint: "",
            error: String::new(),
            wide: matches!(kind, "textarea" | "boxes"),
            max_len: if kind == "textarea" { 10_000 } else { 500 },
            readonly: false,
        }
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn hint(mut self, key: &'static str) -> Self {
        self.hint = t(key);
        self
    }
    fn wide(mut self) -> Self {
        self.wide = true;
        self
    }
    fn options<T: Copy>(mut self, all: &[T], code: fn(T) -> &'static str, label: fn(T) -> &'static str) -> Self {
        let value = self.value.clone();
        self.options = all
            .iter()
            .map(|v| (code(*v).to_owned(), label(*v).to_owned(), code(*v) == value))
            .collect();
        self
    }
}

/// A group of inputs with a legend (a fieldset).
pub(crate) struct Section {
    id: &'static str,
    legend: &'static str,
    inputs: Vec<Input>,
}

/// A blank form or sample of a material.
pub(crate) struct FileSlot {
    /// `materials[i].blank_form` — the hidden input keeping the stored file's digest.
    name: String,
    id: String,
    label: &'static str,
    sha: String,
    /// The stored file's name, and where to open it (when a saved version holds it).
    file_name: String,
    href: String,
    error: String,
}

/// A repeated row (a FAQ, a material, a form field) and its buttons.
pub(crate) struct Row {
    anchor: String,
    title: String,
    inputs: Vec<Input>,
    files: Vec<FileSlot>,
    /// Submit buttons: (op, label).
    actions: Vec<(String, &'static str)>,
}

#[derive(Template)]
#[template(path = "catalogue/editor.html")]
struct EditorPage {
    c: Chrome,
    title: String,
    /// Form action.
    action: String,
    back: String,
    creating: bool,
    owners: Vec<(i64, String, bool)>,
    token: String,
    effective_from: String,
    notice: String,
    alert: String,
    /// Every problem, linked to its input: (input id, label, message).
    summary: Vec<(String, String, String)>,
    warnings: Vec<String>,
    sections: Vec<Section>,
    faqs: Vec<Row>,
    materials: Vec<Row>,
    fields: Vec<Row>,
}

/// Input label keys, by input name (record inputs) or row input.
fn label_key(input: &str) -> &'static str {
    let tail = input.rsplit('.').next().unwrap_or(input);
    let base = if input.contains('[') { tail } else { input };
    match (input.split('[').next().unwrap_or(""), base) {
        ("materials", "name") => "editor.m.name",
        ("materials", "code") => "editor.m.code",
        ("materials", "issuer") => "editor.m.issuer",
        ("materials", "originals") => "editor.m.originals",
        ("materials", "copies") => "editor.m.copies",
        ("materials", "form") => "editor.m.form",
        ("materials", "source") => "editor.m.source",
        ("materials", "required") => "editor.m.required",
        ("materials", "acceptance_standard") => "editor.m.acceptance_standard",
        ("materials", "blank_form") => "editor.m.blank_form",
        ("materials", "sample") => "editor.m.sample",
        ("faqs", "question") => "editor.faq.question",
        ("faqs", "answer") => "editor.faq.answer",
        ("form", "key") => "editor.ff.key",
        ("form", "label") => "editor.ff.label",
        ("form", "kind") => "editor.ff.kind",
        ("form", "required") => "editor.ff.required",
        ("form", "max_len") => "editor.ff.max_len",
        ("form", "pattern") => "editor.ff.pattern",
        ("form", "date_rule") => "editor.ff.date_rule",
        ("form", "options") => "editor.ff.options",
        (_, "name") => "editor.name",
        (_, "base_code") => "editor.base_code",
        (_, "service_type") => "editor.service_type",
        (_, "level") => "editor.level",
        (_, "objects") => "editor.objects",
        (_, "channels") => "editor.channels",
        (_, "legal_limit.value") => "editor.legal_limit",
        (_, "legal_limit.unit") => "editor.legal_limit_unit",
        (_, "promised_limit.value") => "editor.promised_limit",
        (_, "promised_limit.unit") => "editor.promised_limit_unit",
        (_, "case_type") => "editor.case_type",
        (_, "onsite_visits") => "editor.onsite_visits",
        (_, "online_depth") => "editor.online_depth",
        (_, "fee.charged") => "editor.fee_charged",
        (_, "fee.amount") => "editor.fee_amount",
        (_, "fee.basis") => "editor.fee_basis",
        (_, "legal_basis") => "editor.legal_basis",
        (_, "implementing_body") => "editor.implementing_body",
        (_, "implementing_body_credit_code") => "editor.implementing_body_credit_code",
        (_, "department_code") => "editor.department_code",
        (_, "department_name") => "editor.department_name",
        (_, "conditions") => "editor.conditions",
        (_, "process") => "editor.process",
        (_, "consult_phone") => "editor.consult_phone",
        (_, "supervise_phone") => "editor.supervise_phone",
        (_, "address") => "editor.address",
        (_, "hours") => "editor.hours",
        (_, "themes") => "editor.themes",
        (_, "effective_from") => "editor.effective_from",
        (_, "owner_region_id") => "editor.owner",
        (_, "faqs") => "editor.faqs",
        (_, "materials") => "editor.materials",
        (_, "form") => "editor.form",
        _ => "editor.other",
    }
}

/// Problems by input name.
type Problems = BTreeMap<String, Vec<String>>;

fn problem(problems: &Problems, name: &str) -> String {
    problems.get(name).map(|m| m.join("；")).unwrap_or_default()
}

fn with_errors(mut inputs: Vec<Input>, problems: &Problems) -> Vec<Input> {
    for i in &mut inputs {
        i.error = problem(problems, &i.name);
    }
    inputs
}

fn record_sections(d: &DraftInputs, creating: bool, problems: &Problems) -> Vec<Section> {
    let v = |k: &str| d.record.get(k).cloned().unwrap_or_default();
    let text = |k: &str| Input::new(k, t(label_key(k)), "text", &v(k));
    let area = |k: &str| Input::new(k, t(label_key(k)), "textarea", &v(k));
    let boxes = |k: &str, chosen: &std::collections::BTreeSet<String>, all: Vec<(String, String)>| {
        let mut i = Input::new(k, t(label_key(k)), "boxes", "");
        i.options = all
            .into_iter()
            .map(|(c, l)| (c.clone(), l, chosen.contains(&c)))
            .collect();
        i.required = true;
        i
    };
    let mut base_code = text("base_code").required().hint("editor.hint.base_code");
    base_code.readonly = !creating;
    base_code.max_len = 12;
    let mut fee_charged = Input::new("fee.charged", t(label_key("fee.charged")), "check", "1");
    fee_charged.checked = v("fee.charged") == "1";
    let number = |k: &str| {
        let mut i = Input::new(k, t(label_key(k)), "number", &v(k));
        i.max_len = 4;
        i
    };
    let sections = vec![
        Section {
            id: "basic",
            legend: t("editor.s.basic"),
            inputs: vec![
                text("name").required().wide(),
                base_code,
                Input::new(
                    "service_type",
                    t(label_key("service_type")),
                    "select",
                    &v("service_type"),
                )
                .options(ServiceType::ALL, ServiceType::code, ServiceType::label)
                .required(),
                Input::new("level", t(label_key("level")), "select", &v("level"))
                    .options(ServiceLevel::ALL, ServiceLevel::code, ServiceLevel::label)
                    .required()
                    .hint("editor.hint.level"),
                boxes(
                    "objects",
                    &d.objects,
                    ServiceObject::ALL
                        .iter()
                        .map(|o| (o.code().to_owned(), o.label().to_owned()))
                        .collect(),
                ),
                boxes(
                    "channels",
                    &d.channels,
                    Channel::ALL
                        .iter()
                        .map(|o| (o.code().to_owned(), o.label().to_owned()))
                        .collect(),
                ),
                text("themes").wide().hint("editor.hint.themes"),
            ],
        },
        Section {
            id: "limits",
            legend: t("editor.s.limits"),
            inputs: vec![
                number("legal_limit.value").hint("editor.hint.legal_limit"),
                Input::new(
                    "legal_limit.unit",
                    t(label_key("legal_limit.unit")),
                    "select",
                    &v("legal_limit.unit"),
                )
                .options(TimeUnit::ALL, TimeUnit::code, TimeUnit::label),
                number("promised_limit.value")
                    .required()
                    .hint("editor.hint.promised_limit"),
                Input::new(
                    "promised_limit.unit",
                    t(label_key("promised_limit.unit")),
                    "select",
                    &v("promised_limit.unit"),
                )
                .options(TimeUnit::ALL, TimeUnit::code, TimeUnit::label),
                Input::new("case_type", t(label_key("case_type")), "select", &v("case_type"))
                    .options(CaseType::ALL, CaseType::code, CaseType::label)
                    .required(),
                number("onsite_visits").required(),
                Input::new(
                    "online_depth",
                    t(label_key("online_depth")),
                    "select",
                    &v("online_depth"),
                )
                .options(OnlineDepth::ALL, OnlineDepth::code, OnlineDepth::label)
                .required()
                .hint("editor.hint.online_depth"),
            ],
        },
        Section {
            id: "fee",
            legend: t("editor.s.fee"),
            inputs: vec![fee_charged, text("fee.amount"), text("fee.basis").wide()],
        },
        Section {
            id: "body",
            legend: t("editor.s.body"),
            inputs: vec![
                area("legal_basis").required(),
                text("implementing_body").required(),
                text("implementing_body_credit_code")
                    .required()
                    .hint("editor.hint.credit_code"),
                text("department_code"),
                text("department_name").required(),
            ],
        },
        Section {
            id: "handling",
            legend: t("editor.s.handling"),
            inputs: vec![
                area("conditions").required(),
                area("process").required(),
                text("address").required().wide(),
                text("hours").required().wide(),
                text("consult_phone").required(),
                text("supervise_phone").required(),
            ],
        },
    ];
    sections
        .into_iter()
        .map(|s| Section {
            inputs: with_errors(s.inputs, problems),
            ..s
        })
        .collect()
}

fn row_title(what: &str, i: usize, name: &str) -> String {
    if name.trim().is_empty() {
        format!("{what} {}", i + 1)
    } else {
        format!("{what} {}：{}", i + 1, name.trim())
    }
}

fn faq_rows(d: &DraftInputs, problems: &Problems) -> Vec<Row> {
    d.faqs
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = |k: &str| format!("faqs[{i}].{k}");
            let inputs = vec![
                Input::new(&name("question"), t("editor.faq.question"), "text", &f.question).wide(),
                Input::new(&name("answer"), t("editor.faq.answer"), "textarea", &f.answer),
            ];
            let mut actions = Vec::new();
            if i > 0 {
                actions.push((format!("up_faq.{i}"), t("editor.up")));
            }
            actions.push((format!("remove_faq.{i}"), t("editor.remove")));
            Row {
                anchor: format!("faq-{i}"),
                title: row_title(t("editor.faq"), i, &f.question),
                inputs: with_errors(inputs, problems),
                files: Vec::new(),
                actions,
            }
        })
        .collect()
}

fn material_rows(
    d: &DraftInputs,
    problems: &Problems,
    files: &HashMap<String, (String, String)>,
    href_base: Option<&str>,
) -> Vec<Row> {
    d.materials
        .iter()
        .enumerate()
        .map(|(i, m): (usize, &MaterialInputs)| {
            let name = |k: &str| format!("materials[{i}].{k}");
            let mut required = Input::new(&name("required"), t("editor.m.required"), "check", "1");
            required.checked = m.required;
            let count = |k: &str, v: &str| {
                let mut i = Input::new(&name(k), t(label_key(&name(k))), "number", v);
                i.max_len = 3;
                i.required = true;
                i
            };
            let originals = count("originals", &m.originals);
            let copies = count("copies", &m.copies);
            let inputs = vec![
                Input::new(&name("name"), t("editor.m.name"), "text", &m.name)
                    .required()
                    .wide(),
                Input::new(&name("code"), t("editor.m.code"), "text", &m.code).hint("editor.hint.m_code"),
                Input::new(&name("issuer"), t("editor.m.issuer"), "text", &m.issuer).hint("editor.hint.issuer"),
                originals,
                copies,
                Input::new(&name("form"), t("editor.m.form"), "select", &m.form).options(
                    MaterialForm::ALL,
                    MaterialForm::code,
                    MaterialForm::label,
                ),
                Input::new(&name("source"), t("editor.m.source"), "select", &m.source).options(
                    MaterialSource::ALL,
                    MaterialSource::code,
                    MaterialSource::label,
                ),
                required,
                Input::new(
                    &name("acceptance_standard"),
                    t("editor.m.acceptance_standard"),
                    "textarea",
                    &m.acceptance_standard,
                )
                .required(),
            ];
            let slot = |what: &str, sha: &str| {
                let field = name(what);
                let (file_name, _) = files.get(sha).cloned().unwrap_or_default();
                FileSlot {
                    id: id_of(&field),
                    label: t(label_key(&field)),
                    error: problem(problems, &field),
                    href: match href_base {
                        Some(b) if !sha.is_empty() => format!("{b}{sha}"),
                        _ => String::new(),
                    },
                    file_name: if file_name.is_empty() && !sha.is_empty() {
                        format!("{}…", sha.get(..12).unwrap_or(sha))
                    } else {
                        file_name
                    },
                    sha: sha.to_owned(),
                    name: field,
                }
            };
            let mut actions = Vec::new();
            if i > 0 {
                actions.push((format!("up_material.{i}"), t("editor.up")));
            }
            actions.push((format!("remove_material.{i}"), t("editor.remove")));
            Row {
                anchor: format!("material-{i}"),
                title: row_title(t("editor.material"), i, &m.name),
                inputs: with_errors(inputs, problems),
                files: vec![slot("blank_form", &m.blank_form), slot("sample", &m.sample)],
                actions,
            }
        })
        .collect()
}

fn field_rows(d: &DraftInputs, problems: &Problems) -> Vec<Row> {
    d.form
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = |k: &str| format!("form[{i}].{k}");
            let mut kind = Input::new(&name("kind"), t("editor.ff.kind"), "select", &f.kind);
            kind.options = FIELD_KINDS
                .iter()
                .map(|(v, l)| ((*v).to_owned(), (*l).to_owned(), *v == f.kind))
                .collect();
            let mut date_rule = Input::new(&name("date_rule"), t("editor.ff.date_rule"), "select", &f.date_rule);
            date_rule.options = [
                ("", "editor.ff.date_any"),
                ("not_future", "editor.ff.not_future"),
                ("not_past", "editor.ff.not_past"),
            ]
            .iter()
            .map(|(v, l)| ((*v).to_owned(), t(l).to_owned(), *v == f.date_rule))
            .collect();
            let mut required = Input::new(&name("required"), t("editor.ff.required"), "check", "1");
            required.checked = f.required;
            let mut options = Input::new(&name("options"), t("editor.ff.options"), "textarea", &f.options);
            options.hint = t("editor.hint.options");
            let mut inputs = vec![
                Input::new(&name("label"), t("editor.ff.label"), "text", &f.label).required(),
                Input::new(&name("key"), t("editor.ff.key"), "text", &f.key)
                    .required()
                    .hint("editor.hint.key"),
                kind,
                required,
                Input::new(&name("max_len"), t("editor.ff.max_len"), "number", &f.max_len),
                Input::new(&name("pattern"), t("editor.ff.pattern"), "text", &f.pattern).hint("editor.hint.pattern"),
            ];
            // Only what the kind uses: a date's range, a select's options (they appear once the
            // kind is saved or the form redrawn, so it works without scripts).
            if f.kind == "date" || !f.date_rule.is_empty() {
                inputs.push(date_rule);
            }
            if f.kind == "select" || !f.options.trim().is_empty() {
                inputs.push(options);
            }
            let mut actions = Vec::new();
            if i > 0 {
                actions.push((format!("up_field.{i}"), t("editor.up")));
            }
            actions.push((format!("remove_field.{i}"), t("editor.remove")));
            Row {
                anchor: format!("field-{i}"),
                title: row_title(t("editor.field"), i, &f.label),
                inputs: with_errors(inputs, problems),
                files: Vec::new(),
                actions,
            }
        })
        .collect()
}

/// What the editor shows besides the inputs.
struct EditorState<'a> {
    service: Option<&'a ServiceRow>,
    owners: Vec<(i64, String, bool)>,
    notice: String,
    alert: String,
    problems: Problems,
    warnings: Vec<String>,
    /// Where the draft's saved files open (`/admin/catalogue/versions/{id}/files/`).
    href_base: Option<String>,
}

async fn editor_page(
    state: &AppState,
    p: &Principal,
    d: &DraftInputs,
    s: EditorState<'_>,
) -> Result<EditorPage, ApiError> {
    let creating = s.service.is_none();
    let digests: Vec<String> = d
        .materials
        .iter()
        .flat_map(|m| [m.blank_form.clone(), m.sample.clone()])
        .filter(|x| !x.is_empty())
        .collect();
    let files = if digests.is_empty() {
        HashMap::new()
    } else {
        store::stored_files(&mut *read_conn(state).await?, &digests).await?
    };
    let mut summary = Vec::new();
    for (input, messages) in &s.problems {
        for m in messages {
            summary.push((id_of(input), t(label_key(input)).to_owned(), m.clone()));
        }
    }
    let (title, action, back) = match s.service {
        Some(svc) => (
            format!("{}：{}", t("editor.edit_title"), svc.name),
            format!("/admin/catalogue/services/{}/draft", svc.id),
            format!("/admin/catalogue/services/{}", svc.id),
        ),
        None => (
            t("editor.new_title").to_owned(),
            "/admin/catalogue/services".to_owned(),
            "/admin/catalogue".to_owned(),
        ),
    };
    Ok(EditorPage {
        c: chrome(p),
        title,
        action,
        back,
        creating,
        owners: s.owners,
        token: d.token.clone(),
        effective_from: d.effective_from.clone(),
        notice: s.notice,
        alert: s.alert,
        summary,
        warnings: s.warnings,
        sections: record_sections(d, creating, &s.problems),
        faqs: faq_rows(d, &s.problems),
        materials: material_rows(d, &s.problems, &files, s.href_base.as_deref()),
        fields: field_rows(d, &s.problems),
    })
}

/// Adds problems by input: parse errors first; a quality issue of an input that could not be read
/// is a consequence and is left out.
fn add_problems(problems: &mut Problems, parse: &[InputError]) {
    for e in parse {
        problems.entry(e.input.clone()).or_default().push(e.message.clone());
    }
}

fn add_api_problems(problems: &mut Problems, d: &DraftInputs, err: &ApiError, parse: &[InputError]) {
    for f in &err.fields {
        let input = input_of_issue(&f.field, &f.code, d);
        if parse.iter().any(|e| e.input == input) {
            continue;
        }
        let list = problems.entry(input).or_default();
        if !list.contains(&f.message) {
            list.push(f.message.clone());
        }
    }
}

fn warnings_text(w: &[QualityIssue]) -> Vec<String> {
    w.iter().map(|i| i.message.clone()).collect()
}

// ---- reading the multipart form ----------------------------------------------------------------

/// The editor form as it arrived: its text inputs, and a problem per file input that was refused.
struct Sent {
    p: Principal,
    pairs: Vec<(String, String)>,
    file_errors: Vec<InputError>,
}

impl Sent {
    fn get(&self, k: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Reads the editor's multipart form. The CSRF token must come first (it is the form's first
/// input), so that no file is stored for a forged request. Each file (`materials[i].blank_form_file`
/// / `sample_file`) is stored as an upload (PDF, JPEG or PNG, within the upload limit) and becomes
/// the digest of `materials[i].blank_form` / `sample`; a refused file is reported beside its input.
async fn read_form(state: &AppState, req: Request) -> Result<Sent, Response> {
    let (mut parts, body) = req.into_parts();
    let PageAuth(p) = PageAuth::from_request_parts(&mut parts, state).await?;
    let fail = |p: &Principal, err: ApiError| {
        PageError {
            err,
            chrome: Some(chrome(p)),
        }
        .into_response()
    };
    let mut multipart = match Multipart::from_request(Request::from_parts(parts, body), state).await {
        Ok(m) => m,
        Err(_) => {
            return Err(fail(
                &p,
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "multipart_expected",
                    "表单应以 multipart/form-data 提交",
                ),
            ));
        }
    };
    let too_large = || crate::extract::body_rejection(StatusCode::PAYLOAD_TOO_LARGE);
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request("multipart_invalid", "表单内容格式不正确")
        }
    };
    let mut csrf_ok = false;
    let mut pairs = Vec::new();
    let mut file_errors = Vec::new();
    let mut text_bytes = 0usize;
    let mut files = 0usize;
    let actor = p.actor();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(fail(&p, broken(e))),
        };
        let name = field.name().unwrap_or("").to_owned();
        if !csrf_ok {
            // The first part must be the token.
            let value = if name == "csrf" {
                field.text().await.map_err(|e| fail(&p, broken(e)))?
            } else {
                String::new()
            };
            if let Err(e) = check_csrf(&p, &axum::http::Method::POST, Some(value.as_str())) {
                // Read the rest of the body (bounded by the body limit) without keeping it, so
                // the client gets the refusal instead of a connection closed mid-upload.
                while let Ok(Some(mut rest)) = multipart.next_field().await {
                    while let Ok(Some(_)) = rest.chunk().await {}
                }
                return Err(fail(&p, e));
            }
            csrf_ok = true;
            continue;
        }
        let target = name
            .strip_suffix("_file")
            .filter(|t| t.starts_with("materials[") && (t.ends_with(".blank_form") || t.ends_with(".sample")))
            .map(str::to_owned);
        match target {
            Some(target) => {
                let original = field.file_name().unwrap_or("").to_owned();
                let mut field = field;
                let mut incoming: Option<crate::uploads::Incoming> = None;
                let mut refused: Option<ApiError> = None;
                let mut size = 0usize;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            size += chunk.len();
                            if refused.is_some() {
                                continue; // read the rest of a refused file, keep nothing
                            }
                            if incoming.is_none() {
                                files += 1;
                                if files > EDITOR_MAX_FILES {
                                    return Err(fail(&p, too_large()));
                                }
                                incoming = Some(crate::uploads::Incoming::start(state).await.map_err(|e| fail(&p, e))?);
                            }
                            if let Some(inc) = incoming.as_mut()
                                && let Err(e) = inc.push(&chunk).await
                            {
                                refused = Some(e);
                                incoming = None;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            if let Some(inc) = &incoming {
                                inc.discard().await;
                            }
                            return Err(fail(&p, broken(e)));
                        }
                    }
                }
                if let Some(e) = refused {
                    file_errors.push(InputError {
                        input: target,
                        code: e.code.to_owned(),
                        message: e.message,
                    });
                    continue;
                }
                // No file chosen: browsers send an empty part.
                let Some(inc) = incoming.filter(|_| size > 0) else {
                    continue;
                };
                match inc.finish(state, &original, &actor).await {
                    Ok(u) => pairs.push((target, u.sha256)),
                    Err(e) if e.status.is_client_error() => file_errors.push(InputError {
                        input: target,
                        code: e.code.to_owned(),
                        message: e.message,
                    }),
                    Err(e) => return Err(fail(&p, e)),
                }
            }
            None => {
                let value = field.text().await.map_err(|e| fail(&p, broken(e)))?;
                text_bytes += name.len() + value.len();
                if text_bytes > EDITOR_TEXT_LIMIT {
                    return Err(fail(&p, too_large()));
                }
                pairs.push((name, value));
            }
        }
    }
    if !csrf_ok {
        check_csrf(&p, &axum::http::Method::POST, None).map_err(|e| fail(&p, e))?;
    }
    Ok(Sent { p, pairs, file_errors })
}

/// The inputs sent, with a file's new digest taking the place of the hidden one.
fn inputs_of(sent: &Sent) -> (DraftInputs, Vec<InputError>) {
    let (d, mut errors) = DraftInputs::from_pairs(&sent.pairs);
    errors.extend(sent.file_errors.iter().cloned());
    (d, errors)
}

fn parse_date(raw: &str) -> Option<jiff::civil::Date> {
    raw.trim().parse().ok()
}

// ---- create ------------------------------------------------------------------------------------

async fn owners_for(
    state: &AppState,
    p: &Principal,
    chosen: Option<i64>,
) -> Result<Vec<(i64, String, bool)>, ApiError> {
    let roots = writable_roots(state, p).await?;
    if roots.is_empty() {
        return Err(ApiError::forbidden());
    }
    let first = roots.first().map(|r| r.id);
    Ok(roots
        .into_iter()
        .map(|r| (r.id, r.name, Some(r.id) == chosen.or(first)))
        .collect())
}

async fn new_page(State(state): State<AppState>, PageAuth(p): PageAuth) -> PageResult {
    let owners = owners_for(&state, &p, None).await.map_err(page_error(&p))?;
    let d = DraftInputs::blank(&cat::today(&state).to_string());
    let page = editor_page(
        &state,
        &p,
        &d,
        EditorState {
            service: None,
            owners,
            notice: String::new(),
            alert: String::new(),
            problems: Problems::new(),
            warnings: Vec::new(),
            href_base: None,
        },
    )
    .await
    .map_err(page_error(&p))?;
    Ok(render(StatusCode::OK, &page))
}

async fn create(State(state): State<AppState>, req: Request) -> PageResult {
    let sent = match read_form(&state, req).await {
        Ok(s) => s,
        Err(res) => return Ok(res),
    };
    let p = &sent.p;
    let owner: Option<i64> = sent.get("owner_region_id").and_then(|v| v.parse().ok());
    let owners = owners_for(&state, p, owner).await.map_err(page_error(p))?;
    let (mut d, parse) = inputs_of(&sent);
    let op = sent.get("op").unwrap_or("save").to_owned();
    let page_with = |d: DraftInputs, problems: Problems, notice: String, alert: String| {
        let state = state.clone();
        let owners = owners.clone();
        async move {
            editor_page(
                &state,
                p,
                &d,
                EditorState {
                    service: None,
                    owners,
                    notice,
                    alert,
                    problems,
                    warnings: Vec::new(),
                    href_base: None,
                },
            )
            .await
        }
    };
    if op != "save" {
        d.apply_op(&op);
        let mut problems = Problems::new();
        add_problems(&mut problems, &sent.file_errors);
        let page = page_with(d, problems, t("editor.not_saved").to_owned(), String::new())
            .await
            .map_err(page_error(p))?;
        return Ok(render(StatusCode::OK, &page));
    }
    let (content, mut parse) = {
        let (c, e) = d.to_content();
        let mut all = parse;
        all.extend(e);
        (c, all)
    };
    let Some(owner) = owner.filter(|o| owners.iter().any(|(id, _, _)| id == o)) else {
        parse.push(InputError {
            input: "owner_region_id".into(),
            code: "required".into(),
            message: "请选择维护基本目录的区划".into(),
        });
        let mut problems = Problems::new();
        add_problems(&mut problems, &parse);
        let page = page_with(d, problems, String::new(), String::new())
            .await
            .map_err(page_error(p))?;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let mut problems = Problems::new();
    add_problems(&mut problems, &parse);
    let result = if parse.is_empty() {
        cat::create_service(&state, p, owner, content).await.map(|(s, _, _)| s)
    } else {
        // Show the rule problems of everything that could be read, together with the parse errors.
        Err(match cat::check_content_and_files(&state, &content).await {
            Ok(_) => ApiError::validation("editor_inputs_invalid", "表单有需要修改的内容"),
            Err(e) => e,
        })
    };
    match result {
        Ok(svc) => Ok(Redirect::to(&format!("/admin/catalogue/services/{}?created=1", svc.id)).into_response()),
        Err(err) if err.status == StatusCode::UNPROCESSABLE_ENTITY || err.status == StatusCode::CONFLICT => {
            add_api_problems(&mut problems, &d, &err, &parse);
            let alert = if err.status == StatusCode::CONFLICT {
                problems
                    .entry("base_code".into())
                    .or_default()
                    .push(err.message.clone());
                err.message.clone()
            } else {
                String::new()
            };
            let status = err.status;
            let page = page_with(d, problems, String::new(), alert)
                .await
                .map_err(page_error(p))?;
            Ok(render(status, &page))
        }
        Err(err) => Err(page_error(p)(err)),
    }
}

// ---- edit the draft ----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct DraftQuery {
    saved: Option<String>,
}

/// The open draft, or — when there is none — the newest version to start one from.
fn starting_point(versions: &[VersionRow]) -> (Option<&VersionRow>, Option<&VersionRow>) {
    let draft = versions.iter().find(|v| v.status == VersionStatus::Draft);
    let from = draft.or_else(|| {
        versions
            .iter()
            .find(|v| v.status == VersionStatus::Published)
            .or(versions.first())
    });
    (draft, from)
}

async fn draft_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    Query(q): Query<DraftQuery>,
) -> PageResult {
    let (svc, versions) = cat::service_detail(&state, &p, id).await.map_err(page_error(&p))?;
    if !can_edit(&state, &p, &svc).await.map_err(page_error(&p))? {
        return Err(page_error(&p)(ApiError::forbidden()));
    }
    let (draft, from) = starting_point(&versions);
    let Some(from) = from else {
        return Err(page_error(&p)(ApiError::not_found()));
    };
    let effective = match draft {
        Some(d) => d.effective_from,
        None => cat::today(&state).max(from.effective_from),
    };
    let d = DraftInputs::from_content(&from.content, &effective.to_string(), &store::draft_token(draft));
    let warnings = match draft {
        Some(dr) => cat::check_content(&dr.content)
            .map(|w| warnings_text(&w))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let notice = match (q.saved.is_some(), draft) {
        (true, _) => t("editor.saved").to_owned(),
        (false, None) => format!("{}{} {}", t("editor.from_version"), from.number, t("editor.v.suffix")),
        (false, Some(_)) => String::new(),
    };
    let page = editor_page(
        &state,
        &p,
        &d,
        EditorState {
            service: Some(&svc),
            owners: Vec::new(),
            notice,
            alert: String::new(),
            problems: Problems::new(),
            warnings,
            href_base: Some(format!("/admin/catalogue/versions/{}/files/", from.id)),
        },
    )
    .await
    .map_err(page_error(&p))?;
    Ok(render(StatusCode::OK, &page))
}

async fn save(State(state): State<AppState>, ApiPath(id): ApiPath<i64>, req: Request) -> PageResult {
    let sent = match read_form(&state, req).await {
        Ok(s) => s,
        Err(res) => return Ok(res),
    };
    let p = &sent.p;
    let (svc, versions) = cat::service_detail(&state, p, id).await.map_err(page_error(p))?;
    if !can_edit(&state, p, &svc).await.map_err(page_error(p))? {
        return Err(page_error(p)(ApiError::forbidden()));
    }
    let (_, from) = starting_point(&versions);
    let href_base = from.map(|v| format!("/admin/catalogue/versions/{}/files/", v.id));
    let (mut d, parse) = inputs_of(&sent);
    // The base code is the service's identity; the form shows it read-only.
    d.record.insert("base_code".into(), svc.base_code.clone());
    let op = sent.get("op").unwrap_or("save").to_owned();
    let render_with = |d: DraftInputs, problems: Problems, notice: String, alert: String, status: StatusCode| {
        let state = state.clone();
        let svc = svc.clone();
        let href_base = href_base.clone();
        async move {
            let page = editor_page(
                &state,
                p,
                &d,
                EditorState {
                    service: Some(&svc),
                    owners: Vec::new(),
                    notice,
                    alert,
                    problems,
                    warnings: Vec::new(),
                    href_base,
                },
            )
            .await
            .map_err(page_error(p))?;
            Ok::<_, PageError>(render(status, &page))
        }
    };
    if op != "save" {
        d.apply_op(&op);
        let mut problems = Problems::new();
        add_problems(&mut problems, &sent.file_errors);
        return render_with(
            d,
            problems,
            t("editor.not_saved").to_owned(),
            String::new(),
            StatusCode::OK,
        )
        .await;
    }
    let (content, mut parse) = {
        let (c, e) = d.to_content();
        let mut all = parse;
        all.extend(e);
        (c, all)
    };
    let effective_from = parse_date(&d.effective_from);
    if effective_from.is_none() {
        parse.push(InputError {
            input: "effective_from".into(),
            code: "date_invalid".into(),
            message: "请填写日期，如 2026-03-18".into(),
        });
    }
    let mut problems = Problems::new();
    add_problems(&mut problems, &parse);
    let result = if parse.is_empty() {
        cat::save_draft(&state, p, id, content, effective_from, Some(d.token.clone()))
            .await
            .map(|_| ())
    } else {
        Err(match cat::check_content_and_files(&state, &content).await {
            Ok(_) => ApiError::validation("editor_inputs_invalid", "表单有需要修改的内容"),
            Err(e) => e,
        })
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/admin/catalogue/services/{id}/draft?saved=1")).into_response()),
        Err(err) if err.status == StatusCode::UNPROCESSABLE_ENTITY => {
            add_api_problems(&mut problems, &d, &err, &parse);
            render_with(
                d,
                problems,
                String::new(),
                String::new(),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(err) if err.status == StatusCode::CONFLICT => {
            render_with(d, problems, String::new(), err.message, StatusCode::CONFLICT).await
        }
        Err(err) => Err(page_error(p)(err)),
    }
}

// ---- the service and its versions --------------------------------------------------------------

struct VersionLine {
    id: i64,
    number: i64,
    status: &'static str,
    status_code: &'static str,
    from: String,
    until: String,
    published: String,
    updated: String,
    in_force: bool,
    draft: bool,
    published_now: bool,
}

#[derive(Template)]
#[template(path = "catalogue/service.html")]
struct ServicePage {
    c: Chrome,
    id: i64,
    name: String,
    base_code: String,
    department: String,
    owner: String,
    writable: bool,
    has_draft: bool,
    notice: String,
    errors: Vec<String>,
    today: String,
    versions: Vec<VersionLine>,
}

#[derive(Deserialize, Default)]
struct ServiceQuery {
    created: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
}

fn show_time(ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => {
            let z = ts.to_zoned(tz);
            format!("{} {:02}:{:02}", cat::show_date(z.date()), z.hour(), z.minute())
        }
        Err(_) => String::new(),
    }
}

async fn service_view(
    state: &AppState,
    p: &Principal,
    id: i64,
    notice: String,
    errors: Vec<String>,
) -> Result<ServicePage, ApiError> {
    let (svc, versions) = cat::service_detail(state, p, id).await?;
    let writable = can_edit(state, p, &svc).await?;
    let owner = onestop_store::regions::get(state.store.read(), svc.owner_region_id).await?;
    let today = cat::today(state);
    let domain: Vec<onestop_domain::catalogue::Version<i64>> = versions
        .iter()
        .map(|v| onestop_domain::catalogue::Version {
            number: u32::try_from(v.number).unwrap_or(u32::MAX),
            status: v.status,
            effective_from: v.effective_from,
            effective_until: v.effective_until,
            content: v.id,
        })
        .collect();
    let in_force = onestop_domain::catalogue::effective_version(&domain, today).map(|v| v.content);
    Ok(ServicePage {
        c: chrome(p),
        id,
        name: svc.name.clone(),
        base_code: svc.base_code.clone(),
        department: svc.department_name.clone(),
        owner: owner.name,
        writable,
        has_draft: versions.iter().any(|v| v.status == VersionStatus::Draft),
        notice,
        errors,
        today: today.to_string(),
        versions: versions
            .iter()
            .map(|v| VersionLine {
                id: v.id,
                number: v.number,
                status: v.status.label(),
                status_code: v.status.code(),
                from: cat::show_date(v.effective_from),
                until: v.effective_until.map(cat::show_date).unwrap_or_default(),
                published: v.published_at.map(show_time).unwrap_or_default(),
                updated: show_time(v.updated_at),
                in_force: Some(v.id) == in_force,
                draft: v.status == VersionStatus::Draft,
                published_now: v.status == VersionStatus::Published,
            })
            .collect(),
    })
}

async fn service_page(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath(id): ApiPath<i64>,
    Query(q): Query<ServiceQuery>,
) -> PageResult {
    let notice = if q.created.is_some() {
        t("editor.created").to_owned()
    } else if let Some(n) = q.published {
        format!(
            "{}{} {}",
            t("editor.published"),
            n.chars().filter(char::is_ascii_digit).collect::<String>(),
            t("editor.v.suffix")
        )
    } else if q.withdrawn.is_some() {
        t("editor.withdrawn").to_owned()
    } else {
        String::new()
    };
    let page = service_view(&state, &p, id, notice, Vec::new())
        .await
        .map_err(page_error(&p))?;
    Ok(render(StatusCode::OK, &page))
}

async fn version_service(state: &AppState, vid: i64) -> Result<VersionRow, ApiError> {
    Ok(store::version(&mut *read_conn(state).await?, vid).await?)
}

async fn publish(
    State(state): State<AppState>,
    ApiPath(vid): ApiPath<i64>,
    f: StaffForm<Vec<(String, String)>>,
) -> PageResult {
    let p = &f.p;
    let get = |k: &str| {
        f.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let v = version_service(&state, vid).await.map_err(page_error(p))?;
    let mut errors = Vec::new();
    let from = match get("effective_from") {
        Some(raw) => match parse_date(raw) {
            Some(d) => Some(d),
            None => {
                errors.push(format!("{}：请填写日期，如 2026-03-18", t("editor.effective_from")));
                None
            }
        },
        None => None,
    };
    let until = match get("effective_until") {
        Some(raw) => match parse_date(raw) {
            Some(d) => Some(d),
            None => {
                errors.push(format!("{}：请填写日期，如 2026-12-31", t("editor.effective_until")));
                None
            }
        },
        None => None,
    };
    let result = if errors.is_empty() {
        cat::publish(&state, p, vid, from, until).await
    } else {
        Err(ApiError::validation("effective_dates_invalid", "日期格式不正确"))
    };
    match result {
        Ok(v) => Ok(Redirect::to(&format!(
            "/admin/catalogue/services/{}?published={}",
            v.service_id, v.number
        ))
        .into_response()),
        Err(err)
            if err.status.is_client_error()
                && err.status != StatusCode::NOT_FOUND
                && err.status != StatusCode::FORBIDDEN =>
        {
            if errors.is_empty() {
                errors.push(err.message.clone());
                errors.extend(err.fields.iter().map(|f| {
                    format!(
                        "{}：{}",
                        t(label_key(&input_of_issue(&f.field, &f.code, &DraftInputs::default()))),
                        f.message
                    )
                }));
            }
            let page = service_view(&state, p, v.service_id, String::new(), errors)
                .await
                .map_err(page_error(p))?;
            Ok(render(err.status, &page))
        }
        Err(err) => Err(page_error(p)(err)),
    }
}

async fn withdraw(
    State(state): State<AppState>,
    ApiPath(vid): ApiPath<i64>,
    f: StaffForm<Vec<(String, String)>>,
) -> PageResult {
    let p = &f.p;
    match cat::withdraw(&state, p, vid).await {
        Ok(v) => Ok(Redirect::to(&format!("/admin/catalogue/services/{}?withdrawn=1", v.service_id)).into_response()),
        Err(err) if err.status == StatusCode::CONFLICT => {
            let v = version_service(&state, vid).await.map_err(page_error(p))?;
            let page = service_view(&state, p, v.service_id, String::new(), vec![err.message.clone()])
                .await
                .map_err(page_error(p))?;
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(err) => Err(page_error(p)(err)),
    }
}

// ---- one version, read-only --------------------------------------------------------------------

#[derive(Template)]
#[template(path = "catalogue/version.html")]
struct VersionPage {
    c: Chrome,
    service_id: i64,
    status: &'static str,
    from: String,
    until: String,
    g: GuideView,
    /// The application form: (label, key, kind, required).
    fields: Vec<(String, String, &'static str, bool)>,
}

async fn version_page(State(state): State<AppState>, PageAuth(p): PageAuth, ApiPath(vid): ApiPath<i64>) -> PageResult {
    p.require_any(Permission::RegionRead).map_err(page_error(&p))?;
    let v = version_service(&state, vid).await.map_err(page_error(&p))?;
    let g = record_view(
        &v.content.record,
        &v.content.materials,
        v.number,
        "",
        "",
        Some(&format!("/admin/catalogue/versions/{vid}/files/")),
    );
    let kinds: HashMap<&str, &str> = FIELD_KINDS.iter().copied().collect();
    let fields = v
        .content
        .form
        .fields
        .iter()
        .map(|f| {
            (
                f.label.clone(),
                f.key.clone(),
                kinds.get(kind_name(&f.kind)).copied().unwrap_or(""),
                f.required,
            )
        })
        .collect();
    let page = VersionPage {
        c: chrome(&p),
        service_id: v.service_id,
        status: v.status.label(),
        from: cat::show_date(v.effective_from),
        until: v.effective_until.map(cat::show_date).unwrap_or_default(),
        g,
        fields,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A stored file as an inline response, typed from its bytes.
pub(crate) async fn file_response(state: &AppState, sha: &str, download_name: &str) -> Result<Response, ApiError> {
    let bytes = crate::uploads::read_blob(state, sha).await?;
    let mime = crate::uploads::detect_mime(&bytes).unwrap_or("application/octet-stream");
    let ext = match mime {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "bin",
    };
    let name = format!("{download_name}.{ext}");
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"file.{ext}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// The material of `materials` that names `sha` as its blank form or sample, with a download name.
pub(crate) fn file_of(materials: &[onestop_domain::catalogue::MaterialRecord], sha: &str) -> Option<String> {
    materials.iter().find_map(|m| {
        if m.blank_form.as_deref() == Some(sha) {
            Some(format!("{}（{}）", m.name, t("editor.m.blank_form")))
        } else if m.sample.as_deref() == Some(sha) {
            Some(format!("{}（{}）", m.name, t("editor.m.sample")))
        } else {
            None
        }
    })
}

/// A blank form or sample of a version (staff). Only files the version names are served, so this
/// cannot be used to read other uploads (applicants' documents) by their digest.
async fn version_file(
    State(state): State<AppState>,
    PageAuth(p): PageAuth,
    ApiPath((vid, sha)): ApiPath<(i64, String)>,
) -> PageResult {
    p.require_any(Permission::RegionRead).map_err(page_error(&p))?;
    let v = version_service(&state, vid).await.map_err(page_error(&p))?;
    let name = file_of(&v.content.materials, &sha).ok_or_else(|| page_error(&p)(ApiError::not_found()))?;
    file_response(&state, &sha, &name).await.map_err(page_error(&p))
}
