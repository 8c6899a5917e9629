//! Working-day calendars (工作日历) in the database, inherited live down the region tree: the
//! statutory years built into the binary, years loaded later from a TOML file (national, or a
//! region's own variant for local holidays), and each region's ad-hoc closures (闭厅日). The
//! calendar in force at a region ([`calendar_for`]) layers them root → leaf at read time, so next
//! year's notice or the city's closure reaches every county at once and nothing is copied.
//!
//! A date outside the loaded years is an error with the stable code
//! `onestop_domain::calendar::NOT_COVERED`, never counted as a plain weekday.
use crate::catalogue::OriginRegion;
use crate::regions::{self, Region};
use crate::{StoreError, Tx, ms};
use jiff::civil::Date;
use onestop_domain::DomainError;
use onestop_domain::calendar::{CalendarLayer, Closure, WorkingCalendar, YearCalendar, builtin_years};
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use std::sync::OnceLock;

/// Longest year file accepted (the 2026 file is about 1.5 KiB).
pub const MAX_YEAR_FILE_BYTES: usize = 64 * 1024;

/// Longest closure reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Where a year of a region's calendar comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum YearOrigin {
    /// Shipped with the binary.
    Builtin,
    /// Loaded for the whole country.
    National,
    /// A region's own variant.
    Region { region: OriginRegion },
}

/// A year of the calendar and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearInfo {
    pub year: i16,
    pub source: String,
    pub origin: YearOrigin,
    /// Number of statutory holidays and of make-up working days in it.
    pub holidays: usize,
    pub makeup_days: usize,
    pub loaded_at: Option<i64>,
    pub loaded_by: Option<String>,
}

/// A closure and the region that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosureRow {
    pub id: i64,
    pub region: OriginRegion,
    pub date: Date,
    pub reason: String,
    pub created_at: i64,
    pub created_by: String,
}

/// The calendar in force at a region, with where each year and closure comes from.
#[derive(Debug, Clone)]
pub struct RegionCalendar {
    pub calendar: WorkingCalendar,
    /// Years in force, oldest first.
    pub years: Vec<YearInfo>,
    /// Closures in force (the region's own and every region's above it), by date and, on one date,
    /// root first: the last of a date is the one the calendar shows.
    pub closures: Vec<ClosureRow>,
}

fn origin_of(r: &Region) -> OriginRegion {
    OriginRegion {
        id: r.id,
        code: r.code.clone(),
        name: r.name.clone(),
    }
}

fn builtin() -> Result<&'static [YearCalendar], StoreError> {
    static YEARS: OnceLock<Result<Vec<YearCalendar>, DomainError>> = OnceLock::new();
    match YEARS.get_or_init(builtin_years) {
        Ok(v) => Ok(v),
        Err(e) => Err(StoreError::Corrupt(format!("built-in calendar: {e}"))),
    }
}

fn info(y: &YearCalendar, origin: YearOrigin, loaded: Option<(i64, String)>) -> YearInfo {
    YearInfo {
        year: y.year(),
        source: y.source().to_owned(),
        origin,
        holidays: y.holidays().len(),
        makeup_days: y.holidays().iter().map(|h| h.makeup_workdays.len()).sum(),
        loaded_at: loaded.as_ref().map(|l| l.0),
        loaded_by: loaded.map(|l| l.1),
    }
}

/// A loaded year as stored.
struct StoredYear {
    region_id: Option<i64>,
    year: YearCalendar,
    loaded_at: i64,
    loaded_by: String,
}

async fn stored_years_on(conn: &mut AnyConnection, leaf: Option<&Region>) -> Result<Vec<StoredYear>, StoreError> {
    let rows = match leaf {
        Some(leaf) => {
            sqlx::query(
                "SELECT y.region_id, y.content, y.loaded_at, y.loaded_by FROM calendar_years y \
                 LEFT JOIN regions r ON r.id = y.region_id \
                 WHERE y.region_id IS NULL OR $1 LIKE r.path || '%' ORDER BY y.year",
            )
            .bind(&leaf.path)
            .fetch_all(conn)
            .await?
        }
        None => sqlx::query(
            "SELECT region_id, content, loaded_at, loaded_by FROM calendar_years WHERE region_id IS NULL ORDER BY year",
        )
        .fetch_all(conn)
        .await?,
    };
    rows.iter()
        .map(|r| {
            let content: String = r.try_get("content")?;
            Ok(StoredYear {
                region_id: r.try_get("region_id")?,
                year: YearCalendar::parse_toml(&content)
                    .map_err(|e| StoreError::Corrupt(format!("stored calendar year: {e}")))?,
                loaded_at: r.try_get("loaded_at")?,
                loaded_by: r.try_get("loaded_by")?,
            })
        })
        .collect()
}

async fn closures_on(conn: &mut AnyConnection, chain: &[Region]) -> Result<Vec<ClosureRow>, StoreError> {
    let Some(leaf) = chain.last() else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(
        "SELECT c.id, c.region_id, c.day, c.reason, c.created_at, c.created_by FROM calendar_closures c \
         JOIN regions r ON r.id = c.region_id WHERE $1 LIKE r.path || '%' ORDER BY c.day, c.id",
    )
    .bind(&leaf.path)
    .fetch_all(conn)
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let region_id: i64 = r.try_get("region_id")?;
            let day: String = r.try_get("day")?;
            let region = chain
                .iter()
                .find(|c| c.id == region_id)
                .ok_or_else(|| StoreError::Corrupt("closure of a region off the chain".into()))?;
            Ok(ClosureRow {
                id: r.try_get("id")?,
                region: origin_of(region),
                date: day
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("closure date {day}")))?,
                reason: r.try_get("reason")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("created_by")?,
            })
        })
        .collect::<Result<Vec<ClosureRow>, StoreError>>()?;
    // By date, and on one date root first: the last one is the closure in force.
    out.sort_by_key(|c| (c.date, chain.iter().position(|r| r.id == c.region.id)));
    Ok(out)
}

/// Layers built-in, national and the chain's own years and closures.
fn build(chain: &[Region], stored: Vec<StoredYear>, closures: &[ClosureRow]) -> Result<RegionCalendar, StoreError> {
    let mut years: std::collections::BTreeMap<i16, YearInfo> = std::collections::BTreeMap::new();
    for y in builtin()? {
        years.insert(y.year(), info(y, YearOrigin::Builtin, None));
    }
    let mut calendar = WorkingCalendar::new(builtin()?.iter().cloned())?;
    let (national, mut own): (Vec<StoredYear>, Vec<StoredYear>) =
        stored.into_iter().partition(|y| y.region_id.is_none());
    for y in &national {
        years.insert(
            y.year.year(),
            info(&y.year, YearOrigin::National, Some((y.loaded_at, y.loaded_by.clone()))),
        );
    }
    calendar = calendar.with_years(national.into_iter().map(|y| y.year))?;
    for region in chain {
        let mine: Vec<StoredYear> = {
            let (m, rest): (Vec<StoredYear>, Vec<StoredYear>) =
                own.into_iter().partition(|y| y.region_id == Some(region.id));
            own = rest;
            m
        };
        for y in &mine {
            years.insert(
                y.year.year(),
                info(
                    &y.year,
                    YearOrigin::Region {
                        region: origin_of(region),
                    },
                    Some((y.loaded_at, y.loaded_by.clone())),
                ),
            );
        }
        let layer = CalendarLayer {
            years: mine.into_iter().map(|y| y.year).collect(),
            closures: closures
                .iter()
                .filter(|c| c.region.id == region.id)
                .map(|c| Closure {
                    date: c.date,
                    reason: c.reason.clone(),
                })
                .collect(),
        };
        calendar = calendar.layered(&layer)?;
    }
    Ok(RegionCalendar {
        calendar,
        years: years.into_values().collect(),
        closures: closures.to_vec(),
    })
}

/// The calendar in force at `region_id`, with the origin of each year and closure.
pub async fn region_calendar(conn: &mut AnyConnection, region_id: i64) -> Result<RegionCalendar, StoreError> {
    let chain = regions::chain(&mut *conn, region_id).await?;
    let leaf = chain.last().ok_or(StoreError::NotFound)?.clone();
    let stored = stored_years_on(conn, Some(&leaf)).await?;
    let closures = closures_on(conn, &chain).await?;
    build(&chain, stored, &closures)
}

/// The layered working-day calendar in force at `region_id`: what deadlines there count on.
pub async fn calendar_for(conn: &mut AnyConnection, region_id: i64) -> Result<WorkingCalendar, StoreError> {
    Ok(region_calendar(conn, region_id).await?.calendar)
}

/// The national calendar (built-in years and years loaded for the whole country), without any
/// region's variants or closures.
pub async fn national(conn: &mut AnyConnection) -> Result<RegionCalendar, StoreError> {
    let stored = stored_years_on(conn, None).await?;
    build(&[], stored, &[])
}

/// The years loaded for `region_id` itself (`None`: the national ones), oldest first.
pub async fn own_years(conn: &mut AnyConnection, region_id: Option<i64>) -> Result<Vec<YearInfo>, StoreError> {
    let rows = match region_id {
        Some(id) => {
            sqlx::query(
                "SELECT y.content, y.loaded_at, y.loaded_by, r.id, r.code, r.name FROM calendar_years y \
                 JOIN regions r ON r.id = y.region_id WHERE y.region_id = $1 ORDER BY y.year",
            )
            .bind(id)
            .fetch_all(conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT content, loaded_at, loaded_by FROM calendar_years WHERE region_id IS NULL ORDER BY year",
            )
            .fetch_all(conn)
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            let content: String = r.try_get("content")?;
            let y = YearCalendar::parse_toml(&content)
                .map_err(|e| StoreError::Corrupt(format!("stored calendar year: {e}")))?;
            let origin = match region_id {
                Some(_) => YearOrigin::Region {
                    region: OriginRegion {
                        id: r.try_get("id")?,
                        code: r.try_get("code")?,
                        name: r.try_get("name")?,
                    },
                },
                None => YearOrigin::National,
            };
            Ok(info(
                &y,
                origin,
                Some((r.try_get("loaded_at")?, r.try_get("loaded_by")?)),
            ))
        })
        .collect()
}

/// Checks a closure's reason: 1..=200 characters without control characters.
pub fn check_reason(reason: &str) -> Result<String, DomainError> {
    let closure = Closure::new(jiff::civil::date(2000, 1, 1), reason)?;
    if closure.reason.chars().count() > MAX_REASON_CHARS || closure.reason.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "calendar_closure_reason",
            "reason",
            format!("闭厅原因须为 1 至 {MAX_REASON_CHARS} 个字符"),
        ));
    }
    Ok(closure.reason)
}

/// Closes `date` at `region_id` (and below). The date must be within the region's loaded years;
/// the region may close a date only once (a date closed above may be closed here too, so that
/// it stays closed if the region above reopens it).
pub async fn add_closure(
    tx: &mut Tx,
    region_id: i64,
    date: Date,
    reason: &str,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<ClosureRow, StoreError> {
    let reason = check_reason(reason)?;
    let cal = calendar_for(tx.conn(), region_id).await?;
    // An uncovered date: the domain's error, with its stable code.
    cal.day_kind(date)?;
    let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calendar_closures WHERE region_id = $1 AND day = $2")
        .bind(region_id)
        .bind(date.to_string())
        .fetch_one(tx.conn())
        .await?;
    if exists > 0 {
        return Err(StoreError::conflict(
            "calendar_closure_exists",
            format!("{}年{}月{}日已是本级闭厅日", date.year(), date.month(), date.day()),
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO calendar_closures (region_id, day, reason, created_at, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(region_id)
    .bind(date.to_string())
    .bind(&reason)
    .bind(ms(at))
    .bind(actor)
    .fetch_one(tx.conn())
    .await?;
    let region = regions::get(tx.conn(), region_id).await?;
    Ok(ClosureRow {
        id,
        region: origin_of(&region),
        date,
        reason,
        created_at: ms(at),
        created_by: actor.to_owned(),
    })
}

/// Reopens a date `region_id` itself closed. Returns the removed closure, if there was one.
pub async fn remove_closure(tx: &mut Tx, region_id: i64, date: Date) -> Result<Option<ClosureRow>, StoreError> {
    let chain = regions::chain(tx.conn(), region_id).await?;
    let found = closures_on(tx.conn(), &chain)
        .await?
        .into_iter()
        .find(|c| c.region.id == region_id && c.date == date);
    if found.is_some() {
        sqlx::query("DELETE FROM calendar_closures WHERE region_id = $1 AND day = $2")
            .bind(region_id)
            .bind(date.to_string())
            .execute(tx.conn())
            .await?;
    }
    Ok(found)
}

/// Every region with years of its own, for the checks after a change.
async fn regions_with_own_years(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT region_id FROM calendar_years WHERE region_id IS NOT NULL")
        .fetch_all(conn)
        .await?;
    Ok(ids)
}

/// Checks, inside the write, that the calendar still layers (years contiguous) for everyone
/// concerned: the national calendar, `region_id` and every region with years of its own.
async fn check_layers(tx: &mut Tx, region_id: Option<i64>) -> Result<(), StoreError> {
    national(tx.conn()).await?;
    if let Some(id) = region_id {
        calendar_for(tx.conn(), id).await?;
    }
    for id in regions_with_own_years(tx.conn()).await? {
        calendar_for(tx.conn(), id).await?;
    }
    Ok(())
}

/// Loads a year file: for the whole country (`region_id` None) or as a region's own variant. A
/// year already loaded at that level is replaced. Refused when the file does not parse or
/// contradicts itself (the domain's codes, with the line), or when the years would no longer be
/// contiguous (`calendar_years_not_contiguous`).
pub async fn import_year(
    tx: &mut Tx,
    region_id: Option<i64>,
    text: &str,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<YearInfo, StoreError> {
    if text.len() > MAX_YEAR_FILE_BYTES {
        return Err(DomainError::invalid(
            "calendar_file_too_large",
            "calendar",
            format!("工作日历文件不能超过 {} KiB", MAX_YEAR_FILE_BYTES / 1024),
        )
        .into());
    }
    let year = YearCalendar::parse_toml(text)?;
    let region = match region_id {
        Some(id) => Some(regions::get(tx.conn(), id).await?),
        None => None,
    };
    match region_id {
        Some(id) => {
            sqlx::query("DELETE FROM calendar_years WHERE region_id = $1 AND year = $2")
                .bind(id)
                .bind(i64::from(year.year()))
                .execute(tx.conn())
                .await?;
        }
        None => {
            sqlx::query("DELETE FROM calendar_years WHERE region_id IS NULL AND year = $1")
                .bind(i64::from(year.year()))
                .execute(tx.conn())
                .await?;
        }
    }
    sqlx::query(
        "INSERT INTO calendar_years (region_id, year, source, content, loaded_at, loaded_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(region_id)
    .bind(i64::from(year.year()))
    .bind(year.source())
    .bind(text)
    .bind(ms(at))
    .bind(actor)
    .execute(tx.conn())
    .await?;
    check_layers(tx, region_id).await?;
    let origin = match &region {
        Some(r) => YearOrigin::Region { region: origin_of(r) },
        None => YearOrigin::National,
    };
    Ok(info(&year, origin, Some((ms(at), actor.to_owned()))))
}

/// Removes a loaded year (national, or a region's variant): the built-in year of that number, or
/// the year above, applies again. Refused when the years would no longer be contiguous.
pub async fn remove_year(tx: &mut Tx, region_id: Option<i64>, year: i16) -> Result<bool, StoreError> {
    let done = match region_id {
        Some(id) => {
            sqlx::query("DELETE FROM calendar_years WHERE region_id = $1 AND year = $2")
                .bind(id)
                .bind(i64::from(year))
                .execute(tx.conn())
                .await?
        }
        None => {
            sqlx::query("DELETE FROM calendar_years WHERE region_id IS NULL AND year = $1")
                .bind(i64::from(year))
                .execute(tx.conn())
                .await?
        }
    };
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    check_layers(tx, region_id).await?;
    Ok(true)
}
