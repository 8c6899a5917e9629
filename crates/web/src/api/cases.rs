//! Cases (办件) over the JSON API: apply (online or at a window, idempotent), the intake decision,
//! the back-office inbox (claim, assign, reassign), step actions, the case clock, the clerk's
//! audited reveal, and the public follow-up. The rules are in `crate::cases`.
use crate::auth::{Auth, authenticate, check_csrf, client_ip};
use crate::cases::links;
use crate::cases::{
    self as ops, ActRequest, ActionResult, ApplicantInput, CaseView, ClockRequest, IntakeDecision, MaterialInput,
    PublicCase, SubmitRequest, Submitted, Submitter,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use onestop_store::cases::{CaseRow, InboxItem, StepRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

type S = State<AppState>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cases", get(list_cases).post(submit))
        .route("/cases/phone-codes", post(phone_code))
        .route("/cases/follow", post(follow))
        .route("/cases/{id}", get(get_case))
        .route("/cases/{id}/intake", post(intake))
        .route("/cases/{id}/act", post(act))
        .route("/cases/{id}/clock", post(clock))
        .route("/cases/{id}/reveal", post(reveal))
        .route("/inbox", get(inbox))
        .route("/case-steps/{id}/claim", post(claim))
        .route("/case-steps/{id}/assign", post(assign))
        .route("/case-steps/reassign", post(reassign))
        .route("/cases/{id}/materials", get(materials_check).post(provide_materials))
        .route("/cases/{id}/visits", get(visits).post(link_visit))
        .route("/case-steps/warnings", get(step_warnings))
        .route("/case-delegations", get(delegations).post(delegate))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        submit,
        phone_code,
        follow,
        list_cases,
        get_case,
        intake,
        act,
        clock,
        reveal,
        inbox,
        claim,
        assign,
        reassign,
        materials_check,
        provide_materials,
        visits,
        link_visit,
        step_warnings,
        delegations,
        delegate
    ),
    components(schemas(
        SubmitRequest,
        ApplicantInput,
        MaterialInput,
        Submitted,
        IntakeDecision,
        ActionResult,
        ActRequest,
        ClockRequest,
        CaseView,
        PublicCase,
        PhoneCodeRequest,
        FollowRequest,
        RevealRequest,
        Revealed,
        AssignRequest,
        ReassignRequest,
        Reassigned,
        CaseSummary,
        links::MaterialsCheck,
        links::ProvideRequest,
        links::DelegationRequest,
        links::Delegated,
        VisitRequest
    ))
)]
pub struct CasesDoc;

/// Applies for a service (`service`: base code) or a bundle (`bundle`: code). Staff (window
/// intake) authenticate as usual; an online applicant sends no credential but a `phone_code`.
/// The form is checked against the catalogue's form (422 `form_invalid` with every field error),
/// the applicant's ID number and phone too (422 `id_number_*`, `phone_*`). With an
/// `Idempotency-Key` header a retry gets the first answer and creates nothing (the same key with
/// another body: 409 `idempotency_key_reused`).
#[utoipa::path(post, path = "/api/v1/cases", request_body = SubmitRequest, security((), ("bearer" = []), ("session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried submission create one case")),
    responses((status = 201, body = Submitted), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn submit(State(state): S, req: Request) -> ApiResult<(StatusCode, Json<Submitted>)> {
    let (parts, body) = req.into_parts();
    let who = match authenticate(&state, &parts).await? {
        Some(p) => {
            let header = parts
                .headers
                .get(crate::auth::CSRF_HEADER)
                .and_then(|v| v.to_str().ok());
            check_csrf(&p, &parts.method, header)?;
            Submitter::Staff(p)
        }
        None => Submitter::Online {
            address: client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default(),
        },
    };
    let key = match parts.headers.get("idempotency-key") {
        Some(v) => Some(ops::check_idempotency_key(v.to_str().unwrap_or(""))?),
        None => None,
    };
    let ApiJson(body) = ApiJson::<SubmitRequest>::from_request(Request::from_parts(parts, body), &state).await?;
    Ok((StatusCode::CREATED, Json(ops::submit(&state, who, body, key).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneCodeRequest {
    pub phone: String,
}

/// Sends a 6-digit verification code to an online applicant's phone (through the outbox; the demo
/// shows it at `/dev/outbox`). 429 past 5 an hour per phone or 20 per address.
#[utoipa::path(post, path = "/api/v1/cases/phone-codes", request_body = PhoneCodeRequest, security(()),
    responses((status = 202, description = "Sent"), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn phone_code(State(state): S, req: Request) -> ApiResult<StatusCode> {
    let (parts, body) = req.into_parts();
    let address = client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default();
    let ApiJson(b) = ApiJson::<PhoneCodeRequest>::from_request(Request::from_parts(parts, body), &state).await?;
    ops::send_phone_code(&state, &b.phone, &address).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowRequest {
    #[serde(default)]
    pub tracking_code: Option<String>,
    #[serde(default)]
    pub case_no: Option<String>,
    /// The applicant phone's last four digits (with `case_no`).
    #[serde(default)]
    pub last4: Option<String>,
}

/// Public follow-up: by the receipt's tracking code, or by case number plus the last four digits
/// of the applicant's phone. Rate-limited per address and per case number (429); a wrong or
/// guessed code is 404 `case_not_found`.
#[utoipa::path(post, path = "/api/v1/cases/follow", request_body = FollowRequest, security(()),
    responses((status = 200, body = PublicCase), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn follow(State(state): S, req: Request) -> ApiResult<Json<PublicCase>> {
    let (parts, body) = req.into_parts();
    let address = client_ip(&state, &parts).map(|i| i.to_string()).unwrap_or_default();
    let ApiJson(b) = ApiJson::<FollowRequest>::from_request(Request::from_parts(parts, body), &state).await?;
    Ok(Json(
        ops::follow(
            &state,
            &address,
            b.tracking_code.as_deref(),
            b.case_no.as_deref(),
            b.last4.as_deref(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A case status, e.g. `submitted`, `in_progress`, `concluded_approved`.
    pub status: Option<String>,
    /// none | yellow | red
    pub warning: Option<String>,
    pub hall_id: Option<i64>,
    /// Cases with an open step of this department.
    pub department_id: Option<i64>,
    /// Cases with an open step in this person's hands (username).
    pub handler: Option<String>,
}

impl ListQuery {
    fn filter(self) -> onestop_store::case_links::CaseFilter {
        onestop_store::case_links::CaseFilter {
            status: self.status,
            warning: self.warning,
            hall_id: self.hall_id,
            department_id: self.department_id,
            handler: self.handler.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()),
        }
    }
}

/// A line of a case list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: i64,
    pub case_no: String,
    pub title: String,
    pub status: String,
    pub applicant_name: String,
    pub received_on: String,
    pub promised_deadline: Option<String>,
    pub legal_deadline: Option<String>,
    pub warning: String,
    pub hall_id: Option<i64>,
}

impl From<CaseRow> for CaseSummary {
    fn from(r: CaseRow) -> Self {
        Self {
            id: r.id,
            case_no: r.case_no,
            title: r.title,
            status: r.status,
            applicant_name: r.applicant_name,
            received_on: r.received_on,
            promised_deadline: r.promised_deadline,
            legal_deadline: r.legal_deadline,
            warning: r.warning,
            hall_id: r.hall_id,
        }
    }
}

/// Cases of the caller's subtree (newest first, at most 200), by status, warning level, hall,
/// department or person (an open step of that department / in that person's hands): the warning
/// lists of hall managers and supervisors.
#[utoipa::path(get, path = "/api/v1/cases", params(ListQuery),
    responses((status = 200, body = Vec<CaseSummary>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_cases(
    State(state): S,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<CaseSummary>>> {
    let rows = links::list_by(&state, &p, &q.filter()).await?;
    Ok(Json(rows.into_iter().map(CaseSummary::from).collect()))
}

/// A case with its steps, materials, events and notices (personal data masked).
#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_case(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<CaseView>> {
    Ok(Json(ops::get(&state, &p, id).await?))
}

/// The one intake decision: `accept`, `refuse` (with `reasons`), `accept_pending` (容缺: missing
/// `materials`, `deadline`, `commitment_signed`), or `notice_missing` (一次性告知: every missing
/// material). A second decision is 409 `intake_already_decided`.
#[utoipa::path(post, path = "/api/v1/cases/{id}/intake", params(("id" = i64, Path)), request_body = IntakeDecision,
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn intake(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(d): ApiJson<IntakeDecision>,
) -> ApiResult<Json<ActionResult>> {
    Ok(Json(ops::decide_intake(&state, &p, id, d).await?))
}

/// Acts on an open step: `approve`, `return` or `refuse`, with an opinion (required for the last
/// two). Not allowed in the step: 409 `action_not_allowed`; not the caller's role or department:
/// 403 `step_role_mismatch`; a concluded case: 409 `case_concluded`. Conclusion issues the
/// e-certificate in the same transaction.
#[utoipa::path(post, path = "/api/v1/cases/{id}/act", params(("id" = i64, Path)), request_body = ActRequest,
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn act(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<ActRequest>,
) -> ApiResult<Json<ActionResult>> {
    Ok(Json(ops::act(&state, &p, id, r).await?))
}

/// The case clock: start or end a special procedure (the clock pauses and resumes with the days
/// left), or record an approved extension with its reason (hall managers); the applicant is told.
#[utoipa::path(post, path = "/api/v1/cases/{id}/clock", params(("id" = i64, Path)), request_body = ClockRequest,
    responses((status = 200, body = ActionResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn clock(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<ClockRequest>,
) -> ApiResult<Json<ActionResult>> {
    Ok(Json(ops::clock_action(&state, &p, id, r).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// `id_number`, `phone` or `form.<key>`
    pub field: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revealed {
    pub field: String,
    pub value: String,
}

/// Reveals one masked field to staff handling the case. Every reveal is an event and an audit
/// entry.
#[utoipa::path(post, path = "/api/v1/cases/{id}/reveal", params(("id" = i64, Path)), request_body = RevealRequest,
    responses((status = 200, body = Revealed), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reveal(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<RevealRequest>,
) -> ApiResult<Json<Revealed>> {
    let value = ops::reveal(&state, &p, id, r.field.trim()).await?;
    Ok(Json(Revealed { field: r.field, value }))
}

/// The caller's inbox: their own open steps and the unclaimed ones of their department (a hall
/// manager sees every open step of the subtree).
#[utoipa::path(get, path = "/api/v1/inbox", responses((status = 200, body = Vec<Object>)))]
async fn inbox(State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<InboxItem>>> {
    Ok(Json(ops::inbox(&state, &p).await?))
}

/// Claims a step from the department's shared inbox. 409 `step_already_claimed`; 403
/// `step_role_mismatch` for another role or department.
#[utoipa::path(post, path = "/api/v1/case-steps/{id}/claim", params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn claim(State(state): S, Auth(p): Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<StepRow>> {
    Ok(Json(ops::claim(&state, &p, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub username: String,
}

/// A manager assigns (or reassigns) a step to someone who works it.
#[utoipa::path(post, path = "/api/v1/case-steps/{id}/assign", params(("id" = i64, Path)), request_body = AssignRequest,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<AssignRequest>,
) -> ApiResult<Json<StepRow>> {
    Ok(Json(ops::assign(&state, &p, id, &r.username).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The absent person.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reassigned {
    pub steps: Vec<i64>,
}

/// Moves an absent person's open steps (that the new person can work) to someone else.
#[utoipa::path(post, path = "/api/v1/case-steps/reassign", request_body = ReassignRequest,
    responses((status = 200, body = Reassigned), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reassign(State(state): S, Auth(p): Auth, ApiJson(r): ApiJson<ReassignRequest>) -> ApiResult<Json<Reassigned>> {
    Ok(Json(Reassigned {
        steps: ops::reassign_all(&state, &p, &r.from, &r.to).await?,
    }))
}

// casecore: materials check, later materials, visits, step warnings, delegations.

/// The case's materials against the catalogue: required, provided, pending (容缺) and missing.
/// `missing` is what a 一次性告知单 lists (an intake `notice_missing` without `materials` is
/// prefilled with it); an `accept` while it is not empty is 422 `materials_missing`.
#[utoipa::path(get, path = "/api/v1/cases/{id}/materials", params(("id" = i64, Path)),
    responses((status = 200, body = links::MaterialsCheck), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn materials_check(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<links::MaterialsCheck>> {
    ops::get(&state, &p, id).await?;
    let l = ops::load(&state, id).await?;
    Ok(Json(links::materials_check(&state, &l).await?))
}

/// Hands in materials after submission (补正 after a 一次性告知, or the 容缺 materials), at a
/// window, optionally with the served ticket of the visit. The last pending item fulfils the
/// commitment (补正材料收讫). A concluded case: 409 `case_concluded`.
#[utoipa::path(post, path = "/api/v1/cases/{id}/materials", params(("id" = i64, Path)), request_body = links::ProvideRequest,
    responses((status = 200, body = links::MaterialsCheck), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn provide_materials(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<links::ProvideRequest>,
) -> ApiResult<Json<links::MaterialsCheck>> {
    Ok(Json(links::provide(&state, &p, id, r).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitRequest {
    pub ticket_id: i64,
    /// materials | result | consult
    pub purpose: String,
}

/// The visits (served queue tickets) linked to a case, first the one that took it in: the basis
/// of 最多跑一次 (at most one row: finished in at most one visit).
#[utoipa::path(get, path = "/api/v1/cases/{id}/visits", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn visits(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<onestop_store::case_links::CaseTicket>>> {
    Ok(Json(links::visits(&state, &p, id).await?))
}

/// Links a later visit (a called or served ticket of the case's hall) to a case.
#[utoipa::path(post, path = "/api/v1/cases/{id}/visits", params(("id" = i64, Path)), request_body = VisitRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn link_visit(
    State(state): S,
    Auth(p): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(r): ApiJson<VisitRequest>,
) -> ApiResult<StatusCode> {
    links::link_visit(&state, &p, id, r.ticket_id, r.purpose.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open steps with a step warning (yellow or red; `warning` picks one), by hall, department and
/// person (`handler`).
#[utoipa::path(get, path = "/api/v1/case-steps/warnings", params(ListQuery),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn step_warnings(
    State(state): S,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<StepRow>>> {
    Ok(Json(links::step_warnings(&state, &p, &q.filter()).await?))
}

/// Delegations (委托) of the manager's subtrees.
#[utoipa::path(get, path = "/api/v1/case-delegations",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
async fn delegations(State(state): S, Auth(p): Auth) -> ApiResult<Json<Vec<onestop_store::case_links::DelegationRow>>> {
    Ok(Json(links::delegations(&state, &p).await?))
}

/// Delegates an absent person's work for a period (hall managers): steps claimed by or assigned
/// to `from` go to `to` (recorded as `delegated_from` on the step, `case.step.delegate` in the
/// audit), and `from`'s open steps move now if the period has begun. Unlike a reassignment it has
/// a period and a reason. 422 `delegation_reason_required`, `delegation_period_invalid`,
/// `delegation_self`, `delegate_unsuitable`, `user_unknown`; 409 `delegation_overlaps`.
#[utoipa::path(post, path = "/api/v1/case-delegations", request_body = links::DelegationRequest,
    responses((status = 201, body = links::Delegated), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delegate(
    State(state): S,
    Auth(p): Auth,
    ApiJson(r): ApiJson<links::DelegationRequest>,
) -> ApiResult<(StatusCode, Json<links::Delegated>)> {
    Ok((StatusCode::CREATED, Json(links::delegate(&state, &p, r).await?)))
}
