//! Validated names shared by many records (region, hall, department, window names; usernames).
use crate::DomainError;
use serde::{Deserialize, Serialize};

/// A display name: trimmed, 1..=64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 64;
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(DomainError::invalid("name_required", "name", "名称不能为空"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "name_too_long",
                "name",
                format!("名称不能超过 {} 个字符", Self::MAX_CHARS),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(DomainError::invalid("name_invalid", "name", "名称含有不可见的控制字符"));
        }
        Ok(Self(trimmed.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<Name> for String {
    fn from(value: Name) -> Self {
        value.0
    }
}
impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A staff login name: 3..=32 characters of ASCII letters, digits, `.`, `_`, `-`; stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_ascii_lowercase();
        let ok_len = (3..=32).contains(&s.len());
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !ok_len || !ok_chars {
            return Err(DomainError::invalid(
                "username_invalid",
                "username",
                "用户名须为 3 到 32 位字母、数字、点、下划线或连字符",
            ));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Username {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}
impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed; only its length is checked here (hashing lives at the edge).
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        if !(Self::MIN_CHARS..=128).contains(&n) {
            return Err(DomainError::invalid(
                "password_invalid",
                "password",
                "密码长度须为 8 到 128 个字符",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  久安市  ").map(|n| n.0), Ok("久安市".to_owned()));
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"长".repeat(65)).is_err());
        assert!(Name::parse("a\u{0007}b").is_err());
    }
    #[test]
    fn usernames_are_lowercase_ascii() {
        assert_eq!(Username::parse("Clerk_01").map(|u| u.0), Ok("clerk_01".to_owned()));
        assert!(Username::parse("张三").is_err());
        assert!(Username::parse("ab").is_err());
    }
    #[test]
    fn password_debug_hides_it() {
        let p = Password::parse("secret-123").ok();
        assert_eq!(format!("{p:?}"), "Some(Password(***))");
    }
}
