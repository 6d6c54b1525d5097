//! STUB (replaced at merge): which number a visitor sees, and how numbers are printed.

pub mod geo;

use time::OffsetDateTime;

use crate::config::SiteConfig;
use crate::lease::Visit;

/// What the visitor should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Candidate pool ids in preference order.
    Pools(Vec<String>),
    Static(String),
    Default,
}

/// Applies the site's rules in order; no rule matched: direct/organic -> Default, else all site pools
/// (region-matching first, then those without region, then the rest).
pub fn choose(site: &SiteConfig, visit: &Visit, _now: OffsetDateTime) -> Choice {
    if visit.is_direct_or_organic(None) || site.pools.is_empty() {
        return Choice::Default;
    }
    let region = visit.region.as_deref();
    let mut pools: Vec<&crate::config::PoolConfig> = site.pools.iter().collect();
    pools.sort_by_key(|p| match (p.region.as_deref(), region) {
        (Some(a), Some(b)) if a == b => 0,
        (None, _) => 1,
        _ => 2,
    });
    Choice::Pools(pools.into_iter().map(|p| p.id.clone()).collect())
}

/// "74950000001" -> "+7 (495) 000-00-01"; other E.164 numbers grouped readably.
pub fn format_number(e164_digits: &str) -> String {
    let d = e164_digits;
    if d.len() == 11 && d.starts_with('7') && d.is_ascii() {
        return format!("+7 ({}) {}-{}-{}", &d[1..4], &d[4..7], &d[7..9], &d[9..11]);
    }
    format!("+{d}")
}
