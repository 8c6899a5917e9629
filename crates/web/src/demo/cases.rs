//! Demo cases (caseui): a few 罗平县 cases of 食品经营许可证核发 in various states, made through
//! the real use cases (submit, intake, claim, act) as the demo clerk and reviewer, so that the
//! inbox, the case page, the warnings list and `/follow` show something on first start. The
//! warning levels come from one run of the real sweeper.
use crate::cases::{self as ops, ActRequest, ApplicantInput, IntakeDecision, SubmitRequest, Submitter};
use crate::error::ApiError;
use crate::state::AppState;
use serde_json::json;

const FOOD: &str = "000172007000";

/// The required materials of 食品经营许可证核发 in the demo catalogue: intake refuses an
/// acceptance while any is missing (`materials_missing`), so every demo applicant hands them in.
const FOOD_MATERIALS: [&str; 5] = [
    "食品经营许可申请书",
    "营业执照",
    "法定代表人、股东身份证件",
    "经营场所平面布局图及设备布局、工艺流程",
    "食品安全管理制度",
];

/// Every required material of 食品经营许可证核发, as one small PDF stored through the real
/// upload path (by `by`). The demo's ratings seeding uses it too.
pub(crate) async fn food_materials(state: &AppState, by: &str) -> Result<Vec<ops::MaterialInput>, ApiError> {
    let mut up = crate::uploads::Incoming::start(state).await?;
    up.push(b"%PDF-1.7\n% OneStop demo material\n").await?;
    let id = up.finish(state, "示例材料.pdf", by).await?.id;
    Ok(FOOD_MATERIALS
        .iter()
        .map(|n| ops::MaterialInput {
            name: (*n).into(),
            upload_id: Some(id),
            certificate_number: None,
        })
        .collect())
}

/// Fictional applicants (ID numbers with valid check digits, 138/139 phones).
const APPLICANTS: &[(&str, &str, &str, &str)] = &[
    ("张三", "11010519491231002X", "13800138000", "received"),
    ("李四", "110105198001010016", "13800138001", "accepted"),
    ("王五", "110105199003070017", "13800138002", "review"),
    ("赵六", "11010519751212001X", "13800138003", "concluded"),
];

async fn principal(state: &AppState, username: &str) -> Result<crate::auth::Principal, ApiError> {
    let (user, _) = onestop_store::users::by_username(state.store.read(), username)
        .await?
        .ok_or_else(ApiError::not_found)?;
    crate::auth::principal_of(state, user).await
}

/// Approves the case's open steps (as `who`) until it concludes or `max` steps were acted on.
async fn approve_open(state: &AppState, who: &crate::auth::Principal, id: i64, max: usize) -> Result<(), ApiError> {
    for _ in 0..max {
        let v = ops::get(state, who, id).await?;
        let Some(step) = v.steps.iter().find(|s| s.ended_at.is_none()) else {
            return Ok(());
        };
        ops::act(
            state,
            who,
            id,
            ActRequest {
                step_id: step.id,
                action: "approve".into(),
                opinion: "材料齐全，符合要求".into(),
            },
        )
        .await?;
    }
    Ok(())
}

/// Seeds the demo cases. Skipped quietly when the demo has no data key (sealed fields need one).
pub async fn seed(state: &AppState) -> Result<(), ApiError> {
    if state.data_keys().is_err() {
        return Ok(());
    }
    let clerk = principal(state, "luoping.clerk").await?;
    let reviewer = principal(state, "luoping.reviewer").await?;
    let materials = food_materials(state, &clerk.user.username).await?;
    for (i, (name, id_number, phone, target)) in APPLICANTS.iter().enumerate() {
        let req = SubmitRequest {
            region: "990121".into(),
            hall_id: clerk.user.hall_id,
            service: Some(FOOD.into()),
            bundle: None,
            applicant: ApplicantInput {
                name: (*name).into(),
                id_number: (*id_number).into(),
                phone: (*phone).into(),
            },
            form: json!({
                "org_name": format!("罗平县{name}餐饮店"),
                "legal_rep_name": name,
                "contact_name": name,
                "contact_phone": phone,
                "org_address": format!("罗平县人民路 {} 号", i + 1),
                "commitment": true
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            materials: materials.clone(),
            phone_code: None,
            ticket_id: None,
        };
        let sub = ops::submit(state, Submitter::Staff(clerk.clone()), req, None).await?;
        if *target == "received" {
            continue;
        }
        ops::decide_intake(state, &clerk, sub.id, IntakeDecision::Accept).await?;
        match *target {
            "review" => approve_open(state, &reviewer, sub.id, 1).await?,
            "concluded" => approve_open(state, &reviewer, sub.id, 10).await?,
            _ => {}
        }
    }
    // The steps just opened are near their short limits: the sweeper flags them yellow.
    crate::cases::sweep::warnings(state).await?;
    Ok(())
}
