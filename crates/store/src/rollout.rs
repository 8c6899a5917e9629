//! Rollout (推广): adopting a source region's model in target regions. The plan says, per target,
//! what would be switched on and created and where a local override or a conflicting code differs;
//! applying a target is one transaction that recomputes the plan inside it and writes only what
//! is missing, so a second run changes nothing and an interrupted run resumes where it stopped.
//! Nothing configurable is copied: services are switched on, their values inherit live.
use crate::catalogue::{self, Effective, OriginRegion};
use crate::regions::{self, Region};
use crate::workflows::{self, Subject};
use crate::{StoreError, Tx, calendars, devices, ms, org, queue, region_settings, users};
use jiff::civil::Date;
use onestop_domain::catalogue::{ImplementationOverrides, Severity, VersionStatus, validate_service};
use onestop_domain::names::{Name, Username};
use onestop_domain::queue::CategoryPrefix;
use onestop_domain::role::Role;
use onestop_domain::rollout::{
    CategoryTemplate, DeviceTemplate, Problem, RolloutTemplate, SlotTemplate, StaffAccount, StaffTemplate,
    WindowTemplate,
};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

/// The password hash of an account rollout creates: no password verifies against it, so the
/// account cannot log in until an admin sets a password (no secret is ever printed or stored).
pub const NO_PASSWORD: &str = "!rollout";

/// A service of the model, as the source offers it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelService {
    pub service_id: i64,
    pub base_code: String,
    pub name: String,
    /// The source's effective overridable values (field → value), to compare local overrides with.
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// What a run knows of its source, computed once.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    pub source: OriginRegion,
    pub source_path: String,
    pub template: RolloutTemplate,
    /// Whether the template is stored (else read off the source's hall).
    pub template_stored: bool,
    pub services: Vec<ModelService>,
    /// Draft or invalid items of the model: each refuses every target.
    pub problems: Vec<Problem>,
    #[serde(skip)]
    pub settings: HashMap<String, serde_json::Value>,
    #[serde(skip)]
    pub date: Option<Date>,
    /// The published catalogue, read once per run and shared by every target's plan.
    #[serde(skip)]
    pub versions: std::sync::Arc<catalogue::PublishedVersions>,
}

/// One place where a target's own value differs from the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideDiff {
    /// `service_off`, `implementation`, `workflow` or `setting`.
    pub kind: String,
    /// Base code of the service, or the setting's key.
    pub subject: String,
    pub field: String,
    pub local: serde_json::Value,
    pub model: serde_json::Value,
}

/// What a target would get (plan) or got (apply).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Creates {
    pub hall: Option<String>,
    pub departments: Vec<String>,
    pub windows: Vec<String>,
    pub categories: Vec<String>,
    pub mappings: usize,
    pub slots: usize,
    pub devices: Vec<String>,
    pub staff: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub region: OriginRegion,
    /// Refusals: when not empty, nothing is applied to this target.
    pub problems: Vec<Problem>,
    /// Services of the model.
    pub model_services: usize,
    /// Already offered through inheritance (nothing to write).
    pub services_inherited: usize,
    /// Base codes switched on here.
    pub services_switch_on: Vec<String>,
    pub create: Creates,
    /// Local overrides that differ from the model (kept unless reset is asked).
    pub overrides: Vec<OverrideDiff>,
    /// Own values removed because reset was asked.
    pub resets: usize,
    /// Writes the target needs: 0 means applying changes nothing.
    pub changes: usize,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn origin(r: &Region) -> OriginRegion {
    OriginRegion {
        id: r.id,
        code: r.code.clone(),
        name: r.name.clone(),
    }
}

// ---- templates ---------------------------------------------------------------------------------

/// The template stored for a source region, if any.
pub async fn stored_template(conn: &mut AnyConnection, region_id: i64) -> Result<Option<RolloutTemplate>, StoreError> {
    let text: Option<String> = sqlx::query_scalar("SELECT content FROM rollout_templates WHERE region_id = $1")
        .bind(region_id)
        .fetch_optional(conn)
        .await?;
    text.map(|t| serde_json::from_str(&t).map_err(corrupt)).transpose()
}

pub async fn set_template(
    tx: &mut Tx,
    region_id: i64,
    template: &RolloutTemplate,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(template).map_err(corrupt)?;
    sqlx::query(
        "INSERT INTO rollout_templates (region_id, content, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (region_id) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at,
         updated_by = excluded.updated_by",
    )
    .bind(region_id)
    .bind(text)
    .bind(ms(at))
    .bind(actor)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn delete_template(tx: &mut Tx, region_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM rollout_templates WHERE region_id = $1")
        .bind(region_id)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

async fn first_open_hall(conn: &mut AnyConnection, region_id: i64) -> Result<Option<(i64, String)>, StoreError> {
    let row = sqlx::query("SELECT id, name FROM halls WHERE region_id = $1 AND closed_at IS NULL ORDER BY id LIMIT 1")
        .bind(region_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("name")?))).transpose()
}

async fn department_names_by_id(
    conn: &mut AnyConnection,
    region_id: i64,
) -> Result<HashMap<i64, (String, bool)>, StoreError> {
    let rows = sqlx::query("SELECT id, name, closed_at FROM departments WHERE region_id = $1")
        .bind(region_id)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let closed: Option<i64> = r.try_get("closed_at")?;
            Ok((r.try_get("id")?, (r.try_get("name")?, closed.is_none())))
        })
        .collect()
}

/// The template read off the source's own hall: its open windows, categories and their windows,
/// its bookable categories and hours, its devices, and one account for each hall role.
pub async fn derived_template(conn: &mut AnyConnection, region_id: i64) -> Result<RolloutTemplate, StoreError> {
    let mut t = RolloutTemplate {
        hall_name: "{name}政务服务中心".into(),
        ..RolloutTemplate::default()
    };
    t.staff = [
        (Role::HallManager, "manager", "大厅管理员"),
        (Role::WindowClerk, "clerk", "窗口人员"),
        (Role::Reviewer, "reviewer", "审批人员"),
    ]
    .into_iter()
    .map(|(role, key, label)| StaffTemplate {
        username: format!("{{code}}.{key}"),
        display_name: format!("{{name}}{label}"),
        role: role.as_str().into(),
        department: None,
    })
    .collect();
    let Some((hall_id, _)) = first_open_hall(conn, region_id).await? else {
        return Ok(t);
    };
    let depts = department_names_by_id(conn, region_id).await?;
    let windows = org::windows_of_hall(&mut *conn, hall_id).await?;
    let open: Vec<&org::Window> = windows.iter().filter(|w| w.closed_at.is_none()).collect();
    let number_of: HashMap<i64, String> = open.iter().map(|w| (w.id, w.number.clone())).collect();
    t.windows = open
        .iter()
        .map(|w| WindowTemplate {
            number: w.number.clone(),
            name: w.name.clone(),
            kind: w.kind.clone(),
            department: w.department_id.and_then(|d| depts.get(&d)).map(|(n, _)| n.clone()),
        })
        .collect();
    let maps = queue::mappings(&mut *conn, hall_id).await?;
    t.categories = queue::categories(&mut *conn, hall_id)
        .await?
        .into_iter()
        .filter(|c| c.closed_at.is_none())
        .map(|c| CategoryTemplate {
            windows: maps
                .iter()
                .filter(|m| m.category_id == c.id)
                .filter_map(|m| number_of.get(&m.window_id).map(|n| (n.clone(), m.rank)))
                .collect(),
            prefix: c.prefix,
            name: c.name,
        })
        .collect();
    // Bookable categories and hours: those of the hall's latest day with slots.
    let rows = sqlx::query(
        "SELECT s.starts_at, s.capacity, c.prefix FROM appointment_slots s JOIN queue_categories c ON c.id = s.category_id
         WHERE s.hall_id = $1 AND s.day = (SELECT MAX(day) FROM appointment_slots WHERE hall_id = $1)",
    )
    .bind(hall_id)
    .fetch_all(&mut *conn)
    .await?;
    if !rows.is_empty() {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
        let mut cats = Vec::new();
        let mut hours = Vec::new();
        let mut capacity = 0;
        for r in &rows {
            let starts: i64 = r.try_get("starts_at")?;
            let prefix: String = r.try_get("prefix")?;
            let hour = crate::ts(starts).to_zoned(tz.clone()).hour();
            if !cats.contains(&prefix) {
                cats.push(prefix);
            }
            if !hours.contains(&hour) {
                hours.push(hour);
            }
            capacity = capacity.max(r.try_get::<i64, _>("capacity")?);
        }
        hours.sort_unstable();
        t.slots = Some(SlotTemplate {
            categories: cats,
            hours,
            capacity,
            days: 7,
        });
    }
    let rows =
        sqlx::query("SELECT kind, name, window_id FROM devices WHERE hall_id = $1 AND revoked_at IS NULL ORDER BY id")
            .bind(hall_id)
            .fetch_all(&mut *conn)
            .await?;
    t.devices = rows
        .iter()
        .map(|r| {
            let window: Option<i64> = r.try_get("window_id")?;
            Ok(DeviceTemplate {
                kind: r.try_get("kind")?,
                name: r.try_get("name")?,
                window: window.and_then(|w| number_of.get(&w).cloned()),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(t)
}

// ---- the model ---------------------------------------------------------------------------------

/// Reads the source's model on `date`: the services it offers with their values, its template, and
/// every draft or invalid item (each of which refuses the whole rollout).
pub async fn model(conn: &mut AnyConnection, source_id: i64, date: Date) -> Result<Model, StoreError> {
    let source = regions::get(&mut *conn, source_id).await?;
    let mut problems = Vec::new();
    if !source.is_open() {
        problems.push(Problem::new(
            "source_closed",
            format!("来源区划“{}”已撤销", source.name),
        ));
    }
    let (template, template_stored) = match stored_template(conn, source_id).await? {
        Some(t) => (t, true),
        None => (derived_template(conn, source_id).await?, false),
    };
    for p in template.problems() {
        problems.push(Problem::new(
            "model_template_invalid",
            format!("推广模板：{}", p.message),
        ));
    }
    let versions = std::sync::Arc::new(catalogue::published_versions(conn).await?);
    let effective: Vec<Effective> = catalogue::effective_all_with(conn, source_id, date, &versions)
        .await?
        .into_iter()
        .filter(|e| e.enabled)
        .collect();
    let drafts: HashSet<i64> =
        sqlx::query_scalar::<_, i64>("SELECT service_id FROM service_versions WHERE status = $1")
            .bind(VersionStatus::Draft.code())
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let mut services = Vec::with_capacity(effective.len());
    for e in &effective {
        let label = format!("{}（{}）", e.record.name, e.record.base_code);
        if drafts.contains(&e.service_id) {
            problems.push(Problem::new(
                "model_item_draft",
                format!("事项 {label} 有尚未发布的草稿：请先发布或放弃草稿"),
            ));
        }
        let errors: Vec<String> = validate_service(&e.record)
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| i.message)
            .collect();
        if !errors.is_empty() {
            problems.push(Problem::new(
                "model_item_invalid",
                format!("事项 {label} 不符合数据规范：{}", errors.join("；")),
            ));
        }
        match workflows::effective_on(conn, source_id, e.service_id, date).await {
            Ok(w) => {
                if let Err(issues) = onestop_domain::workflow::validate(&w.definition) {
                    let text: Vec<String> = issues.into_iter().map(|i| i.message).collect();
                    problems.push(Problem::new(
                        "model_workflow_invalid",
                        format!("事项 {label} 的审批流程无效：{}", text.join("；")),
                    ));
                }
            }
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other),
        }
        let values = match serde_json::to_value(&e.origins).map_err(corrupt)? {
            serde_json::Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| (k, v.get("value").cloned().unwrap_or(serde_json::Value::Null)))
                .collect(),
            _ => serde_json::Map::new(),
        };
        services.push(ModelService {
            service_id: e.service_id,
            base_code: e.record.base_code.clone(),
            name: e.record.name.clone(),
            values,
        });
    }
    let mut settings = HashMap::new();
    let keys: Vec<String> = sqlx::query_scalar("SELECT DISTINCT key FROM region_settings")
        .fetch_all(&mut *conn)
        .await?;
    for key in keys {
        if let (Some(v), _, _) = region_settings::effective_json(conn, source_id, &key, |_| true).await? {
            settings.insert(key, v);
        }
    }
    Ok(Model {
        source: origin(&source),
        source_path: source.path.clone(),
        template,
        template_stored,
        services,
        problems,
        settings,
        date: Some(date),
        versions,
    })
}

// ---- planning ----------------------------------------------------------------------------------

/// What a target holds today, read in one place so that planning and applying agree.
struct TargetState {
    region: Region,
    hall: Option<(i64, String)>,
    departments: HashMap<String, (i64, bool)>,
    windows: HashMap<String, org::Window>,
    categories: HashMap<String, queue::Category>,
    mappings: HashSet<(i64, i64)>,
    slots: HashSet<(i64, i64)>,
    devices: HashMap<String, devices::Device>,
    effective: HashMap<i64, Effective>,
    own_rows: HashMap<i64, catalogue::ImplementationRow>,
    own_workflows: Vec<(String, i64)>,
    own_settings: Vec<(String, serde_json::Value)>,
    // report: the target's own calendar years (a region variant overrides the inherited year)
    own_years: Vec<calendars::YearInfo>,
}

async fn target_state(
    conn: &mut AnyConnection,
    target_id: i64,
    date: Date,
    versions: &catalogue::PublishedVersions,
) -> Result<TargetState, StoreError> {
    let region = regions::get(&mut *conn, target_id).await?;
    let hall = first_open_hall(conn, target_id).await?;
    let departments = department_names_by_id(conn, target_id)
        .await?
        .into_iter()
        .map(|(id, (name, open))| (name, (id, open)))
        .collect();
    let mut windows = HashMap::new();
    let mut categories = HashMap::new();
    let mut mappings = HashSet::new();
    let mut slots = HashSet::new();
    let mut devs = HashMap::new();
    if let Some((hall_id, _)) = &hall {
        for w in org::windows_of_hall(&mut *conn, *hall_id).await? {
            windows.insert(w.number.clone(), w);
        }
        for c in queue::categories(&mut *conn, *hall_id).await? {
            categories.insert(c.prefix.clone(), c);
        }
        let rows = sqlx::query(
            "SELECT wc.window_id, wc.category_id FROM window_categories wc JOIN windows w ON w.id = wc.window_id WHERE w.hall_id = $1",
        )
        .bind(hall_id)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            mappings.insert((r.try_get("window_id")?, r.try_get("category_id")?));
        }
        let rows = sqlx::query("SELECT category_id, starts_at FROM appointment_slots WHERE hall_id = $1 AND day >= $2")
            .bind(hall_id)
            .bind(date.to_string())
            .fetch_all(&mut *conn)
            .await?;
        for r in rows {
            slots.insert((r.try_get("category_id")?, r.try_get("starts_at")?));
        }
        let rows = sqlx::query("SELECT id FROM devices WHERE hall_id = $1 AND revoked_at IS NULL")
            .bind(hall_id)
            .fetch_all(&mut *conn)
            .await?;
        for r in rows {
            let d = devices::get(&mut *conn, r.try_get("id")?).await?;
            devs.insert(d.name.clone(), d);
        }
    }
    let effective = catalogue::effective_all_with(conn, target_id, date, versions)
        .await?
        .into_iter()
        .map(|e| (e.service_id, e))
        .collect();
    let own_rows = catalogue::own_rows(conn, target_id)
        .await?
        .into_iter()
        .map(|r| (r.service_id, r))
        .collect();
    let rows = sqlx::query(
        "SELECT subject, subject_id FROM workflow_in_force WHERE region_id = $1 ORDER BY subject, subject_id",
    )
    .bind(target_id)
    .fetch_all(&mut *conn)
    .await?;
    let own_workflows = rows
        .iter()
        .map(|r| Ok((r.try_get("subject")?, r.try_get("subject_id")?)))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let own_settings = region_settings::own(conn, target_id)
        .await?
        .into_iter()
        .map(|s| (s.key, s.value))
        .collect();
    let own_years = calendars::own_years(conn, Some(target_id)).await?;
    Ok(TargetState {
        own_years,
        region,
        hall,
        departments,
        windows,
        categories,
        mappings,
        slots,
        devices: devs,
        effective,
        own_rows,
        own_workflows,
        own_settings,
    })
}

/// The day and start/end (ms) of every slot the template asks for from `date`.
fn slot_times(s: &SlotTemplate, date: Date) -> Vec<(String, i64, i64)> {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    let mut out = Vec::new();
    for d in 0..s.days {
        let Ok(day) = date.checked_add(jiff::Span::new().days(d)) else {
            continue;
        };
        if day.weekday().to_monday_one_offset() > 5 {
            continue;
        }
        for h in &s.hours {
            let Ok(start) = day.at(*h, 0, 0, 0).to_zoned(tz.clone()) else {
                continue;
            };
            let start = start.timestamp();
            out.push((
                day.to_string(),
                start.as_millisecond(),
                (start + jiff::SignedDuration::from_hours(1)).as_millisecond(),
            ));
        }
    }
    out
}

/// Whether `target` is the source or above it (a model is never rolled out upwards).
fn at_or_above(target_path: &str, source_path: &str) -> bool {
    source_path.starts_with(target_path)
}

struct Planned {
    plan: TargetPlan,
    state: TargetState,
    /// Services to write: (service id, enabled, overrides).
    implementation_writes: Vec<(i64, Option<bool>, ImplementationOverrides)>,
    workflow_resets: Vec<Subject>,
    setting_resets: Vec<String>,
    /// Own calendar years removed by a reset, so the model's year is inherited again.
    calendar_resets: Vec<i16>,
    staff: Vec<StaffAccount>,
}

async fn plan_inner(
    conn: &mut AnyConnection,
    model: &Model,
    target_id: i64,
    extra_staff: &[StaffAccount],
    reset: bool,
    date: Date,
) -> Result<Planned, StoreError> {
    let st = target_state(conn, target_id, date, &model.versions).await?;
    let t = &model.template;
    let mut problems = model.problems.clone();
    if !st.region.is_open() {
        problems.push(Problem::new(
            "target_closed",
            format!("目标区划“{}”已撤销", st.region.name),
        ));
    }
    if at_or_above(&st.region.path, &model.source_path) {
        problems.push(Problem::new(
            "target_not_below",
            format!("“{}”是来源区划本身或其上级，不能向上推广", st.region.name),
        ));
    }
    let mut create = Creates::default();
    let name = &st.region.name;
    if st.hall.is_none() {
        create.hall = Some(t.hall_name.replace("{name}", name));
    }
    // Departments the windows and accounts name.
    let staff: Vec<StaffAccount> = t
        .staff_for(&st.region.code, name)
        .into_iter()
        .chain(extra_staff.iter().cloned())
        .collect();
    let wanted_depts = t
        .windows
        .iter()
        .filter_map(|w| w.department.clone())
        .chain(staff.iter().filter_map(|s| s.department.clone()));
    for d in wanted_depts {
        match st.departments.get(&d) {
            Some((_, true)) => {}
            Some((_, false)) => problems.push(Problem::new(
                "code_conflict",
                format!("部门“{d}”在目标区划已撤销，无法按模板使用"),
            )),
            None if !create.departments.contains(&d) => create.departments.push(d),
            None => {}
        }
    }
    let dept_name_of: HashMap<i64, String> = st.departments.iter().map(|(n, (id, _))| (*id, n.clone())).collect();
    for w in &t.windows {
        let number = w.number.trim().to_ascii_uppercase();
        match st.windows.get(&number) {
            None => create.windows.push(number),
            Some(have) => {
                let have_dept = have.department_id.and_then(|d| dept_name_of.get(&d).cloned());
                if have.closed_at.is_some() {
                    problems.push(Problem::new(
                        "code_conflict",
                        format!("{number} 号窗口在目标大厅已关闭，与模板冲突"),
                    ));
                } else if have.name != w.name || have.kind != w.kind || have_dept != w.department {
                    problems.push(Problem::new(
                        "code_conflict",
                        format!(
                            "{number} 号窗口已存在且不同：本地为“{}”（{}{}），模板为“{}”（{}{}）",
                            have.name,
                            have.kind,
                            have_dept.map(|d| format!("，{d}")).unwrap_or_default(),
                            w.name,
                            w.kind,
                            w.department.as_ref().map(|d| format!("，{d}")).unwrap_or_default()
                        ),
                    ));
                }
            }
        }
    }
    for c in &t.categories {
        match st.categories.get(&c.prefix) {
            None => create.categories.push(c.prefix.clone()),
            Some(have) if have.closed_at.is_some() => problems.push(Problem::new(
                "code_conflict",
                format!("队列前缀 {} 在目标大厅已停用，与模板冲突", c.prefix),
            )),
            Some(have) if have.name != c.name => problems.push(Problem::new(
                "code_conflict",
                format!("队列前缀 {} 已用于“{}”，模板为“{}”", c.prefix, have.name, c.name),
            )),
            Some(_) => {}
        }
        for (number, _) in &c.windows {
            let existing = match (
                st.windows.get(&number.to_ascii_uppercase()),
                st.categories.get(&c.prefix),
            ) {
                (Some(w), Some(cat)) => st.mappings.contains(&(w.id, cat.id)),
                _ => false,
            };
            if !existing {
                create.mappings += 1;
            }
        }
    }
    if let Some(s) = &t.slots {
        let times = slot_times(s, date);
        for prefix in &s.categories {
            let cat = st.categories.get(prefix).map(|c| c.id);
            create.slots += times
                .iter()
                .filter(|(_, start, _)| cat.is_none_or(|id| !st.slots.contains(&(id, *start))))
                .count();
        }
    }
    for d in &t.devices {
        match st.devices.get(&d.name) {
            None => create.devices.push(d.name.clone()),
            Some(have) if have.kind != d.kind => problems.push(Problem::new(
                "code_conflict",
                format!(
                    "设备“{}”已存在且类型不同（本地 {}，模板 {}）",
                    d.name, have.kind, d.kind
                ),
            )),
            Some(_) => {}
        }
    }
    // Accounts: an existing login name is fine only if it is this target's account of that role.
    let mut seen = HashSet::new();
    for s in &staff {
        if !seen.insert(s.username.clone()) {
            problems.push(Problem::new(
                "code_conflict",
                format!("用户名 {} 在名单中重复", s.username),
            ));
            continue;
        }
        if Username::parse(&s.username).is_err() {
            problems.push(Problem::new(
                "staff_username_invalid",
                format!("用户名“{}”无效", s.username),
            ));
            continue;
        }
        let grants: Vec<(String, i64)> = sqlx::query(
            "SELECT g.role, g.region_id FROM users u JOIN role_grants g ON g.user_id = u.id WHERE u.username = $1",
        )
        .bind(&s.username)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("role")?, r.try_get("region_id")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        let exists: bool = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE username = $1")
            .bind(&s.username)
            .fetch_one(&mut *conn)
            .await?
            > 0;
        if !exists {
            create.staff.push(s.username.clone());
        } else if !grants
            .iter()
            .any(|(role, region)| *role == s.role && *region == st.region.id)
        {
            problems.push(Problem::new(
                "code_conflict",
                format!("用户名 {} 已被其他账号使用", s.username),
            ));
        }
    }
    // Services: switched on where the target does not already offer them.
    let mut services_inherited = 0;
    let mut services_switch_on = Vec::new();
    let mut overrides = Vec::new();
    let mut implementation_writes = Vec::new();
    let mut resets = 0;
    let model_ids: HashSet<i64> = model.services.iter().map(|s| s.service_id).collect();
    // With a reset, a switched-off service inherits again when the target's parent offers it.
    let parent_on: HashSet<i64> = match (reset, st.region.parent_id) {
        (true, Some(parent)) if st.own_rows.values().any(|r| r.enabled == Some(false)) => {
            catalogue::effective_all_with(conn, parent, date, &model.versions)
                .await?
                .into_iter()
                .filter(|e| e.enabled)
                .map(|e| e.service_id)
                .collect()
        }
        _ => HashSet::new(),
    };
    for s in &model.services {
        let on = st.effective.get(&s.service_id).is_some_and(|e| e.enabled);
        let own = st.own_rows.get(&s.service_id);
        let own_overrides = own.map(|r| r.overrides.clone()).unwrap_or_default();
        let switched_off = own.is_some_and(|r| r.enabled == Some(false));
        if switched_off {
            overrides.push(OverrideDiff {
                kind: "service_off".into(),
                subject: s.base_code.clone(),
                field: "enabled".into(),
                local: false.into(),
                model: true.into(),
            });
        }
        // Field overrides that differ from the model's values.
        if let Some(row) = own
            && !row.overrides.is_empty()
        {
            let json = serde_json::to_value(&row.overrides).map_err(corrupt)?;
            for field in ImplementationOverrides::FIELDS {
                let Some(v) = json.get(*field) else { continue };
                if v.get("mode").and_then(|m| m.as_str()) != Some("overridden") {
                    continue;
                }
                let local = v.get("value").cloned().unwrap_or(serde_json::Value::Null);
                let model_value = s.values.get(*field).cloned().unwrap_or(serde_json::Value::Null);
                if local != model_value {
                    overrides.push(OverrideDiff {
                        kind: "implementation".into(),
                        subject: s.base_code.clone(),
                        field: (*field).into(),
                        local,
                        model: model_value,
                    });
                }
            }
        }
        if reset && own.is_some_and(|r| r.enabled == Some(false) || !r.overrides.is_empty()) {
            // Keep an explicit "on" the target set itself; drop everything else it says.
            let enabled = match own.and_then(|r| r.enabled) {
                Some(true) => Some(true),
                _ if parent_on.contains(&s.service_id) => None,
                _ => Some(true),
            };
            resets += usize::from(switched_off) + usize::from(!own_overrides.is_empty());
            implementation_writes.push((s.service_id, enabled, ImplementationOverrides::default()));
            if !on {
                services_switch_on.push(s.base_code.clone());
            }
        } else if on {
            services_inherited += 1;
        } else if !switched_off {
            services_switch_on.push(s.base_code.clone());
            implementation_writes.push((s.service_id, Some(true), own_overrides));
        }
    }
    let base_code_of: HashMap<i64, &str> = model
        .services
        .iter()
        .map(|s| (s.service_id, s.base_code.as_str()))
        .collect();
    let mut workflow_resets = Vec::new();
    for (kind, id) in &st.own_workflows {
        let subject = match kind.as_str() {
            "service" if model_ids.contains(id) => Subject::Service(*id),
            "bundle" => Subject::Bundle(*id),
            _ => continue,
        };
        overrides.push(OverrideDiff {
            kind: "workflow".into(),
            subject: base_code_of
                .get(id)
                .map_or_else(|| format!("{kind}:{id}"), |c| (*c).to_owned()),
            field: "workflow".into(),
            local: "本级设置".into(),
            model: "继承".into(),
        });
        if reset {
            workflow_resets.push(subject);
        }
    }
    let mut setting_resets = Vec::new();
    for (key, value) in &st.own_settings {
        let model_value = model.settings.get(key).cloned().unwrap_or(serde_json::Value::Null);
        if *value != model_value {
            overrides.push(OverrideDiff {
                kind: "setting".into(),
                subject: key.clone(),
                field: key.clone(),
                local: value.clone(),
                model: model_value,
            });
        }
        if reset {
            setting_resets.push(key.clone());
        }
    }
    // Calendars inherit live like the rest: a target's own variant of a year is an override.
    let mut calendar_resets = Vec::new();
    for y in &st.own_years {
        overrides.push(OverrideDiff {
            kind: "calendar".into(),
            subject: y.year.to_string(),
            field: "calendar_year".into(),
            local: format!("本级版本：{}", y.source).into(),
            model: "继承".into(),
        });
        if reset {
            calendar_resets.push(y.year);
        }
    }
    resets += workflow_resets.len() + setting_resets.len() + calendar_resets.len();
    let changes = usize::from(create.hall.is_some())
        + create.departments.len()
        + create.windows.len()
        + create.categories.len()
        + create.mappings
        + create.slots
        + create.devices.len()
        + create.staff.len()
        + implementation_writes.len()
        + workflow_resets.len()
        + setting_resets.len()
        + calendar_resets.len();
    let plan = TargetPlan {
        region: origin(&st.region),
        problems,
        model_services: model.services.len(),
        services_inherited,
        services_switch_on,
        create,
        overrides,
        resets,
        changes,
    };
    Ok(Planned {
        plan,
        state: st,
        implementation_writes,
        workflow_resets,
        setting_resets,
        calendar_resets,
        staff,
    })
}

/// The plan for one target (a dry run writes nothing).
pub async fn plan(
    conn: &mut AnyConnection,
    model: &Model,
    target_id: i64,
    staff: &[StaffAccount],
    reset: bool,
) -> Result<TargetPlan, StoreError> {
    let date = model.date.ok_or_else(|| corrupt("model without a date"))?;
    Ok(plan_inner(conn, model, target_id, staff, reset, date).await?.plan)
}

/// Applies one target inside `tx`: recomputes the plan there, and writes only if it has no
/// problem. Returns the plan (what was done, or why nothing was).
pub async fn apply(
    tx: &mut Tx,
    model: &Model,
    target_id: i64,
    staff: &[StaffAccount],
    reset: bool,
    at: jiff::Timestamp,
) -> Result<TargetPlan, StoreError> {
    let date = model.date.ok_or_else(|| corrupt("model without a date"))?;
    let p = plan_inner(tx.conn(), model, target_id, staff, reset, date).await?;
    if !p.plan.problems.is_empty() || p.plan.changes == 0 {
        return Ok(p.plan);
    }
    let t = &model.template;
    let st = &p.state;
    let region_id = st.region.id;
    let invalid = |what: &str| StoreError::Corrupt(format!("template checked but {what} is invalid"));
    let hall_id = match &st.hall {
        Some((id, _)) => *id,
        None => {
            let name =
                Name::parse(&t.hall_name.replace("{name}", &st.region.name)).map_err(|_| invalid("hall name"))?;
            org::create_hall(tx, region_id, &name, "", at).await?.id
        }
    };
    let mut dept_ids: HashMap<String, i64> = st.departments.iter().map(|(n, (id, _))| (n.clone(), *id)).collect();
    for d in &p.plan.create.departments {
        let name = Name::parse(d).map_err(|_| invalid("department"))?;
        let dep = org::create_department(tx, region_id, &name, at).await?;
        dept_ids.insert(d.clone(), dep.id);
    }
    let mut window_ids: HashMap<String, i64> = st.windows.iter().map(|(n, w)| (n.clone(), w.id)).collect();
    for w in &t.windows {
        let number = w.number.trim().to_ascii_uppercase();
        if !p.plan.create.windows.contains(&number) {
            continue;
        }
        let new = org::NewWindow {
            hall_id,
            number: number.clone(),
            name: Name::parse(&w.name).map_err(|_| invalid("window name"))?,
            kind: org::parse_window_kind(&w.kind)?,
            department_id: w.department.as_ref().and_then(|d| dept_ids.get(d).copied()),
        };
        let made = org::create_window(tx, new, at).await?;
        window_ids.insert(number, made.id);
    }
    let mut category_ids: HashMap<String, i64> = st.categories.iter().map(|(p, c)| (p.clone(), c.id)).collect();
    for c in &t.categories {
        if p.plan.create.categories.contains(&c.prefix) {
            let prefix = CategoryPrefix::parse(&c.prefix)?;
            let made = queue::create_category(tx, hall_id, &prefix, &c.name, at).await?;
            category_ids.insert(c.prefix.clone(), made.id);
        }
        let Some(cat) = category_ids.get(&c.prefix).copied() else {
            continue;
        };
        for (number, rank) in &c.windows {
            if let Some(w) = window_ids.get(&number.to_ascii_uppercase()) {
                sqlx::query(
                    "INSERT INTO window_categories (window_id, category_id, rank) VALUES ($1, $2, $3)
                     ON CONFLICT (window_id, category_id) DO NOTHING",
                )
                .bind(w)
                .bind(cat)
                .bind(rank)
                .execute(tx.conn())
                .await?;
            }
        }
    }
    if let Some(s) = &t.slots {
        for prefix in &s.categories {
            let Some(cat) = category_ids.get(prefix).copied() else {
                continue;
            };
            for (day, start, end) in slot_times(s, date) {
                sqlx::query(
                    "INSERT INTO appointment_slots (hall_id, category_id, day, starts_at, ends_at, capacity, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (category_id, starts_at) DO NOTHING",
                )
                .bind(hall_id)
                .bind(cat)
                .bind(day)
                .bind(start)
                .bind(end)
                .bind(s.capacity)
                .bind(ms(at))
                .execute(tx.conn())
                .await?;
            }
        }
    }
    for d in &t.devices {
        if !p.plan.create.devices.contains(&d.name) {
            continue;
        }
        let kind = devices::parse_kind(&d.kind)?;
        let window = d
            .window
            .as_ref()
            .and_then(|w| window_ids.get(&w.to_ascii_uppercase()).copied());
        // Pending pairing: no code is valid yet; the hall manager issues one when the device is
        // in place (an empty hash never matches a code's SHA-256).
        devices::register(tx, hall_id, window, kind, &d.name, "", at, at).await?;
    }
    for s in &p.staff {
        if !p.plan.create.staff.contains(&s.username) {
            continue;
        }
        let role = Role::parse(&s.role)?;
        let new = users::NewUser {
            username: Username::parse(&s.username)?,
            display_name: Name::parse(&s.display_name)?,
            password_hash: NO_PASSWORD.into(),
            hall_id: matches!(role, Role::WindowClerk | Role::Reviewer | Role::HallManager).then_some(hall_id),
            department_id: s.department.as_ref().and_then(|d| dept_ids.get(d).copied()),
            grants: vec![(role, region_id)],
        };
        users::create(tx, new, at).await?;
    }
    for (service_id, enabled, overrides) in &p.implementation_writes {
        catalogue::set_implementation(tx, region_id, *service_id, *enabled, overrides, at).await?;
    }
    for subject in &p.workflow_resets {
        workflows::reset(tx, *subject, region_id).await?;
    }
    for key in &p.setting_resets {
        region_settings::reset(tx, region_id, key).await?;
    }
    for year in &p.calendar_resets {
        calendars::remove_year(tx, Some(region_id), *year).await?;
    }
    Ok(p.plan)
}

// ---- runs and their progress -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunOptions {
    pub reset_overrides: bool,
    /// Accounts from a CSV import, by target region id.
    #[serde(default)]
    pub staff: HashMap<i64, Vec<StaffAccount>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunTarget {
    pub region: OriginRegion,
    pub position: i64,
    /// `pending`, `applied`, `refused` or `failed`.
    pub state: String,
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub source: OriginRegion,
    pub actor: String,
    #[serde(skip)]
    pub options: RunOptions,
    pub reset_overrides: bool,
    /// `running`, `done`.
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub targets: Vec<RunTarget>,
}

impl Run {
    pub fn pending(&self) -> Vec<i64> {
        self.targets
            .iter()
            .filter(|t| t.state == "pending")
            .map(|t| t.region.id)
            .collect()
    }
    pub fn done_count(&self) -> usize {
        self.targets.iter().filter(|t| t.state != "pending").count()
    }
}

pub async fn create_run(
    tx: &mut Tx,
    source_id: i64,
    actor: &str,
    options: &RunOptions,
    targets: &[i64],
    at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO rollout_runs (source_region_id, actor, options, state, created_at, updated_at)
         VALUES ($1, $2, $3, 'running', $4, $4) RETURNING id",
    )
    .bind(source_id)
    .bind(actor)
    .bind(serde_json::to_string(options).map_err(corrupt)?)
    .bind(ms(at))
    .fetch_one(tx.conn())
    .await?;
    for (i, t) in targets.iter().enumerate() {
        sqlx::query(
            "INSERT INTO rollout_targets (run_id, region_id, position, state, summary, updated_at) VALUES ($1, $2, $3, 'pending', '{}', $4)",
        )
        .bind(id)
        .bind(t)
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .bind(ms(at))
        .execute(tx.conn())
        .await?;
    }
    Ok(id)
}

/// Records a target's outcome (in the target's own transaction, so progress and change agree).
pub async fn set_target(
    tx: &mut Tx,
    run_id: i64,
    region_id: i64,
    state: &str,
    summary: &serde_json::Value,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE rollout_targets SET state = $1, summary = $2, updated_at = $3 WHERE run_id = $4 AND region_id = $5",
    )
    .bind(state)
    .bind(summary.to_string())
    .bind(ms(at))
    .bind(run_id)
    .bind(region_id)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE rollout_runs SET updated_at = $1, state = CASE WHEN EXISTS
           (SELECT 1 FROM rollout_targets WHERE run_id = $2 AND state = 'pending') THEN 'running' ELSE 'done' END
         WHERE id = $2",
    )
    .bind(ms(at))
    .bind(run_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn run(conn: &mut AnyConnection, id: i64) -> Result<Run, StoreError> {
    let row = sqlx::query(
        "SELECT r.id, r.actor, r.options, r.state, r.created_at, r.updated_at, s.id AS sid, s.code, s.name
         FROM rollout_runs r JOIN regions s ON s.id = r.source_region_id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let options: RunOptions = serde_json::from_str(&row.try_get::<String, _>("options")?).map_err(corrupt)?;
    let targets = sqlx::query(
        "SELECT t.region_id, t.position, t.state, t.summary, g.code, g.name FROM rollout_targets t
         JOIN regions g ON g.id = t.region_id WHERE t.run_id = $1 ORDER BY t.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(RunTarget {
            region: OriginRegion {
                id: r.try_get("region_id")?,
                code: r.try_get("code")?,
                name: r.try_get("name")?,
            },
            position: r.try_get("position")?,
            state: r.try_get("state")?,
            summary: serde_json::from_str(&r.try_get::<String, _>("summary")?).unwrap_or_default(),
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Run {
        id,
        source: OriginRegion {
            id: row.try_get("sid")?,
            code: row.try_get("code")?,
            name: row.try_get("name")?,
        },
        actor: row.try_get("actor")?,
        reset_overrides: options.reset_overrides,
        options,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        targets,
    })
}

/// The latest runs from a source (newest first), without their targets.
pub async fn runs_of(
    conn: &mut AnyConnection,
    source_id: i64,
    limit: i64,
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(sqlx::query(
        "SELECT id, state, created_at FROM rollout_runs WHERE source_region_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(source_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("state")?, r.try_get("created_at")?)))
    .collect::<Result<Vec<_>, sqlx::Error>>()?)
}
