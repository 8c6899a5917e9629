//! Monthly scorecards (月度排名): one composite score per window, person or department from the
//! objective figures of the month, the same rules for everyone, ranks with ties shared, the
//! bottom group and the 约谈 flag after consecutive bottom months. Pure: figures in, ranks out.
use crate::rating::ScorecardRule;
use serde::{Deserialize, Serialize};

/// One objective figure turned into a 0..=1 "goodness" (1 is best), with its weight. `value` is
/// `None` when the subject has no basis for it this month (no bad reviews to follow up, no
/// concluded cases): the score is then the weighted mean over the indicators that do apply, the
/// same rule for everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    pub key: String,
    pub label: String,
    pub weight: u32,
    pub value: Option<f64>,
}

impl Indicator {
    pub fn new(key: &str, label: &str, weight: u32, value: Option<f64>) -> Self {
        Self {
            key: key.to_owned(),
            label: label.to_owned(),
            weight,
            // A NaN or out-of-range figure is a bug upstream; clamp rather than poison the ranking.
            value: value.filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 1.0)),
        }
    }
}

/// The weighted mean of the applicable indicators, in permille (0..=1000); `None` if none applies.
pub fn score_permille(indicators: &[Indicator]) -> Option<i64> {
    let (mut sum, mut weights) = (0.0, 0u64);
    for i in indicators {
        if let Some(v) = i.value
            && i.weight > 0
        {
            sum += v * f64::from(i.weight);
            weights += u64::from(i.weight);
        }
    }
    (weights > 0).then(|| (sum / weights as f64 * 1000.0).round() as i64)
}

/// A subject to rank: its sample (real ratings of the month) and score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub subject_id: i64,
    pub sample: u32,
    pub score_permille: Option<i64>,
}

/// A subject's place: `rank` is `None` below the minimum sample; `peers` is how many were ranked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub subject_id: i64,
    pub rank: Option<u32>,
    pub peers: u32,
    pub bottom: bool,
}

/// Ranks the subjects that reach the minimum sample and have a score (1 = best). Equal scores
/// share a rank (1, 2, 2, 4): no subject gains from its id. The bottom group is the last place
/// (everyone sharing it) or the bottom share (at least one subject, and everyone tied with the
/// last one inside it), and only among at least `min_peers` ranked subjects. The output keeps the
/// input order.
pub fn rank(rule: &ScorecardRule, entries: &[Entry]) -> Vec<Placed> {
    let mut scored: Vec<i64> = entries
        .iter()
        .filter(|e| e.sample >= rule.min_sample)
        .filter_map(|e| e.score_permille)
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    let n = scored.len();
    let bottom_size = if n < rule.min_peers as usize || n == 0 {
        0
    } else if rule.bottom == "share" {
        (n * rule.bottom_percent as usize).div_ceil(100).max(1)
    } else {
        1
    };
    // The score at the edge of the bottom group: everyone at or below it is in the group.
    let edge = (bottom_size > 0).then(|| scored[n - bottom_size]);
    entries
        .iter()
        .map(|e| {
            let ranked = e.sample >= rule.min_sample;
            let score = e.score_permille.filter(|_| ranked);
            let rank = score.map(|s| scored.iter().take_while(|&&o| o > s).count() as u32 + 1);
            Placed {
                subject_id: e.subject_id,
                rank,
                peers: n as u32,
                bottom: matches!((score, edge), (Some(s), Some(edge)) if s <= edge),
            }
        })
        .collect()
}

/// Whether a subject in the bottom group this month is flagged for a talk (约谈): it was also in
/// the bottom group in each of the `talk_after_months - 1` months before (`earlier`, newest
/// first; a month with no frozen snapshot counts as not bottom).
pub fn talk(rule: &ScorecardRule, bottom_now: bool, earlier: &[bool]) -> bool {
    let need = rule.talk_after_months.saturating_sub(1) as usize;
    bottom_now && earlier.len() >= need && earlier.iter().take(need).all(|b| *b)
}

/// A month as `YYYY-MM`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

impl Month {
    pub fn parse(raw: &str) -> Result<Self, crate::DomainError> {
        let bad = || crate::DomainError::invalid("month_invalid", "month", format!("月份“{raw}”无效，请用 YYYY-MM"));
        let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i16 = y.parse().map_err(|_| bad())?;
        let month: i8 = m.parse().map_err(|_| bad())?;
        if !(2000..=2999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }
    pub fn of(d: jiff::civil::Date) -> Self {
        Self {
            year: d.year(),
            month: d.month(),
        }
    }
    pub fn first_day(self) -> jiff::civil::Date {
        jiff::civil::date(self.year, self.month, 1)
    }
    pub fn last_day(self) -> jiff::civil::Date {
        self.first_day().last_of_month()
    }
    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rating::ScorecardSetting;
    use crate::settings::Setting;
    use proptest::prelude::*;

    fn rule(bottom: &str, min_sample: u32, min_peers: u32) -> ScorecardRule {
        ScorecardRule {
            min_sample,
            bottom: bottom.into(),
            bottom_percent: 20,
            min_peers,
            talk_after_months: 2,
        }
    }

    #[test]
    fn ties_share_a_rank_and_the_last_place_together() {
        let e = |id, s| Entry {
            subject_id: id,
            sample: 30,
            score_permille: Some(s),
        };
        let out = rank(
            &rule("last", 20, 3),
            &[e(1, 900), e(2, 800), e(3, 900), e(4, 700), e(5, 700)],
        );
        let ranks: Vec<_> = out.iter().map(|p| p.rank).collect();
        assert_eq!(ranks, vec![Some(1), Some(3), Some(1), Some(4), Some(4)]);
        let bottom: Vec<_> = out.iter().map(|p| p.bottom).collect();
        assert_eq!(bottom, vec![false, false, false, true, true]);
    }

    #[test]
    fn the_score_is_the_mean_of_the_applicable_indicators() {
        let i = |w, v| Indicator::new("k", "k", w, v);
        assert_eq!(
            score_permille(&[i(3, Some(1.0)), i(1, Some(0.0)), i(5, None)]),
            Some(750)
        );
        assert_eq!(score_permille(&[i(3, None)]), None);
        assert_eq!(score_permille(&[i(1, Some(f64::NAN)), i(1, Some(2.0))]), Some(1000));
    }

    #[test]
    fn months_parse_and_step() {
        let m = Month { year: 2026, month: 1 };
        assert_eq!(Month::parse("2026-01"), Ok(m));
        assert_eq!(m.prev().to_string(), "2025-12");
        assert_eq!(m.next().to_string(), "2026-02");
        assert_eq!(Month { year: 2026, month: 12 }.next().to_string(), "2027-01");
        assert_eq!(m.last_day().to_string(), "2026-01-31");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_talk_needs_consecutive_bottom_months() {
        let r = ScorecardSetting::default_value();
        assert!(talk(&r, true, &[true]));
        assert!(!talk(&r, true, &[false, true]));
        assert!(!talk(&r, false, &[true]));
        assert!(!talk(&r, true, &[]));
    }

    proptest! {
        #[test]
        fn ranking_rules_hold_for_any_figures(
            raw in proptest::collection::vec((0u32..60, proptest::option::of(0i64..=1000)), 0..40),
            share in any::<bool>(),
            min_sample in 0u32..40,
            min_peers in 2u32..8,
        ) {
            let r = rule(if share { "share" } else { "last" }, min_sample, min_peers);
            let entries: Vec<Entry> = raw.iter().enumerate()
                .map(|(i, (sample, score))| Entry { subject_id: i as i64, sample: *sample, score_permille: *score })
                .collect();
            let out = rank(&r, &entries);
            prop_assert_eq!(out.len(), entries.len());
            let ranked = entries.iter().filter(|e| e.sample >= min_sample && e.score_permille.is_some()).count() as u32;
            for (e, p) in entries.iter().zip(&out) {
                prop_assert_eq!(e.subject_id, p.subject_id);
                prop_assert_eq!(p.peers, ranked);
                // Below the sample (or without a score): never ranked, never in the bottom group.
                if e.sample < min_sample || e.score_permille.is_none() {
                    prop_assert!(p.rank.is_none() && !p.bottom);
                }
                if ranked < min_peers { prop_assert!(!p.bottom); }
            }
            // A better score never ranks worse; equal scores rank equal.
            for (a, pa) in entries.iter().zip(&out) {
                for (b, pb) in entries.iter().zip(&out) {
                    if let (Some(ra), Some(rb)) = (pa.rank, pb.rank) {
                        let (sa, sb) = (a.score_permille.unwrap_or(0), b.score_permille.unwrap_or(0));
                        if sa > sb { prop_assert!(ra < rb); }
                        if sa == sb { prop_assert_eq!(ra, rb); }
                        // The bottom group is a suffix of the order.
                        if pa.bottom && sb <= sa { prop_assert!(pb.bottom); }
                    }
                }
            }
            let bottoms = out.iter().filter(|p| p.bottom).count() as u32;
            if ranked >= min_peers {
                prop_assert!(bottoms >= 1);
                if !share {
                    // Only the last place (with its ties).
                    let worst = out.iter().filter_map(|p| p.rank).max();
                    prop_assert!(out.iter().filter(|p| p.bottom).all(|p| p.rank == worst));
                }
            }
        }
    }
}
