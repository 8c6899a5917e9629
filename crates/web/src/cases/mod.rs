//! Use cases of cases (办件) from intake to result, shared by the JSON API, the pages, the demo and
//! the benchmark: apply (online or at a window), the one intake decision, the department inboxes
//! (claim, assign, reassign), step actions, special procedures, conclusion with its e-certificate,
//! and the public follow-up. Each action checks who may act, lets the domain state machines
//! (`intake`, `workflow`, `case_clock`) decide, then writes the new state, the step record, the
//! event, the audit entry and any message in ONE transaction.
pub mod links;
pub mod sweep;

use crate::auth::{Principal, sha256_hex};
use crate::certs::{HOLDER_KIND, IssueInput};
use crate::crypto::{DataKeys, purpose};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use jiff::Timestamp;
use jiff::civil::Date;
use onestop_domain::DomainError;
use onestop_domain::calendar::WorkingCalendar;
use onestop_domain::case_clock::{CaseClock, CaseType, ClockEvent, SpecialProcedure, TimeLimits};
use onestop_domain::case_no::{CaseNo, TrackingCode};
use onestop_domain::catalogue::{CaseType as CatalogueCaseType, MaterialRecord, TimeUnit};
use onestop_domain::ecert::Field;
use onestop_domain::form::{FieldKind, FormDefinition, validate_json_submission};
use onestop_domain::ids::{CreditCode, IdNumber, Phone};
use onestop_domain::intake::{CaseEvent, CaseStatus, IntakeRules, IntakeState, NoticeKind};
use onestop_domain::region::{RegionCode, RegionLevel, RegionPath};
use onestop_domain::role::{Permission, Role};
use onestop_domain::workflow::{self, Action, Conclusion, StepKey, WorkflowDefinition, WorkflowState};
use onestop_store::audit::AuditEntry;
use onestop_store::cases::{self as store, CaseRow, CaseUpdate, NewCase, NewMaterial, NewStep, StepRow};
use onestop_store::workflows::Subject;
use onestop_store::{StoreError, Tx, calendars, catalogue, org, regions};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// Purpose of the sealed form (see `crypto`).
pub const FORM_PURPOSE: &str = "case.form";
/// Purpose of a sealed idempotent answer (it holds the tracking code).
pub const IDEMPOTENCY_PURPOSE: &str = "case.idempotency";
/// Look-up kind of tracking codes.
pub const TRACKING_KIND: &str = "tracking_code";

const NAME_MAX: usize = 50;

/// The hall's time zone: case dates are local days.
pub fn today_at(at: Timestamp) -> Date {
    at.to_zoned(crate::queue::hall_tz()).date()
}

// ---- inputs and outputs ------------------------------------------------------------------------

/// Who the application is for: the person who will hold the result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantInput {
    /// 姓名
    pub name: String,
    /// 居民身份证号码 (GB 11643, 18 characters)
    pub id_number: String,
    /// 手机号码 (11 digits)
    pub phone: String,
}

/// A material handed in: an uploaded file (`POST /api/v1/uploads`), or an e-certificate this
/// system already issued to the same applicant (reused, not uploaded again).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialInput {
    /// The material's name as the catalogue lists it.
    pub name: String,
    #[serde(default)]
    pub upload_id: Option<i64>,
    #[serde(default)]
    pub certificate_number: Option<String>,
}

/// An application. Exactly one of `service` (base code) and `bundle` (bundle code).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// Region code of the hall handling the case, e.g. 990121.
    pub region: String,
    /// The hall; defaults to the region's first open hall.
    #[serde(default)]
    pub hall_id: Option<i64>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub bundle: Option<String>,
    pub applicant: ApplicantInput,
    /// The catalogue form's fields by key.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub form: serde_json::Map<String, Value>,
    #[serde(default)]
    pub materials: Vec<MaterialInput>,
    /// Online applicants: the code sent to the applicant's phone (`POST /api/v1/cases/phone-codes`).
    #[serde(default)]
    pub phone_code: Option<String>,
    /// Window intake from the queue: the served ticket of this visit.
    #[serde(default)]
    pub ticket_id: Option<i64>,
}

/// The receipt. `tracking_code` is shown this once (and on a retry with the same
/// `Idempotency-Key`); only its keyed hash is stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    pub id: i64,
    pub case_no: String,
    pub tracking_code: String,
    pub status: String,
    pub received_on: String,
    /// The printable receipt with the tracking code's QR.
    pub receipt_url: String,
}

/// Who submits: an online applicant (verified by a phone code) or staff at a window.
#[derive(Debug, Clone)]
pub enum Submitter {
    Online { address: String },
    Staff(Principal),
}

impl Submitter {
    fn actor(&self) -> String {
        match self {
            Self::Online { .. } => "applicant".into(),
            Self::Staff(p) => p.actor(),
        }
    }
    fn channel(&self) -> &'static str {
        match self {
            Self::Online { .. } => "online",
            Self::Staff(_) => "window",
        }
    }
}

// ---- helpers -----------------------------------------------------------------------------------

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    let mut e = ApiError::validation(code, message.clone());
    e.fields.push(FieldError {
        field: field.to_owned(),
        code: code.to_owned(),
        message,
    });
    e
}

pub(crate) async fn conn(state: &AppState) -> ApiResult<sqlx::pool::PoolConnection<sqlx::Any>> {
    state
        .store
        .read()
        .acquire()
        .await
        .map_err(|e| ApiError::from(StoreError::from(e)))
}

pub(crate) fn audit(actor: &str, c: &CaseRow, at: Timestamp, action: &'static str, detail: Value) -> AuditEntry {
    AuditEntry {
        region_id: c.region_id,
        at,
        actor: actor.to_owned(),
        action,
        entity: "case",
        entity_id: c.case_no.clone(),
        detail,
    }
}

fn random_tracking_code() -> TrackingCode {
    let mut b = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut b);
    TrackingCode::from_random_bytes(&b)
}

/// The 6-digit code a case number carries: the region's own, or its nearest county/city above.
fn number_region(chain: &[onestop_store::regions::Region]) -> ApiResult<RegionCode> {
    chain
        .iter()
        .rev()
        .filter_map(|r| RegionCode::parse(&r.code).ok())
        .find(|c| {
            matches!(
                c.level(),
                RegionLevel::Province | RegionLevel::City | RegionLevel::County
            )
        })
        .ok_or_else(|| ApiError::conflict("case_no_region", "无法确定办件编号的区划代码"))
}

/// Masked copy of a validated form for display: identifiers masked by their field kind.
fn mask_form(def: &FormDefinition, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|(k, v)| {
            let masked = match def.field(k).map(|f| &f.kind) {
                Some(FieldKind::IdNumber) => IdNumber::parse(v).map(|i| i.masked()).unwrap_or_else(|_| "***".into()),
                Some(FieldKind::Phone) => Phone::parse(v).map(|p| p.masked()).unwrap_or_else(|_| "***".into()),
                Some(FieldKind::CreditCode) => CreditCode::parse(v)
                    .map(|c| c.masked())
                    .unwrap_or_else(|_| "***".into()),
                _ => v.clone(),
            };
            (k.clone(), masked)
        })
        .collect()
}

/// The time limits of a service in working days, from its catalogue record.
fn limits_of(
    case_type: CatalogueCaseType,
    promised: Option<onestop_domain::catalogue::TimeLimit>,
    legal: Option<onestop_domain::catalogue::TimeLimit>,
    joint: bool,
) -> (CaseType, TimeLimits) {
    let days = |t: Option<onestop_domain::catalogue::TimeLimit>| {
        t.map(|t| match t.unit {
            TimeUnit::WorkingDays => t.value,
            // Calendar days counted conservatively as fewer working days (5 in 7).
            _ => (t.value * 5) / 7,
        })
    };
    let statutory = if joint { 45 } else { 20 };
    let max_ext = if joint { 15 } else { 10 };
    let legal = days(legal).filter(|d| *d > 0).unwrap_or(statutory);
    let promised = days(promised).unwrap_or(legal).min(legal);
    if case_type == CatalogueCaseType::Instant || promised == 0 {
        let l = TimeLimits::new(1, legal.max(1), 0).unwrap_or_else(|_| fallback_limits());
        return (CaseType::Instant, l);
    }
    let l = TimeLimits::new(promised, legal, max_ext).unwrap_or_else(|_| fallback_limits());
    (CaseType::Promised, l)
}

fn fallback_limits() -> TimeLimits {
    // 20 working days, +10: the licensing law's default.
    TimeLimits::licensing(20).unwrap_or_else(|_| unreachable_limits())
}

#[allow(clippy::unwrap_used)] // 20 ≤ 20 always holds
fn unreachable_limits() -> TimeLimits {
    TimeLimits::new(20, 20, 10).unwrap()
}

/// A department per task step, as routed at submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutedDepartment {
    pub department_id: i64,
    pub department_name: String,
}

/// What a case's JSON columns hold, read back.
pub struct Loaded {
    pub row: CaseRow,
    pub status: CaseStatus,
    pub intake: IntakeState,
    pub definition: WorkflowDefinition,
    pub wf: WorkflowState,
    pub clock: CaseClock,
    pub routes: BTreeMap<String, RoutedDepartment>,
}

pub fn load_row(row: CaseRow) -> Result<Loaded, StoreError> {
    Ok(Loaded {
        status: CaseStatus::parse(&row.status).map_err(corrupt)?,
        intake: serde_json::from_str(&row.intake_state).map_err(corrupt)?,
        definition: serde_json::from_str(&row.workflow_definition).map_err(corrupt)?,
        wf: serde_json::from_str(&row.workflow_state).map_err(corrupt)?,
        clock: serde_json::from_str(&row.clock).map_err(corrupt)?,
        routes: serde_json::from_str(&row.step_departments).map_err(corrupt)?,
        row,
    })
}

pub async fn load(state: &AppState, id: i64) -> ApiResult<Loaded> {
    let mut c = conn(state).await?;
    Ok(load_row(store::get(&mut c, id).await?)?)
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

fn clock_state(status: CaseStatus, clock: &CaseClock) -> &'static str {
    if status.is_final() {
        "stopped"
    } else if clock.accepted_on().is_none() {
        "not_started"
    } else if clock.open_pause().is_some() {
        "paused"
    } else {
        "running"
    }
}

/// The update that writes `l`'s (changed) states back, with deadlines from the calendar.
fn update_of(l: &Loaded, cal: &WorkingCalendar, concluded: bool, certificate: Option<String>) -> CaseUpdate {
    let deadlines = l.clock.deadlines(cal).ok();
    CaseUpdate {
        status: l.status.as_str().to_owned(),
        intake_state: to_json(&l.intake).unwrap_or_default(),
        workflow_state: to_json(&l.wf).unwrap_or_default(),
        clock: to_json(&l.clock).unwrap_or_default(),
        clock_state: clock_state(l.status, &l.clock),
        accepted_on: l.clock.accepted_on().map(|d| d.to_string()),
        promised_deadline: deadlines.as_ref().and_then(|d| d.promised.date).map(|d| d.to_string()),
        legal_deadline: deadlines.as_ref().and_then(|d| d.legal.date).map(|d| d.to_string()),
        concluded,
        certificate_number: certificate,
    }
}

async fn calendar(state: &AppState, region_id: i64) -> ApiResult<Arc<WorkingCalendar>> {
    let mut c = conn(state).await?;
    Ok(Arc::new(calendars::calendar_for(&mut c, region_id).await?))
}

fn region_path(row: &CaseRow) -> RegionPath {
    RegionPath::from_stored(row.region_path.clone())
}

// ---- phone verification ------------------------------------------------------------------------

fn phone_code_hash(phone: &Phone, code: &str) -> String {
    sha256_hex(&format!("onestop/phone-code/v1:{}:{}", phone.as_str(), code.trim()))
}

/// Sends a 6-digit verification code to an online applicant's phone, through the outbox. Limited
/// per phone (5 per hour) and per address (20 per hour).
pub async fn send_phone_code(state: &AppState, phone: &str, address: &str) -> ApiResult<()> {
    let phone = Phone::parse(phone).map_err(ApiError::from)?;
    let keys = state.data_keys()?;
    let phone_hash = keys.lookup_hash(purpose::PHONE, phone.as_str());
    crate::auth::rate_limit(
        state,
        format!("phone-code:addr:{address}"),
        20,
        jiff::SignedDuration::from_hours(1),
    )
    .await?;
    crate::auth::rate_limit(
        state,
        format!("phone-code:{phone_hash}"),
        5,
        jiff::SignedDuration::from_hours(1),
    )
    .await?;
    let mut b = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let code = format!("{:06}", u32::from_le_bytes(b) % 1_000_000);
    let hash = phone_code_hash(&phone, &code);
    let now = state.clock.now();
    let expires = now + jiff::SignedDuration::from_mins(10);
    let text = format!("【一站式政务服务】您的验证码是 {code}，10 分钟内有效。请勿告诉他人。");
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::add_phone_code(tx, &phone_hash, &hash, now, expires).await?;
                crate::notify::queue_sms(tx, &keys, &phone, &text, now).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}

// ---- submit ------------------------------------------------------------------------------------

/// What the catalogue says about the subject applied for, at the region, today.
struct Offer {
    subject: Subject,
    title: String,
    code: String,
    versions: Vec<i64>,
    form: FormDefinition,
    materials: Vec<MaterialRecord>,
    case_type: CaseType,
    limits: TimeLimits,
}

async fn offer(state: &AppState, region_id: i64, req: &SubmitRequest, today: Date) -> ApiResult<Offer> {
    let mut c = conn(state).await?;
    match (req.service.as_deref(), req.bundle.as_deref()) {
        (Some(code), None) => {
            let svc = catalogue::service_by_code(&mut c, code.trim())
                .await?
                .ok_or_else(|| invalid("service_unknown", "service", "没有这个政务服务事项"))?;
            let eff = match catalogue::effective(&mut c, region_id, svc.id, today).await {
                Err(StoreError::NotFound) => None,
                other => Some(other?),
            };
            let eff = eff
                .filter(|e| e.enabled)
                .ok_or_else(|| invalid("service_not_offered", "service", "本地区暂不办理该事项"))?;
            let (case_type, limits) = limits_of(
                eff.record.case_type,
                eff.record.promised_limit,
                eff.record.legal_limit,
                false,
            );
            Ok(Offer {
                subject: Subject::Service(svc.id),
                title: eff.record.name.clone(),
                code: eff.record.base_code.clone(),
                versions: vec![eff.service_version_id],
                form: eff.form.clone(),
                materials: eff.materials.clone(),
                case_type,
                limits,
            })
        }
        (None, Some(code)) => {
            let bundle = catalogue::bundles(&mut c)
                .await?
                .into_iter()
                .find(|b| b.code == code.trim())
                .ok_or_else(|| invalid("bundle_unknown", "bundle", "没有这个一件事"))?;
            drop(c);
            let guide = crate::catalogue::bundle_guide(state, region_id, bundle.id).await?;
            if !guide.available {
                return Err(invalid("bundle_not_offered", "bundle", "本地区暂不办理该一件事"));
            }
            // Joint handling (联合办理): 45 working days (+15); promised is the longest member's.
            let promised = guide
                .members
                .iter()
                .filter_map(|m| m.record.promised_limit)
                .map(|t| t.value)
                .max();
            let (case_type, limits) = limits_of(
                CatalogueCaseType::Promised,
                promised.map(onestop_domain::catalogue::TimeLimit::working_days),
                None,
                true,
            );
            Ok(Offer {
                subject: Subject::Bundle(bundle.id),
                title: bundle.name.clone(),
                code: bundle.code.clone(),
                versions: guide.members.iter().map(|m| m.service_version_id).collect(),
                form: guide.merged.form.clone(),
                materials: guide.merged.materials.iter().map(|m| m.material.clone()).collect(),
                case_type,
                limits,
            })
        }
        _ => Err(invalid(
            "subject_required",
            "service",
            "请选择一个事项（service）或一件事（bundle），且只选其一",
        )),
    }
}

struct Applicant {
    name: String,
    id: IdNumber,
    phone: Phone,
}

fn check_applicant(a: &ApplicantInput, today: Date) -> Result<Applicant, ApiError> {
    let mut errors = Vec::new();
    let name = a.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        errors.push(DomainError::invalid(
            "applicant_name_invalid",
            "applicant.name",
            format!("申请人姓名须为 1 至 {NAME_MAX} 个字符"),
        ));
    }
    let id = IdNumber::parse_as_of(&a.id_number, today)
        .map_err(|e| errors.push(e))
        .ok();
    let phone = Phone::parse(&a.phone).map_err(|e| errors.push(e)).ok();
    if let (Some(id), Some(phone), true) = (id, phone, errors.is_empty()) {
        return Ok(Applicant { name, id, phone });
    }
    let first = errors.first().map(DomainError::code).unwrap_or("applicant_invalid");
    let mut err = ApiError::validation(first, "申请人信息有误");
    for e in errors {
        if let DomainError::Invalid { code, field, message } = e {
            let field = if field.starts_with("applicant.") {
                field.to_owned()
            } else if code.starts_with("phone") {
                "applicant.phone".into()
            } else {
                "applicant.id_number".into()
            };
            err.fields.push(FieldError {
                field,
                code: code.to_owned(),
                message,
            });
        }
    }
    if let Some(f) = err.fields.first() {
        err.message = f.message.clone();
    }
    Err(err)
}

/// Checks an `Idempotency-Key` header value: 1 to 100 visible ASCII characters.
pub fn check_idempotency_key(raw: &str) -> ApiResult<String> {
    let k = raw.trim();
    if k.is_empty() || k.len() > 100 || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "idempotency_key_invalid",
            "Idempotency-Key 须为 1 至 100 个可见 ASCII 字符",
        ));
    }
    Ok(k.to_owned())
}

/// Applies for a service or bundle. With an idempotency key, a retry of the same request gets the
/// first answer and creates nothing; the same key with another request is 409.
pub async fn submit(
    state: &AppState,
    who: Submitter,
    req: SubmitRequest,
    idempotency_key: Option<String>,
) -> ApiResult<Submitted> {
    let keys = state.data_keys()?;
    let now = state.clock.now();
    let today = today_at(now);
    let actor = who.actor();
    let scope = match &who {
        Submitter::Staff(p) => format!("staff:{}", p.user.id),
        Submitter::Online { .. } => "online".to_owned(),
    };
    let request_hash = sha256_hex(&serde_json::to_string(&req).unwrap_or_default());
    if let Some(key) = &idempotency_key
        && let Some(answer) = idempotent(state, &keys, &scope, key, &request_hash).await?
    {
        return Ok(answer);
    }
    let region = regions::get_by_code(state.store.read(), req.region.trim())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => invalid("region_unknown", "region", "没有这个区划"),
            other => other.into(),
        })?;
    if region.closed_at.is_some() {
        return Err(invalid("region_unknown", "region", "该区划已撤销"));
    }
    if let Submitter::Staff(p) = &who {
        p.require(Permission::WindowWork, &region.region_path())?;
    }
    let hall = match req.hall_id {
        Some(id) => {
            let h = org::hall(state.store.read(), id)
                .await
                .map_err(|_| invalid("hall_unknown", "hall_id", "没有这个大厅"))?;
            if h.region_id != region.id || h.closed_at.is_some() {
                return Err(invalid("hall_unknown", "hall_id", "该大厅不属于所选区划"));
            }
            Some(h)
        }
        None => org::halls_in(state.store.read(), &region.path)
            .await?
            .into_iter()
            .find(|h| h.region_id == region.id && h.closed_at.is_none()),
    };
    let applicant = check_applicant(&req.applicant, today)?;
    let offer = offer(state, region.id, &req, today).await?;
    let values = validate_json_submission(&offer.form, &req.form, today).map_err(|errs| {
        let mut e = ApiError::validation(
            "form_invalid",
            errs.first()
                .map(|f| f.message.clone())
                .unwrap_or_else(|| "表单填写有误".into()),
        );
        e.fields = errs
            .into_iter()
            .map(|f| FieldError {
                field: format!("form.{}", f.key),
                code: f.code.to_owned(),
                message: f.message,
            })
            .collect();
        e
    })?;
    let materials = check_materials(state, &keys, &offer, &applicant, &req.materials).await?;
    let ticket_id = match (req.ticket_id, &who) {
        (None, _) => None,
        (Some(_), Submitter::Online { .. }) => {
            return Err(invalid("ticket_not_allowed", "ticket_id", "网上申请不关联取号"));
        }
        (Some(id), Submitter::Staff(_)) => {
            let t = onestop_store::queue::ticket(state.store.read(), id)
                .await
                .map_err(|_| invalid("ticket_unknown", "ticket_id", "没有这张号票"))?;
            if hall.as_ref().is_none_or(|h| h.id != t.hall_id) {
                return Err(invalid("ticket_unknown", "ticket_id", "该号票不属于本大厅"));
            }
            links::check_served(&t)?;
            Some(t.id)
        }
    };
    // The workflow in force, pinned on the case, with every task step routed to a department.
    let mut c = conn(state).await?;
    let wf = onestop_store::workflows::effective_subject(&mut c, region.id, offer.subject).await?;
    let chain = regions::chain(&mut c, region.id).await?;
    drop(c);
    let mut routes = BTreeMap::new();
    for d in &wf.departments {
        let Some(r) = &d.resolved else {
            return Err(ApiError::conflict(
                "workflow_unroutable",
                format!("流程步骤“{}”的部门“{}”在本地区不存在，暂不能受理", d.step, d.department),
            ));
        };
        routes.insert(
            d.step.as_str().to_owned(),
            RoutedDepartment {
                department_id: r.id,
                department_name: r.name.clone(),
            },
        );
    }
    let number_code = number_region(&chain)?;
    if let Submitter::Online { address } = &who {
        let code = req.phone_code.as_deref().unwrap_or("").trim().to_owned();
        if code.is_empty() {
            return Err(invalid("phone_code_required", "phone_code", "请填写手机验证码"));
        }
        crate::auth::rate_limit(
            state,
            format!("case-submit:{address}"),
            30,
            jiff::SignedDuration::from_mins(10),
        )
        .await?;
        let hashes = keys.lookup_hashes(purpose::PHONE, applicant.phone.as_str());
        let code_hash = phone_code_hash(&applicant.phone, &code);
        let ok = state
            .store
            .write(move |tx| Box::pin(async move { store::use_phone_code(tx, &hashes, &code_hash, now).await }))
            .await?;
        if !ok {
            return Err(invalid("phone_code_invalid", "phone_code", "手机验证码错误或已过期"));
        }
    }
    let tracking = random_tracking_code();
    let mut intake = IntakeState::received(today);
    // The required materials of the version(s) applied under, checked at intake (一次性告知).
    intake.required_materials = offer
        .materials
        .iter()
        .filter(|m| m.required)
        .map(|m| m.name.clone())
        .collect();
    let clock = CaseClock::new(offer.case_type, offer.limits);
    let form_json = to_json(&values)?;
    let new = NewCase {
        case_no: String::new(),
        tracking_hash: keys.lookup_hash(TRACKING_KIND, tracking.as_str()),
        region_id: region.id,
        region_path: region.path.clone(),
        hall_id: hall.as_ref().map(|h| h.id),
        subject: offer.subject.kind(),
        subject_id: offer.subject.id(),
        title: offer.title.clone(),
        catalogue_versions: to_json(&offer.versions)?,
        workflow_version_id: wf.version_id,
        workflow_definition: to_json(&wf.definition)?,
        step_departments: to_json(&routes)?,
        applicant_name: applicant.name.clone(),
        applicant_id_sealed: keys.seal_str(purpose::ID_NUMBER, applicant.id.as_str()),
        applicant_id_hash: keys.lookup_hash(HOLDER_KIND, applicant.id.as_str()),
        applicant_id_masked: applicant.id.masked(),
        applicant_phone_sealed: keys.seal_str(purpose::PHONE, applicant.phone.as_str()),
        applicant_phone_masked: applicant.phone.masked(),
        phone_last4_hash: String::new(),
        form_sealed: keys.seal_str(FORM_PURPOSE, &form_json),
        form_masked: to_json(&mask_form(&offer.form, &values))?,
        channel: who.channel(),
        ticket_id,
        status: CaseStatus::Submitted.as_str().to_owned(),
        case_type: i64::from(offer.case_type.code()),
        intake_state: to_json(&intake)?,
        workflow_state: to_json(&WorkflowState::default())?,
        clock: to_json(&clock)?,
        received_on: today.to_string(),
        first_handler: match &who {
            Submitter::Staff(p) => Some(p.user.username.clone()),
            Submitter::Online { .. } => None,
        },
        created_by: actor.clone(),
    };
    let hall_name = hall.as_ref().map(|h| h.name.clone()).unwrap_or_default();
    let phone = applicant.phone.clone();
    let last4 = phone.last4().to_owned();
    let tracking_text = tracking.grouped();
    let idem = idempotency_key.clone();
    let keys2 = keys.clone();
    let title = offer.title.clone();
    let code = offer.code.clone();
    let day = today.strftime("%Y%m%d").to_string();
    let result = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let seq = store::next_seq(tx, number_code.as_str(), &day).await?;
                let no = CaseNo::new(&number_code, today, seq)?;
                let mut new = new;
                new.case_no = no.as_str().to_owned();
                new.phone_last4_hash = keys2.lookup_hash("phone_last4", &format!("{}:{last4}", no.as_str()));
                let id = store::submit(tx, &new, &materials, now).await?;
                if let Some(t) = new.ticket_id {
                    onestop_store::case_links::link_ticket(tx, id, t, "submit", now).await?;
                }
                let row = store::get(tx.conn(), id).await?;
                store::append_event(
                    tx,
                    id,
                    now,
                    &actor,
                    "submit",
                    &json!({"channel": new.channel, "subject": new.subject, "code": code, "materials": materials.len()}),
                )
                .await?;
                store::add_notice(tx, id, NoticeKind::Receipt.as_str(), &actor, &json!({"hall": hall_name}), now).await?;
                tx.audit(audit(
                    &actor,
                    &row,
                    now,
                    "case.submit",
                    json!({"channel": new.channel, "subject": new.subject, "code": code}),
                ))
                .await?;
                let text = format!("【一站式政务服务】您申请的“{title}”已收件，办件编号 {}。", no.as_str());
                crate::notify::queue_sms(tx, &keys2, &phone, &text, now).await?;
                let out = Submitted {
                    id,
                    case_no: no.as_str().to_owned(),
                    tracking_code: tracking_text,
                    status: new.status.clone(),
                    received_on: new.received_on.clone(),
                    receipt_url: format!("/cases/{id}/notices/receipt"),
                };
                if let Some(key) = &idem {
                    let sealed = keys2.seal_str(IDEMPOTENCY_PURPOSE, &to_json(&out)?);
                    store::remember(tx, &scope, key, &request_hash, id, &sealed, now).await?;
                }
                Ok::<_, StoreError>(out)
            })
        })
        .await;
    match result {
        Ok(out) => Ok(out),
        // Two first uses of one key at once: the other one won; answer as it did.
        Err(StoreError::Conflict { code: "duplicate", .. }) if idempotency_key.is_some() => {
            let scope = match &who {
                Submitter::Staff(p) => format!("staff:{}", p.user.id),
                Submitter::Online { .. } => "online".to_owned(),
            };
            let request_hash = sha256_hex(&serde_json::to_string(&req).unwrap_or_default());
            let key = idempotency_key.unwrap_or_default();
            idempotent(state, &keys, &scope, &key, &request_hash)
                .await?
                .ok_or_else(|| ApiError::conflict("idempotency_conflict", "请求正在处理，请稍后重试"))
        }
        Err(e) => Err(e.into()),
    }
}

async fn idempotent(
    state: &AppState,
    keys: &DataKeys,
    scope: &str,
    key: &str,
    request_hash: &str,
) -> ApiResult<Option<Submitted>> {
    let mut c = conn(state).await?;
    let Some(answer) = store::idempotent_answer(&mut c, scope, key).await? else {
        return Ok(None);
    };
    if answer.request_hash != request_hash {
        return Err(ApiError::conflict(
            "idempotency_key_reused",
            "该 Idempotency-Key 已用于另一份不同的申请",
        ));
    }
    let text = keys
        .open_str(IDEMPOTENCY_PURPOSE, &answer.response_sealed)
        .map_err(|e| {
            tracing::error!(error = %e, "idempotent answer cannot be opened");
            ApiError::internal()
        })?;
    let out: Submitted = serde_json::from_str(&text).map_err(|_| ApiError::internal())?;
    Ok(Some(out))
}

async fn check_materials(
    state: &AppState,
    keys: &DataKeys,
    offer: &Offer,
    applicant: &Applicant,
    input: &[MaterialInput],
) -> ApiResult<Vec<NewMaterial>> {
    if input.len() > 50 {
        return Err(invalid("materials_too_many", "materials", "材料不能超过 50 份"));
    }
    let mut out = Vec::new();
    let holder = keys.lookup_hashes(HOLDER_KIND, applicant.id.as_str());
    for (i, m) in input.iter().enumerate() {
        let field = format!("materials[{i}]");
        let name = m.name.trim();
        if !offer.materials.iter().any(|r| r.name == name) {
            return Err(invalid("material_unknown", &field, format!("本事项不需要材料“{name}”")));
        }
        out.push(resolve_material(state, &holder, name, &field, m).await?);
    }
    Ok(out)
}

/// One material handed in: an upload that exists, or an e-certificate this system issued to the
/// same applicant (`holder`: the applicant's keyed ID hashes) and not revoked. Used at submission
/// and for materials handed in later.
pub(crate) async fn resolve_material(
    state: &AppState,
    holder: &[String],
    name: &str,
    field: &str,
    m: &MaterialInput,
) -> ApiResult<NewMaterial> {
    match (m.upload_id, m.certificate_number.as_deref()) {
        (Some(id), None) => {
            let u = onestop_store::uploads::get(state.store.read(), id)
                .await
                .map_err(|_| invalid("upload_unknown", field, "没有这份上传的文件"))?;
            Ok(NewMaterial {
                name: name.to_owned(),
                upload_id: Some(u.id),
                sha256: Some(u.sha256),
                certificate_number: None,
                status: "provided",
            })
        }
        (None, Some(number)) => {
            let cert = onestop_store::certs::by_number(state.store.read(), number.trim())
                .await
                .ok()
                .flatten()
                .filter(|c| holder.contains(&c.holder_hash) && c.revoked_at.is_none())
                .ok_or_else(|| {
                    invalid(
                        "certificate_not_reusable",
                        field,
                        "该电子证照不存在、已注销或不属于申请人",
                    )
                })?;
            Ok(NewMaterial {
                name: name.to_owned(),
                upload_id: None,
                sha256: None,
                certificate_number: Some(cert.number),
                status: "provided",
            })
        }
        _ => Err(invalid(
            "material_source_required",
            field,
            "每份材料须提供上传文件（upload_id）或已有电子证照（certificate_number）之一",
        )),
    }
}

// ---- intake ------------------------------------------------------------------------------------

/// The one intake decision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum IntakeDecision {
    /// 受理 (受理通知书).
    Accept,
    /// 不予受理 with reasons (不予受理决定书).
    Refuse { reasons: String },
    /// 容缺受理: accepted on a signed commitment; the missing materials by `deadline`.
    AcceptPending {
        materials: Vec<String>,
        #[schema(value_type = String, format = Date)]
        deadline: Date,
        /// The applicant signed the commitment (承诺书).
        commitment_signed: bool,
    },
    /// 一次性告知: everything missing, in one notice. Without `materials` (or with an empty
    /// list), the notice is prefilled with the required materials of the catalogue not handed in.
    NoticeMissing {
        #[serde(default)]
        materials: Vec<String>,
    },
}

/// What an action did, for the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActionResult {
    pub id: i64,
    pub case_no: String,
    pub status: String,
    /// The notice issued, if any, and where to print it.
    pub notice: Option<String>,
    pub notice_url: Option<String>,
    /// Open steps after the action.
    pub open_steps: Vec<i64>,
    pub certificate_number: Option<String>,
}

/// Opens the task steps `keys` of a running case as inbox items (per-step records).
async fn open_steps(
    tx: &mut Tx,
    l: &Loaded,
    keys: &[StepKey],
    cal: &WorkingCalendar,
    today: Date,
    at: Timestamp,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::new();
    for k in keys {
        let Some(def) = l.definition.step(k) else { continue };
        let route = l.routes.get(k.as_str());
        let due = cal
            .add_working_days(today, def.time_limit_days)
            .ok()
            .map(|d| d.to_string());
        let id = store::open_step(
            tx,
            &NewStep {
                case_id: l.row.id,
                step_key: k.as_str().to_owned(),
                step_name: def.name.clone(),
                department_id: route.map(|r| r.department_id),
                department_name: route.map(|r| r.department_name.clone()).unwrap_or_default(),
                role: def.role.map(|r| r.as_str().to_owned()).unwrap_or_default(),
                region_path: l.row.region_path.clone(),
                hall_id: l.row.hall_id,
                due_on: due,
            },
            at,
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Writes the step records of a workflow just begun: the 受理 steps closed at once, then the
/// new inbox items.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_begin(
    tx: &mut Tx,
    l: &Loaded,
    auto_close: &[StepKey],
    opened: &[StepKey],
    actor: &str,
    cal: &WorkingCalendar,
    today: Date,
    at: Timestamp,
) -> Result<Vec<i64>, StoreError> {
    for k in auto_close {
        for s in open_steps(tx, l, std::slice::from_ref(k), cal, today, at).await? {
            store::close_step(tx, s, actor, Action::Approve.as_str(), Some("受理"), at).await?;
        }
    }
    open_steps(tx, l, opened, cal, today, at).await
}

fn cn_date(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

pub(crate) async fn sms_applicant(
    tx: &mut Tx,
    keys: &DataKeys,
    row: &CaseRow,
    text: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let phone = keys
        .open_str(purpose::PHONE, &row.applicant_phone_sealed)
        .map_err(|e| corrupt(format!("case {} phone: {e}", row.case_no)))?;
    let phone = Phone::parse(&phone).map_err(corrupt)?;
    crate::notify::queue_sms(tx, keys, &phone, text, at).await?;
    Ok(())
}

/// Makes the one intake decision on a case awaiting it (window clerks and hall managers).
pub async fn decide_intake(
    state: &AppState,
    p: &Principal,
    id: i64,
    decision: IntakeDecision,
) -> ApiResult<ActionResult> {
    let mut l = load(state, id).await?;
    p.require(Permission::WindowWork, &region_path(&l.row))?;
    let keys = state.data_keys()?;
    let now = state.clock.now();
    let today = today_at(now);
    let cal = calendar(state, l.row.region_id).await?;
    let rules = IntakeRules::default();
    let expected = (l.row.status.clone(), l.row.updated_at);
    let mut content = json!({});
    let mut new_materials: Vec<NewMaterial> = Vec::new();
    let check = links::materials_check(state, &l).await?;
    let mut decision = decision;
    if let IntakeDecision::NoticeMissing { materials } = &mut decision
        && materials.is_empty()
    {
        materials.clone_from(&check.missing);
    }
    let event = match &decision {
        IntakeDecision::Accept => {
            // (A case already decided gets the intake's own 409 below, not a materials list.)
            if l.status.awaiting_intake() {
                links::require_complete(&check, &[])?;
            }
            CaseEvent::Accept { on: today }
        }
        IntakeDecision::Refuse { reasons } => {
            content = json!({"reasons": reasons.trim()});
            CaseEvent::Refuse {
                on: today,
                reasons: reasons.clone(),
            }
        }
        IntakeDecision::AcceptPending {
            materials,
            deadline,
            commitment_signed,
        } => {
            if !commitment_signed {
                return Err(invalid(
                    "commitment_required",
                    "commitment_signed",
                    "容缺受理须由申请人签署承诺书",
                ));
            }
            if l.status.awaiting_intake() {
                links::require_complete(&check, materials)?;
            }
            // The promised deadline the pending materials may not pass.
            let mut probe = l.clock.clone();
            probe.apply(&ClockEvent::Accepted { date: today })?;
            let promised = probe.deadlines(&cal)?.promised.date.unwrap_or(today);
            content = json!({"materials": materials, "deadline": deadline.to_string()});
            for m in materials {
                new_materials.push(NewMaterial {
                    name: m.trim().to_owned(),
                    upload_id: None,
                    sha256: None,
                    certificate_number: None,
                    status: "pending",
                });
            }
            CaseEvent::AcceptWithPending {
                on: today,
                materials: materials.clone(),
                deadline: *deadline,
                promised_deadline: promised,
            }
        }
        IntakeDecision::NoticeMissing { materials } => {
            let received: Date = l.row.received_on.parse().map_err(|_| ApiError::internal())?;
            let n = cal.working_days_between(received, today)?;
            content = json!({"materials": materials});
            for m in materials {
                new_materials.push(NewMaterial {
                    name: m.trim().to_owned(),
                    upload_id: None,
                    sha256: None,
                    certificate_number: None,
                    status: "missing",
                });
            }
            CaseEvent::NoticeOfMissing {
                on: today,
                materials: materials.clone(),
                working_days_since_receipt: u32::try_from(n.max(0)).unwrap_or(u32::MAX),
            }
        }
    };
    let notice = l.intake.apply(&rules, &event)?;
    l.status = l.intake.status;
    let mut auto_close: Vec<StepKey> = Vec::new();
    let mut opened: Vec<StepKey> = Vec::new();
    let began = l.intake.accepted_on.is_some() && l.clock.accepted_on().is_none(); // ratecase
    if l.intake.accepted_on.is_some() && l.clock.accepted_on().is_none() {
        (auto_close, opened) = l.begin(today)?;
        l.content_accepted(&mut content, &cal);
    }
    let update = update_of(&l, &cal, l.status.is_final(), None);
    let actor = p.actor();
    let kind = notice.map(NoticeKind::as_str);
    let decision_name = match decision {
        IntakeDecision::Accept => "accept",
        IntakeDecision::Refuse { .. } => "refuse",
        IntakeDecision::AcceptPending { .. } => "accept_pending",
        IntakeDecision::NoticeMissing { .. } => "notice_missing",
    };
    let hall_name = hall_name(state, l.row.hall_id).await;
    content["hall"] = json!(hall_name);
    // ratecase: the case figures and the rating token, in the decision's transaction
    let (st, person_id) = (state.clone(), p.user.id);
    let l = Arc::new(l);
    let lc = l.clone();
    let (steps, notice_id) = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let l = lc;
                let row = &l.row;
                store::update(tx, row.id, &expected.0, expected.1, &update, now).await?;
                for m in &new_materials {
                    store::add_material(tx, row.id, m, now).await?;
                }
                let steps = write_begin(tx, &l, &auto_close, &opened, &actor, &cal, today, now).await?;
                if began {
                    // ratecase
                    let first = auto_close.iter().chain(&opened).next();
                    crate::ratings::cases::after_begin(tx, &st, &keys, &l, first, person_id, &update, today, now)
                        .await?;
                }
                store::append_event(tx, row.id, now, &actor, &format!("intake.{decision_name}"), &content).await?;
                let notice_id = match kind {
                    Some(k) => Some(store::add_notice(tx, row.id, k, &actor, &content, now).await?),
                    None => None,
                };
                tx.audit(audit(
                    &actor,
                    row,
                    now,
                    "case.intake",
                    json!({"decision": decision_name, "status": update.status}),
                ))
                .await?;
                let title = notice.map(NoticeKind::title).unwrap_or("受理决定");
                let text = format!(
                    "【一站式政务服务】办件 {} 已出具《{title}》，请凭查询码查看。",
                    row.case_no
                );
                sms_applicant(tx, &keys, row, &text, now).await?;
                Ok::<_, StoreError>((steps, notice_id))
            })
        })
        .await?;
    Ok(ActionResult {
        id: l.row.id,
        case_no: l.row.case_no.clone(),
        status: l.status.as_str().to_owned(),
        notice: kind.map(str::to_owned),
        notice_url: notice_id.and(kind).map(|k| format!("/cases/{}/notices/{k}", l.row.id)),
        open_steps: steps,
        certificate_number: None,
    })
}

impl Loaded {
    /// Starts the clock (accepted on `accepted_on`) and the workflow. The workflow's own 受理 step
    /// (a window clerk's task at the start) is the intake decision itself: it is closed with 通过
    /// at once, so the case moves on to the back office. Returns (closed at once, opened).
    pub fn begin(&mut self, accepted_on: Date) -> Result<(Vec<StepKey>, Vec<StepKey>), DomainError> {
        self.clock.apply(&ClockEvent::Accepted { date: accepted_on })?;
        let (wf, mut opened) = workflow::start(&self.definition)?;
        self.wf = wf;
        let mut auto_close = Vec::new();
        while let Some(k) = opened
            .iter()
            .find(|k| self.definition.step(k).and_then(|s| s.role) == Some(Role::WindowClerk))
            .cloned()
        {
            if auto_close.len() > 8 {
                break;
            }
            let out = workflow::apply(&self.definition, &mut self.wf, &k, Action::Approve)?;
            opened.retain(|o| o != &k);
            opened.extend(out.opened);
            auto_close.push(k);
            if let Some(c) = out.concluded {
                self.intake.apply(
                    &IntakeRules::default(),
                    &CaseEvent::Conclude {
                        on: accepted_on,
                        outcome: c,
                    },
                )?;
                self.status = self.intake.status;
            }
        }
        Ok((auto_close, opened))
    }

    fn content_accepted(&self, content: &mut Value, cal: &WorkingCalendar) {
        if let Ok(d) = self.clock.deadlines(cal) {
            content["accepted_on"] = json!(d.accepted_on.to_string());
            content["promised_deadline"] = json!(d.promised.date.map(|x| x.to_string()));
            content["legal_deadline"] = json!(d.legal.date.map(|x| x.to_string()));
            content["promised_deadline_cn"] = json!(d.promised.date.map(cn_date));
        }
    }
}

async fn hall_name(state: &AppState, hall_id: Option<i64>) -> String {
    match hall_id {
        Some(id) => org::hall(state.store.read(), id)
            .await
            .map(|h| h.name)
            .unwrap_or_default(),
        None => String::new(),
    }
}

// ---- the back office ---------------------------------------------------------------------------

/// Whether `p` works steps of `role` at the case's region: holds that role there (a hall manager
/// also works the reviewers' steps, as the role matrix allows).
pub(crate) fn works_step(p: &Principal, step: &StepRow) -> bool {
    let Ok(role) = Role::parse(&step.role) else {
        return false;
    };
    let target = RegionPath::from_stored(step.region_path.clone());
    p.grants.iter().any(|g| {
        g.region_path.contains(&target) && (g.role == role || (role == Role::Reviewer && g.role == Role::HallManager))
    })
}

pub(crate) fn in_department(p: &Principal, step: &StepRow) -> bool {
    match (p.user.department_id, step.department_id) {
        (Some(mine), Some(theirs)) => mine == theirs,
        // Staff without a department (a hall manager) act for any department of their hall.
        (None, _) => true,
        (Some(_), None) => true,
    }
}

async fn open_step_of(state: &AppState, p: &Principal, step_id: i64) -> ApiResult<StepRow> {
    let mut c = conn(state).await?;
    let s = store::step(&mut c, step_id).await?;
    let target = RegionPath::from_stored(s.region_path.clone());
    p.require(Permission::RegionRead, &target)?;
    if s.ended_at.is_some() {
        return Err(ApiError::conflict("step_closed", "该办理环节已结束"));
    }
    Ok(s)
}

/// Claims a step from the department's shared inbox.
pub async fn claim(state: &AppState, p: &Principal, step_id: i64) -> ApiResult<StepRow> {
    let s = open_step_of(state, p, step_id).await?;
    if !works_step(p, &s) || !in_department(p, &s) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "step_role_mismatch",
            "您的岗位或部门不办理该环节",
        ));
    }
    if s.handler.is_some() {
        return Err(ApiError::conflict("step_already_claimed", "该环节已被认领"));
    }
    let actor = p.user.username.clone();
    let now = state.clock.now();
    let auditor = p.actor();
    // 委托: a step claimed by someone away goes to their delegate.
    if let Some(d) = links::delegate_of(state, &actor, &s, today_at(now)).await? {
        links::write_delegated(state, &s, None, &actor, &d, None, &auditor, now).await?;
        let mut c = conn(state).await?;
        return Ok(store::step(&mut c, step_id).await?);
    }
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::set_handler(tx, s.id, None, &actor, None, now).await?;
                let c = store::get(tx.conn(), s.case_id).await?;
                store::append_event(tx, c.id, now, &auditor, "step.claim", &json!({"step": s.step_key})).await?;
                tx.audit(audit(&auditor, &c, now, "case.step.claim", json!({"step": s.step_key})))
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    let mut c = conn(state).await?;
    Ok(store::step(&mut c, step_id).await?)
}

/// A manager assigns a step (or reassigns it) to a staff member who works that step.
pub async fn assign(state: &AppState, p: &Principal, step_id: i64, username: &str) -> ApiResult<StepRow> {
    let s = open_step_of(state, p, step_id).await?;
    p.require(Permission::HallManage, &RegionPath::from_stored(s.region_path.clone()))?;
    let target = staff_principal(state, username).await?;
    if !works_step(&target, &s) || !in_department(&target, &s) {
        return Err(invalid(
            "assignee_unsuitable",
            "username",
            "该人员的岗位或部门不办理该环节",
        ));
    }
    let now = state.clock.now();
    let actor = p.actor();
    let to = target.user.username.clone();
    // 委托: a step assigned to someone away goes to their delegate.
    if let Some(d) = links::delegate_of(state, &to, &s, today_at(now)).await? {
        let from = s.handler.clone();
        links::write_delegated(state, &s, from.as_deref(), &to, &d, Some(&actor), &actor, now).await?;
        let mut c = conn(state).await?;
        return Ok(store::step(&mut c, step_id).await?);
    }
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::set_handler(tx, s.id, s.handler.as_deref(), &to, Some(&actor), now).await?;
                let c = store::get(tx.conn(), s.case_id).await?;
                let detail = json!({"step": s.step_key, "from": s.handler, "to": to});
                store::append_event(tx, c.id, now, &actor, "step.assign", &detail).await?;
                tx.audit(audit(&actor, &c, now, "case.step.assign", detail)).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    let mut c = conn(state).await?;
    Ok(store::step(&mut c, step_id).await?)
}

pub(crate) async fn staff_principal(state: &AppState, username: &str) -> ApiResult<Principal> {
    let (user, _) = onestop_store::users::by_username(state.store.read(), username.trim())
        .await?
        .ok_or_else(|| invalid("user_unknown", "username", "没有这个用户"))?;
    if user.is_disabled() {
        return Err(invalid("user_disabled", "username", "该用户已停用"));
    }
    let grants = onestop_store::users::grants(state.store.read(), user.id).await?;
    Ok(Principal {
        user,
        grants: grants.into_iter().filter_map(crate::auth::Grant::from_row).collect(),
        credential: crate::auth::Credential::Session {
            token_hash: String::new(),
            csrf: String::new(),
            last_seen_ms: 0,
        },
    })
}

/// Moves every open step an absent person holds to someone else (reassign / delegate).
pub async fn reassign_all(state: &AppState, p: &Principal, from: &str, to: &str) -> ApiResult<Vec<i64>> {
    p.require_any(Permission::HallManage)?;
    let target = staff_principal(state, to).await?;
    let scopes = p.scope_strings(Permission::HallManage);
    let now = state.clock.now();
    let actor = p.actor();
    let (from, to) = (from.trim().to_owned(), target.user.username.clone());
    // Only steps the new person can work move; the others stay for a manager to place.
    let mut c = conn(state).await?;
    let mut movable = Vec::new();
    for scope in &scopes {
        let q = store::InboxQuery {
            handler: Some(from.clone()),
            scopes: vec![scope.clone()],
            limit: 500,
            ..Default::default()
        };
        for item in store::inbox(&mut c, &q).await? {
            if works_step(&target, &item.step) && in_department(&target, &item.step) && !movable.contains(&item.step.id)
            {
                movable.push(item.step.id);
            }
        }
    }
    drop(c);
    let moved = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                for id in &movable {
                    store::set_handler(tx, *id, Some(&from), &to, Some(&actor), now).await?;
                    let s = store::step(tx.conn(), *id).await?;
                    let c = store::get(tx.conn(), s.case_id).await?;
                    let detail = json!({"step": s.step_key, "from": from, "to": to, "reason": "absence"});
                    store::append_event(tx, c.id, now, &actor, "step.reassign", &detail).await?;
                    tx.audit(audit(&actor, &c, now, "case.step.reassign", detail)).await?;
                }
                Ok::<_, StoreError>(movable)
            })
        })
        .await?;
    Ok(moved)
}

/// An action on an open step with the handler's opinion.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActRequest {
    pub step_id: i64,
    /// approve (通过) | return (退回) | refuse (不予通过)
    pub action: String,
    #[serde(default)]
    pub opinion: String,
}

/// Acts on an open step. The step must be the actor's (claimed or assigned), or unclaimed in the
/// actor's department (acting claims it). Concluding issues the e-certificate in the same
/// transaction.
pub async fn act(state: &AppState, p: &Principal, id: i64, req: ActRequest) -> ApiResult<ActionResult> {
    let action = Action::parse(req.action.trim()).map_err(ApiError::from)?;
    let mut l = load(state, id).await?;
    let s = {
        let mut c = conn(state).await?;
        store::step(&mut c, req.step_id).await?
    };
    if s.case_id != l.row.id {
        return Err(ApiError::not_found());
    }
    p.require(Permission::RegionRead, &region_path(&l.row))?;
    if l.status.is_final() {
        return Err(ApiError::conflict(
            "case_concluded",
            format!("办件已{}，不能再办理", l.status.label()),
        ));
    }
    if !works_step(p, &s) || !in_department(p, &s) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "step_role_mismatch",
            "您的岗位或部门不办理该环节",
        ));
    }
    if s.ended_at.is_some() {
        return Err(ApiError::conflict("step_closed", "该办理环节已结束"));
    }
    if s.handler.as_deref().is_some_and(|h| h != p.user.username) {
        return Err(ApiError::conflict("step_claimed_by_other", "该环节已由他人认领"));
    }
    if !l.status.accepts_workflow_actions() {
        return Err(ApiError::conflict(
            "case_not_actionable",
            format!("办件当前为“{}”，不能办理", l.status.label()),
        ));
    }
    // Validates the opinion as the per-step record requires (退回 / 不予通过 need one).
    let mut record = onestop_domain::workflow::StepRecord {
        step: StepKey::new(s.step_key.clone()),
        step_name: s.step_name.clone(),
        handler: None,
        opinion: None,
        started_at: onestop_store::ts(s.started_at),
        ended_at: None,
        action: None,
    };
    let now = state.clock.now();
    record.close(&p.user.username, action, &req.opinion, now)?;
    let out = workflow::apply(&l.definition, &mut l.wf, &StepKey::new(s.step_key.clone()), action)?;
    let today = today_at(now);
    let cal = calendar(state, l.row.region_id).await?;
    let mut certificate: Option<IssueInput> = None;
    if let Some(c) = out.concluded {
        l.intake
            .apply(&IntakeRules::default(), &CaseEvent::Conclude { on: today, outcome: c })?;
        l.status = l.intake.status;
        if c == Conclusion::Approved {
            certificate = Some(issue_input(state, &l).await?);
        }
    }
    let keys = state.data_keys()?;
    let update = update_of(&l, &cal, out.concluded.is_some(), None);
    let expected = (l.row.status.clone(), l.row.updated_at);
    let actor = p.actor();
    let handler = p.user.username.clone();
    let opinion = record.opinion.clone();
    let l = Arc::new(l);
    let lc = l.clone();
    let opened = out.opened.clone();
    let concluded = out.concluded;
    let (st, person_id) = (state.clone(), p.user.id); // ratecase
    let (steps, cert_no) = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let l = lc;
                let row = &l.row;
                let mut update = update;
                let mut cert_no = None;
                if let Some(input) = &certificate {
                    let cert = crate::certs::issue_in_tx(tx, &keys, input, &actor, now).await?;
                    cert_no = Some(cert.payload.number.clone());
                    update.certificate_number = cert_no.clone();
                }
                store::update(tx, row.id, &expected.0, expected.1, &update, now).await?;
                store::close_step(tx, s.id, &handler, action.as_str(), opinion.as_deref(), now).await?;
                let steps = open_steps(tx, &l, &opened, &cal, today, now).await?;
                let detail = json!({"step": s.step_key, "action": action.as_str(), "concluded": concluded.map(Conclusion::as_str)});
                store::append_event(tx, row.id, now, &actor, "step.act", &detail).await?;
                tx.audit(audit(&actor, row, now, "case.step.act", detail)).await?;
                if let Some(c) = concluded {
                    let kind = match c {
                        Conclusion::Approved => NoticeKind::ApprovalDecision,
                        Conclusion::Refused => NoticeKind::RefusalDecision,
                    };
                    let hall = json!({"opinion": opinion, "certificate_number": cert_no});
                    store::add_notice(tx, row.id, kind.as_str(), &actor, &hall, now).await?;
                    store::append_event(tx, row.id, now, &actor, "conclude", &json!({"outcome": c.as_str()})).await?;
                    let text = format!(
                        "【一站式政务服务】办件 {} 已办结（{}），请凭查询码查看结果。",
                        row.case_no,
                        c.label()
                    );
                    sms_applicant(tx, &keys, row, &text, now).await?;
                    // ratecase: counted and the rating token issued in the conclusion's transaction
                    crate::ratings::cases::on_concluded(
                        tx,
                        &st,
                        &keys,
                        row,
                        person_id,
                        s.department_id.unwrap_or(0),
                        update.promised_deadline.as_deref(),
                        today,
                        now,
                    )
                    .await?;
                }
                Ok::<_, StoreError>((steps, cert_no))
            })
        })
        .await?;
    Ok(ActionResult {
        id: l.row.id,
        case_no: l.row.case_no.clone(),
        status: l.status.as_str().to_owned(),
        notice: None,
        notice_url: None,
        open_steps: steps,
        certificate_number: cert_no,
    })
}

async fn issue_input(state: &AppState, l: &Loaded) -> ApiResult<IssueInput> {
    let keys = state.data_keys()?;
    let id = keys
        .open_str(purpose::ID_NUMBER, &l.row.applicant_id_sealed)
        .map_err(|_| ApiError::internal())?;
    let id = IdNumber::parse(&id).map_err(|_| ApiError::internal())?;
    let authority = hall_name(state, l.row.hall_id).await;
    Ok(IssueInput {
        region_id: l.row.region_id,
        authority,
        document_type: format!("{}:{}", l.row.subject, l.row.subject_id),
        title: format!("{}准予许可决定书", l.row.title),
        holder_name: l.row.applicant_name.clone(),
        holder_id: id,
        fields: vec![
            Field {
                label: "事项".into(),
                value: l.row.title.clone(),
            },
            Field {
                label: "办件编号".into(),
                value: l.row.case_no.clone(),
            },
            Field {
                label: "决定".into(),
                value: "准予许可".into(),
            },
        ],
        case_no: l.row.case_no.clone(),
    })
}

// ---- special procedures and extensions ---------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClockRequest {
    /// 特别程序 starts: the clock stops.
    StartSpecial {
        /// hearing | inspection | testing | appraisal | expert_review
        procedure: String,
        #[serde(default)]
        reason: String,
    },
    /// 特别程序 ends: the clock resumes with the days that were left.
    EndSpecial,
    /// 延长: approved extension of `days` working days with the reason told to the applicant.
    Extend { days: u32, reason: String },
}

/// Starts or ends a special procedure, or extends the time limit (back office, on the case's
/// region; an extension needs a hall manager's approval: only `HallManage` may record it).
pub async fn clock_action(state: &AppState, p: &Principal, id: i64, req: ClockRequest) -> ApiResult<ActionResult> {
    let mut l = load(state, id).await?;
    let path = region_path(&l.row);
    p.require(Permission::BackOfficeWork, &path)?;
    let now = state.clock.now();
    let today = today_at(now);
    let rules = IntakeRules::default();
    let (kind, detail, text) = match &req {
        ClockRequest::StartSpecial { procedure, reason } => {
            let proc: SpecialProcedure = serde_json::from_value(json!(procedure.trim())).map_err(|_| {
                invalid(
                    "procedure_invalid",
                    "procedure",
                    "特别程序须为 hearing、inspection、testing、appraisal 或 expert_review",
                )
            })?;
            l.intake
                .apply(&rules, &CaseEvent::StartSpecialProcedure { on: today })?;
            l.clock.apply(&ClockEvent::Paused {
                date: today,
                procedure: proc,
            })?;
            (
                "clock.pause",
                json!({"procedure": procedure, "reason": reason}),
                format!(
                    "办件 {} 进入特别程序（{}），期间不计入办理时限。",
                    l.row.case_no,
                    proc.label()
                ),
            )
        }
        ClockRequest::EndSpecial => {
            l.intake.apply(&rules, &CaseEvent::EndSpecialProcedure { on: today })?;
            l.clock.apply(&ClockEvent::Resumed { date: today })?;
            (
                "clock.resume",
                json!({}),
                format!("办件 {} 特别程序结束，恢复计时。", l.row.case_no),
            )
        }
        ClockRequest::Extend { days, reason } => {
            p.require(Permission::HallManage, &path)?;
            if reason.trim().is_empty() {
                return Err(invalid("extension_reason_required", "reason", "延长办理时限须说明理由"));
            }
            if l.status.is_final() {
                return Err(ApiError::conflict("case_concluded", "办件已办结"));
            }
            l.clock.apply(&ClockEvent::Extended {
                date: today,
                days: *days,
                reason: reason.trim().to_owned(),
            })?;
            (
                "clock.extend",
                json!({"days": days, "reason": reason.trim()}),
                format!(
                    "办件 {} 办理时限经批准延长 {days} 个工作日，理由：{}。",
                    l.row.case_no,
                    reason.trim()
                ),
            )
        }
    };
    l.status = l.intake.status;
    let cal = calendar(state, l.row.region_id).await?;
    let update = update_of(&l, &cal, false, None);
    let expected = (l.row.status.clone(), l.row.updated_at);
    let keys = state.data_keys()?;
    let actor = p.actor();
    let row = l.row.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::update(tx, row.id, &expected.0, expected.1, &update, now).await?;
                store::append_event(tx, row.id, now, &actor, kind, &detail).await?;
                tx.audit(audit(&actor, &row, now, "case.clock", json!({"kind": kind})))
                    .await?;
                sms_applicant(tx, &keys, &row, &format!("【一站式政务服务】{text}"), now).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(ActionResult {
        id: l.row.id,
        case_no: l.row.case_no.clone(),
        status: l.status.as_str().to_owned(),
        notice: None,
        notice_url: None,
        open_steps: Vec::new(),
        certificate_number: None,
    })
}

// ---- reading -----------------------------------------------------------------------------------

/// A case as staff see it (personal data masked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub case_no: String,
    pub title: String,
    pub subject: String,
    pub status: String,
    pub status_label: String,
    pub channel: String,
    pub region_id: i64,
    pub hall_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub applicant_name: String,
    pub applicant_id_masked: String,
    pub applicant_phone_masked: String,
    #[schema(value_type = Object)]
    pub form: BTreeMap<String, String>,
    pub received_on: String,
    pub accepted_on: Option<String>,
    pub promised_deadline: Option<String>,
    pub legal_deadline: Option<String>,
    pub clock_state: String,
    pub warning: String,
    pub workflow_version_id: Option<i64>,
    #[schema(value_type = Vec<i64>)]
    pub catalogue_versions: Vec<i64>,
    pub certificate_number: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<StepRow>,
    #[schema(value_type = Vec<Object>)]
    pub materials: Vec<store::MaterialRow>,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<store::EventRow>,
    #[schema(value_type = Vec<Object>)]
    pub notices: Vec<store::NoticeRow>,
}

pub async fn view_of(state: &AppState, row: CaseRow) -> ApiResult<CaseView> {
    let mut c = conn(state).await?;
    let steps = store::steps(&mut c, row.id).await?;
    let materials = store::materials(&mut c, row.id).await?;
    let events = store::events(&mut c, row.id).await?;
    let notices = store::notices(&mut c, row.id).await?;
    let status = CaseStatus::parse(&row.status).map_err(|_| ApiError::internal())?;
    Ok(CaseView {
        id: row.id,
        case_no: row.case_no.clone(),
        title: row.title.clone(),
        subject: row.subject.clone(),
        status: row.status.clone(),
        status_label: status.label().to_owned(),
        channel: row.channel.clone(),
        region_id: row.region_id,
        hall_id: row.hall_id,
        ticket_id: row.ticket_id,
        applicant_name: row.applicant_name.clone(),
        applicant_id_masked: row.applicant_id_masked.clone(),
        applicant_phone_masked: row.applicant_phone_masked.clone(),
        form: serde_json::from_str(&row.form_masked).unwrap_or_default(),
        received_on: row.received_on.clone(),
        accepted_on: row.accepted_on.clone(),
        promised_deadline: row.promised_deadline.clone(),
        legal_deadline: row.legal_deadline.clone(),
        clock_state: row.clock_state.clone(),
        warning: row.warning.clone(),
        workflow_version_id: row.workflow_version_id,
        catalogue_versions: serde_json::from_str(&row.catalogue_versions).unwrap_or_default(),
        certificate_number: row.certificate_number.clone(),
        steps,
        materials,
        events,
        notices,
    })
}

/// A case for staff of its region.
pub async fn get(state: &AppState, p: &Principal, id: i64) -> ApiResult<CaseView> {
    let mut c = conn(state).await?;
    let row = store::get(&mut c, id).await?;
    drop(c);
    p.require(Permission::RegionRead, &region_path(&row))?;
    if !(p.can(Permission::WindowWork, &region_path(&row))
        || p.can(Permission::BackOfficeWork, &region_path(&row))
        || p.can(Permission::SupervisionRead, &region_path(&row)))
    {
        return Err(ApiError::forbidden());
    }
    view_of(state, row).await
}

/// Reveals one masked field of a case to a clerk or reviewer handling it; audited.
pub async fn reveal(state: &AppState, p: &Principal, id: i64, field: &str) -> ApiResult<String> {
    let mut c = conn(state).await?;
    let row = store::get(&mut c, id).await?;
    drop(c);
    let path = region_path(&row);
    p.require(Permission::RegionRead, &path)?;
    if !(p.can(Permission::WindowWork, &path) || p.can(Permission::BackOfficeWork, &path)) {
        return Err(ApiError::forbidden());
    }
    let keys = state.data_keys()?;
    let value = match field {
        "id_number" => keys.open_str(purpose::ID_NUMBER, &row.applicant_id_sealed),
        "phone" => keys.open_str(purpose::PHONE, &row.applicant_phone_sealed),
        f if f.starts_with("form.") => {
            let form = keys
                .open_str(FORM_PURPOSE, &row.form_sealed)
                .map_err(|_| ApiError::internal())?;
            let values: BTreeMap<String, String> = serde_json::from_str(&form).map_err(|_| ApiError::internal())?;
            values
                .get(&f["form.".len()..])
                .cloned()
                .ok_or_else(|| invalid("field_unknown", "field", "没有这个字段"))
                .map(Ok)?
        }
        _ => {
            return Err(invalid(
                "field_unknown",
                "field",
                "可查看的字段为 id_number、phone 或 form.<字段>",
            ));
        }
    }
    .map_err(|_| ApiError::internal())?;
    let now = state.clock.now();
    let actor = p.actor();
    let field = field.to_owned();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                store::append_event(tx, row.id, now, &actor, "reveal", &json!({"field": field})).await?;
                tx.audit(audit(&actor, &row, now, "case.reveal", json!({"field": field})))
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(value)
}

/// The inbox: the caller's own open steps and the unclaimed steps of their department.
pub async fn inbox(state: &AppState, p: &Principal) -> ApiResult<Vec<store::InboxItem>> {
    let mut scopes = p.scope_strings(Permission::BackOfficeWork);
    scopes.extend(p.scope_strings(Permission::WindowWork));
    scopes.sort();
    scopes.dedup();
    let q = store::InboxQuery {
        department_ids: p.user.department_id.into_iter().collect(),
        handler: Some(p.user.username.clone()),
        unclaimed_only: true,
        scopes,
        limit: 200,
    };
    let mut c = conn(state).await?;
    let mut items = store::inbox(&mut c, &q).await?;
    if p.user.department_id.is_none() {
        // A hall manager's inbox: every open step of their subtree.
        let all = store::InboxQuery {
            scopes: p.scope_strings(Permission::HallManage),
            limit: 200,
            ..Default::default()
        };
        for i in store::inbox(&mut c, &all).await? {
            if !items.iter().any(|x| x.step.id == i.step.id) {
                items.push(i);
            }
        }
    }
    items.retain(|i| {
        works_step(p, &i.step)
            || p.can(
                Permission::HallManage,
                &RegionPath::from_stored(i.step.region_path.clone()),
            )
    });
    Ok(items)
}

/// Cases of the caller's subtree (window, back office, supervision).
pub async fn list(
    state: &AppState,
    p: &Principal,
    status: Option<&str>,
    warning: Option<&str>,
    hall_id: Option<i64>,
) -> ApiResult<Vec<CaseRow>> {
    let mut scopes = p.scope_strings(Permission::WindowWork);
    scopes.extend(p.scope_strings(Permission::BackOfficeWork));
    scopes.extend(p.scope_strings(Permission::SupervisionRead));
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiError::forbidden());
    }
    if let Some(s) = status {
        CaseStatus::parse(s).map_err(ApiError::from)?;
    }
    if let Some(w) = warning
        && !["none", "yellow", "red"].contains(&w)
    {
        return Err(invalid(
            "warning_invalid",
            "warning",
            "预警级别须为 none、yellow 或 red",
        ));
    }
    let mut c = conn(state).await?;
    Ok(store::list(&mut c, &scopes, status, warning, hall_id, 200).await?)
}

// ---- public follow-up --------------------------------------------------------------------------

/// What the public follow-up page shows: no personal data beyond the masked name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicCase {
    pub id: i64,
    pub case_no: String,
    pub title: String,
    pub status: String,
    pub status_label: String,
    pub applicant_masked: String,
    pub received_on: String,
    pub accepted_on: Option<String>,
    pub promised_deadline: Option<String>,
    pub certificate_number: Option<String>,
    /// Milestones: (time in ms, kind).
    #[schema(value_type = Vec<Object>)]
    pub milestones: Vec<(i64, String)>,
}

fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

async fn public_of(state: &AppState, row: CaseRow) -> ApiResult<PublicCase> {
    let mut c = conn(state).await?;
    let events = store::events(&mut c, row.id).await?;
    let status = CaseStatus::parse(&row.status).map_err(|_| ApiError::internal())?;
    Ok(PublicCase {
        id: row.id,
        case_no: row.case_no.clone(),
        title: row.title.clone(),
        status: row.status.clone(),
        status_label: status.label().to_owned(),
        applicant_masked: mask_name(&row.applicant_name),
        received_on: row.received_on.clone(),
        accepted_on: row.accepted_on.clone(),
        promised_deadline: row.promised_deadline.clone(),
        certificate_number: row.certificate_number.clone(),
        milestones: events
            .into_iter()
            .filter(|e| {
                !matches!(
                    e.kind.as_str(),
                    "reveal" | "step.claim" | "step.assign" | "step.reassign"
                )
            })
            .map(|e| (e.at, e.kind))
            .collect(),
    })
}

/// The public look-up by tracking code (rate-limited per address), or by case number with the
/// phone's last four digits (rate-limited per case number and per address).
pub async fn follow(
    state: &AppState,
    address: &str,
    tracking_code: Option<&str>,
    case_no: Option<&str>,
    last4: Option<&str>,
) -> ApiResult<PublicCase> {
    let keys = state.data_keys()?;
    let window = jiff::SignedDuration::from_mins(15);
    crate::auth::rate_limit(state, format!("case-follow:addr:{address}"), 30, window).await?;
    let mut c = conn(state).await?;
    let not_found = || {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "case_not_found",
            "没有找到该办件，请核对后重试",
        )
    };
    let row = match (tracking_code, case_no, last4) {
        (Some(code), _, _) => {
            let code = TrackingCode::parse(code).map_err(ApiError::from)?;
            let hashes = keys.lookup_hashes(TRACKING_KIND, code.as_str());
            store::by_tracking(&mut c, &hashes).await.map_err(|_| not_found())?
        }
        (None, Some(no), Some(last4)) => {
            let no = CaseNo::parse(no).map_err(ApiError::from)?;
            let last4 = last4.trim();
            if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("phone_last4_invalid", "last4", "请填写手机号码后四位"));
            }
            drop(c);
            crate::auth::rate_limit(state, format!("case-follow:no:{}", no.as_str()), 10, window).await?;
            let mut c = conn(state).await?;
            let row = store::by_no(&mut c, no.as_str()).await.map_err(|_| not_found())?;
            let want = keys.lookup_hashes("phone_last4", &format!("{}:{last4}", no.as_str()));
            if !want.contains(&row.phone_last4_hash) {
                return Err(not_found());
            }
            row
        }
        _ => {
            return Err(invalid(
                "follow_query_required",
                "tracking_code",
                "请填写查询码，或办件编号和手机号码后四位",
            ));
        }
    };
    public_of(state, row).await
}
