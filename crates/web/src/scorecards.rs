//! Monthly scorecards (月度排名), the public satisfaction page and the big screen (大屏): all read
//! the same month figures as the dashboards (`ratings::dashboard::compute`), so whatever the
//! dashboards learn to count flows in here too. A month is frozen once into a snapshot.
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ratings::dashboard::{self, Figures};
use crate::state::AppState;
use onestop_domain::rating::{ScorecardRule, ScorecardSetting};
use onestop_domain::region::RegionPath;
use onestop_domain::role::Permission;
use onestop_domain::scorecard::{self as sc, Entry, Indicator, Month};
use onestop_store::ratings::{self as rstore, Scope};
use onestop_store::regions::{self, Region};
use onestop_store::scorecards::{self as store, Freeze, SnapshotRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The three kinds of subject, each ranked among its own peers.
pub const KINDS: [(&str, &str); 3] = [("window", "窗口"), ("person", "工作人员"), ("department", "部门")];

/// The objective figures a rank rests on, as 0..=1 goodness with a weight. THE extension point:
/// a figure added to the dashboards' `Figures` (e.g. the cases' on-time rate) becomes part of
/// the ranking by one line here; nothing else changes (snapshots keep the indicators they were
/// frozen with). Service time is shown beside the rank but not scored: it depends on the matter
/// handled, and scoring it would reward rushing.
pub fn indicators(f: &Figures) -> Vec<Indicator> {
    let t = &f.ticket_ratings;
    let c = &f.case_ratings;
    let counted = |r: &dashboard::RatingFigures| (r.rated - r.excluded).max(0);
    let not_bad = |r: &dashboard::RatingFigures| {
        let n = counted(r);
        (n > 0).then(|| 1.0 - r.bad as f64 / n as f64)
    };
    let on_time =
        |r: &dashboard::RatingFigures| (r.followups > 0).then(|| r.rectified_on_time as f64 / r.followups as f64);
    vec![
        Indicator::new("ticket_satisfaction", "一次一评满意率", 30, t.satisfaction),
        Indicator::new("ticket_not_bad", "一次一评非差评率", 15, not_bad(t)),
        Indicator::new("case_satisfaction", "一事一评满意率", 15, c.satisfaction),
        Indicator::new(
            "wait_within_30",
            "等候不超30分钟占比",
            15,
            f.service.share_wait_over_30.map(|s| 1.0 - s),
        ),
        Indicator::new("ticket_followup_on_time", "一次一评差评按期整改率", 15, on_time(t)),
        Indicator::new("case_followup_on_time", "一事一评差评按期整改率", 10, on_time(c)),
        // Cases concluded on time against the promised deadline (the case counters of
        // `ratings::cases`); a subject that concluded no case this month is not judged on it.
        Indicator::new("case_on_time", "办件按期办结率", 15, f.cases.on_time_rate),
        // Add further objective figures here as they reach `Figures`.
    ]
}

/// The sample a rank needs: the month's real ratings, each series counted on its own and the
/// counts added (the figures of the two series stay apart in the indicators).
pub fn sample(f: &Figures) -> u32 {
    let n = |r: &dashboard::RatingFigures| (r.rated - r.excluded).max(0);
    u32::try_from(n(&f.ticket_ratings) + n(&f.case_ratings)).unwrap_or(u32::MAX)
}

/// What a snapshot row keeps as its figures: everything behind the rank.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Card {
    pub sample: u32,
    #[schema(value_type = Vec<Object>)]
    pub indicators: Vec<Indicator>,
    /// The dashboard figures of the month (`Figures`), as JSON.
    #[schema(value_type = Object)]
    pub figures: serde_json::Value,
}

/// One subject in a scorecard table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardRow {
    pub subject_id: i64,
    pub name: String,
    /// `None`: below the minimum sample (not ranked).
    pub rank: Option<i64>,
    pub peers: i64,
    /// Composite score, 0..=1000.
    pub score_permille: Option<i64>,
    pub bottom: bool,
    /// 约谈: in the bottom group this month and the months before, as the rule says.
    pub talk: bool,
    pub card: Card,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardTable {
    pub kind: String,
    pub label: String,
    pub rows: Vec<CardRow>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scorecards {
    pub region_id: i64,
    pub region_name: String,
    pub month: String,
    /// Set when the month is frozen: the tables are the snapshot. Otherwise they are computed
    /// now and may still change (the month is open, or not frozen yet).
    #[schema(value_type = Option<Object>)]
    pub frozen: Option<Freeze>,
    #[schema(value_type = Object)]
    pub rule: ScorecardRule,
    pub tables: Vec<CardTable>,
}

#[derive(Debug, Clone, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScorecardQuery {
    /// Region id; default: the caller's own region.
    #[serde(default)]
    pub region: Option<i64>,
    /// YYYY-MM; default: last month.
    #[serde(default)]
    pub month: Option<String>,
}

async fn rule_of(state: &AppState, region_id: i64) -> ApiResult<ScorecardRule> {
    let mut conn = state
        .store
        .read()
        .acquire()
        .await
        .map_err(onestop_store::StoreError::from)?;
    Ok(
        onestop_store::region_settings::effective::<ScorecardSetting>(&mut conn, region_id)
            .await?
            .value,
    )
}

fn to_row(r: &SnapshotRow) -> ApiResult<CardRow> {
    let card: Card = serde_json::from_str(&r.figures).map_err(|_| ApiError::internal())?;
    Ok(CardRow {
        subject_id: r.subject_id,
        name: r.subject_name.clone(),
        rank: r.rank,
        peers: r.peers,
        score_permille: r.score_permille,
        bottom: r.bottom != 0,
        talk: r.talk != 0,
        card,
    })
}

/// Computes a region's month now, every kind: figures per subject, ranks, bottom group and the
/// 约谈 flags against the earlier frozen months. `progress(done, total)` is called per subject.
pub async fn compute(
    state: &AppState,
    region: &Region,
    month: Month,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> ApiResult<Vec<SnapshotRow>> {
    let rule = rule_of(state, region.id).await?;
    let db = state.store.read();
    let mut peers = Vec::new();
    for (kind, _) in KINDS {
        for p in store::peers(db, &region.path, kind).await? {
            peers.push((kind, p));
        }
    }
    let total = peers.len();
    let mut out: Vec<SnapshotRow> = Vec::with_capacity(total);
    let mut cards: Vec<Card> = Vec::with_capacity(total);
    for (i, (kind, p)) in peers.iter().enumerate() {
        let scope = match *kind {
            "window" => Scope::Window(p.id),
            "person" => Scope::Person(p.id),
            _ => Scope::Department(p.id),
        };
        let d = dashboard::compute(
            state,
            scope,
            p.name.clone(),
            kind,
            p.id,
            month.first_day(),
            month.last_day(),
            "month",
        )
        .await?;
        let card = Card {
            sample: sample(&d.totals),
            indicators: indicators(&d.totals),
            figures: serde_json::to_value(&d.totals).map_err(|_| ApiError::internal())?,
        };
        out.push(SnapshotRow {
            region_id: region.id,
            month: month.to_string(),
            kind: (*kind).to_owned(),
            subject_id: p.id,
            subject_name: p.name.clone(),
            rank: None,
            peers: 0,
            score_permille: sc::score_permille(&card.indicators),
            figures: String::new(),
            bottom: 0,
            talk: 0,
            frozen_at: 0,
        });
        cards.push(card);
        progress(i + 1, total);
    }
    // Rank each kind among its own peers; the earlier months' bottom groups decide the talks.
    let earlier_months: Vec<String> = {
        let mut m = month;
        (1..rule.talk_after_months)
            .map(|_| {
                m = m.prev();
                m.to_string()
            })
            .collect()
    };
    for (kind, _) in KINDS {
        let idx: Vec<usize> = (0..out.len()).filter(|&i| out[i].kind == kind).collect();
        let entries: Vec<Entry> = idx
            .iter()
            .map(|&i| Entry {
                subject_id: out[i].subject_id,
                sample: cards[i].sample,
                score_permille: out[i].score_permille,
            })
            .collect();
        let placed = sc::rank(&rule, &entries);
        let mut earlier = Vec::new();
        for m in &earlier_months {
            earlier.push(store::bottom_of(db, region.id, m, kind).await?);
        }
        for (&i, p) in idx.iter().zip(placed) {
            let was: Vec<bool> = earlier.iter().map(|set| set.contains(&p.subject_id)).collect();
            out[i].rank = p.rank.map(i64::from);
            out[i].peers = i64::from(p.peers);
            out[i].bottom = i64::from(p.bottom);
            out[i].talk = i64::from(sc::talk(&rule, p.bottom, &was));
        }
    }
    for (row, card) in out.iter_mut().zip(&cards) {
        row.figures = serde_json::to_string(card).map_err(|_| ApiError::internal())?;
    }
    Ok(out)
}

/// The outcome of a freeze: `frozen` is false when the month was already frozen (nothing written).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FreezeOutcome {
    pub region_id: i64,
    pub region_code: String,
    pub month: String,
    pub frozen: bool,
    pub subjects: usize,
}

/// Refuses a month that has not ended yet: its figures are still moving.
pub fn check_month_over(state: &AppState, month: Month) -> ApiResult<()> {
    let today = rstore::local_date(state.clock.now());
    if Month::of(today) <= month {
        return Err(ApiError::validation(
            "scorecard_month_open",
            format!("{month} 尚未结束，不能冻结"),
        ));
    }
    Ok(())
}

/// Freezes a region's month once: computes it and writes the snapshot in one transaction; a
/// month already frozen is left as it was (idempotent, also across processes).
pub async fn freeze(
    state: &AppState,
    region: &Region,
    month: Month,
    by: &str,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> ApiResult<FreezeOutcome> {
    check_month_over(state, month)?;
    let key = month.to_string();
    let mut outcome = FreezeOutcome {
        region_id: region.id,
        region_code: region.code.clone(),
        month: key.clone(),
        frozen: false,
        subjects: 0,
    };
    if let Some(f) = store::freeze_of(state.store.read(), region.id, &key).await? {
        outcome.subjects = f.subjects as usize;
        return Ok(outcome);
    }
    let rows = compute(state, region, month, progress).await?;
    let now = state.clock.now();
    let (region_id, by) = (region.id, by.to_owned());
    let n = rows.len();
    let frozen = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let done = store::freeze(tx, region_id, &key, &rows, &by, now).await?;
                if done {
                    tx.audit(onestop_store::audit::AuditEntry {
                        region_id,
                        at: now,
                        actor: by.clone(),
                        action: "scorecard.freeze",
                        entity: "scorecard",
                        entity_id: format!("{region_id}:{key}"),
                        detail: serde_json::json!({"month": key, "subjects": rows.len()}),
                    })
                    .await?;
                }
                Ok::<_, onestop_store::StoreError>(done)
            })
        })
        .await?;
    outcome.frozen = frozen;
    outcome.subjects = n;
    Ok(outcome)
}

/// How often the freeze job looks for a month to freeze.
pub const FREEZE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// The background job: freezes last month for every region with halls, once (each region's
/// month is skipped when already frozen). Runs under the `scorecard-freeze` lease.
pub async fn freeze_last_month(state: &AppState) -> ApiResult<usize> {
    let month = Month::of(rstore::local_date(state.clock.now())).prev();
    let mut n = 0;
    for (id, _) in store::regions_with_halls(state.store.read()).await? {
        let region = regions::get(state.store.read(), id).await?;
        if freeze(state, &region, month, "job", &mut |_, _| {}).await?.frozen {
            n += 1;
        }
    }
    if n > 0 {
        tracing::info!(month = %month, regions = n, "scorecards frozen");
    }
    Ok(n)
}

/// The region a caller asks for (default: their own), checked for supervision read.
pub async fn region_for(state: &AppState, p: &Principal, id: Option<i64>) -> ApiResult<Region> {
    let id = match id {
        Some(id) => id,
        None => p
            .grants
            .iter()
            .filter(|g| g.role.allows(Permission::SupervisionRead))
            .min_by_key(|g| g.region_path.as_str().len())
            .map(|g| g.region_id)
            .ok_or_else(ApiError::forbidden)?,
    };
    let r = regions::get(state.store.read(), id).await?;
    if !p.can(Permission::SupervisionRead, &RegionPath::from_stored(r.path.clone())) {
        return Err(ApiError::not_found());
    }
    Ok(r)
}

pub fn month_or_last(state: &AppState, raw: Option<&str>) -> ApiResult<Month> {
    match raw.filter(|s| !s.is_empty()) {
        Some(raw) => Ok(Month::parse(raw)?),
        None => Ok(Month::of(rstore::local_date(state.clock.now())).prev()),
    }
}

/// The scorecards of a region's month: the frozen snapshot if there is one, else computed now.
pub async fn scorecards(state: &AppState, p: &Principal, q: &ScorecardQuery) -> ApiResult<Scorecards> {
    let region = region_for(state, p, q.region).await?;
    let month = month_or_last(state, q.month.as_deref())?;
    let key = month.to_string();
    let frozen = store::freeze_of(state.store.read(), region.id, &key).await?;
    let mut tables = Vec::new();
    let live = if frozen.is_none() {
        Some(compute(state, &region, month, &mut |_, _| {}).await?)
    } else {
        None
    };
    for (kind, label) in KINDS {
        let rows: Vec<SnapshotRow> = match &live {
            Some(rows) => {
                let mut v: Vec<SnapshotRow> = rows.iter().filter(|r| r.kind == kind).cloned().collect();
                v.sort_by_key(|r| (r.rank.is_none(), r.rank, r.subject_id));
                v
            }
            None => store::snapshot(state.store.read(), region.id, &key, kind).await?,
        };
        tables.push(CardTable {
            kind: kind.to_owned(),
            label: label.to_owned(),
            rows: rows.iter().map(to_row).collect::<ApiResult<_>>()?,
        });
    }
    Ok(Scorecards {
        region_id: region.id,
        region_name: region.name.clone(),
        month: key,
        frozen,
        rule: rule_of(state, region.id).await?,
        tables,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_default()
}

fn fig(card: &Card, pointer: &str, scale: f64, percent: bool) -> String {
    match card.figures.pointer(pointer) {
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(x) if percent => pct(Some(x)),
            Some(x) if scale == 1.0 && n.is_i64() => format!("{x}"),
            Some(x) => format!("{:.1}", x * scale),
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// The figures columns shown beside every rank (page, .xlsx and CSV).
pub const FIGURE_COLUMNS: [(&str, &str, bool); 9] = [
    ("办事人次", "/service/visitors", false),
    ("平均等候(分)", "/service/avg_wait_min", false),
    ("等候超30分钟占比", "/service/share_wait_over_30", true),
    ("平均办理(分)", "/service/avg_service_min", false),
    ("一次一评满意率", "/ticket_ratings/satisfaction", true),
    ("一次一评差评", "/ticket_ratings/bad", false),
    ("一事一评满意率", "/case_ratings/satisfaction", true),
    ("整改率", "/ticket_ratings/followup_rate", true),
    ("整改超期", "/ticket_ratings/overdue", false),
];

/// The cells of one row: rank, name, score, sample, the figures, bottom, 约谈.
pub fn cells(r: &CardRow) -> Vec<String> {
    let mut v = vec![
        r.rank
            .map(|x| format!("{x}/{}", r.peers))
            .unwrap_or_else(|| "样本不足".into()),
        r.name.clone(),
        r.score_permille
            .map(|s| format!("{:.1}", s as f64 / 10.0))
            .unwrap_or_default(),
        r.card.sample.to_string(),
    ];
    for (_, pointer, percent) in FIGURE_COLUMNS {
        v.push(fig(&r.card, pointer, 1.0, percent));
    }
    v.push(if r.bottom { "末位".into() } else { String::new() });
    v.push(if r.talk { "约谈".into() } else { String::new() });
    v
}

pub fn header() -> Vec<String> {
    let mut h: Vec<String> = ["排名", "名称", "综合得分", "评价样本"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    h.extend(FIGURE_COLUMNS.iter().map(|c| c.0.to_owned()));
    h.push("末位".into());
    h.push("约谈".into());
    h
}

/// The scorecards as one sheet: a title row per kind, its header, its rows.
pub fn sheet(s: &Scorecards) -> onestop_workbook::Sheet {
    let mut rows = vec![vec![format!(
        "{} {} 月度排名{}",
        s.region_name,
        s.month,
        if s.frozen.is_some() {
            "（已冻结）"
        } else {
            "（未冻结，实时计算）"
        }
    )]];
    for t in &s.tables {
        rows.push(vec![t.label.clone()]);
        rows.push(header());
        rows.extend(t.rows.iter().map(cells));
    }
    onestop_workbook::Sheet {
        name: "月度排名".into(),
        rows,
    }
}

// ---- public page -------------------------------------------------------------------------------

/// One hall's published figures: satisfaction by month (both series apart), no personal data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicHall {
    pub hall_id: i64,
    pub hall_name: String,
    pub region_name: String,
    pub month: String,
    pub visitors: i64,
    pub ticket_rated: i64,
    pub ticket_satisfaction: Option<f64>,
    pub case_rated: i64,
    pub case_satisfaction: Option<f64>,
    pub bad: i64,
    pub rectified: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicRectification {
    pub series: String,
    /// Date of the review (YYYY-MM-DD).
    pub rated_on: String,
    pub rectified_on: String,
    pub note: String,
    /// The rater's view of the fix at the call back, if called back.
    pub callback: String,
}

/// Masks what looks like an ID number or a phone number in free text written by staff: a note is
/// published, and people sometimes paste such numbers into it.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 7 {
            out.push_str(&"*".repeat(run.chars().count()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_digit() || ((ch == 'X' || ch == 'x') && !run.is_empty()) {
            run.push(ch);
        } else {
            flush(&mut run, &mut out);
            out.push(ch);
        }
    }
    flush(&mut run, &mut out);
    out
}

pub async fn public_hall(state: &AppState, hall: &onestop_store::org::Hall, month: Month) -> ApiResult<PublicHall> {
    let d = dashboard::compute(
        state,
        Scope::Hall(hall.id),
        hall.name.clone(),
        "hall",
        hall.id,
        month.first_day(),
        month.last_day(),
        "month",
    )
    .await?;
    let t = &d.totals;
    let region = regions::get(state.store.read(), hall.region_id).await?;
    Ok(PublicHall {
        hall_id: hall.id,
        hall_name: hall.name.clone(),
        region_name: region.name,
        month: month.to_string(),
        visitors: t.service.visitors,
        ticket_rated: t.ticket_ratings.rated,
        ticket_satisfaction: t.ticket_ratings.satisfaction,
        case_rated: t.case_ratings.rated,
        case_satisfaction: t.case_ratings.satisfaction,
        bad: t.ticket_ratings.bad + t.case_ratings.bad,
        rectified: t.ticket_ratings.rectified + t.case_ratings.rectified,
    })
}

/// One rate limit for the public pages and API per client address: each request reads every
/// hall's counters, so an anonymous caller must not be able to make the server do that at will.
pub async fn limit_public(state: &AppState, parts: &axum::http::request::Parts) -> ApiResult<()> {
    let client = crate::auth::client_ip(state, parts)
        .map(|c| c.to_string())
        .unwrap_or_default();
    crate::auth::rate_limit(
        state,
        format!("public:addr:{client}"),
        300,
        jiff::SignedDuration::from_mins(10),
    )
    .await
}

/// Every open hall's figures for a month (this month so far by default).
pub async fn public_halls(state: &AppState, month: Option<&str>) -> ApiResult<(Month, Vec<PublicHall>)> {
    let month = match month.filter(|m| !m.is_empty()) {
        Some(m) => Month::parse(m)?,
        None => Month::of(rstore::local_date(state.clock.now())),
    };
    let mut out = Vec::new();
    for h in onestop_store::org::halls_in(state.store.read(), "/").await? {
        if h.closed_at.is_none() {
            out.push(public_hall(state, &h, month).await?);
        }
    }
    Ok((month, out))
}

pub async fn public_rectifications(state: &AppState, hall_id: i64) -> ApiResult<Vec<PublicRectification>> {
    let day = |ms: i64| rstore::local_date(onestop_store::ts(ms)).to_string();
    Ok(store::public_rectifications(state.store.read(), hall_id, 50)
        .await?
        .into_iter()
        .map(|r| PublicRectification {
            series: onestop_domain::rating::Series::parse(&r.series)
                .map(|s| s.label().to_owned())
                .unwrap_or_default(),
            rated_on: day(r.rated_on),
            rectified_on: r.rectified_at.map(day).unwrap_or_default(),
            note: mask_numbers(&r.rectify_note),
            callback: r
                .callback_view
                .as_deref()
                .and_then(|v| onestop_domain::rating::CallbackView::parse(v).ok())
                .map(|v| v.label().to_owned())
                .unwrap_or_default(),
        })
        .collect())
}

// ---- big screen --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BigScreenHall {
    pub hall_id: i64,
    pub name: String,
    pub visitors: i64,
    pub satisfaction: Option<f64>,
}

/// What the wall display shows for a region, refreshed by the page every few seconds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BigScreen {
    pub region_id: i64,
    pub region_name: String,
    /// Local time of the figures (HH:MM:SS).
    pub at: String,
    pub visitors_today: i64,
    pub waiting_now: i64,
    pub avg_wait_min_today: Option<f64>,
    /// 一次一评 satisfaction this month so far.
    pub satisfaction_month: Option<f64>,
    pub bad_month: i64,
    /// Bad-review follow-ups past their rectification deadline (red) and still within it (yellow).
    pub warnings_red: i64,
    pub warnings_yellow: i64,
    /// Halls by this month's satisfaction (best first; halls without ratings last).
    pub ranking: Vec<BigScreenHall>,
    /// The last 30 days: dates, visitors, satisfaction.
    pub trend_days: Vec<String>,
    pub trend_visitors: Vec<i64>,
    pub trend_satisfaction: Vec<Option<f64>>,
}

pub async fn bigscreen(state: &AppState, p: &Principal, region: Option<i64>) -> ApiResult<BigScreen> {
    let region = region_for(state, p, region).await?;
    let now = state.clock.now();
    let today = rstore::local_date(now);
    let scope = Scope::Region(region.path.clone());
    let day = dashboard::compute(
        state,
        scope.clone(),
        region.name.clone(),
        "region",
        region.id,
        today,
        today,
        "day",
    )
    .await?;
    let start = today.checked_sub(jiff::Span::new().days(29)).unwrap_or(today);
    let trend = dashboard::compute(
        state,
        scope.clone(),
        region.name.clone(),
        "region",
        region.id,
        start,
        today,
        "day",
    )
    .await?;
    let month = dashboard::compute(
        state,
        scope,
        region.name.clone(),
        "region",
        region.id,
        today.first_of_month(),
        today,
        "day",
    )
    .await?;
    let db = state.store.read();
    let waiting_now = store::waiting_now(db, &region.path).await?;
    let (red, yellow) = store::followup_warnings(db, &region.path, today).await?;
    let mut ranking = Vec::new();
    for h in onestop_store::org::halls_in(db, &region.path).await? {
        if h.closed_at.is_some() {
            continue;
        }
        let d = dashboard::compute(
            state,
            Scope::Hall(h.id),
            h.name.clone(),
            "hall",
            h.id,
            today.first_of_month(),
            today,
            "day",
        )
        .await?;
        ranking.push(BigScreenHall {
            hall_id: h.id,
            name: h.name.clone(),
            visitors: d.totals.service.visitors,
            satisfaction: d.totals.ticket_ratings.satisfaction,
        });
    }
    ranking.sort_by(|a, b| {
        b.satisfaction
            .is_some()
            .cmp(&a.satisfaction.is_some())
            .then(b.satisfaction.unwrap_or(0.0).total_cmp(&a.satisfaction.unwrap_or(0.0)))
            .then(b.visitors.cmp(&a.visitors))
    });
    ranking.truncate(15);
    Ok(BigScreen {
        region_id: region.id,
        region_name: region.name.clone(),
        at: now.to_zoned(rstore::zone()).strftime("%H:%M:%S").to_string(),
        visitors_today: day.totals.service.visitors,
        waiting_now,
        avg_wait_min_today: day.totals.service.avg_wait_min,
        satisfaction_month: month.totals.ticket_ratings.satisfaction,
        bad_month: month.totals.ticket_ratings.bad,
        warnings_red: red,
        warnings_yellow: yellow,
        ranking,
        trend_days: trend.points.iter().map(|p| p.start.clone()).collect(),
        trend_visitors: trend.points.iter().map(|p| p.figures.service.visitors).collect(),
        trend_satisfaction: trend
            .points
            .iter()
            .map(|p| p.figures.ticket_ratings.satisfaction)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_notes_lose_long_numbers() {
        assert_eq!(
            mask_numbers("已联系13912345678，身份证11010519491231002X；窗口3号"),
            "已联系***********，身份证******************；窗口3号"
        );
    }
}
