//! Ticket numbers (号码) as printed on the slip and shown on the display board: a category prefix of
//! one or two capital letters and a daily sequence of at least three digits, e.g. `A023`, `GC105`.
use crate::DomainError;
use serde::{Deserialize, Serialize};

/// A queue category's prefix: 1–2 ASCII capital letters, unique within a hall. It also names the
/// category in queue rules, so the board, the slip and the policy all speak of the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryPrefix(String);

impl CategoryPrefix {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if !(1..=2).contains(&s.len()) || !s.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(DomainError::invalid(
                "category_prefix_invalid",
                "prefix",
                "号码前缀须为 1 到 2 个大写英文字母",
            ));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CategoryPrefix {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<CategoryPrefix> for String {
    fn from(value: CategoryPrefix) -> Self {
        value.0
    }
}
impl std::fmt::Display for CategoryPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ticket number: prefix + sequence, formatted with at least three digits (`A023`, `A1024`).
/// The sequence restarts every day in every hall, so a number is unique only per hall and day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketNo {
    prefix: CategoryPrefix,
    seq: u32,
}

impl TicketNo {
    /// Largest sequence: six digits is far beyond any hall's day (a busy hall issues ~2,000).
    pub const MAX_SEQ: u32 = 999_999;

    pub fn new(prefix: CategoryPrefix, seq: u32) -> Result<Self, DomainError> {
        if !(1..=Self::MAX_SEQ).contains(&seq) {
            return Err(DomainError::invalid(
                "ticket_seq_invalid",
                "seq",
                format!("号码序号须在 1 到 {} 之间", Self::MAX_SEQ),
            ));
        }
        Ok(Self { prefix, seq })
    }

    /// Parses the canonical form only (what `Display` prints), so one ticket has one spelling:
    /// `A23` and `A0023` are refused rather than silently read as `A023`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        let bad = || DomainError::invalid("ticket_no_invalid", "ticket_no", format!("号码格式不正确：{s}"));
        let split = s.find(|c: char| !c.is_ascii_uppercase()).ok_or_else(bad)?;
        let (letters, digits) = s.split_at(split);
        let prefix = CategoryPrefix::parse(letters).map_err(|_| bad())?;
        let canonical_len = digits.len() == 3 || (digits.len() > 3 && !digits.starts_with('0'));
        if !canonical_len || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 6 {
            return Err(bad());
        }
        let seq = digits.parse::<u32>().map_err(|_| bad())?;
        Self::new(prefix, seq).map_err(|_| bad())
    }

    pub fn prefix(&self) -> &CategoryPrefix {
        &self.prefix
    }
    pub fn seq(&self) -> u32 {
        self.seq
    }
}

impl std::fmt::Display for TicketNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:03}", self.prefix, self.seq)
    }
}
impl TryFrom<String> for TicketNo {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<TicketNo> for String {
    fn from(value: TicketNo) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_with_three_digits() {
        let a = CategoryPrefix::parse("A").unwrap();
        assert_eq!(TicketNo::new(a.clone(), 23).unwrap().to_string(), "A023");
        assert_eq!(TicketNo::new(a, 1024).unwrap().to_string(), "A1024");
        assert_eq!(TicketNo::parse("GC105").unwrap().prefix().as_str(), "GC");
    }

    #[test]
    fn refuses_non_canonical_forms() {
        for bad in [
            "", "A", "023", "a023", "A23", "A0023", "ABC023", "A000", "A02x", "A-023", "A1234567",
        ] {
            assert_eq!(
                TicketNo::parse(bad).map_err(|e| e.code()),
                Err("ticket_no_invalid"),
                "{bad}"
            );
        }
        assert!(CategoryPrefix::parse("AB").is_ok());
        assert!(CategoryPrefix::parse("ABC").is_err());
        assert!(CategoryPrefix::parse("甲").is_err());
    }

    proptest! {
        #[test]
        fn parse_inverts_display(prefix in "[A-Z]{1,2}", seq in 1u32..=TicketNo::MAX_SEQ) {
            let no = TicketNo::new(CategoryPrefix::parse(&prefix).unwrap(), seq).unwrap();
            prop_assert_eq!(TicketNo::parse(&no.to_string()).unwrap(), no);
        }
    }
}
