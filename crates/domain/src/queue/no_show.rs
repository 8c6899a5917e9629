//! The booking rule for appointment no-shows (预约爽约): missing too many booked slots within a period
//! blocks new bookings for a while, so that slots are not hoarded. All numbers are per-region settings.
use jiff::civil::Date;
use jiff::{Span, ToSpan};
use serde::{Deserialize, Serialize};

/// `max_no_shows` missed appointments within `within_days` days block booking for `block_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoShowRule {
    /// 0 switches the rule off.
    pub max_no_shows: u32,
    pub within_days: u32,
    pub block_days: u32,
}

impl Default for NoShowRule {
    fn default() -> Self {
        Self {
            max_no_shows: 3,
            within_days: 30,
            block_days: 7,
        }
    }
}

/// The no-show rule as a region setting (`queue.no_show`), inherited down the region tree.
pub struct NoShowSetting;

impl crate::settings::Setting for NoShowSetting {
    const KEY: &'static str = "queue.no_show";
    type Value = NoShowRule;
    fn default_value() -> NoShowRule {
        NoShowRule::default()
    }
    fn validate(rule: &NoShowRule) -> Result<(), crate::DomainError> {
        // A year bounds both periods: longer would be a ban, not a booking rule.
        if rule.within_days > 366 || rule.block_days > 366 || rule.max_no_shows > 100 {
            return Err(crate::DomainError::invalid(
                "no_show_rule_out_of_range",
                "value",
                "爽约规则的天数不能超过 366 天，次数不能超过 100 次",
            ));
        }
        if rule.max_no_shows > 0 && rule.within_days == 0 {
            return Err(crate::DomainError::invalid(
                "no_show_rule_out_of_range",
                "within_days",
                "统计期间至少为 1 天",
            ));
        }
        Ok(())
    }
}

fn days(n: u32) -> Span {
    i64::from(n).days()
}

/// If booking is blocked on `today`, the first day it is allowed again; otherwise `None`.
///
/// The no-shows are read in date order. When `max_no_shows` of them fall within `within_days`
/// consecutive days (the first and the last less than `within_days` apart), a block starts on the day
/// of the last one and lasts `block_days` days. The no-shows that caused a block are then spent: a
/// single further miss after a block does not block again at once, which would punish one miss as
/// hard as three. No-shows dated after `today` are ignored (they cannot have happened yet).
pub fn booking_blocked(no_show_dates: &[Date], today: Date, rule: &NoShowRule) -> Option<Date> {
    if rule.max_no_shows == 0 || rule.block_days == 0 {
        return None;
    }
    let mut dates: Vec<Date> = no_show_dates.iter().copied().filter(|d| *d <= today).collect();
    dates.sort_unstable();
    let need = usize::try_from(rule.max_no_shows).unwrap_or(usize::MAX);
    let mut unspent: Vec<Date> = Vec::new();
    let mut blocked_until: Option<Date> = None;
    for d in dates {
        // Keep only the misses within the period that ends on `d`.
        let period_start = d.checked_sub(days(rule.within_days)).unwrap_or(Date::MIN);
        unspent.retain(|u| *u > period_start);
        unspent.push(d);
        if unspent.len() >= need {
            let until = d.checked_add(days(rule.block_days)).unwrap_or(Date::MAX);
            blocked_until = Some(blocked_until.map_or(until, |b| b.max(until)));
            unspent.clear();
        }
    }
    blocked_until.filter(|until| today < *until)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    #[test]
    fn three_in_thirty_days_block_for_seven() {
        let rule = NoShowRule::default();
        let misses = [date(2026, 3, 1), date(2026, 3, 10), date(2026, 3, 20)];
        assert_eq!(
            booking_blocked(&misses, date(2026, 3, 20), &rule),
            Some(date(2026, 3, 27))
        );
        assert_eq!(
            booking_blocked(&misses, date(2026, 3, 26), &rule),
            Some(date(2026, 3, 27))
        );
        assert_eq!(booking_blocked(&misses, date(2026, 3, 27), &rule), None);
        // Two are not enough.
        assert_eq!(booking_blocked(&misses[..2], date(2026, 3, 10), &rule), None);
    }

    #[test]
    fn misses_further_apart_than_the_period_do_not_count_together() {
        let rule = NoShowRule::default();
        // 3 Jan and 2 Feb are 30 days apart: outside a 30-day period.
        let misses = [date(2026, 1, 3), date(2026, 1, 20), date(2026, 2, 2)];
        assert_eq!(booking_blocked(&misses, date(2026, 2, 2), &rule), None);
        let misses = [date(2026, 1, 4), date(2026, 1, 20), date(2026, 2, 2)];
        assert_eq!(
            booking_blocked(&misses, date(2026, 2, 2), &rule),
            Some(date(2026, 2, 9))
        );
    }

    #[test]
    fn spent_misses_do_not_block_again() {
        let rule = NoShowRule::default();
        let mut misses = vec![date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)];
        misses.push(date(2026, 3, 12));
        assert_eq!(booking_blocked(&misses, date(2026, 3, 12), &rule), None);
        misses.extend([date(2026, 3, 13), date(2026, 3, 14)]);
        assert_eq!(
            booking_blocked(&misses, date(2026, 3, 14), &rule),
            Some(date(2026, 3, 21))
        );
    }

    #[test]
    fn future_dates_and_a_switched_off_rule_never_block() {
        let misses = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)];
        assert_eq!(
            booking_blocked(&misses, date(2026, 2, 28), &NoShowRule::default()),
            None
        );
        let off = NoShowRule {
            max_no_shows: 0,
            ..NoShowRule::default()
        };
        assert_eq!(booking_blocked(&misses, date(2026, 3, 3), &off), None);
    }

    proptest! {
        /// A block never lasts past `block_days` after the latest miss, and fewer misses than the
        /// threshold never block.
        #[test]
        fn block_is_bounded(offsets in proptest::collection::vec(0i64..120, 0..12), today_off in 0i64..150) {
            let base = date(2026, 1, 1);
            let misses: Vec<Date> = offsets.iter().map(|o| base.checked_add(o.days()).unwrap()).collect();
            let today = base.checked_add(today_off.days()).unwrap();
            let rule = NoShowRule::default();
            if let Some(until) = booking_blocked(&misses, today, &rule) {
                prop_assert!(today < until);
                let latest = misses.iter().copied().filter(|d| *d <= today).max().unwrap();
                prop_assert!(until <= latest.checked_add(7.days()).unwrap());
                prop_assert!(misses.iter().filter(|d| **d <= today).count() >= 3);
            }
        }
    }
}
