//! The statutory working-day calendar (法定工作日历) that drives every deadline: weekends and
//! statutory holidays are off, make-up days (调休上班) are on, and a region may add closures.
//! A date outside the loaded years is an error, never silently counted as a plain weekday.
//!
//! Year data is TOML (see `data/calendar/cn-2026.toml` for the format); the State Council's
//! notice for the next year becomes one more file, and reaches every region that inherits it.
use crate::DomainError;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;
use toml::value::Datetime;

/// Stable error code for a date outside the loaded years, so callers can tell "calendar missing"
/// (an admin must load next year's notice) from bad input.
pub const NOT_COVERED: &str = "calendar_date_not_covered";

/// Whether `err` says that a date lies outside the loaded years ([`NOT_COVERED`]): a deadline that
/// cannot be counted until an admin loads that year's calendar, to be flagged rather than treated
/// as bad input or counted as plain weekdays.
pub fn is_not_covered(err: &DomainError) -> bool {
    err.code() == NOT_COVERED
}

/// Year files shipped with the binary, one per year.
pub const BUILTIN_YEAR_FILES: &[&str] = &[include_str!("../data/calendar/cn-2026.toml")];

/// The years shipped with the binary, parsed.
pub fn builtin_years() -> Result<Vec<YearCalendar>, DomainError> {
    BUILTIN_YEAR_FILES.iter().map(|t| YearCalendar::parse_toml(t)).collect()
}

/// `2026年3月18日`, as the UI shows dates.
pub(crate) fn cn_date(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// One statutory holiday: days off `start..=end` and the weekend days worked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub name: String,
    pub start: Date,
    pub end: Date,
    #[serde(default)]
    pub makeup_workdays: Vec<Date>,
}

/// The statutory arrangement of one calendar year, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearCalendar {
    year: i16,
    source: String,
    holidays: Vec<Holiday>,
    /// Day off → index of its holiday.
    off: BTreeMap<Date, usize>,
    /// Make-up working day → index of its holiday.
    makeup: BTreeMap<Date, usize>,
}

/// Which part of a year's data a validation error is about; mapped to a line when parsing TOML,
/// to "the n-th holiday" otherwise.
#[derive(Debug, Clone, Copy)]
enum Part {
    Year,
    Name(usize),
    Start(usize),
    End(usize),
    Makeup(usize, usize),
}

struct Problem {
    part: Part,
    code: &'static str,
    message: String,
}

fn problem(part: Part, code: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        part,
        code,
        message: message.into(),
    }
}

impl YearCalendar {
    /// Builds a year from already-typed data (e.g. rows an admin entered).
    pub fn new(year: i16, source: impl Into<String>, holidays: Vec<Holiday>) -> Result<Self, DomainError> {
        Self::build(year, source.into(), holidays).map_err(|p| {
            let place = match p.part {
                Part::Year => String::new(),
                Part::Name(i) | Part::Start(i) | Part::End(i) | Part::Makeup(i, _) => {
                    format!("第 {} 个节假日：", i + 1)
                }
            };
            DomainError::invalid(p.code, "calendar", format!("{year} 年工作日历{place}{}", p.message))
        })
    }

    /// Parses one year file. Errors name the line of the offending value.
    pub fn parse_toml(text: &str) -> Result<Self, DomainError> {
        let raw: RawYear = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let at = line.map(|l| format!("第 {l} 行")).unwrap_or_default();
            DomainError::invalid(
                "calendar_file_invalid",
                "calendar",
                format!("工作日历文件{at}格式错误：{}", e.message().trim()),
            )
        })?;
        let at_line = |span: std::ops::Range<usize>| line_of(text, span.start);
        let year_line = at_line(raw.year.span());
        let year = i16::try_from(*raw.year.get_ref())
            .ok()
            .filter(|y| (1900..=9999).contains(y))
            .ok_or_else(|| {
                DomainError::invalid(
                    "calendar_year_invalid",
                    "calendar",
                    format!("工作日历文件第 {year_line} 行：年份须在 1900 到 9999 之间"),
                )
            })?;
        let mut holidays = Vec::with_capacity(raw.holidays.len());
        for h in &raw.holidays {
            let date = |d: &Spanned<Datetime>| {
                toml_date(d.get_ref()).ok_or_else(|| {
                    DomainError::invalid(
                        "calendar_date_invalid",
                        "calendar",
                        format!(
                            "工作日历文件第 {} 行：应为不带时间的日期，如 2026-01-01",
                            at_line(d.span())
                        ),
                    )
                })
            };
            let start = date(&h.start)?;
            let end = match &h.end {
                Some(e) => date(e)?,
                None => start,
            };
            let makeup_workdays = h.makeup_workdays.iter().map(date).collect::<Result<Vec<_>, _>>()?;
            holidays.push(Holiday {
                name: h.name.get_ref().clone(),
                start,
                end,
                makeup_workdays,
            });
        }
        Self::build(year, raw.source, holidays).map_err(|p| {
            let span = match p.part {
                Part::Year => Some(raw.year.span()),
                Part::Name(i) => raw.holidays.get(i).map(|h| h.name.span()),
                Part::Start(i) => raw.holidays.get(i).map(|h| h.start.span()),
                Part::End(i) => raw
                    .holidays
                    .get(i)
                    .map(|h| h.end.as_ref().map_or_else(|| h.start.span(), |e| e.span())),
                Part::Makeup(i, j) => raw
                    .holidays
                    .get(i)
                    .and_then(|h| h.makeup_workdays.get(j))
                    .map(|d| d.span()),
            };
            let at = span.map(|s| format!("第 {} 行", at_line(s))).unwrap_or_default();
            DomainError::invalid(p.code, "calendar", format!("工作日历文件{at}：{}", p.message))
        })
    }

    fn build(year: i16, source: String, holidays: Vec<Holiday>) -> Result<Self, Problem> {
        if !(1900..=9999).contains(&year) {
            return Err(problem(
                Part::Year,
                "calendar_year_invalid",
                "年份须在 1900 到 9999 之间",
            ));
        }
        let mut off = BTreeMap::new();
        let mut makeup = BTreeMap::new();
        let outside = |part, d: Date| {
            problem(
                part,
                "calendar_date_outside_year",
                format!("{} 不在 {year} 年内；跨年的日期请写入所在年份的文件", cn_date(d)),
            )
        };
        for (i, h) in holidays.iter().enumerate() {
            if h.name.trim().is_empty() {
                return Err(problem(Part::Name(i), "calendar_holiday_name", "节假日名称不能为空"));
            }
            if h.start.year() != year {
                return Err(outside(Part::Start(i), h.start));
            }
            if h.end.year() != year {
                return Err(outside(Part::End(i), h.end));
            }
            // A holiday longer than a month is a typo, not a State Council notice.
            let ok_range = h.start <= h.end && h.end <= h.start.saturating_add(jiff::Span::new().days(31));
            if !ok_range {
                return Err(problem(
                    Part::End(i),
                    "calendar_holiday_range",
                    format!("{}的结束日期须不早于开始日期，且假期不超过 31 天", h.name),
                ));
            }
            let mut d = h.start;
            while d <= h.end {
                if off.insert(d, i).is_some() {
                    return Err(problem(
                        Part::Start(i),
                        "calendar_date_conflict",
                        format!("{}与其他节假日重叠（{}）", h.name, cn_date(d)),
                    ));
                }
                match d.tomorrow() {
                    Ok(next) => d = next,
                    Err(_) => break,
                }
            }
        }
        for (i, h) in holidays.iter().enumerate() {
            for (j, &m) in h.makeup_workdays.iter().enumerate() {
                if m.year() != year {
                    return Err(outside(Part::Makeup(i, j), m));
                }
                if !matches!(m.weekday(), Weekday::Saturday | Weekday::Sunday) {
                    return Err(problem(
                        Part::Makeup(i, j),
                        "calendar_makeup_not_weekend",
                        format!("调休上班日 {} 不是周六或周日", cn_date(m)),
                    ));
                }
                if off.contains_key(&m) || makeup.insert(m, i).is_some() {
                    return Err(problem(
                        Part::Makeup(i, j),
                        "calendar_date_conflict",
                        format!("调休上班日 {} 与其他安排冲突", cn_date(m)),
                    ));
                }
            }
        }
        Ok(Self {
            year,
            source,
            holidays,
            off,
            makeup,
        })
    }

    pub fn year(&self) -> i16 {
        self.year
    }
    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }
    /// The holiday `date` is a day off for, if any.
    pub fn holiday_on(&self, date: Date) -> Option<&Holiday> {
        self.off.get(&date).and_then(|&i| self.holidays.get(i))
    }
    /// The holiday `date` is a make-up working day for, if any.
    pub fn makeup_for(&self, date: Date) -> Option<&Holiday> {
        self.makeup.get(&date).and_then(|&i| self.holidays.get(i))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: Spanned<i64>,
    #[serde(default)]
    source: String,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: Spanned<String>,
    start: Spanned<Datetime>,
    /// Absent for a one-day holiday.
    #[serde(default)]
    end: Option<Spanned<Datetime>>,
    #[serde(default)]
    makeup_workdays: Vec<Spanned<Datetime>>,
}

/// A TOML local date (no time, no offset) as a civil date.
fn toml_date(dt: &Datetime) -> Option<Date> {
    if dt.time.is_some() || dt.offset.is_some() {
        return None;
    }
    let d = dt.date?;
    Date::new(
        i16::try_from(d.year).ok()?,
        i8::try_from(d.month).ok()?,
        i8::try_from(d.day).ok()?,
    )
    .ok()
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes().iter().take(offset).filter(|&&b| b == b'\n').count() + 1
}

/// A day a region's hall is closed (e.g. a local disaster or a relocation): not a working day
/// for deadlines in that region, even if it is a make-up working day nationally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub date: Date,
    pub reason: String,
}

impl Closure {
    pub fn new(date: Date, reason: &str) -> Result<Self, DomainError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(DomainError::invalid(
                "calendar_closure_reason",
                "reason",
                "闭厅日须注明原因",
            ));
        }
        Ok(Self {
            date,
            reason: reason.to_owned(),
        })
    }
}

/// What a date is, for display and for the working-day rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind<'a> {
    /// Monday to Friday with nothing special.
    Workday,
    /// Saturday or Sunday with nothing special.
    Weekend,
    /// A statutory day off.
    Holiday(&'a str),
    /// A weekend day worked in exchange for the named holiday.
    MakeupWorkday(&'a str),
    /// A local closure, with its reason. Overrides everything else.
    Closed(&'a str),
}

impl DayKind<'_> {
    pub fn is_working(self) -> bool {
        matches!(self, Self::Workday | Self::MakeupWorkday(_))
    }
}

/// What a region adds on top of its parent's calendar: its own year files (replacing the
/// parent's for the same year, or adding years) and its closures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarLayer {
    pub years: Vec<YearCalendar>,
    pub closures: Vec<Closure>,
}

/// The calendar that deadlines are counted on: contiguous loaded years plus closures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    years: BTreeMap<i16, YearCalendar>,
    closures: BTreeMap<Date, String>,
}

impl WorkingCalendar {
    /// A calendar over `years`, which must be non-empty, distinct and contiguous (a gap would
    /// make "covered" ambiguous for a deadline that spans it).
    pub fn new(years: impl IntoIterator<Item = YearCalendar>) -> Result<Self, DomainError> {
        let mut map = BTreeMap::new();
        for y in years {
            let year = y.year;
            if map.insert(year, y).is_some() {
                return Err(DomainError::invalid(
                    "calendar_year_duplicate",
                    "calendar",
                    format!("{year} 年的工作日历重复载入"),
                ));
            }
        }
        Self::checked(map, BTreeMap::new())
    }

    /// The national calendar shipped with the binary.
    pub fn statutory() -> Result<Self, DomainError> {
        Self::new(builtin_years()?)
    }

    fn checked(years: BTreeMap<i16, YearCalendar>, closures: BTreeMap<Date, String>) -> Result<Self, DomainError> {
        if years.is_empty() {
            return Err(DomainError::invalid(
                "calendar_empty",
                "calendar",
                "工作日历未载入任何年份",
            ));
        }
        let keys: Vec<i16> = years.keys().copied().collect();
        if let Some(w) = keys.windows(2).find(|w| w[1] != w[0] + 1) {
            return Err(DomainError::invalid(
                "calendar_years_not_contiguous",
                "calendar",
                format!("工作日历年份须连续：{} 年与 {} 年之间缺少年份", w[0], w[1]),
            ));
        }
        Ok(Self { years, closures })
    }

    /// Adds closures. A date closed twice keeps the latest reason.
    pub fn with_closures(mut self, closures: impl IntoIterator<Item = Closure>) -> Self {
        for c in closures {
            self.closures.insert(c.date, c.reason);
        }
        self
    }

    /// Adds years, or replaces a year with a local version. The result must stay contiguous.
    pub fn with_years(self, years: impl IntoIterator<Item = YearCalendar>) -> Result<Self, DomainError> {
        let Self {
            years: mut map,
            closures,
        } = self;
        for y in years {
            map.insert(y.year, y);
        }
        Self::checked(map, closures)
    }

    /// The calendar of a child region: this (the parent's) calendar with the child's layer on top.
    pub fn layered(&self, layer: &CalendarLayer) -> Result<Self, DomainError> {
        Ok(self
            .clone()
            .with_years(layer.years.iter().cloned())?
            .with_closures(layer.closures.iter().cloned()))
    }

    /// First and last day covered (1 January of the first year, 31 December of the last).
    pub fn covered_range(&self) -> (Date, Date) {
        let first = self.years.keys().next().copied().unwrap_or(1900);
        let last = self.years.keys().next_back().copied().unwrap_or(first);
        (jiff::civil::date(first, 1, 1), jiff::civil::date(last, 12, 31))
    }

    pub fn covers(&self, date: Date) -> bool {
        self.years.contains_key(&date.year())
    }

    pub fn years(&self) -> impl Iterator<Item = &YearCalendar> {
        self.years.values()
    }

    pub fn closures(&self) -> impl Iterator<Item = (Date, &str)> {
        self.closures.iter().map(|(d, r)| (*d, r.as_str()))
    }

    fn not_covered(&self, date: Date) -> DomainError {
        let (first, last) = self.covered_range();
        DomainError::invalid(
            NOT_COVERED,
            "date",
            format!(
                "{} 不在已载入的工作日历范围（{} 年至 {} 年）内，请先载入该年度的节假日安排",
                cn_date(date),
                first.year(),
                last.year()
            ),
        )
    }

    /// What `date` is. Closures win over everything; make-up days over weekends.
    pub fn day_kind(&self, date: Date) -> Result<DayKind<'_>, DomainError> {
        let year = self.years.get(&date.year()).ok_or_else(|| self.not_covered(date))?;
        if let Some(reason) = self.closures.get(&date) {
            return Ok(DayKind::Closed(reason));
        }
        if let Some(h) = year.makeup_for(date) {
            return Ok(DayKind::MakeupWorkday(&h.name));
        }
        if let Some(h) = year.holiday_on(date) {
            return Ok(DayKind::Holiday(&h.name));
        }
        Ok(match date.weekday() {
            Weekday::Saturday | Weekday::Sunday => DayKind::Weekend,
            _ => DayKind::Workday,
        })
    }

    pub fn is_working_day(&self, date: Date) -> Result<bool, DomainError> {
        self.day_kind(date).map(DayKind::is_working)
    }

    fn day_after(&self, date: Date) -> Result<Date, DomainError> {
        date.tomorrow().map_err(|_| self.not_covered(date))
    }

    /// The first working day strictly after `date`.
    pub fn next_working_day(&self, date: Date) -> Result<Date, DomainError> {
        self.add_working_days(date, 1)
    }

    /// `date` if it is a working day, else the next one.
    pub fn working_day_on_or_after(&self, date: Date) -> Result<Date, DomainError> {
        if self.is_working_day(date)? {
            Ok(date)
        } else {
            self.next_working_day(date)
        }
    }

    /// The `n`-th working day after `start` (`start` itself never counts; `n = 0` gives `start`).
    /// Errors when the count runs past the loaded years.
    pub fn add_working_days(&self, start: Date, n: u32) -> Result<Date, DomainError> {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = self.day_after(d)?;
            if self.is_working_day(d)? {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// Working days in `(a, b]`; negative (the count in `(b, a]`) when `b` is before `a`.
    pub fn working_days_between(&self, a: Date, b: Date) -> Result<i64, DomainError> {
        let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        let mut n = 0i64;
        let mut d = lo;
        while d < hi {
            d = self.day_after(d)?;
            if self.is_working_day(d)? {
                n += 1;
            }
        }
        Ok(sign * n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn cal() -> WorkingCalendar {
        WorkingCalendar::statutory().unwrap()
    }

    fn day(offset: i32) -> Date {
        date(2026, 1, 1).checked_add(jiff::Span::new().days(offset)).unwrap()
    }

    #[test]
    fn builtin_2026_matches_the_notice() {
        let c = cal();
        assert_eq!(c.covered_range(), (date(2026, 1, 1), date(2026, 12, 31)));
        let y = c.years().next().unwrap();
        let names: Vec<&str> = y.holidays().iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]
        );
        for d in [
            date(2026, 1, 1),
            date(2026, 1, 2),
            date(2026, 2, 16),
            date(2026, 2, 23),
            date(2026, 4, 6),
        ] {
            assert!(!c.is_working_day(d).unwrap(), "{d}");
        }
        for d in [
            date(2026, 5, 1),
            date(2026, 5, 5),
            date(2026, 6, 19),
            date(2026, 9, 25),
            date(2026, 10, 7),
        ] {
            assert!(!c.is_working_day(d).unwrap(), "{d}");
        }
        for d in [
            date(2026, 1, 4),
            date(2026, 2, 14),
            date(2026, 2, 28),
            date(2026, 5, 9),
            date(2026, 9, 20),
        ] {
            assert!(c.day_kind(d).unwrap().is_working(), "{d}");
        }
        assert_eq!(
            c.day_kind(date(2026, 10, 10)).unwrap(),
            DayKind::MakeupWorkday("国庆节")
        );
        assert_eq!(c.day_kind(date(2026, 2, 17)).unwrap(), DayKind::Holiday("春节"));
        assert_eq!(c.day_kind(date(2026, 3, 14)).unwrap(), DayKind::Weekend);
        assert_eq!(c.day_kind(date(2026, 3, 18)).unwrap(), DayKind::Workday);
        // 261 weekdays − 19 weekday holidays + 6 make-up days.
        assert_eq!(
            c.working_days_between(date(2025, 12, 31), date(2026, 12, 31)).unwrap(),
            248
        );
    }

    #[test]
    fn counting_across_spring_festival() {
        let c = cal();
        // Friday 13 Feb → Sat 14 (make-up) is the first working day after it; then Tue 24 Feb.
        assert_eq!(c.next_working_day(date(2026, 2, 13)).unwrap(), date(2026, 2, 14));
        assert_eq!(c.add_working_days(date(2026, 2, 13), 2).unwrap(), date(2026, 2, 24));
        assert_eq!(
            c.working_days_between(date(2026, 2, 24), date(2026, 2, 13)).unwrap(),
            -2
        );
        assert_eq!(c.add_working_days(date(2026, 2, 13), 0).unwrap(), date(2026, 2, 13));
        assert_eq!(c.working_day_on_or_after(date(2026, 2, 15)).unwrap(), date(2026, 2, 24));
    }

    #[test]
    fn out_of_range_is_an_error() {
        let c = cal();
        assert_eq!(c.is_working_day(date(2027, 1, 4)).unwrap_err().code(), NOT_COVERED);
        assert_eq!(c.is_working_day(date(2025, 12, 31)).unwrap_err().code(), NOT_COVERED);
        assert_eq!(
            c.add_working_days(date(2026, 12, 30), 5).unwrap_err().code(),
            NOT_COVERED
        );
        assert_eq!(
            c.working_days_between(date(2026, 12, 1), date(2027, 1, 5))
                .unwrap_err()
                .code(),
            NOT_COVERED
        );
    }

    #[test]
    fn closures_and_layers() {
        let parent = cal();
        let layer = CalendarLayer {
            years: vec![],
            closures: vec![
                Closure::new(date(2026, 2, 14), "大厅搬迁").unwrap(),
                Closure::new(date(2026, 3, 18), "停电").unwrap(),
            ],
        };
        let child = parent.layered(&layer).unwrap();
        assert_eq!(child.day_kind(date(2026, 3, 18)).unwrap(), DayKind::Closed("停电"));
        assert!(!child.is_working_day(date(2026, 2, 14)).unwrap());
        assert!(parent.is_working_day(date(2026, 2, 14)).unwrap());
        assert!(Closure::new(date(2026, 3, 18), "  ").is_err());
        // A local replacement of 2026 without 端午节 (hypothetical) overrides the parent's year.
        let local = YearCalendar::new(2026, "本地", vec![]).unwrap();
        let replaced = parent.clone().with_years([local]).unwrap();
        assert!(replaced.is_working_day(date(2026, 6, 19)).unwrap());
        // Years must stay contiguous.
        let y2028 = YearCalendar::new(2028, "", vec![]).unwrap();
        assert_eq!(
            parent.clone().with_years([y2028.clone()]).unwrap_err().code(),
            "calendar_years_not_contiguous"
        );
        let y2027 = YearCalendar::new(2027, "", vec![]).unwrap();
        let three = parent.with_years([y2028, y2027]).unwrap();
        assert_eq!(three.covered_range(), (date(2026, 1, 1), date(2028, 12, 31)));
        assert_eq!(WorkingCalendar::new([]).unwrap_err().code(), "calendar_empty");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let err = |text: &str| YearCalendar::parse_toml(text).unwrap_err();
        let e = err("year = 2026\n[[holidays]]\nname = \"元旦\"\nstart = 2026-01-01\nend = 2025-12-31\n");
        assert_eq!(e.code(), "calendar_date_outside_year");
        assert!(e.to_string().contains("第 5 行"), "{e}");
        let e = err("year = 2026\n[[holidays]]\nname = \"x\"\nstart = 2026-01-01\nmakeup_workdays = [2026-01-05]\n");
        assert_eq!(e.code(), "calendar_makeup_not_weekend");
        assert!(e.to_string().contains("第 5 行"), "{e}");
        let e = err("year = 2026\n\n[[holidays]]\nname = \"x\"\nstart = \"2026-01-01\"\n");
        assert_eq!(e.code(), "calendar_file_invalid");
        assert!(e.to_string().contains("第 5 行"), "{e}");
        let e = err("year = 2026\n[[holidays]]\nname = \"x\"\nstart = 2026-01-01T08:00:00\n");
        assert_eq!(e.code(), "calendar_date_invalid");
        let e = err("year = 2026\nholidayz = []\n");
        assert_eq!(e.code(), "calendar_file_invalid");
        let e = err(
            "year = 2026\n[[holidays]]\nname = \"a\"\nstart = 2026-01-01\nend = 2026-01-03\n[[holidays]]\nname = \"b\"\nstart = 2026-01-03\n",
        );
        assert_eq!(e.code(), "calendar_date_conflict");
        assert!(e.to_string().contains("第 8 行"), "{e}");
        assert_eq!(err("year = 20260\n").code(), "calendar_year_invalid");
        // A one-day holiday may omit `end`.
        let one = YearCalendar::parse_toml("year = 2026\n[[holidays]]\nname = \"x\"\nstart = 2026-03-18\n").unwrap();
        assert_eq!(
            one.holiday_on(date(2026, 3, 18)).map(|h| h.end),
            Some(date(2026, 3, 18))
        );
    }

    proptest! {
        #[test]
        fn add_then_count_back(start in 0i32..365, n in 0u32..60) {
            let c = cal();
            let s = day(start);
            match c.add_working_days(s, n) {
                Ok(end) => {
                    prop_assert_eq!(c.working_days_between(s, end).unwrap(), i64::from(n));
                    prop_assert_eq!(c.working_days_between(end, s).unwrap(), -i64::from(n));
                    if n > 0 {
                        prop_assert!(c.is_working_day(end).unwrap());
                    }
                }
                // Only a count that runs past 2026 may fail, and then with the coverage code.
                Err(e) => {
                    prop_assert_eq!(e.code(), NOT_COVERED);
                    prop_assert!(c.working_days_between(s, date(2026, 12, 31)).unwrap() < i64::from(n));
                }
            }
        }

        #[test]
        fn statutory_holidays_never_count_and_makeups_do(i in 0usize..7) {
            let c = cal();
            let y = c.years().next().unwrap().clone();
            let h = &y.holidays()[i];
            let mut d = h.start;
            while d <= h.end {
                prop_assert!(!c.is_working_day(d).unwrap());
                // A day off never is the result of adding working days.
                prop_assert_ne!(c.next_working_day(d.yesterday().unwrap()).unwrap(), d);
                d = d.tomorrow().unwrap();
            }
            for &m in &h.makeup_workdays {
                prop_assert!(c.is_working_day(m).unwrap());
                prop_assert_eq!(c.working_days_between(m.yesterday().unwrap(), m).unwrap(), 1);
            }
        }

        #[test]
        fn closures_never_count_and_layers_add_up(
            city_days in prop::collection::btree_set(0i32..365, 0..6),
            county_days in prop::collection::btree_set(0i32..365, 0..6),
            start in 0i32..365,
            n in 0u32..40,
        ) {
            // 市 closes some days, 县 some more; a township below the county inherits both.
            let national = cal();
            let layer = |days: &std::collections::BTreeSet<i32>| CalendarLayer {
                years: vec![],
                closures: days.iter().map(|&d| Closure::new(day(d), "闭厅").unwrap()).collect(),
            };
            let city = national.layered(&layer(&city_days)).unwrap();
            let county = city.layered(&layer(&county_days)).unwrap();
            let township = county.layered(&CalendarLayer::default()).unwrap();
            let closed: std::collections::BTreeSet<Date> = city_days.union(&county_days).map(|&d| day(d)).collect();
            for &d in &closed {
                prop_assert!(!township.is_working_day(d).unwrap());
                prop_assert!(matches!(township.day_kind(d).unwrap(), DayKind::Closed(_)));
            }
            // The count over a range is the parent's count less the closed days that would have been worked.
            let (a, b) = (day(start), date(2026, 12, 31));
            let lost = closed
                .iter()
                .filter(|&&d| d > a && d <= b && national.is_working_day(d).unwrap())
                .count() as i64;
            prop_assert_eq!(
                township.working_days_between(a, b).unwrap(),
                national.working_days_between(a, b).unwrap() - lost
            );
            match township.add_working_days(a, n) {
                Ok(end) => {
                    prop_assert!(!closed.contains(&end) || n == 0);
                    prop_assert_eq!(township.working_days_between(a, end).unwrap(), i64::from(n));
                    // Every counted day is a working day of the township: no closure among them.
                    let mut d = a;
                    while d < end {
                        d = d.tomorrow().unwrap();
                        if closed.contains(&d) {
                            prop_assert!(!township.is_working_day(d).unwrap());
                        }
                    }
                }
                Err(e) => prop_assert!(is_not_covered(&e)),
            }
        }

        #[test]
        fn counting_back_holds_across_loaded_years(start in 0i32..730, n in 0u32..300) {
            // A second year loaded after 2026 (an example file, not an official notice).
            let y2027 = YearCalendar::parse_toml(
                "year = 2027\n[[holidays]]\nname = \"元旦\"\nstart = 2027-01-01\nend = 2027-01-03\n\
                 [[holidays]]\nname = \"春节\"\nstart = 2027-02-06\nend = 2027-02-13\nmakeup_workdays = [2027-02-14, 2027-02-20]\n",
            )
            .unwrap();
            let c = cal().with_years([y2027]).unwrap();
            let s = day(start);
            match c.add_working_days(s, n) {
                Ok(end) => {
                    prop_assert_eq!(c.working_days_between(s, end).unwrap(), i64::from(n));
                    prop_assert_eq!(c.working_days_between(end, s).unwrap(), -i64::from(n));
                }
                Err(e) => {
                    prop_assert!(is_not_covered(&e));
                    prop_assert!(c.working_days_between(s, date(2027, 12, 31)).unwrap() < i64::from(n));
                }
            }
        }

        #[test]
        fn a_makeup_saturday_is_the_next_working_day_and_a_closure_takes_it_away(i in 0usize..7) {
            let c = cal();
            let y = c.years().next().unwrap().clone();
            for &m in &y.holidays()[i].makeup_workdays {
                // The day before a make-up day: the make-up day is the next working day.
                prop_assert_eq!(c.next_working_day(m.yesterday().unwrap()).unwrap(), m);
                prop_assert_eq!(c.day_kind(m).unwrap(), DayKind::MakeupWorkday(y.holidays()[i].name.as_str()));
                // A local closure on that day wins over the national make-up.
                let closed = c.layered(&CalendarLayer { years: vec![], closures: vec![Closure::new(m, "停电").unwrap()] }).unwrap();
                prop_assert!(!closed.is_working_day(m).unwrap());
                prop_assert_ne!(closed.next_working_day(m.yesterday().unwrap()).unwrap(), m);
            }
        }

        #[test]
        fn outside_coverage_is_always_an_error(offset in 1i32..4000, before in any::<bool>()) {
            let c = cal();
            let d = if before {
                date(2026, 1, 1).checked_sub(jiff::Span::new().days(offset)).unwrap()
            } else {
                date(2026, 12, 31).checked_add(jiff::Span::new().days(offset)).unwrap()
            };
            prop_assert_eq!(c.is_working_day(d).unwrap_err().code(), NOT_COVERED);
        }
    }
}
