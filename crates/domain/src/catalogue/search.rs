//! Search helpers for the catalogue: pinyin initials of Chinese names (营业执照 → yyzz) and a score
//! that ranks name matches above body matches.
//!
//! The hanzi → initial table is `data/pinyin_initials.txt`, generated from pinyin-data as shipped in
//! the `pinyin` crate (MIT). It is embedded rather than the crate used, to keep the dependency tree and
//! the compile small; it covers U+4E00..U+9FFF with each character's primary initial and, for
//! heteronyms, the initials of its other readings (行 x/h), which matching accepts too.
use std::collections::HashMap;
use std::sync::LazyLock;

const TABLE: &str = include_str!("../../data/pinyin_initials.txt");
const FIRST: u32 = 0x4E00;
const LAST: u32 = 0x9FFF;

struct Initials {
    /// One byte per code point from U+4E00; b'-' where unknown.
    primary: Vec<u8>,
    /// Other initials of heteronyms.
    alternates: HashMap<char, Vec<u8>>,
}

static INITIALS: LazyLock<Initials> = LazyLock::new(|| {
    let mut primary = Vec::with_capacity((LAST - FIRST + 1) as usize);
    let mut alternates = HashMap::new();
    let mut in_alternates = false;
    for line in TABLE.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line == "%alternates" {
            in_alternates = true;
        } else if in_alternates {
            let mut parts = line.splitn(2, ' ');
            if let (Some(ch), Some(rest)) = (parts.next().and_then(|c| c.chars().next()), parts.next()) {
                alternates.insert(ch, rest.bytes().collect());
            }
        } else {
            primary.extend(line.bytes());
        }
    }
    Initials { primary, alternates }
});

fn primary_initial(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if !(FIRST..=LAST).contains(&cp) {
        return None;
    }
    let b = *INITIALS.primary.get(usize::try_from(cp - FIRST).ok()?)?;
    b.is_ascii_lowercase().then_some(b)
}

/// Every initial a character may be read with, primary first. ASCII letters and digits stand for
/// themselves (lower-cased); other characters have none.
fn initials_of(c: char) -> Vec<u8> {
    if c.is_ascii_alphanumeric() {
        return vec![c.to_ascii_lowercase() as u8];
    }
    let mut out: Vec<u8> = primary_initial(c).into_iter().collect();
    if let Some(alts) = INITIALS.alternates.get(&c) {
        out.extend(alts);
    }
    out
}

/// Pinyin initials of a text: each Chinese character gives the first letter of its primary reading,
/// ASCII letters and digits are kept (lower-cased), everything else is dropped.
/// `pinyin_initials("营业执照")` is `"yyzz"`.
pub fn pinyin_initials(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else {
                primary_initial(c).map(char::from)
            }
        })
        .collect()
}

/// Normalises text for matching: lower-case, full-width ASCII to half-width, blanks dropped.
fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match u32::from(c) {
            0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `query` (ASCII letters/digits) matches the initials of a run of consecutive characters of
/// `name`, any reading of a heteronym accepted; returns whether the run starts the name.
fn initials_match(query: &[u8], name: &str) -> Option<bool> {
    let sets: Vec<Vec<u8>> = name.chars().filter(|c| !c.is_whitespace()).map(initials_of).collect();
    if query.is_empty() || query.len() > sets.len() {
        return None;
    }
    (0..=sets.len() - query.len())
        .find(|&start| query.iter().zip(&sets[start..]).all(|(q, set)| set.contains(q)))
        .map(|start| start == 0)
}

/// Scores one query term against a name and body, or `None` when it matches neither.
fn term_score(term: &str, name: &str, body: &str) -> Option<u32> {
    if name == term {
        return Some(1000);
    }
    if name.starts_with(term) {
        return Some(900);
    }
    if name.contains(term) {
        return Some(800);
    }
    if term.bytes().all(|b| b.is_ascii_alphanumeric()) && term.bytes().any(|b| b.is_ascii_alphabetic()) {
        match initials_match(term.as_bytes(), name) {
            Some(true) if term.len() == pinyin_initials(name).len() => return Some(750),
            Some(true) => return Some(700),
            Some(false) => return Some(600),
            None => {}
        }
    }
    if body.contains(term) {
        return Some(300);
    }
    None
}

/// Scores a search query against a catalogue entry's name and body (guide text). Higher is better;
/// `None` means no match.
///
/// The query is split on blanks; every term must match. Per term: exact name 1000, name prefix 900,
/// name substring 800, pinyin initials of the whole name 750, of a name prefix 700, of a run inside
/// the name 600, body substring 300. The total is the sum over terms, so name matches always outrank
/// body matches for the same query.
pub fn search_score(query: &str, name: &str, body: &str) -> Option<u32> {
    let name = normalise(name);
    let body = normalise(body);
    let terms: Vec<String> = query
        .split_whitespace()
        .map(normalise)
        .filter(|t| !t.is_empty())
        .collect();
    if terms.is_empty() {
        return None;
    }
    terms.iter().try_fold(0u32, |acc, t| {
        term_score(t, &name, &body).map(|s| acc.saturating_add(s))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn initials_of_common_names() {
        assert_eq!(pinyin_initials("营业执照"), "yyzz");
        assert_eq!(pinyin_initials("食品经营许可"), "spjyxk");
        assert_eq!(pinyin_initials("居民身份证"), "jmsfz");
        assert_eq!(pinyin_initials("ICP 许可证（变更）"), "icpxkzbg");
        assert_eq!(pinyin_initials(""), "");
        assert_eq!(pinyin_initials("😀"), "");
    }

    #[test]
    fn table_covers_the_whole_block() {
        assert_eq!(INITIALS.primary.len(), (LAST - FIRST + 1) as usize);
        assert_eq!(primary_initial('一'), Some(b'y'));
        assert!(initials_of('行').contains(&b'h'));
    }

    #[test]
    fn ranking() {
        let body = "办理营业执照需要身份证";
        let exact = search_score("营业执照", "营业执照", "").unwrap();
        let prefix = search_score("营业", "营业执照变更登记", "").unwrap();
        let inner = search_score("执照", "营业执照", "").unwrap();
        let initials = search_score("yyzz", "营业执照", "").unwrap();
        let in_body = search_score("营业执照", "个体工商户登记", body).unwrap();
        assert!(exact > prefix && prefix > inner && inner > initials && initials > in_body);
        assert_eq!(search_score("护照", "营业执照", body), None);
        assert_eq!(search_score("  ", "营业执照", body), None);
        // Heteronyms: 银行 is "yh" although 行's first reading is xíng.
        assert!(search_score("yh", "银行开户许可", "").is_some());
        assert!(search_score("xzxk", "行政许可", "").is_some());
        // Every term must match somewhere.
        assert!(search_score("营业 身份证", "营业执照", body).is_some());
        assert_eq!(search_score("营业 护照", "营业执照", body), None);
        // Case and full-width letters do not matter.
        assert!(search_score("ＹＹＺＺ", "营业执照", "").is_some());
        assert!(search_score("ICP", "icp许可证", "").is_some());
    }

    proptest! {
        #[test]
        fn never_panics(q in "\\PC{0,12}", n in "\\PC{0,20}", b in "\\PC{0,40}") {
            let _ = search_score(&q, &n, &b);
            let _ = pinyin_initials(&n);
        }

        #[test]
        fn name_itself_always_matches(n in "[\\u4e00-\\u9fa5a-z]{1,10}") {
            prop_assume!(n.chars().all(|c| c.is_ascii() || primary_initial(c).is_some()));
            prop_assert_eq!(search_score(&n, &n, ""), Some(1000));
            let ini = pinyin_initials(&n);
            prop_assert!(search_score(&ini, &n, "").is_some());
        }
    }
}
