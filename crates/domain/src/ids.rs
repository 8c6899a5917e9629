//! Personal and organisational identifiers that applicants type in: the resident ID number
//! (GB 11643), the unified social credit code (GB 32100) and a mainland mobile number.
//! All three are personal data: `Debug` masks them, and there is deliberately no `Display`, so a
//! full number only leaves this type through an explicit `as_str()` (or serde, for storage).
use crate::DomainError;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// ISO 7064 MOD 11-2 over a string of ASCII digits: the check value (0..=10) that makes the whole
/// string valid. 10 is written 'X'. Shared with `case_no`.
pub(crate) fn mod11_2_check(digits: &[u8]) -> u8 {
    // Pure recursive form of the algorithm: equivalent to weights 2^(n-i) mod 11.
    let mut s: u32 = 0;
    for d in digits {
        s = ((s + u32::from(d - b'0')) * 2) % 11;
    }
    ((12 - s) % 11) as u8
}

pub(crate) fn mod11_2_char(digits: &[u8]) -> char {
    match mod11_2_check(digits) {
        10 => 'X',
        v => char::from(b'0' + v),
    }
}

/// Keeps the first `head` and last `tail` characters and stars out the rest.
fn mask(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i + tail >= n { c } else { '*' })
        .collect()
}

/// A resident identity number (公民身份号码, GB 11643): 6-digit region of first registration,
/// 8-digit birth date, 3-digit sequence (odd for men), and an ISO 7064 MOD 11-2 check character.
/// Stored upper-case ('x' is read as 'X').
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber {
    number: String,
    birth: Date,
}

impl IdNumber {
    /// Checks format, check character, and that the birth date is a real date from 1900 on.
    /// Use [`IdNumber::parse_as_of`] where today's date is known, to also refuse future births.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18 {
            return Err(DomainError::invalid(
                "id_number_length",
                "id_number",
                "身份证号码须为 18 位",
            ));
        }
        let (body, check) = (&b[..17], b[17]);
        if !body.iter().all(u8::is_ascii_digit) || !(check.is_ascii_digit() || check == b'X') {
            return Err(DomainError::invalid(
                "id_number_format",
                "id_number",
                "身份证号码前 17 位须为数字，最后一位为数字或 X",
            ));
        }
        if mod11_2_char(body) != char::from(check) {
            return Err(DomainError::invalid(
                "id_number_checksum",
                "id_number",
                "身份证号码校验位不正确，请检查是否输错",
            ));
        }
        let birth = parse_yyyymmdd(&s[6..14])
            .filter(|d| d.year() >= 1900)
            .ok_or_else(|| DomainError::invalid("id_number_birth_date", "id_number", "身份证号码中的出生日期无效"))?;
        Ok(Self { number: s, birth })
    }

    /// As [`IdNumber::parse`], and the birth date must not be after `today`.
    pub fn parse_as_of(raw: &str, today: Date) -> Result<Self, DomainError> {
        let id = Self::parse(raw)?;
        if id.birth > today {
            return Err(DomainError::invalid(
                "id_number_birth_in_future",
                "id_number",
                "身份证号码中的出生日期晚于今天",
            ));
        }
        Ok(id)
    }

    pub fn birth_date(&self) -> Date {
        self.birth
    }

    /// GB 11643: the 17th character (the sequence's last digit) is odd for men, even for women.
    pub fn is_male(&self) -> bool {
        self.number.as_bytes().get(16).is_some_and(|d| (d - b'0') % 2 == 1)
    }

    /// First 4 and last 4 characters, e.g. `9901**********123X`: what lists and logs show.
    pub fn masked(&self) -> String {
        mask(&self.number, 4, 4)
    }

    /// The full number. Callers that show it must be allowed to (a clerk's audited reveal).
    pub fn as_str(&self) -> &str {
        &self.number
    }
}

/// `YYYYMMDD` (ASCII digits) as a real calendar date.
pub(crate) fn parse_yyyymmdd(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i16 = s[0..4].parse().ok()?;
    let month: i8 = s[4..6].parse().ok()?;
    let day: i8 = s[6..8].parse().ok()?;
    Date::new(year, month, day).ok()
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}
impl TryFrom<String> for IdNumber {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<IdNumber> for String {
    fn from(value: IdNumber) -> Self {
        value.number
    }
}

/// Characters of a unified social credit code (GB 32100): digits and upper-case letters without
/// I, O, Z, S, V, which are too easily confused with digits. A character's value is its index.
const CREDIT_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn credit_value(c: u8) -> Option<u32> {
    CREDIT_CHARSET.iter().position(|&x| x == c).map(|p| p as u32)
}

/// The check character for the first 17 characters of a credit code (all in the charset).
fn credit_check(body: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (c, w) in body.iter().zip(CREDIT_WEIGHTS) {
        sum += credit_value(*c)? * w;
    }
    let v = (31 - sum % 31) % 31;
    CREDIT_CHARSET.get(v as usize).copied()
}

/// A unified social credit code (统一社会信用代码, GB 32100): registering authority, entity type,
/// 6-digit region code, 9-character organisation code, check character. Stored upper-case.
/// An organisation's code is public, but it is masked in `Debug` like the others for uniformity.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

impl CreditCode {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18 {
            return Err(DomainError::invalid(
                "credit_code_length",
                "credit_code",
                "统一社会信用代码须为 18 位",
            ));
        }
        if !b.iter().all(|c| CREDIT_CHARSET.contains(c)) {
            return Err(DomainError::invalid(
                "credit_code_charset",
                "credit_code",
                "统一社会信用代码只能含数字和除 I、O、Z、S、V 以外的大写字母",
            ));
        }
        // Positions 3–8 are the administrative region code, always digits.
        if !b[2..8].iter().all(u8::is_ascii_digit) {
            return Err(DomainError::invalid(
                "credit_code_region",
                "credit_code",
                "统一社会信用代码第 3 至 8 位须为行政区划代码（数字）",
            ));
        }
        if credit_check(&b[..17]) != Some(b[17]) {
            return Err(DomainError::invalid(
                "credit_code_checksum",
                "credit_code",
                "统一社会信用代码校验位不正确，请检查是否输错",
            ));
        }
        Ok(Self(s))
    }

    /// The 6-digit region code embedded in positions 3–8 (format only; not checked further).
    pub fn region_part(&self) -> &str {
        &self.0[2..8]
    }

    pub fn masked(&self) -> String {
        mask(&self.0, 4, 4)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CreditCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CreditCode({})", self.masked())
    }
}
impl TryFrom<String> for CreditCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<CreditCode> for String {
    fn from(value: CreditCode) -> Self {
        value.0
    }
}

/// A mainland mobile number: 11 digits, `1[3-9]…`. Typed forms such as `138 1234 5678`,
/// `138-1234-5678` and a `+86`/`0086` prefix are accepted and stored as the bare 11 digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let compact: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let s = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .unwrap_or(&compact);
        let b = s.as_bytes();
        let ok = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
        if !ok {
            return Err(DomainError::invalid(
                "phone_invalid",
                "phone",
                "手机号码须为 11 位数字，以 13 至 19 开头",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The last four digits: what a public case look-up asks for.
    pub fn last4(&self) -> &str {
        &self.0[7..]
    }

    /// `138****1234`.
    pub fn masked(&self) -> String {
        mask(&self.0, 3, 4)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}
impl TryFrom<String> for Phone {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    /// Completes 17 digits with their check character.
    fn id_with_check(body: &str) -> String {
        format!("{body}{}", mod11_2_char(body.as_bytes()))
    }
    fn credit_with_check(body: &str) -> String {
        format!("{body}{}", char::from(credit_check(body.as_bytes()).unwrap()))
    }

    #[test]
    fn known_id_numbers() {
        // The GB 11643 worked example.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), date(1949, 12, 31));
        assert!(!id.is_male());
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
        // Lower-case x is normalised.
        assert_eq!(
            IdNumber::parse(" 11010519491231002x ").unwrap().as_str(),
            "11010519491231002X"
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y").unwrap_err().code(),
            "id_number_format"
        );
        assert_eq!(
            IdNumber::parse("110105194912310021").unwrap_err().code(),
            "id_number_checksum"
        );
        assert_eq!(
            IdNumber::parse("1101051949123100").unwrap_err().code(),
            "id_number_length"
        );
    }

    #[test]
    fn id_birth_dates_are_checked() {
        let feb30 = id_with_check("99012120260230123");
        assert_eq!(IdNumber::parse(&feb30).unwrap_err().code(), "id_number_birth_date");
        let old = id_with_check("99012118991231123");
        assert_eq!(IdNumber::parse(&old).unwrap_err().code(), "id_number_birth_date");
        let future = id_with_check("99012120300101123");
        assert!(IdNumber::parse(&future).is_ok());
        assert_eq!(
            IdNumber::parse_as_of(&future, date(2026, 3, 18)).unwrap_err().code(),
            "id_number_birth_in_future"
        );
        let born_today = id_with_check("99012120260318123");
        assert!(IdNumber::parse_as_of(&born_today, date(2026, 3, 18)).is_ok());
    }

    #[test]
    fn id_serde_round_trip_and_rejects_bad() {
        let json = serde_json::to_string(&IdNumber::parse("11010519491231002X").unwrap()).unwrap();
        assert_eq!(json, "\"11010519491231002X\"");
        let back: IdNumber = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "11010519491231002X");
        assert!(serde_json::from_str::<IdNumber>("\"110105194912310021\"").is_err());
    }

    #[test]
    fn known_credit_codes() {
        // Widely published real codes (organisations, public record).
        for code in ["91350100M000100Y43", "911100001000079554", "91110000802100433B"] {
            let c = CreditCode::parse(code);
            assert!(c.is_ok(), "{code}: {c:?}");
        }
        let c = CreditCode::parse("91350100m000100y43").unwrap();
        assert_eq!(c.as_str(), "91350100M000100Y43");
        assert_eq!(c.region_part(), "350100");
        assert_eq!(format!("{c:?}"), "CreditCode(9135**********0Y43)");
        assert_eq!(
            CreditCode::parse("91350100M000100Y44").unwrap_err().code(),
            "credit_code_checksum"
        );
        assert_eq!(
            CreditCode::parse("91350100M000100I43").unwrap_err().code(),
            "credit_code_charset"
        );
        assert_eq!(CreditCode::parse("9135").unwrap_err().code(), "credit_code_length");
    }

    #[test]
    fn phones() {
        let p = Phone::parse("+86 138-1234-5678").unwrap();
        assert_eq!(p.as_str(), "13812345678");
        assert_eq!(p.last4(), "5678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p:?}"), "Phone(138****5678)");
        for bad in [
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "",
            "+8613812345",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn id_strategy() -> impl Strategy<Value = String> {
        ("[1-9][0-9]{5}", 1900i16..=2025, 1i8..=12, 1i8..=28, "[0-9]{3}")
            .prop_map(|(region, y, m, d, seq)| id_with_check(&format!("{region}{y:04}{m:02}{d:02}{seq}")))
    }

    fn credit_strategy() -> impl Strategy<Value = String> {
        let ch = proptest::sample::select(CREDIT_CHARSET.to_vec());
        (
            proptest::collection::vec(ch.clone(), 2),
            "[0-9]{6}",
            proptest::collection::vec(ch, 9),
        )
            .prop_map(|(head, region, org)| {
                let body = format!(
                    "{}{region}{}",
                    String::from_utf8(head).unwrap(),
                    String::from_utf8(org).unwrap()
                );
                credit_with_check(&body)
            })
    }

    /// Replaces character `pos` with a different character from `alphabet`.
    fn mutate(s: &str, pos: usize, pick: usize, alphabet: &[u8]) -> String {
        let mut b = s.as_bytes().to_vec();
        let pos = pos % b.len();
        let others: Vec<u8> = alphabet.iter().copied().filter(|&c| c != b[pos]).collect();
        b[pos] = others[pick % others.len()];
        String::from_utf8(b).unwrap()
    }

    proptest! {
        #[test]
        fn generated_ids_parse(s in id_strategy()) {
            let id = IdNumber::parse(&s);
            prop_assert!(id.is_ok(), "{s}: {id:?}");
        }

        #[test]
        fn any_single_change_of_an_id_is_rejected(s in id_strategy(), pos in 0usize..18, pick in 0usize..64) {
            let m = mutate(&s, pos, pick, b"0123456789X");
            prop_assert!(IdNumber::parse(&m).is_err(), "{s} -> {m}");
        }

        #[test]
        fn generated_credit_codes_parse(s in credit_strategy()) {
            prop_assert!(CreditCode::parse(&s).is_ok(), "{s}");
        }

        #[test]
        fn any_single_change_of_a_credit_code_is_rejected(s in credit_strategy(), pos in 0usize..18, pick in 0usize..64) {
            let m = mutate(&s, pos, pick, CREDIT_CHARSET);
            prop_assert!(CreditCode::parse(&m).is_err(), "{s} -> {m}");
        }

        #[test]
        fn generated_phones_parse(s in "1[3-9][0-9]{9}") {
            let p = Phone::parse(&s);
            let p = p.unwrap();
            prop_assert_eq!(p.last4(), &s[7..]);
        }

        #[test]
        fn parsing_arbitrary_strings_never_panics(s in "\\PC{0,30}") {
            let _ = IdNumber::parse(&s);
            let _ = IdNumber::parse_as_of(&s, date(2026, 1, 1));
            let _ = CreditCode::parse(&s);
            let _ = Phone::parse(&s);
        }
    }
}
