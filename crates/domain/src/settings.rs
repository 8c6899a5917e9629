//! Region settings: the configurable numbers of the domain rules (the no-show rule, warning
//! thresholds, rating defaults ...). Each is a typed value that inherits live down the region tree:
//! the nearest region on the chain leaf → root that overrides it wins, else the built-in default.
//!
//! A setting is a unit type implementing [`Setting`]; its value is a small serde struct of scalar
//! fields (numbers, booleans, strings), so that a generic admin form can edit any of them.
use crate::DomainError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One configurable rule of the domain, with its key, its default and its validation.
pub trait Setting: 'static {
    /// Stable key, `section.name` in lower-case ASCII (`queue.no_show`).
    const KEY: &'static str;
    /// The value: a serde struct of scalar fields. Mark it `#[serde(deny_unknown_fields)]` so a
    /// typo in a field name is refused rather than silently dropped.
    type Value: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static;
    /// The value in force where no region overrides it.
    fn default_value() -> Self::Value;
    /// Rules a value must keep beyond its type (ranges, orderings).
    fn validate(_value: &Self::Value) -> Result<(), DomainError> {
        Ok(())
    }
}

/// Whether `key` has the shape of a setting key: two or more `[a-z0-9_]+` words joined by `.`.
pub fn key_is_well_formed(key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    key.len() <= 64
        && parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Reads a value of `S` from JSON and checks its rules. The error names the setting.
pub fn parse<S: Setting>(json: &serde_json::Value) -> Result<S::Value, DomainError> {
    // Only the object form: serde would also read a struct from an array of its fields in order,
    // which would silently take `[1, 2, 3]` for three named numbers.
    if !json.is_object() {
        return Err(DomainError::invalid(
            "setting_invalid",
            "value",
            format!("设置 {} 的值须为对象（各项名称与取值）", S::KEY),
        ));
    }
    let value: S::Value = serde_json::from_value(json.clone())
        .map_err(|e| DomainError::invalid("setting_invalid", "value", format!("设置 {} 的值不正确：{e}", S::KEY)))?;
    S::validate(&value)?;
    Ok(value)
}

/// The effective value of `S` given the stored overrides of the chain, ordered root → leaf
/// (`None` where a region says nothing). Returns the value and the index in `chain` of the region
/// it came from (`None`: the default). A stored value that no longer parses (an older shape) is
/// skipped, so a bad row can never take a rule out of force; the admin page shows it as invalid.
pub fn resolve<S: Setting>(chain: &[Option<&serde_json::Value>]) -> (S::Value, Option<usize>) {
    for (i, stored) in chain.iter().enumerate().rev() {
        if let Some(json) = stored
            && let Ok(v) = parse::<S>(json)
        {
            return (v, Some(i));
        }
    }
    (S::default_value(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        days: u32,
        on: bool,
    }
    struct TestSetting;
    impl Setting for TestSetting {
        const KEY: &'static str = "test.limits";
        type Value = Limits;
        fn default_value() -> Limits {
            Limits { days: 5, on: false }
        }
        fn validate(v: &Limits) -> Result<(), DomainError> {
            if v.days == 0 || v.days > 30 {
                return Err(DomainError::invalid(
                    "days_out_of_range",
                    "days",
                    "天数须在 1 到 30 之间",
                ));
            }
            Ok(())
        }
    }

    #[test]
    fn the_nearest_override_wins_and_the_default_fills_in() {
        let city = json!({"days": 10, "on": true});
        let county = json!({"days": 3, "on": false});
        assert_eq!(
            resolve::<TestSetting>(&[None, None, None]),
            (TestSetting::default_value(), None)
        );
        assert_eq!(
            resolve::<TestSetting>(&[None, Some(&city), None]),
            (Limits { days: 10, on: true }, Some(1))
        );
        assert_eq!(
            resolve::<TestSetting>(&[None, Some(&city), Some(&county)]),
            (Limits { days: 3, on: false }, Some(2))
        );
    }

    #[test]
    fn a_stored_value_that_no_longer_parses_is_skipped() {
        let city = json!({"days": 10, "on": true});
        let broken = json!({"days": "ten"});
        let out_of_range = json!({"days": 99, "on": true});
        assert_eq!(
            resolve::<TestSetting>(&[Some(&city), Some(&broken), Some(&out_of_range)]),
            (Limits { days: 10, on: true }, Some(0))
        );
    }

    #[test]
    fn parse_refuses_unknown_fields_wrong_types_and_broken_rules() {
        assert!(parse::<TestSetting>(&json!({"days": 4, "on": true})).is_ok());
        for bad in [
            json!({"days": 4, "on": true, "typo": 1}),
            json!({"days": -1, "on": true}),
            json!({"days": 4}),
            json!([1, 2]),
        ] {
            assert_eq!(
                parse::<TestSetting>(&bad).map_err(|e| e.code()),
                Err("setting_invalid"),
                "{bad}"
            );
        }
        assert_eq!(
            parse::<TestSetting>(&json!({"days": 31, "on": true})).map_err(|e| e.code()),
            Err("days_out_of_range")
        );
    }

    #[test]
    fn keys_have_a_section_and_a_name() {
        assert!(key_is_well_formed("queue.no_show"));
        assert!(key_is_well_formed("ratings.follow_up.deadline"));
        for bad in ["queue", "Queue.x", "queue.", ".x", "queue.no-show", "a.b c", ""] {
            assert!(!key_is_well_formed(bad), "{bad}");
        }
    }
}
