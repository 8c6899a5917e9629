//! The case side of ratings and supervision (issue 6): what each case event adds to the case
//! counters (accepted, concluded, on time, 最多跑一次, warnings, online, 即办件), the rating token of a
//! concluded case (一事一评) with its SMS link, and the receipt's rating link by tracking code.
//! Every function here runs inside the transaction of the case event it counts.
use crate::crypto::{DataKeys, purpose};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use jiff::Timestamp;
use jiff::civil::Date;
use onestop_domain::case_no::TrackingCode;
use onestop_domain::ids::Phone;
use onestop_domain::intake::CaseStatus;
use onestop_domain::rating::Series;
use onestop_domain::workflow::StepKey;
use onestop_store::case_figures::{self as figures, CaseDelta};
use onestop_store::cases::{CaseRow, CaseUpdate};
use onestop_store::ratings::{self as store, IssuedToken, Subject, TokenRow};
use onestop_store::{StoreError, Tx};

/// The receipt's rating link (一事一评 by QR): `{public_url}/rate/c/{tracking_code}`. The tracking
/// code printed on the case receipt is the capability, as the follow code is on a ticket slip;
/// the link works once the case is concluded (before that it answers `rating_event_unknown`).
/// The receipt page prints this as a QR code.
pub fn rating_link(state: &AppState, tracking_code: &str) -> String {
    format!(
        "{}/rate/c/{}",
        state.infra.public_url.trim_end_matches('/'),
        tracking_code.trim()
    )
}

/// Called in the acceptance's transaction (a clerk's decision or the deemed acceptance):
/// counts the case as accepted, online or at a window, instant (即办件) or not.
pub async fn on_accepted(
    tx: &mut Tx,
    row: &CaseRow,
    person_id: i64,
    department_id: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    let leaf = figures::leaf_of_case(tx, row.id, person_id, department_id).await?;
    let d = CaseDelta {
        accepted: 1,
        accepted_online: i64::from(row.channel == "online"),
        // case_type 1 is 即办件 (see migration 0006).
        accepted_instant: i64::from(row.case_type == 1),
        ..CaseDelta::default()
    };
    figures::count(tx, &leaf, at, d).await
}

/// Called in the transaction that starts a case (the intake decision or the deemed acceptance,
/// after `write_begin`): counts the acceptance at the department of the case's first step, and
/// the conclusion too when starting it concluded it (a 即办件 decided at the window).
#[allow(clippy::too_many_arguments)]
pub async fn after_begin(
    tx: &mut Tx,
    state: &AppState,
    keys: &DataKeys,
    l: &crate::cases::Loaded,
    first_step: Option<&StepKey>,
    person_id: i64,
    update: &CaseUpdate,
    today: Date,
    now: Timestamp,
) -> Result<(), StoreError> {
    let department_id = first_step
        .and_then(|k| l.routes.get(k.as_str()))
        .map(|r| r.department_id)
        .unwrap_or(0);
    on_accepted(tx, &l.row, person_id, department_id, now).await?;
    if matches!(l.status, CaseStatus::Concluded(_)) {
        on_concluded(
            tx,
            state,
            keys,
            &l.row,
            person_id,
            department_id,
            update.promised_deadline.as_deref(),
            today,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Whether a case concluded on `today` met its deadline. The figure is against the **promised**
/// deadline (承诺时限, which already carries approved extensions and excludes special procedures):
/// it is what the hall commits to the applicant, and it is never later than the legal one, so a
/// case on time by it is on time by law as well. A case without a promised deadline (no limit)
/// is on time.
pub fn on_time(promised_deadline: Option<&str>, today: Date) -> bool {
    match promised_deadline.and_then(|d| d.parse::<Date>().ok()) {
        Some(due) => today <= due,
        None => true,
    }
}

/// Called in the conclusion's transaction: counts the conclusion (on time, at most one on-site
/// visit), issues the case's single-use rating token (一事一评) and sends its link to the
/// applicant's phone by SMS. The two series stay apart: this token is in the `case` series.
#[allow(clippy::too_many_arguments)]
pub async fn on_concluded(
    tx: &mut Tx,
    state: &AppState,
    keys: &DataKeys,
    row: &CaseRow,
    person_id: i64,
    department_id: i64,
    promised_deadline: Option<&str>,
    today: Date,
    now: Timestamp,
) -> Result<IssuedToken, StoreError> {
    let leaf = figures::leaf_of_case(tx, row.id, person_id, department_id).await?;
    let visits = figures::visits(tx.conn(), row.id).await?;
    let d = CaseDelta {
        concluded: 1,
        concluded_on_time: i64::from(on_time(promised_deadline, today)),
        one_visit: i64::from(visits <= 1),
        ..CaseDelta::default()
    };
    figures::count(tx, &leaf, now, d).await?;
    let subject = Subject {
        series: Series::Case,
        subject_id: row.id,
        subject_no: row.case_no.clone(),
        region_id: leaf.region_id,
        hall_id: leaf.hall_id,
        window_id: leaf.window_id,
        person_id,
        department_id,
    };
    // A phone that cannot be opened must not block the conclusion: the receipt's QR still rates.
    let phone = keys
        .open_str(purpose::PHONE, &row.applicant_phone_sealed)
        .ok()
        .and_then(|p| Phone::parse(&p).ok());
    super::on_case_concluded(tx, state, &subject, phone.as_ref(), now).await
}

/// Called in the warnings sweep's transaction just before a case's level is set to `to`: a rise
/// to yellow or to red counts once in the bucket of the sweep; going back down counts nothing.
pub async fn on_warning(tx: &mut Tx, case_id: i64, to: &str, at: Timestamp) -> Result<(), StoreError> {
    let from: String = sqlx::query_scalar("SELECT warning FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(tx.conn())
        .await?;
    let rank = |l: &str| match l {
        "yellow" => 1,
        "red" => 2,
        _ => 0,
    };
    if rank(to) <= rank(&from) {
        return Ok(());
    }
    let leaf = figures::leaf_of_case(tx, case_id, 0, 0).await?;
    let d = CaseDelta {
        yellow: i64::from(to == "yellow"),
        red: i64::from(to == "red"),
        ..CaseDelta::default()
    };
    figures::count(tx, &leaf, at, d).await
}

/// The rating token of the case whose receipt carries `code` (its tracking code), or 404 when
/// the code is unknown or the case is not concluded yet.
pub async fn token_by_tracking_code(state: &AppState, code: &str) -> ApiResult<TokenRow> {
    let keys = state.data_keys()?;
    let Ok(code) = TrackingCode::parse(code) else {
        return Err(super::event_unknown());
    };
    let hashes = keys.lookup_hashes(crate::cases::TRACKING_KIND, code.as_str());
    let mut c = state.store.read().acquire().await.map_err(StoreError::from)?;
    let row = match onestop_store::cases::by_tracking(&mut c, &hashes).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Err(super::event_unknown()),
        Err(e) => return Err(e.into()),
    };
    drop(c);
    store::token_of_subject(state.store.read(), Series::Case, row.id)
        .await?
        .ok_or_else(super::event_unknown)
}

/// The demo's case ratings (called once from `demo::seed`): two food-licence cases at 云岭县's
/// hall are taken in, accepted and concluded through the use cases, then rated from the SMS token,
/// one 满意 and one 不满意 with its reason, whose follow-up the hall manager verifies. So the
/// dashboards show case figures, both rating levels and an open follow-up. (云岭县: the tests'
/// counties, 罗平县 and 清河县, stay as they were.)
pub async fn seed_demo(state: &AppState) -> ApiResult<()> {
    use onestop_domain::rating::Channel;
    let principal = |name: &'static str| async move {
        let u = onestop_store::users::by_username(state.store.read(), name)
            .await?
            .ok_or_else(ApiError::not_found)?
            .0;
        crate::auth::principal_of(state, u).await
    };
    let clerk = principal("yunling.clerk").await?;
    let reviewer = principal("yunling.reviewer").await?;
    let manager = principal("yunling.manager").await?;
    let reviews = [
        ("王小明", "11010519491231002X", "13800138001", 2, ""),
        (
            "李红",
            "11010519491231002X",
            "13800138002",
            4,
            "审批环节等待时间较长，进度不透明",
        ),
    ];
    for (name, id_number, phone, level, text) in reviews {
        let req: crate::cases::SubmitRequest = serde_json::from_value(serde_json::json!({
            "region": "990123", "service": "000172007000",
            "applicant": {"name": name, "id_number": id_number, "phone": phone},
            "form": {"org_name": format!("云岭县{name}餐饮店"), "legal_rep_name": name, "contact_name": name,
                     "contact_phone": phone, "org_address": "云岭县人民路 8 号", "commitment": true},
        }))
        .map_err(|e| ApiError::validation("demo_invalid", e.to_string()))?;
        let req = crate::cases::SubmitRequest {
            materials: crate::demo::cases::food_materials(state, &clerk.user.username).await?,
            ..req
        };
        let sub = crate::cases::submit(state, crate::cases::Submitter::Staff(clerk.clone()), req, None).await?;
        let mut r = crate::cases::decide_intake(state, &clerk, sub.id, crate::cases::IntakeDecision::Accept).await?;
        // Approve every step the reviewer is given until the case concludes.
        for _ in 0..8 {
            let Some(step_id) = r.open_steps.first().copied() else {
                break;
            };
            let act = crate::cases::ActRequest {
                step_id,
                action: "approve".into(),
                opinion: "同意".into(),
            };
            r = crate::cases::act(state, &reviewer, sub.id, act).await?;
        }
        let Some(token) = store::token_of_subject(state.store.read(), Series::Case, sub.id).await? else {
            return Err(ApiError::conflict("demo_case_not_concluded", "演示办件未能办结"));
        };
        let rate = super::RateRequest {
            level,
            dimensions: Default::default(),
            text: (!text.is_empty()).then(|| text.to_owned()),
            channel: Some("sms".into()),
        };
        let view = super::rate(state, None, token, &rate, Channel::Sms, "citizen").await?;
        if let Some(f) = view.followup_id {
            super::followup_step(state, &manager, f, "verify", "已电话联系申请人核实情况", None).await?;
        }
    }
    Ok(())
}
