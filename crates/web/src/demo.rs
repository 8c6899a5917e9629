//! The demo world: 静江省 > 久安市 > its districts and counties (罗平县 among them), with
//! fictional region codes starting with 99, a hall per city and county, departments, windows,
//! and one member of staff for every role in every hall. Seeding runs once per database.
use crate::auth::system_principal;
use crate::error::ApiError;
use crate::state::AppState;
use onestop_domain::role::Role;

/// Every demo account has this password (demo only; printed at start-up).
pub const DEMO_PASSWORD: &str = "onestop-demo";

/// (code, name, login prefix) of each region below the province that gets a hall.
pub const HALL_REGIONS: &[(&str, &str, &str)] = &[
    ("990100", "久安市", "jiuan"),
    ("990102", "安城区", "ancheng"),
    ("990103", "东湖区", "donghu"),
    ("990111", "西山区", "xishan"),
    ("990121", "罗平县", "luoping"),
    ("990122", "清河县", "qinghe"),
    ("990123", "云岭县", "yunling"),
];

pub const DEPARTMENTS: &[&str] = &[
    "市场监督管理局",
    "公安局户政管理",
    "民政局",
    "人力资源和社会保障局",
    "住房和城乡建设局",
    "交通运输局",
    "文化和旅游局",
    "自然资源局",
    "卫生健康委员会",
    "医疗保障局",
];

const GIVEN: &[&str] = &[
    "王芳", "李伟", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强", "周婷", "吴军", "徐娟", "孙涛",
];

fn role_key(role: Role) -> &'static str {
    match role {
        Role::WindowClerk => "clerk",
        Role::Reviewer => "reviewer",
        Role::HallManager => "manager",
        Role::RegionAdmin => "admin",
        Role::Supervisor => "supervisor",
        Role::Auditor => "auditor",
        Role::SystemAdmin => "sysadmin",
    }
}

/// Seeds the world unless this database already has it. Returns whether it seeded.
pub async fn seed(state: &AppState, progress: impl Fn(&str)) -> Result<bool, ApiError> {
    if onestop_store::settings::get(state.store.read(), "demo.seeded")
        .await?
        .is_some()
    {
        return Ok(false);
    }
    // One hash for every demo account: the password is public anyway, and it keeps seeding fast.
    // (Only once we know we seed: an argon2 hash would otherwise delay every restart.)
    let hash = crate::auth::hash_password(DEMO_PASSWORD)?;
    let sys = system_principal("demo-seed");
    let province = crate::ops::create_region(state, &sys, "990000", "静江省", None).await?;
    let city = crate::ops::create_region(state, &sys, "990100", "久安市", Some(province.id)).await?;
    let mut n = 0usize;
    // Windows of the 久安市 hall that serve each department's services (general ones serve all).
    let mut city_windows: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for (code, name, key) in HALL_REGIONS {
        let region = if *code == "990100" {
            city.clone()
        } else {
            crate::ops::create_region(state, &sys, code, name, Some(city.id)).await?
        };
        progress(&format!("{name}：大厅、部门、窗口与人员"));
        let hall_name = if *code == "990100" {
            "久安市政务服务中心".to_owned()
        } else {
            format!("{name}政务服务中心")
        };
        let hall = crate::ops::create_hall(state, &sys, region.id, &hall_name, &format!("{name}人民路 1 号")).await?;
        let mut dept_ids = Vec::new();
        for d in DEPARTMENTS {
            dept_ids.push(crate::ops::create_department(state, &sys, region.id, d).await?.id);
        }
        for i in 1..=10i64 {
            let (kind, dept, label) = if i <= 4 {
                ("general", None, "综合受理窗口".to_owned())
            } else {
                let d = ((i - 5) as usize) % DEPARTMENTS.len();
                ("specialised", Some(dept_ids[d]), format!("{}专业窗口", DEPARTMENTS[d]))
            };
            let number = i.to_string();
            let input = crate::ops::WindowInput {
                hall_id: hall.id,
                number: &number,
                name: &label,
                kind,
                department_id: dept,
            };
            let w = crate::ops::create_window(state, &sys, input).await?;
            if *code == "990100" {
                for (d, dname) in DEPARTMENTS.iter().enumerate() {
                    if dept.is_none() || dept == Some(dept_ids[d]) {
                        city_windows
                            .entry((*dname).to_owned())
                            .or_default()
                            .push(w.id.to_string());
                    }
                }
            }
        }
        crate::queue::sim::seed_hall(state, &sys, hall.id).await?;
        for role in Role::ALL {
            let display = format!("{}（{}）", GIVEN[n % GIVEN.len()], role.label());
            n += 1;
            let dept = matches!(role, Role::Reviewer).then(|| dept_ids[0]);
            let hall_id = matches!(role, Role::WindowClerk | Role::Reviewer | Role::HallManager).then_some(hall.id);
            crate::ops::create_user(
                state,
                &sys,
                crate::ops::NewUserInput {
                    username: format!("{key}.{}", role_key(role)),
                    display_name: display,
                    password: DEMO_PASSWORD.into(),
                    password_hash: Some(hash.clone()),
                    hall_id,
                    department_id: dept,
                    grants: vec![(role.as_str().into(), region.id)],
                },
            )
            .await?;
        }
    }
    progress("静江省：省级人员");
    for role in [Role::RegionAdmin, Role::Supervisor, Role::Auditor, Role::SystemAdmin] {
        let display = format!("{}（省{}）", GIVEN[n % GIVEN.len()], role.label());
        n += 1;
        crate::ops::create_user(
            state,
            &sys,
            crate::ops::NewUserInput {
                username: format!("jingjiang.{}", role_key(role)),
                display_name: display,
                password: DEMO_PASSWORD.into(),
                password_hash: Some(hash.clone()),
                hall_id: None,
                department_id: None,
                grants: vec![(role.as_str().into(), province.id)],
            },
        )
        .await?;
    }
    progress("静江省：政务服务事项目录与一件事");
    crate::catalogue::demo::seed(state, DEPARTMENTS, city_windows).await?;
    progress("静江省：审批流程与闭厅日");
    crate::workflows::demo::seed(state).await?;
    state
        .store
        .write(|tx| Box::pin(async move { onestop_store::settings::set(tx, "demo.seeded", "1").await }))
        .await
        .map_err(ApiError::from)?;
    Ok(true)
}

// ratecase
/// Demo activity on top of the world, run by `onestop demo` right after the first seeding (not by
/// the tests' seed, so that their counties start without cases or queued messages): concluded
/// cases at 云岭县 rated (一事一评), one bad review with its follow-up verified.
pub async fn seed_ratings(state: &AppState) -> Result<(), ApiError> {
    crate::ratings::cases::seed_demo(state).await
}

/// The lines printed at start-up so that people can log in.
pub fn logins(url: &str) -> String {
    let mut s = format!("\nOneStop demo: {url}\n\nLogins (password for all: {DEMO_PASSWORD}):\n");
    s.push_str("  jingjiang.sysadmin    系统管理员 · 静江省\n");
    s.push_str("  jingjiang.admin       区划管理员 · 静江省\n");
    s.push_str("  jingjiang.supervisor  效能监察 · 静江省\n");
    for (_, name, key) in HALL_REGIONS.iter().filter(|r| ["jiuan", "luoping"].contains(&r.2)) {
        for role in Role::ALL {
            s.push_str(&format!(
                "  {:<21} {} · {}\n",
                format!("{key}.{}", role_key(role)),
                role.label(),
                name
            ));
        }
    }
    s.push_str("  (other districts and counties: ancheng, donghu, xishan, qinghe, yunling with the same roles)\n");
    s
}

/// The demo's audit key lives in a file beside the database (outside it), made on first run.
pub fn demo_key_file(database_url: &str) -> std::path::PathBuf {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let path = path.split('?').next().unwrap_or(path);
            std::path::PathBuf::from(format!("{path}.audit-key"))
        }
        None => std::path::PathBuf::from("onestop-demo.audit-key"),
    }
}

/// A file beside the demo database, e.g. `onestop-demo.db.data-key`.
pub fn demo_side_path(database_url: &str, suffix: &str) -> std::path::PathBuf {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let path = path.split('?').next().unwrap_or(path);
            std::path::PathBuf::from(format!("{path}.{suffix}"))
        }
        None => std::path::PathBuf::from(format!("onestop-demo.{suffix}")),
    }
}

/// The demo's data key (32 random bytes, base64) in a file beside the database, made on first
/// run. Like the audit key it is not in the database; deleting it makes sealed data unreadable.
pub fn ensure_demo_data_key(path: &std::path::Path) -> std::io::Result<String> {
    if let Ok(k) = std::fs::read_to_string(path)
        && crate::crypto::parse_key(k.trim()).is_ok()
    {
        return Ok(k.trim().to_owned());
    }
    write_secret(path, &crate::crypto::generate_key_text())
}

fn write_secret(path: &std::path::Path, key: &str) -> std::io::Result<String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, key)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key.to_owned())
}

pub fn ensure_demo_key(path: &std::path::Path) -> std::io::Result<String> {
    if let Ok(k) = std::fs::read_to_string(path)
        && k.trim().len() >= 16
    {
        return Ok(k.trim().to_owned());
    }
    write_secret(path, &crate::auth::random_token())
}

/// The demo clock: the most recent working day at 09:30 (Asia/Shanghai), running forward.
pub fn demo_morning(now: jiff::Timestamp) -> jiff::Timestamp {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
    let cal = onestop_domain::calendar::WorkingCalendar::statutory().ok();
    let mut day = now.to_zoned(tz.clone()).date();
    for _ in 0..14 {
        let working = match &cal {
            Some(c) => c
                .is_working_day(day)
                .unwrap_or_else(|_| day.weekday().to_monday_one_offset() <= 5),
            None => day.weekday().to_monday_one_offset() <= 5,
        };
        if working {
            break;
        }
        day = day.yesterday().unwrap_or(day);
    }
    day.at(9, 30, 0, 0).to_zoned(tz).map(|z| z.timestamp()).unwrap_or(now)
}

// caseui
pub(crate) mod cases;

/// Seeds the demo cases (`onestop demo` only, with the data key configured; the test fixture's
/// world stays without cases so that tests count their own).
pub async fn seed_cases(state: &AppState) -> Result<(), ApiError> {
    cases::seed(state).await
}
