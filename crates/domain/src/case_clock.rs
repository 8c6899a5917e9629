//! The case clock (办理时限): when a case's promised and legal time limits fall due, how special
//! procedures pause them and extensions lengthen them, and when a case turns yellow or red.
//! The clock is a value folded from events, and counts on a [`WorkingCalendar`]; `today` is a
//! parameter, never read from a system clock.
//!
//! Counting rules (《行政许可法》 and hall rules, see DESIGN.md "Cases"):
//! - No clock runs before acceptance. The acceptance day never counts: working day 1 is the first
//!   working day after it, and a limit of N days falls due at the end of the N-th counted day.
//! - A special procedure (听证, 勘验, 检验检测, 鉴定, 专家评审) pauses the clock. Every day from the
//!   day it starts to the day it ends, both inclusive, is excluded; the clock resumes with the
//!   working days that were left. While a pause is open, a deadline not yet reached is unknown
//!   (`None`) and the remaining days are frozen.
//! - An approved extension (延长, with a reason told to the applicant) of N working days extends
//!   BOTH limits by N. Rationale: the applicant is told the new date, so holding the hall to the
//!   old promise would flag every lawfully extended case as overdue. Since promised ≤ legal before,
//!   promised + N ≤ legal + N after: the promise never exceeds the legal limit. The total of
//!   extensions is capped by [`TimeLimits::max_extension`] (+10 for the 20-day licensing limit).
//! - Instant cases (即办件, case type 1) conclude on the day of acceptance: both deadlines are the
//!   acceptance date itself, limits are 0, and they cannot be paused or extended. They show no
//!   warning on that day and are red from the next day on.
//! - Warnings: red once a deadline date has passed; yellow when, not red, the remaining working
//!   days are at most the region's threshold (default 2). A paused clock keeps the level its
//!   frozen remaining days give.
use crate::DomainError;
use crate::calendar::{WorkingCalendar, cn_date};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Case type (办件类型), GB/T 39046 code 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    /// 即办件: concluded the day it is accepted.
    Instant,
    /// 承诺件: concluded within the promised limit.
    Promised,
}

impl CaseType {
    pub fn code(self) -> u8 {
        match self {
            Self::Instant => 1,
            Self::Promised => 2,
        }
    }
    pub fn from_code(code: u8) -> Result<Self, DomainError> {
        match code {
            1 => Ok(Self::Instant),
            2 => Ok(Self::Promised),
            _ => Err(DomainError::invalid(
                "case_type_invalid",
                "case_type",
                "办件类型须为 1（即办件）或 2（承诺件）",
            )),
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Instant => "即办件",
            Self::Promised => "承诺件",
        }
    }
}

/// A special procedure (特别程序) whose time does not count towards the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialProcedure {
    Hearing,
    Inspection,
    Testing,
    Appraisal,
    ExpertReview,
}

impl SpecialProcedure {
    pub const ALL: [SpecialProcedure; 5] = [
        Self::Hearing,
        Self::Inspection,
        Self::Testing,
        Self::Appraisal,
        Self::ExpertReview,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Self::Hearing => "听证",
            Self::Inspection => "现场勘验",
            Self::Testing => "检验检测",
            Self::Appraisal => "鉴定",
            Self::ExpertReview => "专家评审",
        }
    }
}

/// A service's time limits in working days, as its implementation sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeLimits {
    promised: u32,
    legal: u32,
    max_extension: u32,
}

impl TimeLimits {
    /// `promised` ≥ 1 and ≤ `legal`; `max_extension` is the most all extensions may add.
    pub fn new(promised: u32, legal: u32, max_extension: u32) -> Result<Self, DomainError> {
        if promised == 0 {
            return Err(DomainError::invalid(
                "time_limit_promised_zero",
                "promised_limit",
                "承诺件的承诺时限至少为 1 个工作日；当日办结的请设为即办件",
            ));
        }
        if promised > legal {
            return Err(DomainError::invalid(
                "time_limit_promised_exceeds_legal",
                "promised_limit",
                format!("承诺时限（{promised} 个工作日）不能超过法定时限（{legal} 个工作日）"),
            ));
        }
        Ok(Self {
            promised,
            legal,
            max_extension,
        })
    }
    /// 《行政许可法》§42: 20 working days, +10 with approval; `promised` may be shorter.
    pub fn licensing(promised: u32) -> Result<Self, DomainError> {
        Self::new(promised, 20, 10)
    }
    /// Joint handling (联合办理): 45 working days, +15.
    pub fn joint(promised: u32) -> Result<Self, DomainError> {
        Self::new(promised, 45, 15)
    }
    pub fn promised(self) -> u32 {
        self.promised
    }
    pub fn legal(self) -> u32 {
        self.legal
    }
    pub fn max_extension(self) -> u32 {
        self.max_extension
    }
}

/// What happens to a case's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClockEvent {
    Accepted { date: Date },
    Paused { date: Date, procedure: SpecialProcedure },
    Resumed { date: Date },
    Extended { date: Date, days: u32, reason: String },
}

impl ClockEvent {
    pub fn date(&self) -> Date {
        match self {
            Self::Accepted { date }
            | Self::Paused { date, .. }
            | Self::Resumed { date }
            | Self::Extended { date, .. } => *date,
        }
    }
}

/// A special procedure's span; `end` is `None` while it runs. Both ends are excluded days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub procedure: SpecialProcedure,
    pub start: Date,
    pub end: Option<Date>,
}

impl Pause {
    fn covers(&self, d: Date) -> bool {
        d >= self.start && self.end.is_none_or(|e| d <= e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub date: Date,
    pub days: u32,
    pub reason: String,
}

/// One limit's deadline: `date` is `None` only while a pause is open and the limit not yet reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The limit in working days, extensions included (0 for instant cases).
    pub limit: u32,
    pub date: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    pub accepted_on: Date,
    /// Working day 1 (the acceptance date itself for an instant case).
    pub clock_starts: Date,
    pub promised: Deadline,
    pub legal: Deadline,
    /// The running special procedure, if the clock is paused.
    pub paused_since: Option<(Date, SpecialProcedure)>,
    /// Working days excluded by finished special procedures.
    pub paused_working_days: u32,
}

/// Working days left after `today` (0 on the deadline day; negative once more days have been
/// counted than the limit allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remaining {
    pub promised: i64,
    pub legal: i64,
}

/// 预警 (黄牌) / 超期 (红牌). Ordered, so the worse of two levels is their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    None,
    Yellow,
    Red,
}

/// Yellow when this many working days or fewer remain; configurable per region, default 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WarningThreshold(pub u32);

impl Default for WarningThreshold {
    fn default() -> Self {
        Self(2)
    }
}

/// Everything a dashboard or inbox row shows about one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitStatus {
    pub limit: u32,
    pub deadline: Option<Date>,
    pub remaining: i64,
    pub level: WarningLevel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockStatus {
    pub deadlines: Deadlines,
    pub promised: LimitStatus,
    pub legal: LimitStatus,
    /// The worse of the two levels.
    pub level: WarningLevel,
}

/// A case's clock, built by applying [`ClockEvent`]s in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseClock {
    case_type: CaseType,
    limits: TimeLimits,
    accepted: Option<Date>,
    pauses: Vec<Pause>,
    extensions: Vec<Extension>,
    last_event: Option<Date>,
}

fn not_started() -> DomainError {
    DomainError::conflict("case_clock_not_started", "办件尚未受理，办理时限尚未开始计算")
}

impl CaseClock {
    /// A clock for a case not yet accepted. An instant case ignores the limits' values.
    pub fn new(case_type: CaseType, limits: TimeLimits) -> Self {
        Self {
            case_type,
            limits,
            accepted: None,
            pauses: Vec::new(),
            extensions: Vec::new(),
            last_event: None,
        }
    }

    pub fn from_events<'a>(
        case_type: CaseType,
        limits: TimeLimits,
        events: impl IntoIterator<Item = &'a ClockEvent>,
    ) -> Result<Self, DomainError> {
        let mut clock = Self::new(case_type, limits);
        for e in events {
            clock.apply(e)?;
        }
        Ok(clock)
    }

    /// Applies one event, refusing those that make no sense in the current state.
    pub fn apply(&mut self, event: &ClockEvent) -> Result<(), DomainError> {
        let date = event.date();
        if self.last_event.is_some_and(|last| date < last) {
            return Err(DomainError::conflict(
                "case_clock_event_out_of_order",
                format!("办件计时事件的日期 {} 早于上一事件", cn_date(date)),
            ));
        }
        match event {
            ClockEvent::Accepted { date } => {
                if self.accepted.is_some() {
                    return Err(DomainError::conflict(
                        "case_clock_already_accepted",
                        "办件已受理，不能重复受理",
                    ));
                }
                self.accepted = Some(*date);
            }
            ClockEvent::Paused { date, procedure } => {
                self.accepted.ok_or_else(not_started)?;
                self.refuse_for_instant("暂停计时")?;
                if self.open_pause().is_some() {
                    return Err(DomainError::conflict(
                        "case_clock_already_paused",
                        "办件已处于特别程序中，计时已暂停",
                    ));
                }
                self.pauses.push(Pause {
                    procedure: *procedure,
                    start: *date,
                    end: None,
                });
            }
            ClockEvent::Resumed { date } => {
                self.accepted.ok_or_else(not_started)?;
                let pause = self.pauses.last_mut().filter(|p| p.end.is_none()).ok_or_else(|| {
                    DomainError::conflict("case_clock_not_paused", "办件未处于特别程序中，无需恢复计时")
                })?;
                pause.end = Some(*date);
            }
            ClockEvent::Extended { days, reason, .. } => {
                self.accepted.ok_or_else(not_started)?;
                self.refuse_for_instant("延长时限")?;
                if *days == 0 {
                    return Err(DomainError::invalid(
                        "case_extension_days",
                        "days",
                        "延长的工作日数至少为 1",
                    ));
                }
                if reason.trim().is_empty() {
                    return Err(DomainError::invalid(
                        "case_extension_reason_required",
                        "reason",
                        "延长办理时限须经批准并写明理由（理由将告知申请人）",
                    ));
                }
                let total = self.extension_days().saturating_add(*days);
                if total > self.limits.max_extension {
                    return Err(DomainError::invalid(
                        "case_extension_exceeds_limit",
                        "days",
                        format!("累计延长不能超过 {} 个工作日", self.limits.max_extension),
                    ));
                }
                self.extensions.push(Extension {
                    date,
                    days: *days,
                    reason: reason.trim().to_owned(),
                });
            }
        }
        self.last_event = Some(date);
        Ok(())
    }

    fn refuse_for_instant(&self, what: &str) -> Result<(), DomainError> {
        if self.case_type == CaseType::Instant {
            return Err(DomainError::conflict(
                "case_clock_instant",
                format!("即办件当日办结，不能{what}"),
            ));
        }
        Ok(())
    }

    pub fn case_type(&self) -> CaseType {
        self.case_type
    }
    pub fn limits(&self) -> TimeLimits {
        self.limits
    }
    pub fn accepted_on(&self) -> Option<Date> {
        self.accepted
    }
    pub fn pauses(&self) -> &[Pause] {
        &self.pauses
    }
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }
    /// The running special procedure, if any.
    pub fn open_pause(&self) -> Option<&Pause> {
        self.pauses.last().filter(|p| p.end.is_none())
    }
    pub fn extension_days(&self) -> u32 {
        self.extensions.iter().map(|e| e.days).fold(0, u32::saturating_add)
    }
    /// The promised limit with extensions (0 for instant cases).
    pub fn promised_limit(&self) -> u32 {
        match self.case_type {
            CaseType::Instant => 0,
            CaseType::Promised => self.limits.promised.saturating_add(self.extension_days()),
        }
    }
    /// The legal limit with extensions (0 for instant cases).
    pub fn legal_limit(&self) -> u32 {
        match self.case_type {
            CaseType::Instant => 0,
            CaseType::Promised => self.limits.legal.saturating_add(self.extension_days()),
        }
    }

    fn paused_on(&self, d: Date) -> bool {
        self.pauses.iter().any(|p| p.covers(d))
    }

    /// Whether `d` is a counted day of a case accepted on `accepted`.
    fn counts(&self, cal: &WorkingCalendar, accepted: Date, d: Date) -> Result<bool, DomainError> {
        Ok(d > accepted && !self.paused_on(d) && cal.is_working_day(d)?)
    }

    /// The day the `limit`-th counted day falls on; `None` if an open pause comes first.
    fn deadline_for(&self, cal: &WorkingCalendar, accepted: Date, limit: u32) -> Result<Option<Date>, DomainError> {
        if self.case_type == CaseType::Instant {
            return Ok(Some(accepted));
        }
        let open_start = self.open_pause().map(|p| p.start);
        let mut d = accepted;
        let mut n = 0u32;
        while n < limit {
            d = d.tomorrow().map_err(|_| cal_overflow(d))?;
            if open_start.is_some_and(|s| d >= s) {
                return Ok(None);
            }
            if self.counts(cal, accepted, d)? {
                n += 1;
            }
        }
        Ok(Some(d))
    }

    /// Counted days in `(accepted, today]`.
    fn counted_until(&self, cal: &WorkingCalendar, accepted: Date, today: Date) -> Result<i64, DomainError> {
        let mut n = 0i64;
        let mut d = accepted;
        while d < today {
            d = d.tomorrow().map_err(|_| cal_overflow(d))?;
            if self.counts(cal, accepted, d)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Both deadlines. Errors before acceptance, and when the calendar does not cover the dates.
    pub fn deadlines(&self, cal: &WorkingCalendar) -> Result<Deadlines, DomainError> {
        let accepted = self.accepted.ok_or_else(not_started)?;
        let clock_starts = match self.case_type {
            CaseType::Instant => accepted,
            CaseType::Promised => cal.next_working_day(accepted)?,
        };
        let mut paused_working_days = 0u32;
        for p in &self.pauses {
            if let Some(end) = p.end {
                // Only days after acceptance could have counted in the first place.
                let from = p.start.yesterday().map_err(|_| cal_overflow(p.start))?.max(accepted);
                let n = cal.working_days_between(from, end)?;
                paused_working_days = paused_working_days.saturating_add(u32::try_from(n).unwrap_or(0));
            }
        }
        Ok(Deadlines {
            accepted_on: accepted,
            clock_starts,
            promised: Deadline {
                limit: self.promised_limit(),
                date: self.deadline_for(cal, accepted, self.promised_limit())?,
            },
            legal: Deadline {
                limit: self.legal_limit(),
                date: self.deadline_for(cal, accepted, self.legal_limit())?,
            },
            paused_since: self.open_pause().map(|p| (p.start, p.procedure)),
            paused_working_days,
        })
    }

    /// Working days left after `today` on each limit.
    pub fn remaining(&self, cal: &WorkingCalendar, today: Date) -> Result<Remaining, DomainError> {
        let accepted = self.accepted.ok_or_else(not_started)?;
        let used = self.counted_until(cal, accepted, today)?;
        Ok(Remaining {
            promised: i64::from(self.promised_limit()) - used,
            legal: i64::from(self.legal_limit()) - used,
        })
    }

    /// Deadlines, remaining days and warning levels at once. `None` before acceptance.
    pub fn status(
        &self,
        cal: &WorkingCalendar,
        today: Date,
        threshold: WarningThreshold,
    ) -> Result<Option<ClockStatus>, DomainError> {
        if self.accepted.is_none() {
            return Ok(None);
        }
        let deadlines = self.deadlines(cal)?;
        let remaining = self.remaining(cal, today)?;
        let status = |d: Deadline, remaining: i64| {
            let level = if d.date.is_some_and(|date| today > date) {
                WarningLevel::Red
            } else if self.case_type == CaseType::Promised && remaining <= i64::from(threshold.0) {
                WarningLevel::Yellow
            } else {
                WarningLevel::None
            };
            LimitStatus {
                limit: d.limit,
                deadline: d.date,
                remaining,
                level,
            }
        };
        let promised = status(deadlines.promised, remaining.promised);
        let legal = status(deadlines.legal, remaining.legal);
        let level = promised.level.max(legal.level);
        Ok(Some(ClockStatus {
            deadlines,
            promised,
            legal,
            level,
        }))
    }

    /// The worse warning level of the two limits; `None` before acceptance.
    pub fn warning_level(
        &self,
        cal: &WorkingCalendar,
        today: Date,
        threshold: WarningThreshold,
    ) -> Result<WarningLevel, DomainError> {
        Ok(self
            .status(cal, today, threshold)?
            .map_or(WarningLevel::None, |s| s.level))
    }
}

fn cal_overflow(d: Date) -> DomainError {
    DomainError::invalid(
        crate::calendar::NOT_COVERED,
        "date",
        format!("{} 超出可计算的日期范围", cn_date(d)),
    )
}

/// 《行政许可法》§32: a notice of missing materials (or a decision) is due within this many working
/// days of receipt; otherwise the application counts as accepted on the day of receipt.
pub const NOTICE_WINDOW_WORKING_DAYS: u32 = 5;

/// Where an application not yet accepted stands with respect to deemed acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeemedAcceptance {
    /// The hall may still issue its notice or decision, up to the end of `notice_due`.
    Pending { notice_due: Date },
    /// A notice or decision was issued in time; no deemed acceptance.
    Answered,
    /// Counts as accepted on `accepted_on` (the day of receipt); the clock runs from the working
    /// day after it, so apply `ClockEvent::Accepted { date: accepted_on }`.
    Deemed { accepted_on: Date, notice_was_due: Date },
}

/// Whether an application received on `received` is deemed accepted by `today`. `answered_on` is
/// the date a one-time notice (一次性告知) or an intake decision was issued, if any; `window` is
/// the region's notice window in working days (normally [`NOTICE_WINDOW_WORKING_DAYS`]).
pub fn deemed_acceptance(
    cal: &WorkingCalendar,
    received: Date,
    answered_on: Option<Date>,
    today: Date,
    window: u32,
) -> Result<DeemedAcceptance, DomainError> {
    let due = cal.add_working_days(received, window)?;
    if answered_on.is_some_and(|a| a <= due) {
        return Ok(DeemedAcceptance::Answered);
    }
    if today > due {
        return Ok(DeemedAcceptance::Deemed {
            accepted_on: received,
            notice_was_due: due,
        });
    }
    Ok(DeemedAcceptance::Pending { notice_due: due })
}

/// The configurable numbers of the case rules, a region setting (`cases.rules`): the yellow
/// warning threshold in working days (DESIGN.md "Promised vs legal limit") and the intake notice
/// window after which an application counts as accepted (《行政许可法》§32: 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRules {
    pub warning_threshold_days: u32,
    pub notice_window_days: u32,
}

/// The region setting holding [`CaseRules`].
pub struct CaseRulesSetting;

impl crate::settings::Setting for CaseRulesSetting {
    const KEY: &'static str = "cases.rules";
    type Value = CaseRules;
    fn default_value() -> CaseRules {
        CaseRules {
            warning_threshold_days: WarningThreshold::default().0,
            notice_window_days: NOTICE_WINDOW_WORKING_DAYS,
        }
    }
    fn validate(v: &CaseRules) -> Result<(), DomainError> {
        if v.warning_threshold_days > 30 {
            return Err(DomainError::invalid(
                "warning_threshold_out_of_range",
                "warning_threshold_days",
                "预警阈值须在 0 到 30 个工作日之间",
            ));
        }
        if v.notice_window_days == 0 || v.notice_window_days > NOTICE_WINDOW_WORKING_DAYS {
            return Err(DomainError::invalid(
                "notice_window_out_of_range",
                "notice_window_days",
                "一次性告知期限须在 1 到 5 个工作日之间（《行政许可法》第三十二条）",
            ));
        }
        Ok(())
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
    fn promised(limit: u32, events: &[ClockEvent]) -> CaseClock {
        CaseClock::from_events(
            CaseType::Promised,
            TimeLimits::new(limit, 20.max(limit), 10).unwrap(),
            events,
        )
        .unwrap()
    }
    fn accepted(d: Date) -> ClockEvent {
        ClockEvent::Accepted { date: d }
    }

    #[test]
    fn twenty_days_across_qingming() {
        let c = cal();
        // Wed 18 Mar; Mon 6 Apr is 清明 → 20th working day is Thu 16 Apr.
        let clock = promised(20, &[accepted(date(2026, 3, 18))]);
        let d = clock.deadlines(&c).unwrap();
        assert_eq!(d.clock_starts, date(2026, 3, 19));
        assert_eq!(d.promised.date, Some(date(2026, 4, 16)));
        assert_eq!(d.legal.date, Some(date(2026, 4, 16)));
        let level = |today| clock.warning_level(&c, today, WarningThreshold::default()).unwrap();
        assert_eq!(level(date(2026, 4, 13)), WarningLevel::None);
        assert_eq!(level(date(2026, 4, 14)), WarningLevel::Yellow);
        assert_eq!(level(date(2026, 4, 16)), WarningLevel::Yellow);
        assert_eq!(level(date(2026, 4, 17)), WarningLevel::Red);
        assert_eq!(clock.remaining(&c, date(2026, 4, 16)).unwrap().promised, 0);
        assert_eq!(clock.remaining(&c, date(2026, 3, 18)).unwrap().legal, 20);
        // A configurable threshold.
        assert_eq!(
            clock.warning_level(&c, date(2026, 4, 13), WarningThreshold(5)).unwrap(),
            WarningLevel::Yellow
        );
    }

    #[test]
    fn promised_and_legal_are_both_tracked() {
        let c = cal();
        let clock = CaseClock::from_events(
            CaseType::Promised,
            TimeLimits::licensing(5).unwrap(),
            &[accepted(date(2026, 3, 18))],
        )
        .unwrap();
        let s = clock
            .status(&c, date(2026, 3, 26), WarningThreshold::default())
            .unwrap()
            .unwrap();
        assert_eq!(s.promised.deadline, Some(date(2026, 3, 25)));
        assert_eq!(s.promised.level, WarningLevel::Red);
        assert_eq!(s.legal.level, WarningLevel::None);
        assert_eq!(s.legal.remaining, 14);
        assert_eq!(s.level, WarningLevel::Red);
    }

    #[test]
    fn acceptance_on_a_weekend_or_before_a_makeup_day() {
        let c = cal();
        let clock = promised(1, &[accepted(date(2026, 3, 14))]);
        assert_eq!(clock.deadlines(&c).unwrap().promised.date, Some(date(2026, 3, 16)));
        let clock = promised(1, &[accepted(date(2026, 2, 13))]);
        assert_eq!(clock.deadlines(&c).unwrap().promised.date, Some(date(2026, 2, 14)));
    }

    #[test]
    fn pauses_resume_with_the_days_left() {
        let c = cal();
        let base = [accepted(date(2026, 3, 18))];
        let mut events = base.to_vec();
        events.push(ClockEvent::Paused {
            date: date(2026, 4, 1),
            procedure: SpecialProcedure::Hearing,
        });
        let open = promised(20, &events);
        let d = open.deadlines(&c).unwrap();
        assert_eq!(d.promised.date, None);
        assert_eq!(d.paused_since, Some((date(2026, 4, 1), SpecialProcedure::Hearing)));
        // Counted so far: 19 Mar – 31 Mar = 9 days; frozen while paused.
        assert_eq!(open.remaining(&c, date(2026, 4, 30)).unwrap().promised, 11);
        assert_eq!(
            open.warning_level(&c, date(2026, 4, 30), WarningThreshold::default())
                .unwrap(),
            WarningLevel::None
        );
        events.push(ClockEvent::Resumed { date: date(2026, 4, 3) });
        let closed = promised(20, &events);
        let d = closed.deadlines(&c).unwrap();
        assert_eq!(d.paused_working_days, 3);
        // 16 Apr + 3 working days.
        assert_eq!(d.promised.date, Some(date(2026, 4, 21)));
    }

    #[test]
    fn extensions_extend_both_limits() {
        let c = cal();
        let ext = |days: u32, reason: &str| ClockEvent::Extended {
            date: date(2026, 4, 1),
            days,
            reason: reason.into(),
        };
        let clock = CaseClock::from_events(
            CaseType::Promised,
            TimeLimits::licensing(15).unwrap(),
            &[accepted(date(2026, 3, 18)), ext(10, "需组织专家论证")],
        )
        .unwrap();
        assert_eq!((clock.promised_limit(), clock.legal_limit()), (25, 30));
        let d = clock.deadlines(&c).unwrap();
        assert_eq!(d.legal.date, Some(c.add_working_days(date(2026, 4, 16), 10).unwrap()));
        assert!(d.promised.date <= d.legal.date);
        let mut clock = promised(20, &[accepted(date(2026, 3, 18))]);
        assert_eq!(
            clock.apply(&ext(3, "  ")).unwrap_err().code(),
            "case_extension_reason_required"
        );
        assert_eq!(clock.apply(&ext(0, "x")).unwrap_err().code(), "case_extension_days");
        assert!(clock.apply(&ext(6, "x")).is_ok());
        assert_eq!(
            clock.apply(&ext(5, "y")).unwrap_err().code(),
            "case_extension_exceeds_limit"
        );
    }

    #[test]
    fn event_rules() {
        let limits = TimeLimits::licensing(20).unwrap();
        let pause = |d| ClockEvent::Paused {
            date: d,
            procedure: SpecialProcedure::Testing,
        };
        let code = |events: &[ClockEvent]| {
            CaseClock::from_events(CaseType::Promised, limits, events)
                .unwrap_err()
                .code()
        };
        let a = accepted(date(2026, 3, 18));
        assert_eq!(code(&[pause(date(2026, 3, 18))]), "case_clock_not_started");
        assert_eq!(code(&[a.clone(), a.clone()]), "case_clock_already_accepted");
        assert_eq!(
            code(&[a.clone(), pause(date(2026, 3, 19)), pause(date(2026, 3, 20))]),
            "case_clock_already_paused"
        );
        assert_eq!(
            code(&[
                a.clone(),
                ClockEvent::Resumed {
                    date: date(2026, 3, 19)
                }
            ]),
            "case_clock_not_paused"
        );
        assert_eq!(
            code(&[a.clone(), pause(date(2026, 3, 17))]),
            "case_clock_event_out_of_order"
        );
        let instant = CaseClock::from_events(CaseType::Instant, limits, &[a.clone(), pause(date(2026, 3, 18))]);
        assert_eq!(instant.unwrap_err().code(), "case_clock_instant");
        // No clock before acceptance.
        let c = cal();
        let fresh = CaseClock::new(CaseType::Promised, limits);
        assert_eq!(fresh.deadlines(&c).unwrap_err().code(), "case_clock_not_started");
        assert_eq!(
            fresh
                .warning_level(&c, date(2026, 12, 1), WarningThreshold::default())
                .unwrap(),
            WarningLevel::None
        );
        assert!(
            fresh
                .status(&c, date(2026, 12, 1), WarningThreshold::default())
                .unwrap()
                .is_none()
        );
        assert_eq!(
            TimeLimits::new(21, 20, 10).unwrap_err().code(),
            "time_limit_promised_exceeds_legal"
        );
        assert_eq!(
            TimeLimits::new(0, 20, 10).unwrap_err().code(),
            "time_limit_promised_zero"
        );
    }

    #[test]
    fn instant_cases_conclude_the_same_day() {
        let c = cal();
        // Saturday service: still due that day.
        let clock = CaseClock::from_events(
            CaseType::Instant,
            TimeLimits::licensing(1).unwrap(),
            &[accepted(date(2026, 3, 14))],
        )
        .unwrap();
        let d = clock.deadlines(&c).unwrap();
        assert_eq!(
            (d.promised.date, d.legal.date),
            (Some(date(2026, 3, 14)), Some(date(2026, 3, 14)))
        );
        assert_eq!((d.promised.limit, d.clock_starts), (0, date(2026, 3, 14)));
        let level = |today| clock.warning_level(&c, today, WarningThreshold::default()).unwrap();
        assert_eq!(level(date(2026, 3, 14)), WarningLevel::None);
        assert_eq!(level(date(2026, 3, 15)), WarningLevel::Red);
    }

    #[test]
    fn deemed_acceptance_after_five_working_days() {
        let c = cal();
        let received = date(2026, 3, 16);
        let w = NOTICE_WINDOW_WORKING_DAYS;
        let due = date(2026, 3, 23);
        assert_eq!(
            deemed_acceptance(&c, received, None, date(2026, 3, 23), w).unwrap(),
            DeemedAcceptance::Pending { notice_due: due }
        );
        assert_eq!(
            deemed_acceptance(&c, received, None, date(2026, 3, 24), w).unwrap(),
            DeemedAcceptance::Deemed {
                accepted_on: received,
                notice_was_due: due
            }
        );
        assert_eq!(
            deemed_acceptance(&c, received, Some(date(2026, 3, 23)), date(2026, 5, 1), w).unwrap(),
            DeemedAcceptance::Answered
        );
        assert!(matches!(
            deemed_acceptance(&c, received, Some(date(2026, 3, 25)), date(2026, 3, 25), w).unwrap(),
            DeemedAcceptance::Deemed { .. }
        ));
        // Over 劳动节: received Thu 30 Apr → Wed 6, Thu 7, Fri 8, Sat 9 (make-up), Mon 11 May.
        assert_eq!(
            deemed_acceptance(&c, date(2026, 4, 30), None, date(2026, 4, 30), w).unwrap(),
            DeemedAcceptance::Pending {
                notice_due: date(2026, 5, 11)
            }
        );
    }

    #[test]
    fn events_round_trip_as_json() {
        let e = ClockEvent::Paused {
            date: date(2026, 4, 1),
            procedure: SpecialProcedure::ExpertReview,
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"paused","date":"2026-04-01","procedure":"expert_review"}"#
        );
        assert_eq!(serde_json::from_str::<ClockEvent>(&json).unwrap(), e);
    }

    proptest! {
        #[test]
        fn a_pause_moves_the_deadline_by_its_working_days(
            acc in 0i32..200, limit in 1u32..=30, start_after in 0i32..50, len in 0i32..30,
            procedure in proptest::sample::select(SpecialProcedure::ALL.to_vec()),
        ) {
            let c = cal();
            let a = day(acc);
            let p = day(acc + start_after);
            let r = day(acc + start_after + len);
            let d0 = promised(limit, &[accepted(a)]).deadlines(&c).unwrap().promised.date.unwrap();
            let events = [accepted(a), ClockEvent::Paused { date: p, procedure }, ClockEvent::Resumed { date: r }];
            let d1 = promised(limit, &events).deadlines(&c).unwrap().promised.date.unwrap();
            if p <= d0 {
                let k = c.working_days_between(p.yesterday().unwrap().max(a), r).unwrap();
                prop_assert_eq!(d1, c.add_working_days(d0, u32::try_from(k).unwrap()).unwrap());
            } else {
                // The deadline had passed before the procedure began; it stays passed.
                prop_assert_eq!(d1, d0);
            }
        }

        #[test]
        fn deadlines_fall_on_working_days(
            acc in 0i32..200, limit in 1u32..=20, start_after in 0i32..40, len in 0i32..20,
            ext in 0u32..=10, weekend_acceptance in any::<bool>(),
        ) {
            let c = cal();
            let a = day(acc);
            let mut events = vec![accepted(a)];
            if !weekend_acceptance {
                events.push(ClockEvent::Paused { date: day(acc + start_after), procedure: SpecialProcedure::Inspection });
                events.push(ClockEvent::Resumed { date: day(acc + start_after + len) });
            }
            if ext > 0 {
                events.push(ClockEvent::Extended { date: day(acc + start_after + len), days: ext, reason: "批准延长".into() });
            }
            let clock = promised(limit, &events);
            let d = clock.deadlines(&c).unwrap();
            for date in [d.promised.date.unwrap(), d.legal.date.unwrap()] {
                prop_assert!(c.is_working_day(date).unwrap());
                prop_assert!(date > a);
            }
            prop_assert!(d.promised.date <= d.legal.date);
            // On the deadline day nothing is left; the next day is red.
            let dl = d.promised.date.unwrap();
            prop_assert_eq!(clock.remaining(&c, dl).unwrap().promised, 0);
            prop_assert_eq!(
                clock.warning_level(&c, dl.tomorrow().unwrap(), WarningThreshold::default()).unwrap(),
                WarningLevel::Red
            );
        }
    }
}
