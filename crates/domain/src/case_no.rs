//! Case numbers (办件编号) people read aloud and type, and the random tracking codes on receipts.
//!
//! `CaseNo` format: `RRRRRR-YYYYMMDD-SSSSSSC`, e.g. `990121-20260318-000042X`:
//! - `RRRRRR`: the 6-digit region code (GB/T 2260) of the hall's county, city or province; a township or
//!   community hall uses its county's code, and shares that county's daily sequence;
//! - `YYYYMMDD`: the date the case number was issued;
//! - `SSSSSS`: the daily sequence under that code, 000001..=999999 (the store allocates it);
//! - `C`: ISO 7064 MOD 11-2 check character over the 20 digits (`0`-`9` or `X`), the same
//!   scheme as the resident ID, so any single mistyped digit and most swaps are caught.
//!
//! Parsing also accepts the form without hyphens and a lower-case `x`.
//! A case number is guessable, so a public look-up by case number also needs the phone's last four
//! digits; the `TrackingCode` on the receipt's QR is the unguessable handle.
use crate::DomainError;
use crate::ids::{mod11_2_char, parse_yyyymmdd};
use crate::region::{RegionCode, RegionLevel};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseNo {
    /// Canonical hyphenated form; ordering by it sorts by region, date, then sequence.
    text: String,
    region: RegionCode,
    date: Date,
    seq: u32,
}

impl CaseNo {
    pub const MAX_SEQ: u32 = 999_999;

    pub fn new(region: &RegionCode, date: Date, seq: u32) -> Result<Self, DomainError> {
        if !matches!(
            region.level(),
            RegionLevel::Province | RegionLevel::City | RegionLevel::County
        ) {
            return Err(DomainError::invalid(
                "case_no_region_level",
                "region_code",
                "办件编号须使用 6 位县级或市级区划代码；乡镇、村社区大厅使用所属县的代码",
            ));
        }
        if !(1..=Self::MAX_SEQ).contains(&seq) {
            return Err(DomainError::invalid(
                "case_no_seq_out_of_range",
                "seq",
                "办件当日流水号须在 1 到 999999 之间",
            ));
        }
        if !(1900..=9999).contains(&date.year()) {
            return Err(DomainError::invalid(
                "case_no_date_invalid",
                "date",
                "办件编号中的日期无效",
            ));
        }
        let digits = format!(
            "{}{:04}{:02}{:02}{seq:06}",
            region.as_str(),
            date.year(),
            date.month(),
            date.day()
        );
        let check = mod11_2_char(digits.as_bytes());
        let text = format!("{}-{}-{}{check}", &digits[..6], &digits[6..14], &digits[14..]);
        Ok(Self {
            text,
            region: region.clone(),
            date,
            seq,
        })
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::invalid(
                "case_no_invalid",
                "case_no",
                "办件编号格式应为“6位区划代码-8位日期-6位流水号加1位校验码”，如 990121-20260318-000042X",
            )
        };
        let s = raw.trim().to_ascii_uppercase();
        let compact: String = match s.len() {
            23 if s.as_bytes()[6] == b'-' && s.as_bytes()[15] == b'-' => s.chars().filter(|&c| c != '-').collect(),
            21 => s,
            _ => return Err(bad()),
        };
        let b = compact.as_bytes();
        if b.len() != 21 || !b[..20].iter().all(u8::is_ascii_digit) || !(b[20].is_ascii_digit() || b[20] == b'X') {
            return Err(bad());
        }
        if mod11_2_char(&b[..20]) != char::from(b[20]) {
            return Err(DomainError::invalid(
                "case_no_checksum",
                "case_no",
                "办件编号校验位不正确，请检查是否输错",
            ));
        }
        let region = RegionCode::parse(&compact[..6]).map_err(|_| bad())?;
        let date = parse_yyyymmdd(&compact[6..14]).ok_or_else(bad)?;
        let seq: u32 = compact[14..20].parse().map_err(|_| bad())?;
        Self::new(&region, date, seq)
    }

    pub fn region_code(&self) -> &RegionCode {
        &self.region
    }
    pub fn date(&self) -> Date {
        self.date
    }
    pub fn seq(&self) -> u32 {
        self.seq
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for CaseNo {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<CaseNo> for String {
    fn from(value: CaseNo) -> Self {
        value.text
    }
}
impl std::fmt::Display for CaseNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Crockford base32: digits and upper-case letters without I, L, O, U, so nothing on a receipt
/// can be misread as another character.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The random code printed (and in the QR) on a receipt: 80 random bits as 16 Crockford base32
/// characters, shown in groups `ABCD-EFGH-JKMN-PQRS`. It is a bearer secret for the public
/// look-up, so `Debug` shows only its first four characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingCode(String);

impl TrackingCode {
    pub const LEN: usize = 16;

    /// Encodes 10 random bytes; the caller supplies them (from a CSPRNG) so the domain stays pure.
    pub fn from_random_bytes(bytes: &[u8; 10]) -> Self {
        let mut acc: u128 = 0;
        for &b in bytes {
            acc = (acc << 8) | u128::from(b);
        }
        let text = (0..Self::LEN)
            .rev()
            .map(|i| char::from(CROCKFORD[((acc >> (i * 5)) & 0x1f) as usize]))
            .collect();
        Self(text)
    }

    /// Checks the format only. Read leniently as Crockford intends: case-insensitive, hyphens and
    /// spaces ignored, `O` read as `0` and `I`/`L` as `1`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let mut out = String::with_capacity(Self::LEN);
        for c in raw.trim().chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) || out.len() >= Self::LEN {
                return Err(DomainError::invalid(
                    "tracking_code_invalid",
                    "tracking_code",
                    "查询码应为 16 位字母或数字，如 ABCD-EFGH-JKMN-PQRS",
                ));
            }
            out.push(c);
        }
        if out.len() != Self::LEN {
            return Err(DomainError::invalid(
                "tracking_code_invalid",
                "tracking_code",
                "查询码应为 16 位字母或数字，如 ABCD-EFGH-JKMN-PQRS",
            ));
        }
        Ok(Self(out))
    }

    /// The 16 characters, no separators (storage and QR).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ABCD-EFGH-JKMN-PQRS`, for print.
    pub fn grouped(&self) -> String {
        let mut s = String::with_capacity(19);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(c);
        }
        s
    }
}

impl std::fmt::Debug for TrackingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrackingCode({}…)", self.0.get(..4).unwrap_or(""))
    }
}
impl TryFrom<String> for TrackingCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<TrackingCode> for String {
    fn from(value: TrackingCode) -> Self {
        value.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn county() -> RegionCode {
        RegionCode::parse("990121").unwrap()
    }

    #[test]
    fn case_numbers_round_trip() {
        let no = CaseNo::new(&county(), date(2026, 3, 18), 42).unwrap();
        let text = no.as_str().to_owned();
        assert!(text.starts_with("990121-20260318-000042"), "{text}");
        assert_eq!(text.len(), 23);
        assert_eq!(CaseNo::parse(&text).unwrap(), no);
        assert_eq!(CaseNo::parse(&text.replace('-', "").to_lowercase()).unwrap(), no);
        assert_eq!(no.region_code().as_str(), "990121");
        assert_eq!(no.date(), date(2026, 3, 18));
        assert_eq!(no.seq(), 42);
        let json = serde_json::to_string(&no).unwrap();
        assert_eq!(serde_json::from_str::<CaseNo>(&json).unwrap(), no);
    }

    #[test]
    fn case_number_rules() {
        let town = RegionCode::parse("990121001").unwrap();
        assert_eq!(
            CaseNo::new(&town, date(2026, 3, 18), 1).unwrap_err().code(),
            "case_no_region_level"
        );
        assert_eq!(
            CaseNo::new(&county(), date(2026, 3, 18), 0).unwrap_err().code(),
            "case_no_seq_out_of_range"
        );
        assert_eq!(
            CaseNo::new(&county(), date(2026, 3, 18), 1_000_000).unwrap_err().code(),
            "case_no_seq_out_of_range"
        );
        assert!(CaseNo::new(&county(), date(2026, 3, 18), 999_999).is_ok());
        for bad in [
            "",
            "990121-20260318",
            "990121-20260230-0000011",
            "000000-20260318-0000010",
            "990121_20260318_0000420",
        ] {
            assert!(CaseNo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tracking_codes() {
        let t = TrackingCode::from_random_bytes(&[0; 10]);
        assert_eq!(t.as_str(), "0000000000000000");
        let t = TrackingCode::from_random_bytes(&[0xff; 10]);
        assert_eq!(t.as_str(), "ZZZZZZZZZZZZZZZZ");
        let t = TrackingCode::from_random_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(TrackingCode::parse(&t.grouped()).unwrap(), t);
        assert_eq!(
            TrackingCode::parse("abcd-efgh-jkmn-pqro").unwrap().as_str(),
            "ABCDEFGHJKMNPQR0"
        );
        assert_eq!(
            TrackingCode::parse("il00 0000 0000 0000").unwrap().as_str(),
            "1100000000000000"
        );
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQRU").is_err());
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQR").is_err());
        assert!(TrackingCode::parse("ABCD-EFGH-JKMN-PQRST").is_err());
        assert_eq!(
            format!("{t:?}").matches(char::is_alphanumeric).count(),
            "TrackingCode".len() + 4
        );
    }

    proptest! {
        #[test]
        fn any_case_number_round_trips(region in 10_000u32..1_000_000, days in 0i32..3650, seq in 1u32..=999_999) {
            let region = RegionCode::parse(&format!("{region:06}")).unwrap();
            let d = date(2020, 1, 1).checked_add(jiff::Span::new().days(days)).unwrap();
            let no = CaseNo::new(&region, d, seq).unwrap();
            prop_assert_eq!(CaseNo::parse(no.as_str()).unwrap(), no);
        }

        #[test]
        fn any_single_digit_typo_is_caught(days in 0i32..3650, seq in 1u32..=999_999, pos in 0usize..23, pick in 0usize..16) {
            let d = date(2020, 1, 1).checked_add(jiff::Span::new().days(days)).unwrap();
            let no = CaseNo::new(&county(), d, seq).unwrap();
            let mut b = no.as_str().as_bytes().to_vec();
            prop_assume!(b[pos] != b'-');
            let others: Vec<u8> = b"0123456789X".iter().copied().filter(|&c| c != b[pos]).collect();
            b[pos] = others[pick % others.len()];
            let typo = String::from_utf8(b).unwrap();
            prop_assert!(CaseNo::parse(&typo).is_err(), "{} -> {}", no, typo);
        }

        #[test]
        fn tracking_codes_round_trip(bytes in any::<[u8; 10]>()) {
            let t = TrackingCode::from_random_bytes(&bytes);
            prop_assert_eq!(t.as_str().len(), 16);
            prop_assert_eq!(TrackingCode::parse(t.as_str()).unwrap(), t);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,30}") {
            let _ = CaseNo::parse(&s);
            let _ = TrackingCode::parse(&s);
        }
    }
}
