//! The model report (推广调研报告): supervision indicators month by month for every hall of a region
//! subtree since it opened or adopted the model, aligned month 1, 2, 3… against the pioneering
//! region's own first months, before against after (imported baselines), the ranking and the
//! practices that set the best apart. Ratings and service figures are read from the counters
//! ([`ratings::rating_sums`], [`ratings::service_sums`]); case figures come from one function,
//! [`case_figures_by_hall_month`], until the case counters carry them.
use crate::regions::Region;
use crate::{StoreError, Tx, ms, org, ratings, ts};
use jiff::civil::Date;
use onestop_domain::rating::Series;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How a figure reads: a share (0..1, shown as %), a count, minutes, or a plain ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Share,
    Count,
    Minutes,
    Ratio,
}

/// One indicator of the report.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    /// Whether more is better (for the ranking and the before/after arrows).
    pub higher_better: bool,
}

const fn m(key: &'static str, label: &'static str, unit: Unit, higher_better: bool) -> Metric {
    Metric {
        key,
        label,
        unit,
        higher_better,
    }
}

/// The indicators, in report order. Their keys are the column names of the baseline workbook.
pub const METRICS: [Metric; 15] = [
    m("served", "现场服务人次", Unit::Count, true),
    m("avg_wait_min", "平均等候时长(分钟)", Unit::Minutes, false),
    m("wait_over_30_share", "等候超30分钟占比", Unit::Share, false),
    m("onsite_satisfaction", "现场服务满意率", Unit::Share, true),
    m("bad_reviews", "差评数", Unit::Count, false),
    m("rectified_on_time_share", "差评按时整改率", Unit::Share, true),
    m("case_satisfaction", "办件满意率", Unit::Share, true),
    m("applications", "申请件数", Unit::Count, true),
    m("accepted", "受理件数", Unit::Count, true),
    m("concluded", "办结件数", Unit::Count, true),
    m("on_time_share", "按时办结率", Unit::Share, true),
    m("visits_per_case", "平均到现场次数", Unit::Ratio, false),
    m("one_visit_share", "最多跑一次占比", Unit::Share, true),
    m("online_share", "网上申请占比", Unit::Share, true),
    m("instant_share", "即办件占比", Unit::Share, true),
];

/// Index of a metric by key.
pub fn metric_index(key: &str) -> Option<usize> {
    METRICS.iter().position(|m| m.key == key)
}

/// The metrics the ranking score averages (each a share where more is better, or inverted).
const SCORE_METRICS: [&str; 5] = [
    "onsite_satisfaction",
    "case_satisfaction",
    "on_time_share",
    "rectified_on_time_share",
    "wait_over_30_share",
];

/// The practices that set the best apart (compared between the top of the ranking and the rest).
pub const PRACTICES: [&str; 4] = ["visits_per_case", "one_visit_share", "online_share", "instant_share"];

// ---- months ------------------------------------------------------------------------------------

/// First day of `d`'s month.
pub fn month_of(d: Date) -> Date {
    d.first_of_month()
}

/// Local midnight of a month's first day, as the counters' `bucket_start`.
pub fn month_start_ms(first: Date) -> i64 {
    first
        .to_zoned(ratings::zone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// The month (its first day) of a stored time.
pub fn month_of_ms(at: i64) -> Date {
    ratings::local_date(ts(at)).first_of_month()
}

fn add_months(first: Date, n: i32) -> Date {
    first.checked_add(jiff::Span::new().months(n)).unwrap_or(first)
}

/// Months from `a` to `b`: 0 when the same month.
pub fn months_between(a: Date, b: Date) -> i32 {
    (i32::from(b.year()) * 12 + i32::from(b.month())) - (i32::from(a.year()) * 12 + i32::from(a.month()))
}

/// `2026-03`.
pub fn month_label(first: Date) -> String {
    format!("{:04}-{:02}", first.year(), first.month())
}

/// Parses `2026-03` (or a full date) to the month's first day.
pub fn parse_month(text: &str) -> Option<Date> {
    let t = text.trim();
    let full = if t.len() == 7 { format!("{t}-01") } else { t.to_owned() };
    full.parse::<Date>().ok().map(|d| d.first_of_month())
}

// ---- case figures ------------------------------------------------------------------------------

/// Case figures of one leaf and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaseSums {
    /// Cases received (applications), by the month of receipt.
    pub applications: i64,
    pub online: i64,
    pub instant: i64,
    /// Declared on-site visits (到办事现场次数) summed over the month's applications.
    pub visits: i64,
    /// Applications whose service needs at most one visit (最多跑一次).
    pub at_most_one_visit: i64,
    /// By the month of acceptance.
    pub accepted: i64,
    /// By the month of conclusion.
    pub concluded: i64,
    pub concluded_on_time: i64,
}

impl CaseSums {
    pub fn add(&mut self, o: &CaseSums) {
        self.applications += o.applications;
        self.online += o.online;
        self.instant += o.instant;
        self.visits += o.visits;
        self.at_most_one_visit += o.at_most_one_visit;
        self.accepted += o.accepted;
        self.concluded += o.concluded;
        self.concluded_on_time += o.concluded_on_time;
    }
}

/// Case figures per hall and month (first day) for the cases of the region subtree `path`
/// received, accepted or concluded in [from, to). A case taken in without a hall (online) counts
/// in the first hall of its region. This reads the cases table (a report, not a dashboard); when
/// the case counters carry these figures, this is the one function to switch to them.
pub async fn case_figures_by_hall_month(
    conn: &mut AnyConnection,
    path: &str,
    from: Date,
    to: Date,
) -> Result<HashMap<i64, BTreeMap<Date, CaseSums>>, StoreError> {
    let (from_ms, to_ms) = (month_start_ms(from), month_start_ms(to));
    let first_hall: HashMap<i64, i64> = sqlx::query(
        "SELECT h.region_id, MIN(h.id) AS hall FROM halls h JOIN regions r ON r.id = h.region_id
         WHERE r.path LIKE $1 GROUP BY h.region_id",
    )
    .bind(format!("{path}%"))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("region_id")?, r.try_get("hall")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let rows = sqlx::query(
        "SELECT region_id, hall_id, channel, case_type, catalogue_versions, created_at, accepted_on,
            concluded_at, promised_deadline FROM cases
         WHERE region_path LIKE $1 AND ((created_at >= $2 AND created_at < $3)
            OR (concluded_at >= $2 AND concluded_at < $3) OR (accepted_on >= $4 AND accepted_on < $5))",
    )
    .bind(format!("{path}%"))
    .bind(from_ms)
    .bind(to_ms)
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut visits_of_version: HashMap<i64, i64> = HashMap::new();
    let mut out: HashMap<i64, BTreeMap<Date, CaseSums>> = HashMap::new();
    for r in rows {
        let region_id: i64 = r.try_get("region_id")?;
        let hall: Option<i64> = r.try_get("hall_id")?;
        let Some(hall) = hall.or_else(|| first_hall.get(&region_id).copied()) else {
            continue;
        };
        let created: i64 = r.try_get("created_at")?;
        let per = out.entry(hall).or_default();
        if (from_ms..to_ms).contains(&created) {
            let versions: Vec<i64> =
                serde_json::from_str(&r.try_get::<String, _>("catalogue_versions")?).unwrap_or_default();
            // A bundle case needs as many visits as its most demanding service.
            let mut visits = 0;
            for v in versions {
                let n = match visits_of_version.get(&v) {
                    Some(n) => *n,
                    None => {
                        let n = declared_visits(conn, v).await?;
                        visits_of_version.insert(v, n);
                        n
                    }
                };
                visits = visits.max(n);
            }
            let s = per.entry(month_of_ms(created)).or_default();
            s.applications += 1;
            s.online += i64::from(r.try_get::<String, _>("channel")? == "online");
            s.instant += i64::from(r.try_get::<i64, _>("case_type")? == 1);
            s.visits += visits;
            s.at_most_one_visit += i64::from(visits <= 1);
        }
        if let Some(accepted) = r.try_get::<Option<String>, _>("accepted_on")?
            && let Ok(d) = accepted.parse::<Date>()
            && d >= from
            && d < to
        {
            per.entry(d.first_of_month()).or_default().accepted += 1;
        }
        if let Some(concluded) = r.try_get::<Option<i64>, _>("concluded_at")?
            && (from_ms..to_ms).contains(&concluded)
        {
            let s = per.entry(month_of_ms(concluded)).or_default();
            s.concluded += 1;
            let deadline: Option<String> = r.try_get("promised_deadline")?;
            let day = ratings::local_date(ts(concluded)).to_string();
            // An instant case has no deadline: concluded on the spot, so on time.
            s.concluded_on_time += i64::from(deadline.is_none_or(|d| day <= d));
        }
    }
    Ok(out)
}

/// The on-site visits a catalogue version declares (0 when unreadable: counted as fully online).
async fn declared_visits(conn: &mut AnyConnection, version_id: i64) -> Result<i64, StoreError> {
    let content: Option<String> = sqlx::query_scalar("SELECT content FROM service_versions WHERE id = $1")
        .bind(version_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(content
        .and_then(|c| serde_json::from_str::<crate::catalogue::VersionContent>(&c).ok())
        .map_or(0, |v| i64::from(v.record.onsite_visits)))
}

// ---- figures of a month ------------------------------------------------------------------------

/// Everything a month of a hall sums to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthSums {
    pub ticket: ratings::RatingSums,
    pub case: ratings::RatingSums,
    pub service: ratings::ServiceSums,
    pub cases: CaseSums,
}

impl MonthSums {
    pub fn add(&mut self, o: &MonthSums) {
        self.ticket.add(&o.ticket);
        self.case.add(&o.case);
        self.service.add(&o.service);
        self.cases.add(&o.cases);
    }

    /// Whether anything happened.
    pub fn is_empty(&self) -> bool {
        self.ticket.rated == 0 && self.case.rated == 0 && self.service.served == 0 && self.cases == CaseSums::default()
    }

    /// The events the month rests on (for the ranking's minimum sample).
    pub fn sample(&self) -> i64 {
        self.service.served + self.cases.applications
    }

    /// The value of every metric, in [`METRICS`] order (`None`: nothing to divide by).
    pub fn values(&self) -> Vec<Option<f64>> {
        let share = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        let satisfied = |r: &ratings::RatingSums| share(r.levels[0] + r.levels[1] + r.levels[2], r.rated);
        let s = &self.service;
        let c = &self.cases;
        let served = (s.served > 0).then_some(s.served as f64);
        METRICS
            .iter()
            .map(|m| match m.key {
                "served" => served.or(Some(0.0)),
                "avg_wait_min" => share(s.wait_sum_ms, s.served).map(|v| v / 60_000.0),
                "wait_over_30_share" => share(s.wait_over_30, s.served),
                "onsite_satisfaction" => satisfied(&self.ticket),
                "bad_reviews" => Some((self.ticket.levels[3] + self.ticket.levels[4]) as f64),
                "rectified_on_time_share" => share(self.ticket.rectified_on_time, self.ticket.followups),
                "case_satisfaction" => satisfied(&self.case),
                "applications" => Some(c.applications as f64),
                "accepted" => Some(c.accepted as f64),
                "concluded" => Some(c.concluded as f64),
                "on_time_share" => share(c.concluded_on_time, c.concluded),
                "visits_per_case" => share(c.visits, c.applications),
                "one_visit_share" => share(c.at_most_one_visit, c.applications),
                "online_share" => share(c.online, c.applications),
                "instant_share" => share(c.instant, c.applications),
                _ => None,
            })
            .collect()
    }
}

/// Month sums of a hall for the months in [from, to) (first days), read from the counters and
/// the case figures.
async fn hall_months(
    conn: &mut AnyConnection,
    hall_id: i64,
    from: Date,
    to: Date,
    cases: Option<&BTreeMap<Date, CaseSums>>,
) -> Result<BTreeMap<Date, MonthSums>, StoreError> {
    let (a, b) = (ts(month_start_ms(from)), ts(month_start_ms(to)));
    let scope = ratings::Scope::Hall(hall_id);
    let mut out: BTreeMap<Date, MonthSums> = BTreeMap::new();
    for r in ratings::rating_sums(&mut *conn, &scope, Series::Ticket, "month", a, b).await? {
        out.entry(month_of_ms(r.bucket_start)).or_default().ticket = r;
    }
    for r in ratings::rating_sums(&mut *conn, &scope, Series::Case, "month", a, b).await? {
        out.entry(month_of_ms(r.bucket_start)).or_default().case = r;
    }
    for s in ratings::service_sums(&mut *conn, &scope, "month", a, b).await? {
        out.entry(month_of_ms(s.bucket_start)).or_default().service = s;
    }
    if let Some(cases) = cases {
        for (month, c) in cases.range(from..to) {
            out.entry(*month).or_default().cases = *c;
        }
    }
    Ok(out)
}

// ---- baselines ---------------------------------------------------------------------------------

/// One imported figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineFigure {
    pub hall_id: i64,
    pub month: Date,
    pub metric: &'static str,
    pub value: f64,
}

/// Writes imported figures, replacing those already stored for the same hall, month and metric.
pub async fn import_baselines(
    tx: &mut Tx,
    figures: &[BaselineFigure],
    at: jiff::Timestamp,
    actor: &str,
) -> Result<usize, StoreError> {
    for f in figures {
        sqlx::query(
            "INSERT INTO model_baselines (hall_id, month, metric, value_milli, imported_at, imported_by)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hall_id, month, metric) DO UPDATE SET
             value_milli = excluded.value_milli, imported_at = excluded.imported_at, imported_by = excluded.imported_by",
        )
        .bind(f.hall_id)
        .bind(month_label(f.month))
        .bind(f.metric)
        .bind((f.value * 1000.0).round() as i64)
        .bind(ms(at))
        .bind(actor)
        .execute(tx.conn())
        .await?;
    }
    Ok(figures.len())
}

/// A hall's imported figures by month, each a row in [`METRICS`] order.
pub async fn baselines_of(
    conn: &mut AnyConnection,
    hall_id: i64,
) -> Result<BTreeMap<Date, Vec<Option<f64>>>, StoreError> {
    let rows = sqlx::query("SELECT month, metric, value_milli FROM model_baselines WHERE hall_id = $1")
        .bind(hall_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut out: BTreeMap<Date, Vec<Option<f64>>> = BTreeMap::new();
    for r in rows {
        let month: String = r.try_get("month")?;
        let metric: String = r.try_get("metric")?;
        let (Some(month), Some(i)) = (parse_month(&month), metric_index(&metric)) else {
            continue;
        };
        let v: i64 = r.try_get("value_milli")?;
        out.entry(month).or_insert_with(|| vec![None; METRICS.len()])[i] = Some(v as f64 / 1000.0);
    }
    Ok(out)
}

// ---- starts: opened or adopted ----------------------------------------------------------------

/// When a hall's model began: the first applied rollout to its region, or its opening.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Start {
    pub month: Date,
    /// `adopted` (with the run's source) or `opened`.
    pub kind: &'static str,
    pub source_region_id: Option<i64>,
}

/// The first applied rollout of each region of the subtree: (time, source region).
pub async fn adoptions(conn: &mut AnyConnection, path: &str) -> Result<HashMap<i64, (i64, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.region_id, t.updated_at, r.source_region_id FROM rollout_targets t
         JOIN rollout_runs r ON r.id = t.run_id JOIN regions g ON g.id = t.region_id
         WHERE t.state = 'applied' AND g.path LIKE $1 ORDER BY t.updated_at, t.run_id",
    )
    .bind(format!("{path}%"))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let region: i64 = r.try_get("region_id")?;
        let at: i64 = r.try_get("updated_at")?;
        let source: i64 = r.try_get("source_region_id")?;
        out.entry(region).or_insert((at, source));
    }
    Ok(out)
}

async fn hall_created(conn: &mut AnyConnection, hall_id: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT created_at FROM halls WHERE id = $1")
        .bind(hall_id)
        .fetch_one(&mut *conn)
        .await?)
}

// ---- the report --------------------------------------------------------------------------------

/// Figures of one month of a hall, with its place since the start (month 1 = the start month).
#[derive(Debug, Clone, Serialize)]
pub struct MonthRow {
    pub month: String,
    pub index: i32,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub key: &'static str,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HallReport {
    pub hall_id: i64,
    pub hall_name: String,
    pub region_code: String,
    pub region_name: String,
    pub start: String,
    pub start_kind: &'static str,
    pub is_pioneer: bool,
    /// The hall's months in the period (from its start on).
    pub months: Vec<MonthRow>,
    /// The pioneer's months of the same index (month 1 against month 1…).
    pub pioneer_months: Vec<MonthRow>,
    /// Imported months before the start.
    pub baseline: Vec<MonthRow>,
    /// Mean of the baseline months against the period's figures, per metric that has both.
    pub before_after: Vec<Comparison>,
    /// The period's figures summed, then divided.
    pub totals: Vec<Option<f64>>,
    pub sample: i64,
    pub bundles: usize,
    /// Ranking score (0–100), or `None` below the minimum sample.
    pub score: Option<f64>,
    pub rank: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PracticeRow {
    pub key: &'static str,
    pub label: &'static str,
    pub top: Option<f64>,
    pub rest: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pioneer {
    pub region_code: String,
    pub region_name: String,
    pub hall_id: i64,
    pub hall_name: String,
    pub start: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub region_code: String,
    pub region_name: String,
    pub from: String,
    pub to: String,
    pub min_sample: i64,
    pub metrics: Vec<Metric>,
    pub pioneer: Option<Pioneer>,
    pub halls: Vec<HallReport>,
    /// Hall indexes (into `halls`) in rank order.
    pub ranking: Vec<usize>,
    /// The practices, averaged over the top third of the ranking and over the rest.
    pub practices: Vec<PracticeRow>,
    pub bundles_top: Option<f64>,
    pub bundles_rest: Option<f64>,
}

/// The ranking score: the mean, in points of 100, of the score metrics a hall has a value for
/// (a share where less is better counts as its complement).
pub fn score(values: &[Option<f64>]) -> Option<f64> {
    let parts: Vec<f64> = SCORE_METRICS
        .iter()
        .filter_map(|k| {
            let i = metric_index(k)?;
            let v = values.get(i).copied().flatten()?;
            Some(if METRICS[i].higher_better { v } else { 1.0 - v })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64 * 100.0)
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Bundles (一件事) offered at a region on `date`: those its region or one above owns whose every
/// member service is switched on there.
async fn bundles_offered(
    conn: &mut AnyConnection,
    region: &Region,
    enabled: &HashSet<i64>,
) -> Result<usize, StoreError> {
    let rows = sqlx::query(
        "SELECT b.id, m.service_id FROM bundles b JOIN regions o ON o.id = b.owner_region_id
         LEFT JOIN bundle_members m ON m.bundle_id = b.id WHERE $1 LIKE o.path || '%'",
    )
    .bind(&region.path)
    .fetch_all(&mut *conn)
    .await?;
    let mut ok: HashMap<i64, bool> = HashMap::new();
    for r in rows {
        let id: i64 = r.try_get("id")?;
        let member: Option<i64> = r.try_get("service_id")?;
        let e = ok.entry(id).or_insert(true);
        if member.is_some_and(|s| !enabled.contains(&s)) {
            *e = false;
        }
    }
    Ok(ok.values().filter(|v| **v).count())
}

/// Builds the report of `region`'s subtree over the months of [from, to] (dates; whole months).
/// The pioneer is the source of the first rollout applied in the subtree (the city that ran the
/// model first); without one there is nothing to align against.
pub async fn build(
    conn: &mut AnyConnection,
    region: &Region,
    from: Date,
    to: Date,
    min_sample: i64,
) -> Result<ModelReport, StoreError> {
    let first = month_of(from);
    let end = add_months(month_of(to), 1);
    let adopted = adoptions(conn, &region.path).await?;
    let halls: Vec<org::Hall> = org::halls_in(&mut *conn, &region.path)
        .await?
        .into_iter()
        .filter(|h| h.closed_at.is_none())
        .collect();
    // The pioneer: the source of the earliest adoption, and its first open hall.
    let pioneer_region = adopted.values().min().map(|(_, source)| *source);
    let mut pioneer = None;
    if let Some(pr) = pioneer_region {
        let r = crate::regions::get(&mut *conn, pr).await?;
        let hall = org::halls_in(&mut *conn, &r.path)
            .await?
            .into_iter()
            .find(|h| h.region_id == r.id && h.closed_at.is_none());
        if let Some(h) = hall {
            let start = month_of_ms(hall_created(conn, h.id).await?);
            pioneer = Some((r, h, start));
        }
    }
    // Case figures once for the whole span any hall or the pioneer needs.
    let earliest = pioneer.as_ref().map_or(first, |(_, _, s)| (*s).min(first));
    let pioneer_path = pioneer.as_ref().map(|(r, _, _)| r.path.clone());
    let mut cases = case_figures_by_hall_month(conn, &region.path, earliest, end).await?;
    if let Some(p) = &pioneer_path
        && !p.starts_with(&region.path)
    {
        cases.extend(case_figures_by_hall_month(conn, p, earliest, end).await?);
    }
    let date = to;
    let mut enabled_by_region: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut reports = Vec::new();
    let mut pioneer_cache: Option<BTreeMap<Date, MonthSums>> = None;
    for h in &halls {
        let r = crate::regions::get(&mut *conn, h.region_id).await?;
        let is_pioneer = pioneer.as_ref().is_some_and(|(_, ph, _)| ph.id == h.id);
        let start = match adopted.get(&h.region_id) {
            Some((at, source)) if !is_pioneer => Start {
                month: month_of_ms(*at),
                kind: "adopted",
                source_region_id: Some(*source),
            },
            _ => Start {
                month: month_of_ms(hall_created(conn, h.id).await?),
                kind: "opened",
                source_region_id: None,
            },
        };
        let period_from = start.month.max(first);
        let sums = hall_months(conn, h.id, period_from, end, cases.get(&h.id)).await?;
        let mut months = Vec::new();
        let mut total = MonthSums::default();
        let mut m = period_from;
        while m < end {
            let s = sums.get(&m).copied().unwrap_or_default();
            total.add(&s);
            months.push(MonthRow {
                month: month_label(m),
                index: months_between(start.month, m) + 1,
                values: s.values(),
            });
            m = add_months(m, 1);
        }
        let mut pioneer_months = Vec::new();
        if let Some((_, ph, pstart)) = &pioneer
            && !is_pioneer
            && !months.is_empty()
        {
            if pioneer_cache.is_none() {
                let span_end = add_months(*pstart, months_between(first, end) + 1);
                pioneer_cache = Some(hall_months(conn, ph.id, *pstart, span_end, cases.get(&ph.id)).await?);
            }
            let psums = pioneer_cache.as_ref();
            for row in &months {
                let pm = add_months(*pstart, row.index - 1);
                let s = psums.and_then(|p| p.get(&pm)).copied().unwrap_or_default();
                pioneer_months.push(MonthRow {
                    month: month_label(pm),
                    index: row.index,
                    values: s.values(),
                });
            }
        }
        let baseline: Vec<MonthRow> = baselines_of(conn, h.id)
            .await?
            .into_iter()
            .filter(|(m, _)| *m < start.month)
            .map(|(m, values)| MonthRow {
                month: month_label(m),
                index: months_between(start.month, m) + 1,
                values,
            })
            .collect();
        let totals = total.values();
        let before_after = if baseline.is_empty() {
            Vec::new()
        } else {
            METRICS
                .iter()
                .enumerate()
                .filter_map(|(i, metric)| {
                    let before = mean(baseline.iter().filter_map(|b| b.values[i]));
                    // Counts compare as a monthly mean, shares and times as the period's figure.
                    let after = match metric.unit {
                        Unit::Count => mean(months.iter().filter_map(|r| r.values[i])),
                        _ => totals[i],
                    };
                    before.map(|b| Comparison {
                        key: metric.key,
                        before: Some(b),
                        after,
                    })
                })
                .collect()
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = enabled_by_region.entry(r.id) {
            let on = crate::catalogue::effective_all(conn, r.id, date)
                .await?
                .into_iter()
                .filter(|e| e.enabled)
                .map(|e| e.service_id)
                .collect();
            slot.insert(on);
        }
        let bundles = bundles_offered(conn, &r, &enabled_by_region[&r.id]).await?;
        let sample = total.sample();
        reports.push(HallReport {
            hall_id: h.id,
            hall_name: h.name.clone(),
            region_code: r.code.clone(),
            region_name: r.name.clone(),
            start: month_label(start.month),
            start_kind: start.kind,
            is_pioneer,
            months,
            pioneer_months,
            baseline,
            before_after,
            score: if sample >= min_sample { score(&totals) } else { None },
            totals,
            sample,
            bundles,
            rank: None,
        });
    }
    let mut ranking: Vec<usize> = (0..reports.len()).filter(|i| reports[*i].score.is_some()).collect();
    ranking.sort_by(|a, b| {
        let (x, y) = (reports[*a].score.unwrap_or(0.0), reports[*b].score.unwrap_or(0.0));
        y.total_cmp(&x)
            .then(reports[*a].region_code.cmp(&reports[*b].region_code))
    });
    for (place, i) in ranking.iter().enumerate() {
        reports[*i].rank = Some(place + 1);
    }
    // The top third of the ranked halls (at least one) against the rest.
    let top_n = ranking.len().div_ceil(3);
    let (top, rest) = ranking.split_at(top_n.min(ranking.len()));
    let practices = PRACTICES
        .iter()
        .filter_map(|k| {
            let i = metric_index(k)?;
            Some(PracticeRow {
                key: METRICS[i].key,
                label: METRICS[i].label,
                top: mean(top.iter().filter_map(|h| reports[*h].totals[i])),
                rest: mean(rest.iter().filter_map(|h| reports[*h].totals[i])),
            })
        })
        .collect();
    Ok(ModelReport {
        region_code: region.code.clone(),
        region_name: region.name.clone(),
        from: from.to_string(),
        to: to.to_string(),
        min_sample,
        metrics: METRICS.to_vec(),
        pioneer: pioneer.map(|(r, h, s)| Pioneer {
            region_code: r.code,
            region_name: r.name,
            hall_id: h.id,
            hall_name: h.name,
            start: month_label(s),
        }),
        bundles_top: mean(top.iter().map(|h| reports[*h].bundles as f64)),
        bundles_rest: mean(rest.iter().map(|h| reports[*h].bundles as f64)),
        halls: reports,
        ranking,
        practices,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn months_align_across_years() {
        let a = parse_month("2025-11").unwrap();
        let b = parse_month("2026-02-17").unwrap();
        assert_eq!(months_between(a, b), 3);
        assert_eq!(month_label(add_months(a, 3)), "2026-02");
    }

    #[test]
    fn score_inverts_shares_where_less_is_better() {
        let mut v = vec![None; METRICS.len()];
        v[metric_index("onsite_satisfaction").unwrap()] = Some(0.9);
        v[metric_index("wait_over_30_share").unwrap()] = Some(0.3);
        assert!((score(&v).unwrap() - 80.0).abs() < 1e-9);
        assert_eq!(score(&vec![None; METRICS.len()]), None);
    }
}

// ---- spread: the rollout's progress across a subtree ------------------------------------------

/// One region of a subtree and how far the model has reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpreadRow {
    pub region_id: i64,
    pub code: String,
    pub name: String,
    /// Depth below the subtree's root (0: the root).
    pub depth: usize,
    /// First applied rollout: when, and from which source region (its code).
    pub adopted_at: Option<i64>,
    pub source_code: Option<String>,
    /// Targets of runs not yet applied (a resume will apply them).
    pub pending: i64,
    /// Targets refused or failed, with no applied rollout since.
    pub refused: i64,
}

/// Every open region of the subtree at `path` with its adoption and pending targets, in tree
/// order: the province admin's view of a spread done region by region.
pub async fn spread(conn: &mut AnyConnection, path: &str) -> Result<Vec<SpreadRow>, StoreError> {
    let regions = crate::regions::subtree(&mut *conn, path).await?;
    let root_depth = path.matches('/').count();
    let adopted = adoptions(conn, path).await?;
    let codes: HashMap<i64, String> = regions.iter().map(|r| (r.id, r.code.clone())).collect();
    let rows = sqlx::query(
        "SELECT t.region_id, t.state, t.updated_at FROM rollout_targets t JOIN regions g ON g.id = t.region_id
         WHERE g.path LIKE $1 AND t.state <> 'applied'",
    )
    .bind(format!("{path}%"))
    .fetch_all(&mut *conn)
    .await?;
    let mut pending: HashMap<i64, i64> = HashMap::new();
    let mut refused: HashMap<i64, i64> = HashMap::new();
    for r in rows {
        let region: i64 = r.try_get("region_id")?;
        let state: String = r.try_get("state")?;
        let at: i64 = r.try_get("updated_at")?;
        if state == "pending" {
            *pending.entry(region).or_default() += 1;
        } else if adopted.get(&region).is_none_or(|(a, _)| *a < at) {
            *refused.entry(region).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for r in regions.into_iter().filter(|r| r.closed_at.is_none()) {
        let a = adopted.get(&r.id);
        let source_code = match a {
            Some((_, s)) => match codes.get(s) {
                Some(c) => Some(c.clone()),
                None => Some(crate::regions::get(&mut *conn, *s).await?.code),
            },
            None => None,
        };
        out.push(SpreadRow {
            region_id: r.id,
            depth: r.path.matches('/').count().saturating_sub(root_depth),
            adopted_at: a.map(|(at, _)| *at),
            source_code,
            pending: pending.get(&r.id).copied().unwrap_or(0),
            refused: refused.get(&r.id).copied().unwrap_or(0),
            code: r.code,
            name: r.name,
        });
    }
    Ok(out)
}
