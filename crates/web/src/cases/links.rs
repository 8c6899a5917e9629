//! Cases, continued: the materials check against the catalogue at intake (and the one notice it
//! prefills), materials handed in later (补正, 容缺 delivery), delegation of an absent person's
//! work for a period (委托, distinct from a one-off reassignment), the visits (served tickets)
//! linked to a case, and the warning lists by hall, department and person. Rules: docs/CASES.md.
use super::{
    Loaded, MaterialInput, audit, calendar, conn, in_department, invalid, load, region_path, sms_applicant,
    staff_principal, today_at, update_of, works_step,
};
use crate::auth::Principal;
use crate::certs::HOLDER_KIND;
use crate::crypto::purpose;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::state::AppState;
use jiff::Timestamp;
use jiff::civil::Date;
use onestop_domain::intake::{CaseEvent, CaseStatus, IntakeRules};
use onestop_domain::region::RegionPath;
use onestop_domain::role::Permission;
use onestop_store::audit::AuditEntry;
use onestop_store::case_links::{self as links, CaseFilter, DelegationRow, NewDelegation};
use onestop_store::cases::{self as store, CaseRow, StepRow};
use onestop_store::queue::TicketRow;
use onestop_store::{StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use utoipa::ToSchema;

// ---- materials ---------------------------------------------------------------------------------

/// The materials of a case against the catalogue version(s) it was applied under.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MaterialsCheck {
    /// Required by the catalogue (是否必要: 是).
    pub required: Vec<String>,
    /// Handed in (uploaded or a reused e-certificate).
    pub provided: Vec<String>,
    /// Promised under 容缺受理, not yet handed in.
    pub pending: Vec<String>,
    /// Required and not handed in: what a 一次性告知单 lists.
    pub missing: Vec<String>,
}

pub async fn materials_check(state: &AppState, l: &Loaded) -> ApiResult<MaterialsCheck> {
    let mut c = conn(state).await?;
    let rows = store::materials(&mut c, l.row.id).await?;
    let named = |status: &str| -> Vec<String> {
        let mut v: Vec<String> = rows
            .iter()
            .filter(|m| m.status == status)
            .map(|m| m.name.clone())
            .collect();
        v.dedup();
        v
    };
    let provided = named("provided");
    let pending = named("pending");
    let required = l.intake.required_materials.clone();
    let missing = required.iter().filter(|r| !provided.contains(r)).cloned().collect();
    Ok(MaterialsCheck {
        required,
        provided,
        pending,
        missing,
    })
}

/// Refuses an acceptance while a required material is neither handed in nor in `covered` (the
/// 容缺 list): 422 `materials_missing`, each missing item as a field error.
pub fn require_complete(check: &MaterialsCheck, covered: &[String]) -> ApiResult<()> {
    let missing: Vec<&String> = check
        .missing
        .iter()
        .filter(|m| !covered.iter().any(|c| c.trim() == m.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join("、");
    let mut e = ApiError::validation(
        "materials_missing",
        format!("材料不齐，不能受理。缺少：{list}（可出具一次性告知单）"),
    );
    e.fields = missing
        .into_iter()
        .map(|m| FieldError {
            field: "materials".into(),
            code: "material_missing".into(),
            message: m.clone(),
        })
        .collect();
    Err(e)
}

/// Materials handed in after submission, at a window (optionally the served ticket of the visit).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvideRequest {
    pub materials: Vec<MaterialInput>,
    #[serde(default)]
    pub ticket_id: Option<i64>,
}

/// A ticket may be linked as a visit once its holder has been called to a window.
pub fn check_served(t: &TicketRow) -> ApiResult<()> {
    if matches!(t.state.as_str(), "called" | "serving" | "done") {
        Ok(())
    } else {
        Err(invalid(
            "ticket_not_served",
            "ticket_id",
            "该号票尚未叫号办理，不能关联办件",
        ))
    }
}

async fn visit_ticket(state: &AppState, row: &CaseRow, ticket_id: Option<i64>) -> ApiResult<Option<i64>> {
    let Some(id) = ticket_id else { return Ok(None) };
    let t = onestop_store::queue::ticket(state.store.read(), id)
        .await
        .map_err(|_| invalid("ticket_unknown", "ticket_id", "没有这张号票"))?;
    if row.hall_id != Some(t.hall_id) {
        return Err(invalid("ticket_unknown", "ticket_id", "该号票不属于本大厅"));
    }
    check_served(&t)?;
    Ok(Some(t.id))
}

/// Hands in materials: a pending (容缺) or missing (一次性告知) item becomes provided. When the
/// last pending item arrives, the 容缺 commitment is fulfilled (补正材料收讫), even after its
/// deadline: the case could not be approved without it (see docs/CASES.md).
pub async fn provide(state: &AppState, p: &Principal, id: i64, req: ProvideRequest) -> ApiResult<MaterialsCheck> {
    let mut l = load(state, id).await?;
    p.require(Permission::WindowWork, &region_path(&l.row))?;
    if l.status.is_final() {
        return Err(ApiError::conflict(
            "case_concluded",
            format!("办件已{}，不能再补交材料", l.status.label()),
        ));
    }
    if req.materials.is_empty() || req.materials.len() > 50 {
        return Err(invalid("materials_empty", "materials", "须提交 1 至 50 份材料"));
    }
    let keys = state.data_keys()?;
    let known: Vec<String> = {
        let mut c = conn(state).await?;
        let mut v = l.intake.required_materials.clone();
        v.extend(store::materials(&mut c, l.row.id).await?.into_iter().map(|m| m.name));
        v
    };
    let id_number = keys
        .open_str(purpose::ID_NUMBER, &l.row.applicant_id_sealed)
        .map_err(|_| ApiError::internal())?;
    let holder = keys.lookup_hashes(HOLDER_KIND, &id_number);
    let mut new = Vec::new();
    for (i, m) in req.materials.iter().enumerate() {
        let field = format!("materials[{i}]");
        let name = m.name.trim();
        if !known.iter().any(|k| k == name) {
            return Err(invalid("material_unknown", &field, format!("本事项不需要材料“{name}”")));
        }
        new.push(crate::cases::resolve_material(state, &holder, name, &field, m).await?);
    }
    let ticket = visit_ticket(state, &l.row, req.ticket_id).await?;
    let now = state.clock.now();
    let today = today_at(now);
    // Does this delivery complete the 容缺 commitment?
    let before = materials_check(state, &l).await?;
    let delivered: Vec<&str> = new.iter().map(|m| m.name.as_str()).collect();
    let completes = l.intake.pending.as_ref().is_some_and(|pm| {
        pm.outstanding()
            && pm
                .materials
                .iter()
                .all(|m| before.provided.contains(m) || delivered.contains(&m.as_str()))
    });
    let mut notice = None;
    if completes {
        notice = l
            .intake
            .apply(&IntakeRules::default(), &CaseEvent::PendingDelivered { on: today })?;
        l.status = l.intake.status;
    }
    let cal = calendar(state, l.row.region_id).await?;
    let update = update_of(&l, &cal, false, None);
    let expected = (l.row.status.clone(), l.row.updated_at);
    let actor = p.actor();
    let row = l.row.clone();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                for m in &new {
                    links::provide_material(tx, row.id, m, now).await?;
                }
                if completes {
                    store::update(tx, row.id, &expected.0, expected.1, &update, now).await?;
                }
                if let Some(t) = ticket {
                    links::link_ticket(tx, row.id, t, "materials", now).await?;
                }
                let names: Vec<&str> = new.iter().map(|m| m.name.as_str()).collect();
                let detail = json!({"materials": names, "ticket_id": ticket, "pending_fulfilled": completes});
                store::append_event(tx, row.id, now, &actor, "materials.provided", &detail).await?;
                if let Some(k) = notice {
                    store::add_notice(tx, row.id, k.as_str(), &actor, &detail, now).await?;
                }
                tx.audit(audit(&actor, &row, now, "case.materials", detail)).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    let l = load(state, id).await?;
    materials_check(state, &l).await
}

/// The 容缺 deadline passed without the materials: flagged once (event, audit, SMS to the
/// applicant). Returns whether the case was flagged now.
pub(super) async fn flag_pending_overdue(
    state: &AppState,
    l: &Loaded,
    today: Date,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let Some(pm) = l.intake.pending.as_ref() else {
        return Ok(false);
    };
    if !pm.outstanding() || today <= pm.deadline || pm.overdue_on.is_some() || l.status.is_final() {
        return Ok(false);
    }
    let mut intake = l.intake.clone();
    if let Some(p) = intake.pending.as_mut() {
        p.overdue_on = Some(today);
    }
    let intake_json = serde_json::to_string(&intake).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let keys = state.data_keys().map_err(|_| StoreError::Corrupt("data keys".into()))?;
    let row = l.row.clone();
    let deadline = pm.deadline;
    let materials = pm.materials.clone();
    const ACTOR: &str = "system:case-warnings";
    let done = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let changed = sqlx::query(
                    "UPDATE cases SET intake_state = $1, warning = 'red', updated_at = $4 WHERE id = $2 AND updated_at = $3",
                )
                .bind(&intake_json)
                .bind(row.id)
                .bind(row.updated_at)
                .bind(onestop_store::ms(now).max(row.updated_at + 1))
                .execute(tx.conn())
                .await?
                .rows_affected();
                if changed != 1 {
                    return Ok(false);
                }
                let detail = json!({"deadline": deadline.to_string(), "materials": materials});
                store::append_event(tx, row.id, now, ACTOR, "materials.overdue", &detail).await?;
                tx.audit(audit(ACTOR, &row, now, "case.materials.overdue", detail)).await?;
                let text = format!(
                    "【一站式政务服务】办件 {} 的容缺材料已超过补交期限（{deadline}），补齐前不能办结，请尽快补交。",
                    row.case_no
                );
                sms_applicant(tx, &keys, &row, &text, now).await?;
                Ok::<_, StoreError>(true)
            })
        })
        .await?;
    Ok(done)
}

// ---- delegation (委托) ---------------------------------------------------------------------------

/// A delegation of `from`'s steps to `to` for a period.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationRequest {
    pub from: String,
    pub to: String,
    #[schema(value_type = String, format = Date)]
    pub starts_on: Date,
    #[schema(value_type = String, format = Date)]
    pub ends_on: Date,
    pub reason: String,
}

/// What a delegation did: the delegation and the open steps moved to the delegate at once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delegated {
    #[schema(value_type = Object)]
    pub delegation: DelegationRow,
    pub steps: Vec<i64>,
}

const DELEGATION_MAX_DAYS: i32 = 366;

/// Records a delegation (hall managers of the absent person's region). While it runs, steps
/// claimed by or assigned to `from` go to `to`; the open steps `from` holds move now.
pub async fn delegate(state: &AppState, p: &Principal, req: DelegationRequest) -> ApiResult<Delegated> {
    p.require_any(Permission::HallManage)?;
    let reason = req.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(invalid(
            "delegation_reason_required",
            "reason",
            "委托须说明事由（500 字以内）",
        ));
    }
    if req.ends_on < req.starts_on || (req.ends_on - req.starts_on).get_days() > DELEGATION_MAX_DAYS {
        return Err(invalid(
            "delegation_period_invalid",
            "ends_on",
            "委托期限须为开始日之后、一年以内",
        ));
    }
    let from = staff_principal(state, &req.from)
        .await
        .map_err(|e| relabel(e, "from"))?;
    let to = staff_principal(state, &req.to).await.map_err(|e| relabel(e, "to"))?;
    if from.user.id == to.user.id {
        return Err(invalid("delegation_self", "to", "不能委托给本人"));
    }
    // The manager's scope that holds the absent person's work.
    let scope = p
        .scope_strings(Permission::HallManage)
        .into_iter()
        .find(|s| {
            let s = RegionPath::from_stored(s.clone());
            from.grants.iter().any(|g| s.contains(&g.region_path))
        })
        .ok_or_else(ApiError::forbidden)?;
    // The delegate must do the same work: a role the absent person holds, at or above their
    // region, and the same department.
    let suitable = from.grants.iter().any(|fg| {
        to.grants
            .iter()
            .any(|tg| tg.role == fg.role && tg.region_path.contains(&fg.region_path))
    }) && (from.user.department_id.is_none() || from.user.department_id == to.user.department_id);
    if !suitable {
        return Err(invalid(
            "delegate_unsuitable",
            "to",
            "受托人须与委托人岗位相同、属同一部门",
        ));
    }
    let (fs, fe) = (req.starts_on.to_string(), req.ends_on.to_string());
    {
        let mut c = conn(state).await?;
        for user in [&from.user.username, &to.user.username] {
            if !links::delegations_overlapping(&mut c, user, &fs, &fe).await?.is_empty() {
                return Err(ApiError::conflict(
                    "delegation_overlaps",
                    "该期间内委托人或受托人已有委托，不能重叠或转委托",
                ));
            }
        }
    }
    let now = state.clock.now();
    let today = today_at(now);
    let running = req.starts_on <= today && today <= req.ends_on;
    let mut movable = Vec::new();
    if running {
        let mut c = conn(state).await?;
        for s in links::open_steps_of(&mut c, &from.user.username, &scope).await? {
            if works_step(&to, &s) && in_department(&to, &s) {
                movable.push(s);
            }
        }
    }
    let region_id = from.grants.first().map(|g| g.region_id).unwrap_or_default();
    let actor = p.actor();
    let new = NewDelegation {
        region_path: scope,
        from_user: from.user.username.clone(),
        to_user: to.user.username.clone(),
        starts_on: fs,
        ends_on: fe,
        reason,
        created_by: actor.clone(),
    };
    let (did, moved) = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let did = links::add_delegation(tx, &new, now).await?;
                tx.audit(AuditEntry {
                    region_id,
                    at: now,
                    actor: actor.clone(),
                    action: "case.delegation",
                    entity: "delegation",
                    entity_id: did.to_string(),
                    detail: json!({"from": new.from_user, "to": new.to_user, "starts_on": new.starts_on,
                        "ends_on": new.ends_on, "reason": new.reason}),
                })
                .await?;
                let mut moved = Vec::new();
                for s in &movable {
                    delegated_in_tx(
                        tx,
                        s,
                        Some(&new.from_user),
                        &new.from_user,
                        &new.to_user,
                        Some(&actor),
                        &actor,
                        did,
                        now,
                    )
                    .await?;
                    moved.push(s.id);
                }
                Ok::<_, StoreError>((did, moved))
            })
        })
        .await?;
    let mut c = conn(state).await?;
    let delegation = links::delegations(&mut c, "/")
        .await?
        .into_iter()
        .find(|d| d.id == did)
        .ok_or_else(ApiError::internal)?;
    Ok(Delegated {
        delegation,
        steps: moved,
    })
}

fn relabel(mut e: ApiError, field: &str) -> ApiError {
    for f in &mut e.fields {
        f.field = field.to_owned();
    }
    e
}

/// Delegations of the manager's subtrees.
pub async fn delegations(state: &AppState, p: &Principal) -> ApiResult<Vec<DelegationRow>> {
    p.require_any(Permission::HallManage)?;
    let mut c = conn(state).await?;
    let mut out = Vec::new();
    for s in p.scope_strings(Permission::HallManage) {
        for d in links::delegations(&mut c, &s).await? {
            if !out.iter().any(|x: &DelegationRow| x.id == d.id) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// The delegate who takes `username`'s steps on `today`, if a delegation runs and the delegate
/// can work this step; otherwise the step stays with `username`.
pub(super) async fn delegate_of(
    state: &AppState,
    username: &str,
    step: &StepRow,
    today: Date,
) -> ApiResult<Option<(String, i64)>> {
    let d = {
        let mut c = conn(state).await?;
        links::delegation_on(&mut c, username, &today.to_string()).await?
    };
    let Some(d) = d else { return Ok(None) };
    let to = staff_principal(state, &d.to_user).await?;
    Ok((works_step(&to, step) && in_department(&to, step)).then_some((d.to_user, d.id)))
}

#[allow(clippy::too_many_arguments)]
async fn delegated_in_tx(
    tx: &mut Tx,
    s: &StepRow,
    expected: Option<&str>,
    from: &str,
    to: &str,
    assigned_by: Option<&str>,
    auditor: &str,
    delegation: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    links::set_delegated_handler(tx, s.id, expected, to, from, assigned_by, now).await?;
    let c = store::get(tx.conn(), s.case_id).await?;
    let detail = json!({"step": s.step_key, "from": from, "to": to, "delegation": delegation});
    store::append_event(tx, c.id, now, auditor, "step.delegate", &detail).await?;
    tx.audit(audit(auditor, &c, now, "case.step.delegate", detail)).await?;
    Ok(())
}

/// Writes a claim or assignment that a delegation redirects: the delegate holds the step, the
/// record names whom it was meant for.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_delegated(
    state: &AppState,
    s: &StepRow,
    expected: Option<&str>,
    from: &str,
    delegate: &(String, i64),
    assigned_by: Option<&str>,
    auditor: &str,
    now: Timestamp,
) -> ApiResult<()> {
    let s = Arc::new(s.clone());
    let (expected, from, to) = (expected.map(str::to_owned), from.to_owned(), delegate.0.clone());
    let (assigned_by, auditor, did) = (assigned_by.map(str::to_owned), auditor.to_owned(), delegate.1);
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                delegated_in_tx(
                    tx,
                    &s,
                    expected.as_deref(),
                    &from,
                    &to,
                    assigned_by.as_deref(),
                    &auditor,
                    did,
                    now,
                )
                .await
            })
        })
        .await?;
    Ok(())
}

// ---- visits and warning lists ------------------------------------------------------------------

/// Links a later visit (a served ticket) to a case: `materials` or `result`.
pub async fn link_visit(state: &AppState, p: &Principal, id: i64, ticket_id: i64, purpose: &str) -> ApiResult<()> {
    let l = load(state, id).await?;
    p.require(Permission::WindowWork, &region_path(&l.row))?;
    if !["materials", "result", "consult"].contains(&purpose) {
        return Err(invalid(
            "visit_purpose_invalid",
            "purpose",
            "到访事由须为 materials、result 或 consult",
        ));
    }
    let t = visit_ticket(state, &l.row, Some(ticket_id)).await?.unwrap_or(ticket_id);
    let now = state.clock.now();
    let actor = p.actor();
    let row = l.row.clone();
    let purpose = purpose.to_owned();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                links::link_ticket(tx, row.id, t, &purpose, now).await?;
                let detail = json!({"ticket_id": t, "purpose": purpose});
                store::append_event(tx, row.id, now, &actor, "visit", &detail).await?;
                tx.audit(audit(&actor, &row, now, "case.visit", detail)).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}

/// The visits of a case (staff of its region).
pub async fn visits(state: &AppState, p: &Principal, id: i64) -> ApiResult<Vec<links::CaseTicket>> {
    let l = load(state, id).await?;
    p.require(Permission::RegionRead, &region_path(&l.row))?;
    let mut c = conn(state).await?;
    Ok(links::tickets(&mut c, id).await?)
}

fn list_scopes(p: &Principal) -> ApiResult<Vec<String>> {
    let mut scopes = p.scope_strings(Permission::WindowWork);
    scopes.extend(p.scope_strings(Permission::BackOfficeWork));
    scopes.extend(p.scope_strings(Permission::SupervisionRead));
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(ApiError::forbidden());
    }
    Ok(scopes)
}

fn check_level(w: Option<&str>) -> ApiResult<()> {
    if let Some(w) = w
        && !["none", "yellow", "red"].contains(&w)
    {
        return Err(invalid(
            "warning_invalid",
            "warning",
            "预警级别须为 none、yellow 或 red",
        ));
    }
    Ok(())
}

/// Cases of the caller's subtree by status, warning, hall, department and person.
pub async fn list_by(state: &AppState, p: &Principal, f: &CaseFilter) -> ApiResult<Vec<CaseRow>> {
    let scopes = list_scopes(p)?;
    if let Some(s) = &f.status {
        CaseStatus::parse(s).map_err(ApiError::from)?;
    }
    check_level(f.warning.as_deref())?;
    let mut c = conn(state).await?;
    Ok(links::list_cases(&mut c, &scopes, f, 200).await?)
}

/// Open steps with a warning (per step), by hall, department and person.
pub async fn step_warnings(state: &AppState, p: &Principal, f: &CaseFilter) -> ApiResult<Vec<StepRow>> {
    let scopes = list_scopes(p)?;
    check_level(f.warning.as_deref())?;
    let mut c = conn(state).await?;
    let mut out: Vec<StepRow> = Vec::new();
    for s in &scopes {
        for r in links::step_warnings(
            &mut c,
            s,
            f.warning.as_deref(),
            f.hall_id,
            f.department_id,
            f.handler.as_deref(),
        )
        .await?
        {
            if !out.iter().any(|x| x.id == r.id) {
                out.push(r);
            }
        }
    }
    Ok(out)
}
