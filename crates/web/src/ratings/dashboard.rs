//! Supervision dashboards (效能监察): the figures of a hall, department, window, person or region
//! subtree over a period, with trends by day, week or month. Everything is read from counter
//! rows (rating and service counters per leaf and bucket), never from events; a region sums its
//! subtree's leaves at query time.
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use jiff::civil::Date;
use onestop_domain::region::RegionPath;
use onestop_domain::role::Permission;
use onestop_store::case_figures::CaseSums;
use onestop_store::org;
use onestop_store::ratings::{self as store, RatingSums, Scope, ServiceSums};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Which dashboard: the subject kind and its id, the period (inclusive local dates), the trend.
#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    /// region, hall, department, window or person
    pub scope: String,
    pub id: i64,
    /// First day (YYYY-MM-DD); default: the first of this month.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, inclusive; default: today.
    #[serde(default)]
    pub to: Option<String>,
    /// day, week or month; default day.
    #[serde(default)]
    pub trend: Option<String>,
}

/// Rating figures of one series over a period.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct RatingFigures {
    /// Tokens issued (events that could be rated).
    pub issued: i64,
    /// Real ratings (not defaulted).
    pub rated: i64,
    /// Ratings per level 1..5 (real ones).
    pub levels: [i64; 5],
    /// Defaulted to 基本满意 (reported apart).
    pub defaulted: i64,
    /// Bad reviews excluded by appeal (decided in the period).
    pub excluded: i64,
    pub bad: i64,
    /// (1+2+3) ÷ (real ratings − excluded); `None` without ratings.
    pub satisfaction: Option<f64>,
    /// The same with defaulted ratings counted as 基本满意.
    pub satisfaction_with_default: Option<f64>,
    pub followups: i64,
    pub rectified: i64,
    pub rectified_on_time: i64,
    pub called_back: i64,
    pub callback_satisfied: i64,
    /// Rectified ÷ follow-ups opened.
    pub followup_rate: Option<f64>,
    /// Called back ÷ follow-ups opened.
    pub callback_rate: Option<f64>,
    /// Follow-ups that passed their deadline (warnings).
    pub overdue: i64,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl RatingFigures {
    pub fn of(s: &RatingSums) -> Self {
        let satisfied = s.levels[0] + s.levels[1] + s.levels[2];
        let bad = s.levels[3] + s.levels[4];
        let counted = (s.rated - s.excluded).max(0);
        Self {
            issued: s.issued,
            rated: s.rated,
            levels: s.levels,
            defaulted: s.defaulted,
            excluded: s.excluded,
            bad: (bad - s.excluded).max(0),
            satisfaction: ratio(satisfied, counted),
            satisfaction_with_default: ratio(satisfied + s.defaulted, counted + s.defaulted),
            followups: s.followups,
            rectified: s.rectified,
            rectified_on_time: s.rectified_on_time,
            called_back: s.called_back,
            callback_satisfied: s.callback_satisfied,
            followup_rate: ratio(s.rectified, s.followups),
            callback_rate: ratio(s.called_back, s.followups),
            overdue: s.overdue,
        }
    }
}

/// Service figures over a period (served tickets: waiting from issue to the last call).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ServiceFigures {
    pub visitors: i64,
    pub avg_wait_min: Option<f64>,
    pub max_wait_min: Option<f64>,
    pub share_wait_over_20: Option<f64>,
    pub share_wait_over_30: Option<f64>,
    pub avg_service_min: Option<f64>,
    pub max_service_min: Option<f64>,
}

impl ServiceFigures {
    pub fn of(s: &ServiceSums) -> Self {
        let min = |ms: i64| ms as f64 / 60_000.0;
        let n = s.served;
        Self {
            visitors: n,
            avg_wait_min: (n > 0).then(|| min(s.wait_sum_ms) / n as f64),
            max_wait_min: (n > 0).then(|| min(s.wait_max_ms)),
            share_wait_over_20: ratio(s.wait_over_20, n),
            share_wait_over_30: ratio(s.wait_over_30, n),
            avg_service_min: (n > 0).then(|| min(s.service_sum_ms) / n as f64),
            max_service_min: (n > 0).then(|| min(s.service_max_ms)),
        }
    }
}

/// Case figures over a period (counted when the cases were accepted, concluded or warned).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct CaseFigures {
    /// Cases accepted (受理).
    pub accepted: i64,
    /// Cases concluded (办结).
    pub concluded: i64,
    /// Concluded on or before the promised deadline (承诺时限).
    pub concluded_on_time: i64,
    /// concluded_on_time ÷ concluded.
    pub on_time_rate: Option<f64>,
    /// Warnings raised: yellow (黄牌) and red (红牌).
    pub yellow: i64,
    pub red: i64,
    /// Concluded with at most one on-site visit (最多跑一次: ≤ 1 ticket linked to the case).
    pub one_visit: i64,
    /// one_visit ÷ concluded.
    pub one_visit_rate: Option<f64>,
    /// Accepted cases applied for online, and their share of the accepted.
    pub accepted_online: i64,
    pub online_share: Option<f64>,
    /// Accepted 即办件 (instant cases), and their share of the accepted.
    pub accepted_instant: i64,
    pub instant_share: Option<f64>,
}

impl CaseFigures {
    pub fn of(s: &CaseSums) -> Self {
        Self {
            accepted: s.accepted,
            concluded: s.concluded,
            concluded_on_time: s.concluded_on_time,
            on_time_rate: ratio(s.concluded_on_time, s.concluded),
            yellow: s.yellow,
            red: s.red,
            one_visit: s.one_visit,
            one_visit_rate: ratio(s.one_visit, s.concluded),
            accepted_online: s.accepted_online,
            online_share: ratio(s.accepted_online, s.accepted),
            accepted_instant: s.accepted_instant,
            instant_share: ratio(s.accepted_instant, s.accepted),
        }
    }
}

/// The figures of one period or trend point. The two rating series are never merged.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Figures {
    pub service: ServiceFigures,
    /// 一次一评: served tickets.
    pub ticket_ratings: RatingFigures,
    /// 一事一评: concluded cases.
    pub case_ratings: RatingFigures,
    /// Cases accepted, concluded, on time, warned, 最多跑一次, online, 即办件.
    pub cases: CaseFigures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The point's first day (YYYY-MM-DD).
    pub start: String,
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dashboard {
    pub scope: String,
    pub id: i64,
    pub name: String,
    pub from: String,
    pub to: String,
    pub trend: String,
    pub totals: Figures,
    pub points: Vec<TrendPoint>,
}

fn bad_date(raw: &str) -> ApiError {
    ApiError::validation("date_invalid", format!("日期“{raw}”无效，请用 YYYY-MM-DD"))
}

pub fn parse_date(raw: &str) -> ApiResult<Date> {
    raw.parse::<Date>().map_err(|_| bad_date(raw))
}

fn midnight(d: Date) -> ApiResult<jiff::Timestamp> {
    d.to_zoned(store::zone())
        .map(|z| z.timestamp())
        .map_err(|_| bad_date(&d.to_string()))
}

/// Resolves the scope, checks the caller may see it, and names it.
pub async fn resolve_scope(state: &AppState, p: &Principal, kind: &str, id: i64) -> ApiResult<(Scope, String)> {
    let db = state.store.read();
    let (scope, path, name) = match kind {
        "region" => {
            let r = onestop_store::regions::get(db, id).await?;
            (Scope::Region(r.path.clone()), r.path, r.name)
        }
        "hall" => {
            let h = org::hall(db, id).await?;
            (Scope::Hall(id), h.region_path, h.name)
        }
        "window" => {
            let w = org::window(db, id).await?;
            let h = org::hall(db, w.hall_id).await?;
            (
                Scope::Window(id),
                w.region_path,
                format!("{} {}号窗口", h.name, w.number),
            )
        }
        "department" => {
            let d = org::department(db, id).await?;
            (Scope::Department(id), d.region_path, d.name)
        }
        "person" => {
            let u = onestop_store::users::get(db, id).await?;
            let Some(hall_id) = u.hall_id else {
                return Err(ApiError::not_found());
            };
            let h = org::hall(db, hall_id).await?;
            // People see their own figures; others need supervision of the hall's region.
            if p.user.id == u.id {
                return Ok((Scope::Person(id), u.display_name));
            }
            (Scope::Person(id), h.region_path, u.display_name)
        }
        _ => {
            return Err(ApiError::validation(
                "dashboard_scope_invalid",
                "范围须为 region、hall、department、window 或 person",
            ));
        }
    };
    if !p.can(Permission::SupervisionRead, &RegionPath::from_stored(path)) {
        return Err(ApiError::not_found());
    }
    Ok((scope, name))
}

/// The longest period a dashboard covers (a province's year fits).
const MAX_DAYS: i64 = 732;

pub async fn dashboard(state: &AppState, p: &Principal, q: &DashboardQuery) -> ApiResult<Dashboard> {
    let (scope, name) = resolve_scope(state, p, &q.scope, q.id).await?;
    let today = store::local_date(state.clock.now());
    let from = match &q.from {
        Some(raw) => parse_date(raw)?,
        None => today.first_of_month(),
    };
    let to = match &q.to {
        Some(raw) => parse_date(raw)?,
        None => today,
    };
    let trend = q.trend.as_deref().unwrap_or("day");
    if !matches!(trend, "day" | "week" | "month") {
        return Err(ApiError::validation("trend_invalid", "趋势须为 day、week 或 month"));
    }
    let days = (to - from).get_days();
    if to < from || i64::from(days) > MAX_DAYS {
        return Err(ApiError::validation(
            "period_invalid",
            format!("统计期间须从开始日到结束日，最长 {MAX_DAYS} 天"),
        ));
    }
    compute(state, scope, name, &q.scope, q.id, from, to, trend).await
}

/// The start of the trend point that contains `d`.
fn point_of(d: Date, trend: &str) -> Date {
    match trend {
        "week" => {
            let back = i64::from(d.weekday().to_monday_zero_offset());
            d.checked_sub(jiff::Span::new().days(back)).unwrap_or(d)
        }
        "month" => d.first_of_month(),
        _ => d,
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn compute(
    state: &AppState,
    scope: Scope,
    name: String,
    kind: &str,
    id: i64,
    from: Date,
    to: Date,
    trend: &str,
) -> ApiResult<Dashboard> {
    let end = to.tomorrow().map_err(|_| bad_date(&to.to_string()))?;
    // Whole months read the month buckets (a year is 12 rows per leaf); otherwise days.
    let bucket = if from.day() == 1 && end.day() == 1 && trend == "month" {
        "month"
    } else {
        "day"
    };
    let (a, b) = (midnight(from)?, midnight(end)?);
    let sums = onestop_store::case_figures::dashboard_sums(state.store.read(), &scope, bucket, a, b).await?;
    Ok(fold(kind, id, name, from, to, trend, &sums))
}

/// Folds the counter rows of [`onestop_store::case_figures::dashboard_sums`] into the period's
/// totals and one point per day, week or month (zeros included). Pure, so that scorecards and
/// screens can fold the same rows the same way.
pub fn fold(
    kind: &str,
    id: i64,
    name: String,
    from: Date,
    to: Date,
    trend: &str,
    sums: &onestop_store::case_figures::DashboardSums,
) -> Dashboard {
    type Acc = (ServiceSums, RatingSums, RatingSums, CaseSums);
    let mut total: Acc = Default::default();
    let mut points: std::collections::BTreeMap<Date, Acc> = Default::default();
    let day_of = |ms: i64| store::local_date(onestop_store::ts(ms));
    for s in &sums.service {
        total.0.add(s);
        points
            .entry(point_of(day_of(s.bucket_start), trend))
            .or_default()
            .0
            .add(s);
    }
    for s in &sums.ticket_ratings {
        total.1.add(s);
        points
            .entry(point_of(day_of(s.bucket_start), trend))
            .or_default()
            .1
            .add(s);
    }
    for s in &sums.case_ratings {
        total.2.add(s);
        points
            .entry(point_of(day_of(s.bucket_start), trend))
            .or_default()
            .2
            .add(s);
    }
    for s in &sums.cases {
        total.3.add(s);
        points
            .entry(point_of(day_of(s.bucket_start), trend))
            .or_default()
            .3
            .add(s);
    }
    // Every point of the period is listed, with zeros where nothing happened.
    let mut d = point_of(from, trend);
    while d <= to {
        points.entry(d).or_default();
        let next = match trend {
            "week" => d.checked_add(jiff::Span::new().days(7)),
            "month" => d.checked_add(jiff::Span::new().months(1)),
            _ => d.tomorrow(),
        };
        match next {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    let figures = |t: &Acc| Figures {
        service: ServiceFigures::of(&t.0),
        ticket_ratings: RatingFigures::of(&t.1),
        case_ratings: RatingFigures::of(&t.2),
        cases: CaseFigures::of(&t.3),
    };
    Dashboard {
        scope: kind.to_owned(),
        id,
        name,
        from: from.to_string(),
        to: to.to_string(),
        trend: trend.to_owned(),
        totals: figures(&total),
        points: points
            .iter()
            .map(|(d, t)| TrendPoint {
                start: d.to_string(),
                figures: figures(t),
            })
            .collect(),
    }
}

/// The dashboard as one sheet (for .xlsx and CSV): a header row, the period's totals, then one
/// row per trend point.
pub fn sheet(d: &Dashboard) -> onestop_workbook::Sheet {
    let pct = |v: Option<f64>| v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_default();
    let num = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_default();
    let header = [
        "期间",
        "办事人次",
        "平均等候(分)",
        "最长等候(分)",
        "等候超20分钟占比",
        "等候超30分钟占比",
        "平均办理(分)",
        "一次一评 评价数",
        "一次一评 满意率",
        "一次一评 满意率(含默认)",
        "一次一评 默认好评",
        "一次一评 差评",
        "一次一评 申诉剔除",
        "整改率",
        "回访率",
        "整改超期",
        "一事一评 评价数",
        "一事一评 满意率",
        "一事一评 满意率(含默认)",
        "一事一评 差评",
        // ratecase: case figures
        "受理件数",
        "办结件数",
        "按时办结率(承诺时限)",
        "黄牌预警",
        "红牌预警",
        "最多跑一次占比",
        "网上申请占比",
        "即办件占比",
    ];
    let row = |label: String, f: &Figures| -> Vec<String> {
        let (s, t, c) = (&f.service, &f.ticket_ratings, &f.case_ratings);
        vec![
            label,
            s.visitors.to_string(),
            num(s.avg_wait_min),
            num(s.max_wait_min),
            pct(s.share_wait_over_20),
            pct(s.share_wait_over_30),
            num(s.avg_service_min),
            t.rated.to_string(),
            pct(t.satisfaction),
            pct(t.satisfaction_with_default),
            t.defaulted.to_string(),
            t.bad.to_string(),
            t.excluded.to_string(),
            pct(t.followup_rate),
            pct(t.callback_rate),
            t.overdue.to_string(),
            c.rated.to_string(),
            pct(c.satisfaction),
            pct(c.satisfaction_with_default),
            c.bad.to_string(),
            f.cases.accepted.to_string(),
            f.cases.concluded.to_string(),
            pct(f.cases.on_time_rate),
            f.cases.yellow.to_string(),
            f.cases.red.to_string(),
            pct(f.cases.one_visit_rate),
            pct(f.cases.online_share),
            pct(f.cases.instant_share),
        ]
    };
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    rows.push(row(format!("{} 至 {}（合计）", d.from, d.to), &d.totals));
    for p in &d.points {
        rows.push(row(p.start.clone(), &p.figures));
    }
    onestop_workbook::Sheet {
        name: "效能统计".into(),
        rows,
    }
}
