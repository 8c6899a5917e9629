//! Inherited, not copied: a region's implementation holds, for each overridable field, either
//! `Inherited` or `Overridden(value)`. The effective value is the override nearest to the leaf on the
//! chain base → province → city → county …, or the base catalogue's value when no one overrides, and
//! the resolver says where it came from, so the UI can show "继承自 久安市" or "本级设置".
//!
//! Because nothing is copied, a change above reaches every descendant that has not overridden the
//! field, and removing an override falls back to the parent's effective value.
use super::codes::CaseType;
use super::record::{Fee, ServiceRecord, TimeLimit};
use serde::{Deserialize, Serialize};

/// One overridable field of a region's implementation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", content = "value", rename_all = "snake_case")]
pub enum Inheritable<T> {
    /// Take the parent's effective value.
    #[default]
    Inherited,
    /// Use this value here and, unless they override it again, in every descendant.
    Overridden(T),
}

impl<T> Inheritable<T> {
    pub fn overridden(&self) -> Option<&T> {
        match self {
            Self::Inherited => None,
            Self::Overridden(v) => Some(v),
        }
    }
    pub fn is_overridden(&self) -> bool {
        matches!(self, Self::Overridden(_))
    }
}

impl<T> From<Option<T>> for Inheritable<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Inherited, Self::Overridden)
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", content = "region", rename_all = "snake_case")]
pub enum Origin<R> {
    /// The base catalogue item (基本目录).
    Base,
    /// The override of this region (its id, e.g. a region code; its level follows from the id).
    Region(R),
}

/// An effective value and its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved<T, R> {
    pub value: T,
    pub origin: Origin<R>,
}

/// Resolves one field: the last override on `chain` (ordered root to leaf) wins; with none, `base`.
pub fn resolve_field<'a, T: Clone + 'a, R: Clone + 'a>(
    base: &T,
    chain: impl IntoIterator<Item = (&'a R, &'a Inheritable<T>)>,
) -> Resolved<T, R> {
    let mut out = Resolved {
        value: base.clone(),
        origin: Origin::Base,
    };
    for (region, field) in chain {
        if let Inheritable::Overridden(v) = field {
            out = Resolved {
                value: v.clone(),
                origin: Origin::Region(region.clone()),
            };
        }
    }
    out
}

/// The fields a region may override in its implementation of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImplementationOverrides {
    pub promised_limit: Inheritable<Option<TimeLimit>>,
    pub case_type: Inheritable<CaseType>,
    pub address: Inheritable<String>,
    pub hours: Inheritable<String>,
    pub consult_phone: Inheritable<String>,
    pub supervise_phone: Inheritable<String>,
    pub fee: Inheritable<Option<Fee>>,
    /// Ids of the windows that serve the service. The base catalogue has none: windows are concrete
    /// things of a hall, so they come only from an override.
    pub windows: Inheritable<Vec<String>>,
    /// 实施主体: a city or county implements a service through its own department, which has its
    /// own name and credit code (and so its own 实施编码).
    pub implementing_body: Inheritable<String>,
    pub implementing_body_credit_code: Inheritable<String>,
    /// 业务办理部门.
    pub department_name: Inheritable<String>,
}

impl ImplementationOverrides {
    /// Names of the overridable fields, as in the JSON form.
    pub const FIELDS: &'static [&'static str] = &[
        "promised_limit",
        "case_type",
        "address",
        "hours",
        "consult_phone",
        "supervise_phone",
        "fee",
        "windows",
        "implementing_body",
        "implementing_body_credit_code",
        "department_name",
    ];

    /// Whether no field is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The overrides of one region on the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionOverrides<R> {
    pub region: R,
    pub overrides: ImplementationOverrides,
}

/// The effective overridable fields of an implementation, each with its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveImplementation<R> {
    pub promised_limit: Resolved<Option<TimeLimit>, R>,
    pub case_type: Resolved<CaseType, R>,
    pub address: Resolved<String, R>,
    pub hours: Resolved<String, R>,
    pub consult_phone: Resolved<String, R>,
    pub supervise_phone: Resolved<String, R>,
    pub fee: Resolved<Option<Fee>, R>,
    pub windows: Resolved<Vec<String>, R>,
    pub implementing_body: Resolved<String, R>,
    pub implementing_body_credit_code: Resolved<String, R>,
    pub department_name: Resolved<String, R>,
}

impl<R> EffectiveImplementation<R> {
    /// The base record with the effective values put in, e.g. to run `validate_service` on what the
    /// public will actually see.
    pub fn apply_to(&self, base: &ServiceRecord) -> ServiceRecord {
        ServiceRecord {
            promised_limit: self.promised_limit.value,
            case_type: self.case_type.value,
            address: self.address.value.clone(),
            hours: self.hours.value.clone(),
            consult_phone: self.consult_phone.value.clone(),
            supervise_phone: self.supervise_phone.value.clone(),
            fee: self.fee.value.clone(),
            implementing_body: self.implementing_body.value.clone(),
            implementing_body_credit_code: self.implementing_body_credit_code.value.clone(),
            department_name: self.department_name.value.clone(),
            ..base.clone()
        }
    }
}

/// Resolves every overridable field of `base` along `chain`, ordered from the root region to the leaf.
pub fn resolve_implementation<R: Clone>(
    base: &ServiceRecord,
    chain: &[RegionOverrides<R>],
) -> EffectiveImplementation<R> {
    macro_rules! field {
        ($name:ident, $base:expr) => {
            resolve_field(&$base, chain.iter().map(|c| (&c.region, &c.overrides.$name)))
        };
    }
    EffectiveImplementation {
        promised_limit: field!(promised_limit, base.promised_limit),
        case_type: field!(case_type, base.case_type),
        address: field!(address, base.address),
        hours: field!(hours, base.hours),
        consult_phone: field!(consult_phone, base.consult_phone),
        supervise_phone: field!(supervise_phone, base.supervise_phone),
        fee: field!(fee, base.fee),
        windows: field!(windows, Vec::<String>::new()),
        implementing_body: field!(implementing_body, base.implementing_body),
        implementing_body_credit_code: field!(implementing_body_credit_code, base.implementing_body_credit_code),
        department_name: field!(department_name, base.department_name),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::record::fixtures::service;
    use super::*;
    use proptest::prelude::*;

    fn chain_of(values: &[Option<u32>]) -> Vec<(u32, Inheritable<u32>)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, Inheritable::from(*v)))
            .collect()
    }

    fn resolve(base: u32, chain: &[(u32, Inheritable<u32>)]) -> Resolved<u32, u32> {
        resolve_field(&base, chain.iter().map(|(r, f)| (r, f)))
    }

    #[test]
    fn implementation_fields_resolve_with_origin() {
        let base = service();
        let city = ImplementationOverrides {
            hours: Inheritable::Overridden("周一至周六 9:00-17:00".into()),
            windows: Inheritable::Overridden(vec!["w-1".into()]),
            ..Default::default()
        };
        let county = ImplementationOverrides {
            address: Inheritable::Overridden("罗平县行政服务中心一楼".into()),
            ..Default::default()
        };
        let chain = vec![
            RegionOverrides {
                region: "990000".to_string(),
                overrides: ImplementationOverrides::default(),
            },
            RegionOverrides {
                region: "990100".to_string(),
                overrides: city,
            },
            RegionOverrides {
                region: "990102".to_string(),
                overrides: county,
            },
        ];
        let eff = resolve_implementation(&base, &chain);
        assert_eq!(eff.hours.origin, Origin::Region("990100".to_string()));
        assert_eq!(eff.address.origin, Origin::Region("990102".to_string()));
        assert_eq!(
            eff.consult_phone,
            Resolved {
                value: base.consult_phone.clone(),
                origin: Origin::Base
            }
        );
        assert_eq!(eff.windows.value, vec!["w-1".to_string()]);
        let applied = eff.apply_to(&base);
        assert_eq!(applied.address, "罗平县行政服务中心一楼");
        assert_eq!(applied.name, base.name);
        let json = serde_json::to_value(&chain[1].overrides).unwrap();
        assert_eq!(json["address"], serde_json::json!({"mode": "inherited"}));
        assert_eq!(
            json["windows"],
            serde_json::json!({"mode": "overridden", "value": ["w-1"]})
        );
        let back: ImplementationOverrides = serde_json::from_value(json).unwrap();
        assert_eq!(back, chain[1].overrides);
        // Missing fields read as inherited, so a stored empty object is valid.
        let empty: ImplementationOverrides = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ImplementationOverrides::default());
    }

    proptest! {
        /// The effective value is the deepest override, or the base value with origin Base.
        #[test]
        fn deepest_override_wins(base in any::<u32>(), values in prop::collection::vec(prop::option::of(any::<u32>()), 0..7)) {
            let chain = chain_of(&values);
            let got = resolve(base, &chain);
            match values.iter().enumerate().rev().find_map(|(i, v)| v.map(|v| (i, v))) {
                Some((i, v)) => prop_assert_eq!(got, Resolved { value: v, origin: Origin::Region(i as u32) }),
                None => prop_assert_eq!(got, Resolved { value: base, origin: Origin::Base }),
            }
        }

        /// Changing a value at depth k (or the base) shows in every descendant below it that has not
        /// overridden the field between k and itself, and nowhere else.
        #[test]
        fn change_above_reaches_descendants(
            base in any::<u32>(),
            values in prop::collection::vec(prop::option::of(any::<u32>()), 1..7),
            k in 0usize..8,
            new in any::<u32>(),
        ) {
            let k = k % (values.len() + 1); // 0 = base, i+1 = region i
            let before = chain_of(&values);
            let mut after_values = values.clone();
            let mut new_base = base;
            if k == 0 { new_base = new; } else { after_values[k - 1] = Some(new); }
            let after = chain_of(&after_values);
            for depth in 0..values.len() {
                let prefix_before = &before[..=depth];
                let prefix_after = &after[..=depth];
                let shielded = values.iter().enumerate().any(|(i, v)| i + 1 > k && i <= depth && v.is_some());
                let r = resolve(new_base, prefix_after);
                if depth + 1 >= k && !shielded {
                    prop_assert_eq!(r.value, new);
                } else {
                    prop_assert_eq!(r, resolve(base, prefix_before));
                }
            }
        }

        /// Removing the override at depth k makes that region's value its parent's effective value.
        #[test]
        fn reset_falls_back_to_parent(
            base in any::<u32>(),
            values in prop::collection::vec(prop::option::of(any::<u32>()), 1..7),
            k in 0usize..7,
        ) {
            let k = k % values.len();
            let mut reset = values.clone();
            reset[k] = None;
            let chain = chain_of(&reset);
            let parent = resolve(base, &chain[..k]);
            prop_assert_eq!(resolve(base, &chain[..=k]), parent);
        }
    }
}
