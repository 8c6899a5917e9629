//! Versions of a catalogue entry. A guide is edited as a draft, published with the date it takes
//! effect, and withdrawn when it must stop applying; the version in force on a date is what a case
//! received that day is judged by, so old versions are kept, never edited.
use super::codes::VersionStatus;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// One version of some catalogue content `T` (a service record, a material list…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version<T> {
    /// Increasing number within the entry.
    pub number: u32,
    pub status: VersionStatus,
    /// First day in force.
    pub effective_from: Date,
    /// First day no longer in force (exclusive); `None` = open-ended.
    pub effective_until: Option<Date>,
    pub content: T,
}

impl<T> Version<T> {
    /// Whether this version is published and its dates cover `date`.
    pub fn in_force_on(&self, date: Date) -> bool {
        self.status == VersionStatus::Published
            && self.effective_from <= date
            && self.effective_until.is_none_or(|until| date < until)
    }
}

/// The published version in force on `date`: among published versions whose dates cover it, the one
/// that took effect last (a later publication supersedes an open-ended earlier one without editing it),
/// and on a tie the highest number. Drafts and withdrawn versions are never in force.
pub fn effective_version<T>(versions: &[Version<T>], date: Date) -> Option<&Version<T>> {
    versions
        .iter()
        .filter(|v| v.in_force_on(date))
        .max_by_key(|v| (v.effective_from, v.number))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn v(number: u32, status: VersionStatus, from: Date, until: Option<Date>) -> Version<&'static str> {
        Version {
            number,
            status,
            effective_from: from,
            effective_until: until,
            content: "x",
        }
    }

    #[test]
    fn picks_the_latest_published_in_force() {
        let versions = vec![
            v(1, VersionStatus::Published, date(2025, 1, 1), None),
            v(2, VersionStatus::Published, date(2026, 1, 1), None),
            v(3, VersionStatus::Draft, date(2026, 2, 1), None),
            v(4, VersionStatus::Withdrawn, date(2026, 3, 1), None),
            v(5, VersionStatus::Published, date(2026, 6, 1), Some(date(2026, 7, 1))),
        ];
        let num = |d| effective_version(&versions, d).map(|v| v.number);
        assert_eq!(num(date(2024, 12, 31)), None);
        assert_eq!(num(date(2025, 6, 1)), Some(1));
        assert_eq!(num(date(2026, 1, 1)), Some(2));
        assert_eq!(num(date(2026, 3, 15)), Some(2)); // withdrawn v4 never applies
        assert_eq!(num(date(2026, 6, 30)), Some(5));
        assert_eq!(num(date(2026, 7, 1)), Some(2)); // v5 ended; v2 is still open-ended
    }

    proptest! {
        #[test]
        fn result_is_always_published_and_in_force(
            specs in prop::collection::vec((0u8..3, 0i16..400, prop::option::of(1i16..200)), 0..8),
            day in 0i16..600,
        ) {
            let base = date(2025, 1, 1);
            let versions: Vec<Version<()>> = specs.iter().enumerate().map(|(i, (s, from, len))| {
                let from = base.checked_add(jiff::Span::new().days(i64::from(*from))).unwrap();
                Version {
                    number: i as u32,
                    status: [VersionStatus::Draft, VersionStatus::Published, VersionStatus::Withdrawn][*s as usize],
                    effective_from: from,
                    effective_until: len.map(|l| from.checked_add(jiff::Span::new().days(i64::from(l))).unwrap()),
                    content: (),
                }
            }).collect();
            let d = base.checked_add(jiff::Span::new().days(i64::from(day))).unwrap();
            match effective_version(&versions, d) {
                Some(v) => {
                    prop_assert!(v.in_force_on(d));
                    prop_assert!(versions.iter().filter(|o| o.in_force_on(d)).all(|o| o.effective_from <= v.effective_from));
                }
                None => prop_assert!(versions.iter().all(|o| !o.in_force_on(d))),
            }
        }
    }
}
