//! The demo's workflows and closures, so that the editor and the calendar have something to show:
//! - 静江省 defines 食品经营许可证核发 as a two-level 审核 → 审批 at 市场监督管理局; 罗平县 overrides it
//!   (two versions: adjusted limits, then an added 现场核查);
//! - 静江省 defines 建筑工程施工许可证核发 as a joint review (联合审查): 住房和城乡建设局 and 自然资源局
//!   in parallel, then 审批;
//! - 静江省 defines the bundle 我要开餐馆 as a parallel fan-out with a final 统一出件 at the window;
//!   the other bundles and services keep the generated default;
//! - closures: 罗平县 on 2026-08-12 (a typhoon), reaching its townships; 久安市 on 2026-12-18 (a system
//!   upgrade), reaching every district and county.
//!
//! Seeded in one transaction, with its audit entry.
use crate::error::ApiError;
use crate::state::AppState;
use onestop_domain::role::Role;
use onestop_domain::workflow::{
    Action, Conclusion, DepartmentRef, StepDef, StepKey, StepKind, WorkflowDefinition, two_level, validate,
};
use onestop_store::StoreError;
use onestop_store::workflows::{self as store, Subject};

fn end(key: &str, name: &str, outcome: Conclusion) -> StepDef {
    StepDef::auto(key, name, StepKind::End { outcome })
}

fn ends() -> [StepDef; 2] {
    [
        end("done", "办结", Conclusion::Approved),
        end("refused", "不予许可", Conclusion::Refused),
    ]
}

/// 审核 (3) → 审批 (2) at 市场监督管理局: within the promised 5 working days.
fn food_business_province() -> WorkflowDefinition {
    let mut def = two_level(&DepartmentRef::new("市场监督管理局"));
    for s in &mut def.steps {
        match s.key.as_str() {
            "review" => s.time_limit_days = 3,
            "approve" => s.time_limit_days = 2,
            _ => {}
        }
    }
    def
}

/// 罗平县's first version: the same steps, 审核 faster.
fn food_business_county_v1() -> WorkflowDefinition {
    let mut def = food_business_province();
    for s in &mut def.steps {
        if s.key.as_str() == "review" {
            s.time_limit_days = 2;
        }
    }
    def
}

/// 罗平县's second version: 审核 → 现场核查 → 审批.
fn food_business_county_v2() -> WorkflowDefinition {
    let d = DepartmentRef::new("市场监督管理局");
    let [done, refused] = ends();
    WorkflowDefinition {
        start: StepKey::new("review"),
        instant: false,
        steps: vec![
            StepDef::task("review", "材料审核", &d, Role::Reviewer, 2)
                .on(Action::Approve, "inspect")
                .on(Action::Refuse, "refused"),
            StepDef::task("inspect", "现场核查", &d, Role::Reviewer, 2)
                .on(Action::Approve, "approve")
                .on(Action::Return, "review")
                .on(Action::Refuse, "refused"),
            StepDef::task("approve", "审批", &d, Role::Reviewer, 1)
                .on(Action::Approve, "done")
                .on(Action::Return, "inspect")
                .on(Action::Refuse, "refused"),
            done,
            refused,
        ],
    }
}

/// 受理审查 → 联合审查 (住建 技术审查 ‖ 自然资源 规划核验) → 审批: 3 working days on the longest path.
fn building_permit() -> WorkflowDefinition {
    let housing = DepartmentRef::new("住房和城乡建设局");
    let land = DepartmentRef::new("自然资源局");
    let [done, refused] = ends();
    WorkflowDefinition {
        start: StepKey::new("intake"),
        instant: false,
        steps: vec![
            StepDef::task("intake", "受理审查", &housing, Role::Reviewer, 1)
                .on(Action::Approve, "joint")
                .on(Action::Refuse, "refused"),
            StepDef::auto(
                "joint",
                "联合审查",
                StepKind::Fork {
                    branches: vec![StepKey::new("technical"), StepKey::new("planning")],
                },
            ),
            StepDef::task("technical", "施工图技术审查", &housing, Role::Reviewer, 1)
                .on(Action::Approve, "joined")
                .on(Action::Refuse, "joined"),
            StepDef::task("planning", "规划条件核验", &land, Role::Reviewer, 1)
                .on(Action::Approve, "joined")
                .on(Action::Refuse, "joined"),
            StepDef::auto(
                "joined",
                "联审汇总",
                StepKind::Join {
                    fork: StepKey::new("joint"),
                    next: StepKey::new("approve"),
                    refused_next: Some(StepKey::new("refused")),
                },
            ),
            StepDef::task("approve", "审批", &housing, Role::Reviewer, 1)
                .on(Action::Approve, "done")
                .on(Action::Refuse, "refused"),
            done,
            refused,
        ],
    }
}

/// 我要开餐馆: 营业执照 ‖ 食品经营许可 in parallel, then 统一出件 at the window.
fn restaurant_bundle() -> WorkflowDefinition {
    let market = DepartmentRef::new("市场监督管理局");
    let [done, refused] = ends();
    WorkflowDefinition {
        start: StepKey::new("fan_out"),
        instant: false,
        steps: vec![
            StepDef::auto(
                "fan_out",
                "分送各部门",
                StepKind::Fork {
                    branches: vec![StepKey::new("licence"), StepKey::new("food")],
                },
            ),
            StepDef::task("licence", "营业执照核准", &market, Role::Reviewer, 1)
                .on(Action::Approve, "gather")
                .on(Action::Refuse, "gather"),
            StepDef::task("food", "食品经营许可审查", &market, Role::Reviewer, 5)
                .on(Action::Approve, "gather")
                .on(Action::Refuse, "gather"),
            StepDef::auto(
                "gather",
                "汇总",
                StepKind::Join {
                    fork: StepKey::new("fan_out"),
                    next: StepKey::new("deliver"),
                    refused_next: Some(StepKey::new("refused")),
                },
            ),
            StepDef::task("deliver", "统一出件", &market, Role::WindowClerk, 1).on(Action::Approve, "done"),
            done,
            refused,
        ],
    }
}

fn bad(what: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %what, "demo workflow data is invalid");
    ApiError::internal()
}

/// Seeds the demo workflows and closures (once, with the rest of the demo world).
pub async fn seed(state: &AppState) -> Result<(), ApiError> {
    let read = state.store.read();
    let region = |code: &'static str| async move { onestop_store::regions::get_by_code(read, code).await };
    let (province, city, luoping) = (
        region("990000").await?,
        region("990100").await?,
        region("990121").await?,
    );
    let service = |code: &'static str| async move {
        onestop_store::catalogue::service_by_code(&mut *read.acquire().await.map_err(StoreError::from)?, code)
            .await?
            .ok_or(StoreError::NotFound)
    };
    let food = service("000172007000").await?.id;
    let building = service("000138001000").await?.id;
    let restaurant = {
        let mut c = read.acquire().await.map_err(StoreError::from)?;
        onestop_store::catalogue::bundles(&mut c)
            .await?
            .into_iter()
            .find(|b| b.code == "YJS-001")
            .ok_or(StoreError::NotFound)?
            .id
    };
    let plan: Vec<(Subject, i64, WorkflowDefinition, &'static str)> = vec![
        (
            Subject::Service(food),
            province.id,
            food_business_province(),
            "省级统一流程：审核、审批两级",
        ),
        (
            Subject::Service(food),
            luoping.id,
            food_business_county_v1(),
            "县局审核时限压缩为 2 个工作日",
        ),
        (
            Subject::Service(food),
            luoping.id,
            food_business_county_v2(),
            "增加现场核查环节",
        ),
        (
            Subject::Service(building),
            province.id,
            building_permit(),
            "施工许可联合审查",
        ),
        (
            Subject::Bundle(restaurant),
            province.id,
            restaurant_bundle(),
            "并联审批，窗口统一出件",
        ),
    ];
    for (_, _, def, note) in &plan {
        validate(def).map_err(|issues| bad(format!("{note}: {issues:?}")))?;
    }
    let closures = [
        (
            luoping.id,
            jiff::civil::date(2026, 8, 12),
            "台风过境，全县政务服务中心停止对外办公",
        ),
        (
            city.id,
            jiff::civil::date(2026, 12, 18),
            "市政务服务平台系统升级，全市暂停对外办公",
        ),
    ];
    let at = state.clock.now();
    let province_id = province.id;
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                for (subject, region_id, def, note) in &plan {
                    store::save(tx, *subject, *region_id, def, note, at, "demo-seed").await?;
                }
                for (region_id, date, reason) in closures {
                    onestop_store::calendars::add_closure(tx, region_id, date, reason, at, "demo-seed").await?;
                }
                tx.audit(onestop_store::audit::AuditEntry {
                    region_id: province_id,
                    at,
                    actor: "demo-seed".into(),
                    action: "workflow.seed",
                    entity: "workflow",
                    entity_id: "demo".into(),
                    detail: serde_json::json!({"workflows": plan.len(), "closures": closures.len()}),
                })
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(())
}
