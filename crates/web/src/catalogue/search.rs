//! Public guide search: the guides a region offers, filtered by theme, department and who the
//! service is for, ranked by the domain's scoring (names above body text, pinyin initials), and cut
//! into pages.
//!
//! Resolving 10,000 guides for every keystroke would cost a database round of JSON parsing per
//! query, so each process keeps a per-region index in memory, with every entry's text already
//! normalised for matching (`SearchText`), so a query only compares. It is only a cache: every search
//! first reads the catalogue's generation (bumped in the same transaction as any catalogue write, by
//! any process) and rebuilds the index when it has moved or the date has changed.
use crate::error::ApiResult;
use crate::state::AppState;
use jiff::civil::Date;
use onestop_domain::catalogue::{SearchQuery, SearchText, ServiceObject};
use onestop_store::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One guide as the search sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuideEntry {
    pub service_id: i64,
    pub base_code: String,
    pub name: String,
    pub department: String,
    pub themes: Vec<String>,
    /// Codes of 服务对象.
    pub objects: Vec<String>,
    /// 承诺时限 as text, e.g. "5 个工作日" or "即办".
    pub promised: String,
    /// 网上办理深度 as a roman numeral.
    pub online_depth: String,
    pub onsite_visits: u8,
    /// Name and body prepared for matching.
    #[serde(skip)]
    text: SearchText,
    #[serde(skip)]
    for_people: bool,
    #[serde(skip)]
    for_organisations: bool,
}

/// What a citizen asks for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct GuideQuery {
    /// Region code (default: the first region with a hall).
    pub region: Option<String>,
    /// Search text: Chinese substring or pinyin initials (e.g. `yyzz`).
    pub q: Option<String>,
    pub theme: Option<String>,
    pub department: Option<String>,
    /// `person` (自然人) or `legal` (法人和其他组织).
    pub object: Option<String>,
    /// Page number, from 1 (default 1).
    pub page: Option<usize>,
    /// Results per page, 1–100 (default 20).
    pub per_page: Option<usize>,
}

/// Default and largest page size of a guide search.
pub const DEFAULT_PER_PAGE: usize = 20;
pub const MAX_PER_PAGE: usize = 100;

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: usize,
    pub per_page: usize,
    /// Matches over all pages.
    pub total: usize,
    /// Number of pages (at least 1, so that "page 1 of 1" reads right when nothing matched).
    pub pages: usize,
    /// Index range of this page in the ranked hits.
    pub range: std::ops::Range<usize>,
}

impl GuideQuery {
    /// Checks the query's own limits: text length and page numbers.
    pub fn check(&self) -> Result<(), crate::error::ApiError> {
        use crate::error::ApiError;
        if self.q.as_deref().is_some_and(|t| t.chars().count() > 100) {
            return Err(ApiError::validation("query_too_long", "搜索内容不能超过 100 个字"));
        }
        if self.page == Some(0) {
            return Err(ApiError::validation("page_invalid", "页码从 1 开始"));
        }
        if self.per_page.is_some_and(|n| n == 0 || n > MAX_PER_PAGE) {
            return Err(ApiError::validation(
                "per_page_invalid",
                format!("每页条数应为 1 到 {MAX_PER_PAGE}"),
            ));
        }
        Ok(())
    }

    /// The page of `total` hits this query asks for (a page past the end is empty).
    pub fn page_of(&self, total: usize) -> Page {
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE);
        let pages = total.div_ceil(per_page).max(1);
        let page = self.page.unwrap_or(1).max(1);
        let start = (page - 1).saturating_mul(per_page).min(total);
        let end = start.saturating_add(per_page).min(total);
        Page {
            page,
            per_page,
            total,
            pages,
            range: start..end,
        }
    }
}

/// A region's guides as the search sees them, with the filters' choices.
#[derive(Debug, Default)]
pub struct RegionGuides {
    pub entries: Vec<GuideEntry>,
    /// Every theme and department among the guides, sorted (the filter controls).
    pub themes: Vec<String>,
    pub departments: Vec<String>,
}

struct RegionIndex {
    generation: i64,
    date: Date,
    guides: Arc<RegionGuides>,
}

/// The per-process index cache (see the module comment).
#[derive(Default)]
pub struct SearchCache {
    regions: Mutex<HashMap<i64, RegionIndex>>,
}

impl std::fmt::Debug for SearchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchCache")
    }
}

fn promised_text(r: &onestop_domain::catalogue::ServiceRecord) -> String {
    match r.promised_limit {
        Some(l) if l.value == 0 => "即办".into(),
        Some(l) => format!("{} 个{}", l.value, l.unit.label()),
        None => "—".into(),
    }
}

/// The text a guide is found by: its name, and a body of conditions, process, legal basis,
/// department, themes, material names and FAQs.
pub fn entry_text(e: &onestop_store::catalogue::Effective) -> (String, String) {
    let r = &e.record;
    let mut body = String::with_capacity(r.conditions.len() + r.process.len() + 256);
    for part in [&r.conditions, &r.process, &r.legal_basis, &r.department_name] {
        body.push_str(part);
        body.push('\n');
    }
    for t in &r.themes {
        body.push_str(t);
        body.push('\n');
    }
    for m in &e.materials {
        body.push_str(&m.name);
        body.push('\n');
    }
    for f in &r.faqs {
        body.push_str(&f.question);
        body.push_str(&f.answer);
    }
    (r.name.clone(), body)
}

fn entry_of(e: &onestop_store::catalogue::Effective) -> GuideEntry {
    let r = &e.record;
    let (name, body) = entry_text(e);
    GuideEntry {
        service_id: e.service_id,
        base_code: r.base_code.clone(),
        name: r.name.clone(),
        department: r.department_name.clone(),
        themes: r.themes.clone(),
        objects: r.objects.iter().map(|o| o.code().to_owned()).collect(),
        promised: promised_text(r),
        online_depth: r.online_depth.roman().to_owned(),
        onsite_visits: r.onsite_visits,
        text: SearchText::new(&name, &body),
        for_people: r.objects.contains(&ServiceObject::NaturalPerson),
        for_organisations: r.objects.iter().any(|o| *o != ServiceObject::NaturalPerson),
    }
}

/// The guides a region offers today, from the cache when it is current.
pub async fn entries(state: &AppState, region_id: i64) -> ApiResult<Arc<RegionGuides>> {
    let date = super::today(state);
    let mut conn = state.store.read().acquire().await.map_err(StoreError::from)?;
    let generation = onestop_store::catalogue::generation(&mut conn).await?;
    if let Ok(cache) = state.catalogue.regions.lock()
        && let Some(idx) = cache.get(&region_id)
        && idx.generation == generation
        && idx.date == date
    {
        return Ok(idx.guides.clone());
    }
    let all = onestop_store::catalogue::effective_all(&mut conn, region_id, date).await?;
    let entries: Vec<GuideEntry> = all.iter().filter(|e| e.enabled).map(entry_of).collect();
    let (themes, departments) = facets(&entries);
    let guides = Arc::new(RegionGuides {
        entries,
        themes,
        departments,
    });
    if let Ok(mut cache) = state.catalogue.regions.lock() {
        cache.insert(
            region_id,
            RegionIndex {
                generation,
                date,
                guides: guides.clone(),
            },
        );
    }
    Ok(guides)
}

/// Filters and ranks `entries`: every hit, best first (pure; the benchmark calls it directly too).
pub fn rank<'a>(entries: &'a [GuideEntry], q: &GuideQuery) -> Vec<&'a GuideEntry> {
    let query = q.q.as_deref().and_then(SearchQuery::parse);
    let theme = q.theme.as_deref().filter(|t| !t.is_empty());
    let dept = q.department.as_deref().filter(|t| !t.is_empty());
    let object = q.object.as_deref().filter(|t| !t.is_empty());
    let mut hits: Vec<(u32, &GuideEntry)> = entries
        .iter()
        .filter(|e| theme.is_none_or(|t| e.themes.iter().any(|x| x == t)))
        .filter(|e| dept.is_none_or(|d| e.department.contains(d)))
        .filter(|e| match object {
            Some("person") => e.for_people,
            Some("legal") => e.for_organisations,
            _ => true,
        })
        .filter_map(|e| match &query {
            None => Some((0, e)),
            Some(query) => query.score(&e.text).map(|s| (s, e)),
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.base_code.cmp(&b.1.base_code)));
    hits.into_iter().map(|(_, e)| e).collect()
}

/// Facets for the filter controls: every theme and department among a region's guides.
fn facets(entries: &[GuideEntry]) -> (Vec<String>, Vec<String>) {
    let mut themes: Vec<String> = entries.iter().flat_map(|e| e.themes.iter().cloned()).collect();
    themes.sort();
    themes.dedup();
    let mut depts: Vec<String> = entries.iter().map(|e| e.department.clone()).collect();
    depts.sort();
    depts.dedup();
    (themes, depts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(page: Option<usize>, per_page: Option<usize>) -> GuideQuery {
        GuideQuery {
            page,
            per_page,
            ..Default::default()
        }
    }

    #[test]
    fn pages_cut_the_hits() {
        let p = q(None, None).page_of(45);
        assert_eq!((p.page, p.per_page, p.pages, p.range), (1, 20, 3, 0..20));
        assert_eq!(q(Some(3), None).page_of(45).range, 40..45);
        assert_eq!(q(Some(4), None).page_of(45).range, 45..45);
        assert_eq!(q(Some(usize::MAX), Some(100)).page_of(45).range, 45..45);
        let p = q(None, Some(10)).page_of(0);
        assert_eq!((p.pages, p.range), (1, 0..0));
    }

    #[test]
    fn limits_are_checked() {
        assert!(q(Some(0), None).check().is_err());
        assert!(q(None, Some(0)).check().is_err());
        assert!(q(None, Some(101)).check().is_err());
        assert!(q(Some(2), Some(100)).check().is_ok());
        let long = GuideQuery {
            q: Some("字".repeat(101)),
            ..Default::default()
        };
        assert_eq!(long.check().unwrap_err().code, "query_too_long");
    }
}
