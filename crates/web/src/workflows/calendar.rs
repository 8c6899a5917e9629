//! The working-day calendar (工作日历) as use cases, shared by the JSON API, the admin page and the
//! CLI: the days of a region's calendar with where each closure comes from, a deadline counted on
//! it (flagged, never guessed, when it runs past the loaded years), closures added and removed, and
//! year files loaded for the whole country or as a region's own variant. The calendar itself is
//! `onestop_store::calendars` (layered live down the region tree).
use super::{conn, origin_region, readable_region};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use jiff::civil::Date;
use onestop_domain::calendar::{DayKind, is_not_covered};
use onestop_domain::role::Permission;
use onestop_store::StoreError;
use onestop_store::audit::{AuditEntry, SYSTEM_CHAIN};
use onestop_store::calendars::{self as store, ClosureRow, RegionCalendar, YearInfo};
use onestop_store::catalogue::OriginRegion;
use onestop_store::regions;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// Most days one calendar request returns.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Most working days a deadline may be counted over (the longest limits are well below).
pub const MAX_DEADLINE_DAYS: u32 = 1000;

/// One day of a region's calendar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayInfo {
    #[schema(value_type = String, example = "2026-03-18")]
    pub date: Date,
    /// 1 = Monday … 7 = Sunday.
    pub weekday: i8,
    /// `workday`, `weekend`, `holiday`, `makeup` (调休上班), `closed`, or `not_covered` (outside the
    /// loaded years: unknown, never counted).
    pub kind: &'static str,
    /// Whether deadlines count it; absent when not covered.
    pub working: Option<bool>,
    /// The holiday's name, the holiday a make-up day is worked for, or a closure's reason.
    pub label: Option<String>,
    /// The region whose closure this is.
    #[schema(value_type = Option<Object>)]
    pub closure_region: Option<OriginRegion>,
}

/// The days of `[from, to]` as `rc` has them.
pub fn days_of(rc: &RegionCalendar, from: Date, to: Date) -> Vec<DayInfo> {
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        let (kind, working, label) = match rc.calendar.day_kind(d) {
            Ok(k) => {
                let working = Some(k.is_working());
                match k {
                    DayKind::Workday => ("workday", working, None),
                    DayKind::Weekend => ("weekend", working, None),
                    DayKind::Holiday(n) => ("holiday", working, Some(n.to_owned())),
                    DayKind::MakeupWorkday(n) => ("makeup", working, Some(n.to_owned())),
                    DayKind::Closed(r) => ("closed", working, Some(r.to_owned())),
                }
            }
            Err(_) => ("not_covered", None, None),
        };
        // The closure in force on a date is the deepest region's (the store lists them root first).
        let closure_region = (kind == "closed")
            .then(|| rc.closures.iter().rev().find(|c| c.date == d).map(|c| c.region.clone()))
            .flatten();
        out.push(DayInfo {
            date: d,
            weekday: d.weekday().to_monday_one_offset(),
            kind,
            working,
            label,
            closure_region,
        });
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    out
}

/// A region's calendar over a range of days.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarView {
    #[schema(value_type = Object)]
    pub region: OriginRegion,
    /// First and last day of the loaded years.
    #[schema(value_type = String)]
    pub covered_from: Date,
    #[schema(value_type = String)]
    pub covered_to: Date,
    /// Years in force, with where each comes from (`builtin`, `national`, or a region's variant).
    #[schema(value_type = Vec<Object>)]
    pub years: Vec<YearInfo>,
    /// Closures in force (the region's own and those of every region above it), root first.
    #[schema(value_type = Vec<Object>)]
    pub closures: Vec<ClosureRow>,
    pub days: Vec<DayInfo>,
}

fn range_error(message: impl Into<String>) -> ApiError {
    ApiError::validation("calendar_range_invalid", message)
}

/// The calendar in force at `region_id` with its days from `from` to `to` (both inclusive, at
/// most 366 days).
pub async fn view(state: &AppState, p: &Principal, region_id: i64, from: Date, to: Date) -> ApiResult<CalendarView> {
    let region = readable_region(state, p, region_id).await?;
    if to < from {
        return Err(range_error("结束日期不能早于开始日期"));
    }
    let span = from.until(to).map(|s| s.get_days()).unwrap_or(i32::MAX);
    if i64::from(span) >= MAX_RANGE_DAYS {
        return Err(range_error(format!("一次最多查询 {MAX_RANGE_DAYS} 天")));
    }
    let rc = store::region_calendar(&mut *conn(state).await?, region_id).await?;
    let (covered_from, covered_to) = rc.calendar.covered_range();
    Ok(CalendarView {
        region: origin_region(&region),
        covered_from,
        covered_to,
        days: days_of(&rc, from, to),
        years: rc.years,
        closures: rc.closures,
    })
}

/// A deadline counted on a region's calendar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deadline {
    #[schema(value_type = String)]
    pub from: Date,
    pub days: u32,
    /// The `days`-th working day after `from`; absent when it cannot be counted.
    #[schema(value_type = Option<String>)]
    pub deadline: Option<Date>,
    /// The count runs past the loaded calendar (计算日期超出已加载的工作日历): load that year first.
    pub beyond_calendar: bool,
    /// `calendar_date_not_covered` when beyond the calendar.
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The `days`-th working day after `from` at `region_id` (the day itself does not count), or the
/// flag that it lies beyond the loaded calendar.
pub async fn deadline(state: &AppState, p: &Principal, region_id: i64, from: Date, days: u32) -> ApiResult<Deadline> {
    readable_region(state, p, region_id).await?;
    if days > MAX_DEADLINE_DAYS {
        let mut e = ApiError::validation(
            "deadline_days_invalid",
            format!("工作日数须在 0 到 {MAX_DEADLINE_DAYS} 之间"),
        );
        e.fields.push(crate::error::FieldError {
            field: "days".into(),
            code: "deadline_days_invalid".into(),
            message: e.message.clone(),
        });
        return Err(e);
    }
    let cal = store::calendar_for(&mut *conn(state).await?, region_id).await?;
    // The start day must be known too: a count from an unknown day is as unknown as one into it.
    let counted = cal.day_kind(from).and_then(|_| cal.add_working_days(from, days));
    Ok(match counted {
        Ok(d) => Deadline {
            from,
            days,
            deadline: Some(d),
            beyond_calendar: false,
            code: None,
            message: None,
        },
        Err(e) if is_not_covered(&e) => Deadline {
            from,
            days,
            deadline: None,
            beyond_calendar: true,
            code: Some(e.code().to_owned()),
            message: Some(e.to_string()),
        },
        Err(e) => return Err(e.into()),
    })
}

fn cn(d: Date) -> String {
    crate::catalogue::show_date(d)
}

async fn writable_region(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<regions::Region> {
    let r = readable_region(state, p, region_id).await?;
    p.require(Permission::SettingsWrite, &r.region_path())?;
    Ok(r)
}

/// Whether `p` keeps the national calendar: the settings of a root region (the province's admins;
/// the State Council's notice is the same for every province).
pub async fn may_keep_national(state: &AppState, p: &Principal) -> ApiResult<bool> {
    let roots = regions::roots(state.store.read()).await?;
    Ok(roots.iter().any(|r| p.can(Permission::SettingsWrite, &r.region_path())))
}

async fn require_national(state: &AppState, p: &Principal) -> ApiResult<()> {
    if may_keep_national(state, p).await? {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Closes `date` at `region_id` (and every region below it).
pub async fn add_closure(
    state: &AppState,
    p: &Principal,
    region_id: i64,
    date: Date,
    reason: &str,
) -> ApiResult<ClosureRow> {
    writable_region(state, p, region_id).await?;
    let at = state.clock.now();
    let actor = p.actor();
    let reason = reason.to_owned();
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let c = store::add_closure(tx, region_id, date, &reason, at, &actor).await?;
                tx.audit(AuditEntry {
                    region_id,
                    at,
                    actor,
                    action: "calendar.closure.add",
                    entity: "calendar_closure",
                    entity_id: format!("{region_id}:{date}"),
                    detail: json!({"date": date.to_string(), "reason": c.reason}),
                })
                .await?;
                Ok::<_, StoreError>(c)
            })
        })
        .await?)
}

/// Reopens a date the region itself closed. A closure set above it is not the region's to remove
/// (409 `calendar_closure_inherited`); a date that is not closed is 404 `calendar_closure_unknown`.
pub async fn remove_closure(state: &AppState, p: &Principal, region_id: i64, date: Date) -> ApiResult<()> {
    writable_region(state, p, region_id).await?;
    let at = state.clock.now();
    let actor = p.actor();
    let removed = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let removed = store::remove_closure(tx, region_id, date).await?;
                if let Some(c) = &removed {
                    tx.audit(AuditEntry {
                        region_id,
                        at,
                        actor,
                        action: "calendar.closure.remove",
                        entity: "calendar_closure",
                        entity_id: format!("{region_id}:{date}"),
                        detail: json!({"date": date.to_string(), "reason": c.reason}),
                    })
                    .await?;
                }
                Ok::<_, StoreError>(removed)
            })
        })
        .await?;
    if removed.is_some() {
        return Ok(());
    }
    let rc = store::region_calendar(&mut *conn(state).await?, region_id).await?;
    match rc.closures.iter().rev().find(|c| c.date == date) {
        Some(c) => Err(ApiError::conflict(
            "calendar_closure_inherited",
            format!("{}的闭厅由{}设置，只能由{}撤销", cn(date), c.region.name, c.region.name),
        )),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "calendar_closure_unknown",
            format!("{}不是本级闭厅日", cn(date)),
        )),
    }
}

/// Loads a year file for the whole country (`region_id` None) or as the region's own variant.
pub async fn import_year(state: &AppState, p: &Principal, region_id: Option<i64>, text: &str) -> ApiResult<YearInfo> {
    match region_id {
        Some(id) => {
            writable_region(state, p, id).await?;
        }
        None => require_national(state, p).await?,
    }
    let at = state.clock.now();
    let actor = p.actor();
    let text = text.to_owned();
    Ok(state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let y = store::import_year(tx, region_id, &text, at, &actor).await?;
                tx.audit(AuditEntry {
                    region_id: region_id.unwrap_or(SYSTEM_CHAIN),
                    at,
                    actor,
                    action: "calendar.year.import",
                    entity: "calendar_year",
                    entity_id: format!("{}:{}", region_id.map_or("national".to_owned(), |r| r.to_string()), y.year),
                    detail: json!({"year": y.year, "source": y.source, "holidays": y.holidays, "makeup_days": y.makeup_days}),
                })
                .await?;
                Ok::<_, StoreError>(y)
            })
        })
        .await?)
}

/// Removes a loaded year (national, or the region's variant); 404 `calendar_year_unknown` when
/// that level has not loaded it (a built-in year cannot be removed).
pub async fn remove_year(state: &AppState, p: &Principal, region_id: Option<i64>, year: i16) -> ApiResult<()> {
    match region_id {
        Some(id) => {
            writable_region(state, p, id).await?;
        }
        None => require_national(state, p).await?,
    }
    let at = state.clock.now();
    let actor = p.actor();
    let removed = state
        .store
        .write(move |tx| {
            Box::pin(async move {
                let removed = store::remove_year(tx, region_id, year).await?;
                if removed {
                    tx.audit(AuditEntry {
                        region_id: region_id.unwrap_or(SYSTEM_CHAIN),
                        at,
                        actor,
                        action: "calendar.year.remove",
                        entity: "calendar_year",
                        entity_id: format!("{}:{year}", region_id.map_or("national".to_owned(), |r| r.to_string())),
                        detail: json!({"year": year}),
                    })
                    .await?;
                }
                Ok::<_, StoreError>(removed)
            })
        })
        .await?;
    if removed {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "calendar_year_unknown",
            format!("没有在此载入的 {year} 年工作日历（内置年份不能删除）"),
        ))
    }
}

/// The national calendar's years (built-in and loaded).
pub async fn national_years(state: &AppState, p: &Principal) -> ApiResult<Vec<YearInfo>> {
    p.require_any(Permission::RegionRead)?;
    Ok(store::national(&mut *conn(state).await?).await?.years)
}

/// Years loaded as `region_id`'s own variants.
pub async fn own_years(state: &AppState, p: &Principal, region_id: i64) -> ApiResult<Vec<YearInfo>> {
    readable_region(state, p, region_id).await?;
    Ok(store::own_years(&mut *conn(state).await?, Some(region_id)).await?)
}

/// Parses a date given as text (`2026-03-18`), for paths, queries and forms.
pub fn parse_date(raw: &str, field: &'static str) -> ApiResult<Date> {
    raw.trim().parse::<Date>().map_err(|_| {
        let mut e = ApiError::validation(
            "date_invalid",
            format!("“{raw}”不是有效的日期，应为 2026-03-18 这样的格式"),
        );
        e.fields.push(crate::error::FieldError {
            field: field.into(),
            code: "date_invalid".into(),
            message: e.message.clone(),
        });
        e
    })
}
