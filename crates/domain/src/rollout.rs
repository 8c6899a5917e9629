//! Rollout templates (推广模板): the concrete things a region's hall needs that cannot be inherited
//! (windows, queue categories, appointment slots, devices, staff accounts), as data, with the rules
//! that make a template usable. Everything configurable is inherited live instead (DESIGN.md).
use crate::names::{Name, Username};
use crate::queue::CategoryPrefix;
use crate::role::Role;
use serde::{Deserialize, Serialize};

/// One problem found in a template, a staff list or a target (stable `code`, 简体 message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    pub message: String,
}

impl Problem {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowTemplate {
    pub number: String,
    pub name: String,
    /// `general` (综合) or `specialised` (专业).
    pub kind: String,
    /// The department's name, created in the target when missing.
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryTemplate {
    pub prefix: String,
    pub name: String,
    /// Window numbers serving the category, with their rank there (1 = main category).
    #[serde(default)]
    pub windows: Vec<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotTemplate {
    /// Prefixes of the bookable categories.
    pub categories: Vec<String>,
    /// Local start hours of one-hour slots.
    pub hours: Vec<i8>,
    pub capacity: i64,
    /// Calendar days from the rollout's date (Monday to Friday only).
    pub days: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceTemplate {
    /// `kiosk`, `board` or `evaluator`.
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub window: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffTemplate {
    /// Login name; `{code}` becomes the target's region code (e.g. `{code}.clerk`).
    pub username: String,
    /// `{name}` becomes the target's name.
    pub display_name: String,
    pub role: String,
    #[serde(default)]
    pub department: Option<String>,
}

/// What each target's hall gets. Stored per source region; without one, it is read off the
/// source's own hall.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutTemplate {
    /// Name of the hall created where a target has none; `{name}` is the target's name.
    #[serde(default = "default_hall_name")]
    pub hall_name: String,
    #[serde(default)]
    pub windows: Vec<WindowTemplate>,
    #[serde(default)]
    pub categories: Vec<CategoryTemplate>,
    #[serde(default)]
    pub slots: Option<SlotTemplate>,
    #[serde(default)]
    pub devices: Vec<DeviceTemplate>,
    #[serde(default)]
    pub staff: Vec<StaffTemplate>,
}

fn default_hall_name() -> String {
    "{name}政务服务中心".into()
}

/// Limits that keep one rollout transaction bounded.
pub const MAX_ITEMS: usize = 500;

pub const DEVICE_KINDS: &[&str] = &["kiosk", "board", "evaluator"];

/// A staff account to create in one target (from the template or a CSV row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffAccount {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub department: Option<String>,
}

impl RolloutTemplate {
    /// Every problem of the template (an empty list: usable).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if Name::parse(&self.hall_name.replace("{name}", "某县")).is_err() {
            out.push(Problem::new("template_hall_name_invalid", "模板的大厅名称无效"));
        }
        let total = self.windows.len() + self.categories.len() + self.devices.len() + self.staff.len();
        if total > MAX_ITEMS {
            out.push(Problem::new(
                "template_too_large",
                format!("模板最多 {MAX_ITEMS} 项，现有 {total} 项"),
            ));
        }
        let mut numbers = Vec::new();
        for w in &self.windows {
            let n = w.number.trim().to_ascii_uppercase();
            if n.is_empty() || n.len() > 8 || !n.chars().all(|c| c.is_ascii_alphanumeric()) {
                out.push(Problem::new(
                    "template_window_number_invalid",
                    format!("窗口号“{}”无效：须为 1 到 8 位字母或数字", w.number),
                ));
            }
            if numbers.contains(&n) {
                out.push(Problem::new("template_window_repeated", format!("窗口号 {n} 重复")));
            }
            numbers.push(n.clone());
            if Name::parse(&w.name).is_err() {
                out.push(Problem::new(
                    "template_window_name_invalid",
                    format!("{n} 号窗口的名称无效"),
                ));
            }
            if !["general", "specialised"].contains(&w.kind.as_str()) {
                out.push(Problem::new(
                    "template_window_kind_invalid",
                    format!("{n} 号窗口的类型须为 general 或 specialised"),
                ));
            }
            if let Some(d) = &w.department
                && Name::parse(d).is_err()
            {
                out.push(Problem::new(
                    "template_department_invalid",
                    format!("{n} 号窗口的部门名称无效"),
                ));
            }
        }
        let mut prefixes = Vec::new();
        for c in &self.categories {
            if CategoryPrefix::parse(&c.prefix).is_err() {
                out.push(Problem::new(
                    "template_category_prefix_invalid",
                    format!("队列前缀“{}”无效：须为 1 到 2 个大写英文字母", c.prefix),
                ));
            }
            if prefixes.contains(&c.prefix) {
                out.push(Problem::new(
                    "template_category_repeated",
                    format!("队列前缀 {} 重复", c.prefix),
                ));
            }
            prefixes.push(c.prefix.clone());
            if Name::parse(&c.name).is_err() {
                out.push(Problem::new(
                    "template_category_name_invalid",
                    format!("队列 {} 的名称无效", c.prefix),
                ));
            }
            for (w, rank) in &c.windows {
                if !numbers.contains(&w.trim().to_ascii_uppercase()) {
                    out.push(Problem::new(
                        "template_window_unknown",
                        format!("队列 {} 指向模板中没有的 {w} 号窗口", c.prefix),
                    ));
                }
                if !(1..=9).contains(rank) {
                    out.push(Problem::new(
                        "template_rank_invalid",
                        format!("队列 {} 的优先级须在 1 到 9 之间", c.prefix),
                    ));
                }
            }
        }
        if let Some(s) = &self.slots {
            for c in &s.categories {
                if !prefixes.contains(c) {
                    out.push(Problem::new(
                        "template_slot_category_unknown",
                        format!("预约时段指向模板中没有的队列 {c}"),
                    ));
                }
            }
            if s.hours.iter().any(|h| !(0..=23).contains(h)) || s.hours.len() > 24 {
                out.push(Problem::new(
                    "template_slot_hour_invalid",
                    "预约时段须在 0 到 23 点之间",
                ));
            }
            if !(0..=200).contains(&s.capacity) {
                out.push(Problem::new(
                    "template_slot_capacity_invalid",
                    "每个时段的名额须在 0 到 200 之间",
                ));
            }
            if !(0..=60).contains(&s.days) {
                out.push(Problem::new(
                    "template_slot_days_invalid",
                    "预约时段的天数须在 0 到 60 之间",
                ));
            }
        }
        for d in &self.devices {
            if !DEVICE_KINDS.contains(&d.kind.as_str()) {
                out.push(Problem::new(
                    "template_device_kind_invalid",
                    format!("设备“{}”的类型无效", d.name),
                ));
            }
            if Name::parse(&d.name).is_err() {
                out.push(Problem::new("template_device_name_invalid", "设备名称无效"));
            }
            if let Some(w) = &d.window
                && !numbers.contains(&w.trim().to_ascii_uppercase())
            {
                out.push(Problem::new(
                    "template_window_unknown",
                    format!("设备“{}”指向模板中没有的 {w} 号窗口", d.name),
                ));
            }
        }
        let mut names = Vec::new();
        for s in &self.staff {
            let u = s.username.replace("{code}", "990000");
            if Username::parse(&u).is_err() {
                out.push(Problem::new(
                    "template_username_invalid",
                    format!("用户名模式“{}”无效", s.username),
                ));
            }
            if names.contains(&u) {
                out.push(Problem::new(
                    "template_username_repeated",
                    format!("用户名模式“{}”重复", s.username),
                ));
            }
            names.push(u);
            out.extend(account_problems(
                &s.display_name.replace("{name}", "某县"),
                &s.role,
                s.department.as_deref(),
            ));
        }
        out
    }

    /// The template's staff accounts for a target.
    pub fn staff_for(&self, code: &str, name: &str) -> Vec<StaffAccount> {
        self.staff
            .iter()
            .map(|s| StaffAccount {
                username: s.username.replace("{code}", code).to_ascii_lowercase(),
                display_name: s.display_name.replace("{name}", name),
                role: s.role.clone(),
                department: s.department.clone(),
            })
            .collect()
    }
}

/// Roles that rollout may create: those who work in a county's hall and office. Granting a region
/// or system admin or an auditor is a decision for a person, not for a template.
pub const STAFF_ROLES: &[Role] = &[Role::WindowClerk, Role::Reviewer, Role::HallManager, Role::Supervisor];

fn account_problems(display_name: &str, role: &str, department: Option<&str>) -> Vec<Problem> {
    let mut out = Vec::new();
    if Name::parse(display_name).is_err() {
        out.push(Problem::new("staff_name_invalid", format!("姓名“{display_name}”无效")));
    }
    match Role::parse(role) {
        Ok(r) if STAFF_ROLES.contains(&r) => {}
        _ => out.push(Problem::new(
            "staff_role_invalid",
            format!("角色“{role}”不能由推广创建（可用：window_clerk、reviewer、hall_manager、supervisor）"),
        )),
    }
    if let Some(d) = department
        && Name::parse(d).is_err()
    {
        out.push(Problem::new("staff_department_invalid", format!("部门名称“{d}”无效")));
    }
    out
}

/// A CSV staff list: `region,username,display_name,role,department` (a header line first; a UTF-8
/// BOM is allowed). Returns each row's region code and account, or every problem with its line.
pub fn parse_staff_csv(text: &str) -> Result<Vec<(String, StaffAccount)>, Vec<Problem>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if i == 0 {
            if cells.first().map(|c| c.to_ascii_lowercase()) != Some("region".into()) {
                problems.push(Problem::new(
                    "staff_csv_header",
                    "第 1 行须为表头 region,username,display_name,role,department",
                ));
            }
            continue;
        }
        if rows.len() + problems.len() >= MAX_ITEMS * 10 {
            problems.push(Problem::new("staff_csv_too_large", "人员名单行数过多"));
            break;
        }
        if !(4..=5).contains(&cells.len()) {
            problems.push(Problem::new(
                "staff_csv_columns",
                format!("第 {line_no} 行须有 4 或 5 列"),
            ));
            continue;
        }
        let mut line_problems = Vec::new();
        if crate::region::RegionCode::parse(cells[0]).is_err() {
            line_problems.push(Problem::new("staff_csv_region", format!("区划代码“{}”无效", cells[0])));
        }
        match Username::parse(cells[1]) {
            Ok(u) if seen.contains(&u.as_str().to_owned()) => {
                line_problems.push(Problem::new("staff_csv_repeated", format!("用户名 {u} 重复")));
            }
            Ok(u) => seen.push(u.as_str().to_owned()),
            Err(_) => line_problems.push(Problem::new("staff_csv_username", format!("用户名“{}”无效", cells[1]))),
        }
        let dept = cells.get(4).filter(|d| !d.is_empty()).map(|d| (*d).to_owned());
        line_problems.extend(account_problems(cells[2], cells[3], dept.as_deref()));
        if line_problems.is_empty() {
            rows.push((
                cells[0].to_owned(),
                StaffAccount {
                    username: cells[1].to_ascii_lowercase(),
                    display_name: cells[2].to_owned(),
                    role: cells[3].to_owned(),
                    department: dept,
                },
            ));
        } else {
            for p in line_problems {
                problems.push(Problem::new(&p.code, format!("第 {line_no} 行：{}", p.message)));
            }
        }
    }
    if problems.is_empty() { Ok(rows) } else { Err(problems) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn template() -> RolloutTemplate {
        RolloutTemplate {
            hall_name: default_hall_name(),
            windows: vec![WindowTemplate {
                number: "1".into(),
                name: "综合受理窗口".into(),
                kind: "general".into(),
                department: None,
            }],
            categories: vec![CategoryTemplate {
                prefix: "A".into(),
                name: "综合业务".into(),
                windows: vec![("1".into(), 1)],
            }],
            slots: Some(SlotTemplate {
                categories: vec!["A".into()],
                hours: vec![9, 10],
                capacity: 4,
                days: 7,
            }),
            devices: vec![DeviceTemplate {
                kind: "kiosk".into(),
                name: "取号机".into(),
                window: None,
            }],
            staff: vec![StaffTemplate {
                username: "{code}.clerk".into(),
                display_name: "{name}窗口人员".into(),
                role: "window_clerk".into(),
                department: None,
            }],
        }
    }

    #[test]
    fn a_sound_template_has_no_problem_and_fills_in_the_target() {
        let t = template();
        assert_eq!(t.problems(), vec![]);
        let staff = t.staff_for("990124", "新安县");
        assert_eq!(staff[0].username, "990124.clerk");
        assert_eq!(staff[0].display_name, "新安县窗口人员");
    }

    #[test]
    fn every_problem_of_a_template_is_listed() {
        let mut t = template();
        t.windows.push(t.windows[0].clone());
        t.categories[0].windows.push(("9".into(), 1));
        t.staff[0].role = "region_admin".into();
        t.devices[0].kind = "toaster".into();
        let codes: Vec<String> = t.problems().into_iter().map(|p| p.code).collect();
        for c in [
            "template_window_repeated",
            "template_window_unknown",
            "staff_role_invalid",
            "template_device_kind_invalid",
        ] {
            assert!(codes.iter().any(|x| x == c), "{c} missing from {codes:?}");
        }
    }

    #[test]
    fn a_staff_csv_is_read_with_every_bad_line_named() {
        let ok = "\u{feff}region,username,display_name,role,department\n990124,xa.clerk,王芳,window_clerk,\n";
        let rows = parse_staff_csv(ok).unwrap();
        assert_eq!(rows[0].0, "990124");
        assert_eq!(rows[0].1.department, None);
        let bad = "region,username,display_name,role\n99,张三,王芳,window_clerk\n990124,a.b,李伟,system_admin\n";
        let problems = parse_staff_csv(bad).unwrap_err();
        assert!(
            problems.iter().any(|p| p.message.starts_with("第 2 行")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.message.starts_with("第 3 行") && p.code == "staff_role_invalid")
        );
    }
}
