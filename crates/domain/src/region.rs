//! The administrative region tree (行政区划): levels and their code formats (GB/T 2260 and below).
//! Codes are checked for format per level, never against a list of real places.
use crate::DomainError;
use serde::{Deserialize, Serialize};

/// Level of a node in the region tree, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    City,
    County,
    Township,
    Community,
}

impl RegionLevel {
    pub const ALL: [RegionLevel; 5] = [
        RegionLevel::Province,
        RegionLevel::City,
        RegionLevel::County,
        RegionLevel::Township,
        RegionLevel::Community,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::City => "city",
            Self::County => "county",
            Self::Township => "township",
            Self::Community => "community",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("region_level_invalid", "level", format!("未知的区划层级：{raw}")))
    }
    /// 简体 label shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Self::Province => "省级",
            Self::City => "市级",
            Self::County => "县级",
            Self::Township => "乡镇街道",
            Self::Community => "村社区",
        }
    }
    /// Whether a node of level `child` may sit directly under a node of this level.
    /// Levels may be skipped (a township directly under a city-level district), never reversed.
    pub fn may_parent(self, child: RegionLevel) -> bool {
        child > self
    }
    /// Number of digits in a code of this level.
    pub fn code_len(self) -> usize {
        match self {
            Self::Province | Self::City | Self::County => 6,
            Self::Township => 9,
            Self::Community => 12,
        }
    }
}

/// A validated region code: 6 digits for province/city/county (GB/T 2260), 9 for township
/// (GB/T 10114 style), 12 for village/community (statistics codes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses a code and infers its level from its shape.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if !s.chars().all(|c| c.is_ascii_digit()) || ![6, 9, 12].contains(&s.len()) {
            return Err(invalid_code(s));
        }
        let code = Self(s.to_owned());
        // Shape checks: the leading two digits are a province and are never 00.
        if &s[0..2] == "00" {
            return Err(invalid_code(s));
        }
        if s.len() == 9 && &s[6..9] == "000" || s.len() == 12 && &s[9..12] == "000" {
            return Err(invalid_code(s));
        }
        Ok(code)
    }

    /// Parses a code and checks that it has the format of `level`.
    pub fn parse_for_level(raw: &str, level: RegionLevel) -> Result<Self, DomainError> {
        let code = Self::parse(raw)?;
        if code.level() != level {
            return Err(DomainError::invalid(
                "region_code_level_mismatch",
                "code",
                format!(
                    "区划代码 {} 的格式属于{}，与所选层级{}不符",
                    code.0,
                    code.level().label(),
                    level.label()
                ),
            ));
        }
        Ok(code)
    }

    /// The level a code of this shape denotes.
    pub fn level(&self) -> RegionLevel {
        let s = &self.0;
        match s.len() {
            6 if s.ends_with("0000") => RegionLevel::Province,
            6 if s.ends_with("00") => RegionLevel::City,
            6 => RegionLevel::County,
            9 => RegionLevel::Township,
            _ => RegionLevel::Community,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The demo's fictional codes start with 99, which GB/T 2260 never assigns.
    pub fn is_fictional(&self) -> bool {
        self.0.starts_with("99")
    }
}

fn invalid_code(raw: &str) -> DomainError {
    let shown: String = raw.chars().take(24).collect();
    DomainError::invalid(
        "region_code_invalid",
        "code",
        format!("区划代码“{shown}”格式不正确：省市县为 6 位数字，乡镇街道为 9 位，村社区为 12 位"),
    )
}

impl TryFrom<String> for RegionCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<RegionCode> for String {
    fn from(value: RegionCode) -> Self {
        value.0
    }
}
impl std::fmt::Display for RegionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Materialised path of a region: ids from the root, as `/1/5/23/`. A subtree is a path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegionPath(String);

impl RegionPath {
    pub fn root(id: i64) -> Self {
        Self(format!("/{id}/"))
    }
    pub fn child(&self, id: i64) -> Self {
        Self(format!("{}{id}/", self.0))
    }
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// True when `other` is this node or below it.
    pub fn contains(&self, other: &RegionPath) -> bool {
        other.0.starts_with(&self.0)
    }
    /// Ids from the root down to this node.
    pub fn ids(&self) -> Vec<i64> {
        self.0.split('/').filter_map(|p| p.parse().ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn levels_follow_the_code_shape() {
        let level = |s: &str| RegionCode::parse(s).map(|c| c.level());
        assert_eq!(level("990000"), Ok(RegionLevel::Province));
        assert_eq!(level("990100"), Ok(RegionLevel::City));
        assert_eq!(level("990121"), Ok(RegionLevel::County));
        assert_eq!(level("990121001"), Ok(RegionLevel::Township));
        assert_eq!(level("990121001001"), Ok(RegionLevel::Community));
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "",
            "99010",
            "9901000",
            "99o100",
            "000000",
            "990121000",
            "990121001000",
            " ",
            "１２３４５６",
        ] {
            assert!(RegionCode::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn level_mismatch_is_reported() {
        let err = RegionCode::parse_for_level("990100", RegionLevel::County);
        assert_eq!(err.map_err(|e| e.code()), Err("region_code_level_mismatch"));
    }

    #[test]
    fn paths_contain_their_subtree_only() {
        let root = RegionPath::root(1);
        let city = root.child(5);
        let county = city.child(23);
        let sibling = city.child(2);
        assert!(root.contains(&county));
        assert!(city.contains(&county));
        assert!(!county.contains(&city));
        assert!(!county.contains(&sibling));
        // `/1/5/2/` must not be read as containing `/1/5/23/`.
        assert!(!sibling.contains(&county));
        assert_eq!(county.ids(), vec![1, 5, 23]);
    }

    proptest! {
        #[test]
        fn any_six_digit_code_not_starting_00_parses(n in 10_000u32..1_000_000) {
            let s = format!("{n:06}");
            let parsed = RegionCode::parse(&s);
            prop_assert!(parsed.is_ok());
            let code = parsed.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(RegionCode::parse_for_level(&s, code.level()).is_ok(), true);
        }
        #[test]
        fn parsing_never_panics(s in "\\PC{0,20}") {
            let _ = RegionCode::parse(&s);
        }
    }
}
