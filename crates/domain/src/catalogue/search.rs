//! Search helpers for the catalogue: pinyin initials of Chinese names (营业执照 → yyzz) and a score
//! that ranks name matches above body matches. An entry is prepared once ([`SearchText`]: normalised
//! text, initials as bit masks) and a query parsed once ([`SearchQuery`]), so that searching many
//! entries does no per-entry normalising.
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

/// The bit of an initial (`a`–`z`, `0`–`9`) in a [`SearchText`]'s per-character masks.
fn initial_bit(b: u8) -> u64 {
    match b {
        b'a'..=b'z' => 1 << (b - b'a'),
        b'0'..=b'9' => 1 << (26 + b - b'0'),
        _ => 0,
    }
}

/// A catalogue entry's text prepared once, to be scored against many queries: the normalised name
/// and body, and for every character of the name the set of initials it may be read with (a bit
/// mask, so that a pinyin query compares bits instead of looking characters up again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    name: String,
    body: String,
    initials: Vec<u64>,
    /// Length of the name's primary-reading initials (`pinyin_initials`), for "whole name" matches.
    full_initials: usize,
}

impl SearchText {
    pub fn new(name: &str, body: &str) -> Self {
        let name = normalise(name);
        let initials = name
            .chars()
            .map(|c| initials_of(c).into_iter().fold(0, |m, b| m | initial_bit(b)))
            .collect();
        let full_initials = pinyin_initials(&name).len();
        Self {
            body: normalise(body),
            name,
            initials,
            full_initials,
        }
    }

    /// Whether `query` (ASCII letters/digits) matches the initials of a run of consecutive
    /// characters of the name, any reading of a heteronym accepted; returns whether the run starts
    /// the name.
    fn initials_match(&self, query: &[u64]) -> Option<bool> {
        let sets = &self.initials;
        if query.is_empty() || query.len() > sets.len() {
            return None;
        }
        (0..=sets.len() - query.len())
            .find(|&start| query.iter().zip(&sets[start..]).all(|(q, set)| set & q != 0))
            .map(|start| start == 0)
    }
}

/// One term of a parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    text: String,
    /// Initial bits of each byte when the term can be pinyin initials (ASCII letters and digits
    /// with at least one letter).
    initials: Option<Vec<u64>>,
}

/// A search query parsed once: blank-separated terms, normalised, every one of which must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<Term>,
}

impl SearchQuery {
    /// Parses a query; `None` when it has no term (only blanks).
    pub fn parse(query: &str) -> Option<Self> {
        let terms: Vec<Term> = query
            .split_whitespace()
            .map(normalise)
            .filter(|t| !t.is_empty())
            .map(|text| {
                let pinyin =
                    text.bytes().all(|b| b.is_ascii_alphanumeric()) && text.bytes().any(|b| b.is_ascii_alphabetic());
                Term {
                    initials: pinyin.then(|| text.bytes().map(initial_bit).collect()),
                    text,
                }
            })
            .collect();
        (!terms.is_empty()).then_some(Self { terms })
    }

    /// Scores the query against an entry (see [`search_score`] for the rules); `None` = no match.
    pub fn score(&self, entry: &SearchText) -> Option<u32> {
        self.terms
            .iter()
            .try_fold(0u32, |acc, t| term_score(t, entry).map(|s| acc.saturating_add(s)))
    }
}

/// Scores one query term against an entry, or `None` when it matches neither name nor body.
fn term_score(term: &Term, e: &SearchText) -> Option<u32> {
    let text = term.text.as_str();
    if e.name == text {
        return Some(1000);
    }
    if e.name.starts_with(text) {
        return Some(900);
    }
    if e.name.contains(text) {
        return Some(800);
    }
    if let Some(query) = &term.initials {
        match e.initials_match(query) {
            Some(true) if query.len() == e.full_initials => return Some(750),
            Some(true) => return Some(700),
            Some(false) => return Some(600),
            None => {}
        }
    }
    if e.body.contains(text) {
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
///
/// This prepares both sides on every call; a search over many entries prepares each entry once
/// ([`SearchText::new`]) and the query once ([`SearchQuery::parse`]) instead.
pub fn search_score(query: &str, name: &str, body: &str) -> Option<u32> {
    SearchQuery::parse(query)?.score(&SearchText::new(name, body))
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

    /// The scoring as it was before entries were prepared (everything recomputed per call), kept as
    /// the reference the prepared scoring must agree with.
    fn reference_score(query: &str, name: &str, body: &str) -> Option<u32> {
        fn initials_match(query: &[u8], name: &str) -> Option<bool> {
            let sets: Vec<Vec<u8>> = name.chars().filter(|c| !c.is_whitespace()).map(initials_of).collect();
            if query.is_empty() || query.len() > sets.len() {
                return None;
            }
            (0..=sets.len() - query.len())
                .find(|&start| query.iter().zip(&sets[start..]).all(|(q, set)| set.contains(q)))
                .map(|start| start == 0)
        }
        fn term(term: &str, name: &str, body: &str) -> Option<u32> {
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
        terms
            .iter()
            .try_fold(0u32, |acc, t| term(t, &name, &body).map(|s| acc.saturating_add(s)))
    }

    #[test]
    fn a_prepared_entry_serves_many_queries() {
        let entry = SearchText::new("食品经营许可证核发", "申请人须提交营业执照");
        let score = |q: &str| SearchQuery::parse(q).and_then(|q| q.score(&entry));
        assert_eq!(score("食品经营许可证核发"), Some(1000));
        assert_eq!(score("spjyxkzhf"), Some(750));
        assert_eq!(score("spjy"), Some(700));
        assert_eq!(score("jyxk"), Some(600));
        assert_eq!(score("营业执照"), Some(300));
        assert_eq!(score("食品 营业执照"), Some(900 + 300));
        assert_eq!(score("护照"), None);
        assert!(SearchQuery::parse(" \t ").is_none());
    }

    proptest! {
        #[test]
        fn prepared_scoring_agrees_with_the_reference(
            q in "[a-z0-9 营业执照食品经营许可行银证]{0,8}",
            n in "[a-z营业执照食品经营许可行银证 ]{0,10}",
            b in "[a-z营业执照食品经营许可证身份 ]{0,20}",
        ) {
            prop_assert_eq!(search_score(&q, &n, &b), reference_score(&q, &n, &b));
        }

        #[test]
        fn prepared_scoring_agrees_on_any_text(q in "\\PC{0,8}", n in "\\PC{0,12}", b in "\\PC{0,20}") {
            prop_assert_eq!(search_score(&q, &n, &b), reference_score(&q, &n, &b));
        }

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
