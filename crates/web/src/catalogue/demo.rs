//! The demo catalogue: 45 services of ten departments and three bundles from
//! `data/demo_catalogue.toml`, kept by 静江省, switched on at 久安市 (and so in all its districts and
//! counties), with local overrides in 罗平县 and a service 清河县 does not offer, so that the admin
//! pages have origins to show. Seeded in one transaction.
use super::forms;
use crate::error::ApiError;
use onestop_domain::catalogue::{
    CaseType, Channel, Faq, Fee, ImplementationOverrides, Inheritable, MaterialForm, MaterialRecord, MaterialSource,
    OnlineDepth, ServiceLevel, ServiceObject, ServiceRecord, ServiceType, TimeLimit, TimeUnit, VersionStatus,
    credit_code_is_valid,
};
use onestop_store::StoreError;
use onestop_store::catalogue::{self as store, NewBundle, VersionContent};
use serde::Deserialize;
use std::collections::HashMap;

const DATA: &str = include_str!("../../data/demo_catalogue.toml");

#[derive(Deserialize)]
struct DemoFile {
    service: Vec<DemoService>,
    bundle: Vec<DemoBundle>,
}

#[derive(Deserialize)]
struct DemoService {
    code: String,
    name: String,
    dept: String,
    #[serde(rename = "type", default = "licensing")]
    service_type: String,
    #[serde(default = "people")]
    objects: Vec<String>,
    #[serde(default = "all_channels")]
    channels: Vec<String>,
    legal: Option<u32>,
    legal_unit: Option<String>,
    promised: u32,
    unit: Option<String>,
    #[serde(default = "one")]
    visits: u8,
    #[serde(default = "depth3")]
    depth: String,
    fee: Option<(String, String)>,
    basis: String,
    conditions: String,
    process: String,
    #[serde(default)]
    themes: Vec<String>,
    form: String,
    #[serde(default)]
    faqs: Vec<(String, String)>,
    materials: Vec<DemoMaterial>,
}

#[derive(Deserialize)]
struct DemoMaterial {
    n: String,
    src: String,
    form: String,
    o: u8,
    c: u8,
    std: String,
    #[serde(default)]
    issuer: String,
    code: Option<String>,
    #[serde(default = "yes")]
    req: bool,
}

#[derive(Deserialize)]
struct DemoBundle {
    code: String,
    name: String,
    description: String,
    themes: Vec<String>,
    services: Vec<String>,
}

fn licensing() -> String {
    "01".into()
}
fn people() -> Vec<String> {
    vec!["1".into()]
}
fn all_channels() -> Vec<String> {
    vec!["1".into(), "2".into(), "3".into()]
}
fn one() -> u8 {
    1
}
fn depth3() -> String {
    "3".into()
}
fn yes() -> bool {
    true
}

/// A valid unified social credit code for a fictional organ (registration 1, type 1) of a region:
/// the check character is found by trying each, so the rule lives only in the domain.
pub fn demo_credit_code(region_code: &str, n: usize) -> String {
    let body = format!("11{region_code}MB{n:07}");
    "0123456789ABCDEFGHJKLMNPQRTUWXY"
        .chars()
        .map(|c| format!("{body}{c}"))
        .find(|c| credit_code_is_valid(c))
        .unwrap_or(body)
}

fn bad(what: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %what, "demo catalogue data is invalid");
    ApiError::internal()
}

fn unit(raw: Option<&str>) -> Result<TimeUnit, ApiError> {
    raw.map(TimeUnit::parse)
        .transpose()
        .map_err(bad)
        .map(|u| u.unwrap_or(TimeUnit::WorkingDays))
}

fn record(s: &DemoService, dept_index: usize) -> Result<ServiceRecord, ApiError> {
    let province = "990000";
    Ok(ServiceRecord {
        name: s.name.clone(),
        base_code: s.code.clone(),
        implementation_code: String::new(),
        service_type: ServiceType::parse(&s.service_type).map_err(bad)?,
        level: ServiceLevel::Province,
        objects: s
            .objects
            .iter()
            .map(|o| ServiceObject::parse(o))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        channels: s
            .channels
            .iter()
            .map(|c| Channel::parse(c))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        legal_limit: match s.legal {
            Some(value) => Some(TimeLimit {
                value,
                unit: unit(s.legal_unit.as_deref())?,
            }),
            None => None,
        },
        promised_limit: Some(TimeLimit {
            value: s.promised,
            unit: unit(s.unit.as_deref())?,
        }),
        case_type: if s.promised == 0 {
            CaseType::Instant
        } else {
            CaseType::Promised
        },
        onsite_visits: s.visits,
        online_depth: OnlineDepth::parse(&s.depth).map_err(bad)?,
        fee: s.fee.as_ref().map(|(amount, basis)| Fee {
            amount: amount.clone(),
            basis: basis.clone(),
        }),
        legal_basis: s.basis.clone(),
        implementing_body: format!("静江省{}", s.dept),
        implementing_body_credit_code: demo_credit_code(province, dept_index),
        department_code: String::new(),
        department_name: format!("静江省{}", s.dept),
        conditions: s.conditions.clone(),
        process: s.process.clone(),
        faqs: s
            .faqs
            .iter()
            .map(|(q, a)| Faq {
                question: q.clone(),
                answer: a.clone(),
            })
            .collect(),
        consult_phone: "0999-96000".into(),
        supervise_phone: "12345".into(),
        address: "静江省政务服务中心（省府路 8 号）".into(),
        hours: "工作日 9:00-12:00，13:30-17:00（法定节假日除外）".into(),
        themes: s.themes.clone(),
    })
}

fn material(m: &DemoMaterial) -> Result<MaterialRecord, ApiError> {
    Ok(MaterialRecord {
        code: m.code.clone(),
        name: m.n.clone(),
        issuer: m.issuer.clone(),
        originals: m.o,
        copies: m.c,
        form: MaterialForm::parse(&m.form).map_err(bad)?,
        source: MaterialSource::parse(&m.src).map_err(bad)?,
        required: m.req,
        acceptance_standard: m.std.clone(),
        blank_form: None,
        sample: None,
    })
}

/// Seeds the demo catalogue. `departments` is the demo's department list (index = credit code
/// number); `city_windows` maps a department name to the 久安市 hall windows that serve it.
pub async fn seed(
    state: &crate::state::AppState,
    departments: &[&str],
    city_windows: HashMap<String, Vec<String>>,
) -> Result<usize, ApiError> {
    let file: DemoFile = toml::from_str(DATA).map_err(bad)?;
    let mut contents = Vec::new();
    for s in &file.service {
        let idx = departments
            .iter()
            .position(|d| *d == s.dept)
            .ok_or_else(|| bad(&s.dept))?;
        let content = VersionContent {
            record: record(s, idx)?,
            materials: s.materials.iter().map(material).collect::<Result<_, _>>()?,
            form: forms::preset(&s.form).ok_or_else(|| bad(&s.form))?,
        };
        // The demo must pass its own quality rules.
        super::check_content(&content).map_err(|e| bad(format!("{}: {:?}", s.code, e.fields)))?;
        contents.push((content, s.dept.clone(), idx));
    }
    let bundles = file.bundle;
    let read = state.store.read().clone();
    let ids = |code: &str| regions_id(&read, code.to_owned());
    let (province, city, luoping, qinghe) = (
        ids("990000").await?,
        ids("990100").await?,
        ids("990121").await?,
        ids("990122").await?,
    );
    let at = state.clock.now();
    let from = jiff::civil::date(2026, 1, 1);
    let n = contents.len();
    state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut by_code = HashMap::new();
                for (i, (content, dept, idx)) in contents.iter().enumerate() {
                    let (svc, _) =
                        store::create_service(tx, province, content, VersionStatus::Published, from, at).await?;
                    by_code.insert(svc.base_code.clone(), svc.id);
                    // 久安市 offers everything, through its own departments, in its own hall.
                    let city_over = ImplementationOverrides {
                        implementing_body: Inheritable::Overridden(format!("久安市{dept}")),
                        implementing_body_credit_code: Inheritable::Overridden(demo_credit_code("990100", *idx)),
                        department_name: Inheritable::Overridden(format!("久安市{dept}")),
                        address: Inheritable::Overridden("久安市政务服务中心（人民路 1 号）".into()),
                        consult_phone: Inheritable::Overridden(format!("0999-8866{:04}", 100 + idx)),
                        windows: Inheritable::Overridden(city_windows.get(dept.as_str()).cloned().unwrap_or_default()),
                        ..Default::default()
                    };
                    store::set_implementation(tx, city, svc.id, Some(true), &city_over, at).await?;
                    // 罗平县 runs its market-supervision and household services in its own hall.
                    if dept == "市场监督管理局" || dept == "公安局户政管理" {
                        let county = ImplementationOverrides {
                            implementing_body: Inheritable::Overridden(format!("罗平县{dept}")),
                            implementing_body_credit_code: Inheritable::Overridden(demo_credit_code("990121", *idx)),
                            department_name: Inheritable::Overridden(format!("罗平县{dept}")),
                            address: Inheritable::Overridden("罗平县政务服务中心（人民路 1 号）一楼".into()),
                            hours: Inheritable::Overridden(
                                "周一至周六 8:30-12:00，14:00-17:30（法定节假日除外）".into(),
                            ),
                            ..Default::default()
                        };
                        store::set_implementation(tx, luoping, svc.id, None, &county, at).await?;
                    }
                    // 清河县 has no port or special-equipment business: it does not offer that one.
                    if i == 6 {
                        store::set_implementation(tx, qinghe, svc.id, Some(false), &Default::default(), at).await?;
                    }
                }
                for b in &bundles {
                    let service_ids = b
                        .services
                        .iter()
                        .map(|c| by_code.get(c).copied().ok_or(StoreError::NotFound))
                        .collect::<Result<Vec<_>, _>>()?;
                    store::create_bundle(
                        tx,
                        &NewBundle {
                            owner_region_id: province,
                            code: b.code.clone(),
                            name: b.name.clone(),
                            description: b.description.clone(),
                            themes: b.themes.clone(),
                            service_ids,
                        },
                        at,
                    )
                    .await?;
                }
                tx.audit(onestop_store::audit::AuditEntry {
                    region_id: province,
                    at,
                    actor: "demo-seed".into(),
                    action: "catalogue.seed",
                    entity: "catalogue",
                    entity_id: "demo".into(),
                    detail: serde_json::json!({"services": by_code.len(), "bundles": bundles.len()}),
                })
                .await?;
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(n)
}

async fn regions_id(read: &sqlx::AnyPool, code: String) -> Result<i64, ApiError> {
    Ok(onestop_store::regions::get_by_code(read, &code).await?.id)
}
