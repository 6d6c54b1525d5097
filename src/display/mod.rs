//! Which number a website visitor sees: display rules, pool preference by region, number
//! formatting and region lookup. Pure: `now` comes in, nothing is read from clocks or sockets
//! (the MaxMind database is opened once, up front, by [`GeoResolver::open`]).

mod format;
mod geo;
mod rules;

use jiff::Timestamp;
use jiff::civil::Time;

use crate::config::{DisplayAction, SiteConfig};
use crate::lease::Visit;

pub use format::format_number;
pub use geo::{GeoError, GeoResolver};

/// What a visitor should be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Lease from one of these pools; candidate pool ids in preference order.
    Pools(Vec<String>),
    /// Show this static number.
    Static(String),
    /// Show the site's default number.
    Default,
}

/// Why a visitor sees the number it sees: the `reason` of the snippet API's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The user agent is a bot or a headless browser: the default number, no lease.
    Bot,
    /// Direct or organic visit (no campaign tags, no click id, a search or own referrer).
    Direct,
    /// A display rule of the site decided (a static number, the default, or its pools).
    Rule,
    /// Paid or referred traffic: a number from the site's pools.
    Pool,
    /// The site has no pool to lease from (or the rule's pools are unknown): its default.
    NoPools,
    /// Every candidate pool was exhausted: the reserve number (or the default without one).
    PoolExhausted,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Bot => "bot",
            Reason::Direct => "direct",
            Reason::Rule => "rule",
            Reason::Pool => "pool",
            Reason::NoPools => "no_pools",
            Reason::PoolExhausted => "pool_exhausted",
        }
    }
}

/// Applies the site's rules in order; no rule matched: direct/organic -> Default, else all site pools
/// (region-matching first, then those without region, then the rest).
///
/// A site without pools answers Default where it would answer an empty pool list.
pub fn choose(site: &SiteConfig, visit: &Visit, now: Timestamp) -> Choice {
    choose_with_reason(site, visit, now).0
}

/// [`choose`], and why.
pub fn choose_with_reason(site: &SiteConfig, visit: &Visit, now: Timestamp) -> (Choice, Reason) {
    let local = site_time(site, now);
    let matched = site
        .rules
        .iter()
        .find(|rule| rules::matches(rule, visit, local));
    let choice = match matched.map(|rule| &rule.action) {
        Some(DisplayAction::Pools(ids)) => pools(site, ids, visit),
        Some(DisplayAction::Number(number)) => Choice::Static(number.clone()),
        Some(DisplayAction::Default) => Choice::Default,
        None if is_untracked(site, visit) => return (Choice::Default, Reason::Direct),
        None => {
            let ids: Vec<String> = site.pools.iter().map(|pool| pool.id.clone()).collect();
            pools(site, &ids, visit)
        }
    };
    let reason = match (&choice, matched) {
        (_, Some(_)) => Reason::Rule,
        (Choice::Default, None) => Reason::NoPools,
        (_, None) => Reason::Pool,
    };
    (choice, reason)
}

/// The site-local wall-clock time.
fn site_time(site: &SiteConfig, now: Timestamp) -> Time {
    site.utc_offset.to_datetime(now).time()
}

/// Direct or organic, where the site's own host is the landing page's or any origin's host.
fn is_untracked(site: &SiteConfig, visit: &Visit) -> bool {
    let origin_hosts = site.origins.iter().filter_map(|origin| origin_host(origin));
    std::iter::once(visit.landing_host())
        .chain(origin_hosts.map(Some))
        .any(|host| visit.is_direct_or_organic(host.as_deref()))
}

fn origin_host(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin).ok()?;
    url.host_str().map(str::to_owned)
}

/// Orders pool ids: the visitor's region first, then pools without region, then the rest.
fn pools(site: &SiteConfig, ids: &[String], visit: &Visit) -> Choice {
    if ids.is_empty() {
        return Choice::Default;
    }
    let visitor = visit.region().map(str::to_lowercase);
    let region_of = |id: &String| {
        site.pools
            .iter()
            .find(|pool| &pool.id == id)
            .and_then(|pool| pool.region.as_deref())
            .map(str::to_lowercase)
    };
    let rank = |id: &String| match region_of(id) {
        Some(region) if visitor.as_ref() == Some(&region) => 0,
        None => 1,
        Some(_) => 2,
    };
    let mut ordered = ids.to_vec();
    ordered.sort_by_key(rank);
    Choice::Pools(ordered)
}
