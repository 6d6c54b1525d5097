//! What a report asks the store ([`FactQuery`]) and what the store answers ([`Facts`]):
//! additive sums per site, UTC time bucket and group-by key, so the report room never
//! reads a database and a PostgreSQL store can answer the same questions.

use jiff::Timestamp;
use jiff::civil::Date;

use super::fields::GroupField;
use super::figures::Sums;

/// Which sites a query covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteSet {
    /// These sites only.
    Only(Vec<String>),
    /// Every site but these (calls of sites not in the config, counted in UTC).
    Except(Vec<String>),
}

/// How finely the store buckets calls and leads in time (UTC), so that the report can put
/// each bucket on its local day and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// No time field asked for: one bucket.
    None,
    /// UTC hours: exact for every zone whose offset is whole hours.
    Hour,
    /// UTC minutes: for offsets such as +05:30 or +05:45.
    Minute,
}

/// One question for the store: the facts of some sites over one UTC window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactQuery {
    /// Start of the window (inclusive).
    pub from: Timestamp,
    /// End of the window (exclusive).
    pub to: Timestamp,
    /// Local days the window covers (costs are kept per local day), inclusive.
    pub first_day: Date,
    pub last_day: Date,
    pub sites: SiteSet,
    /// Stored columns to group by, in this order (each fact's `key` follows it).
    pub columns: Vec<GroupField>,
    pub bucket: Bucket,
    /// Only deals and costs in this currency count; the others are counted as skipped.
    pub currency: String,
}

/// Sums of calls or leads (or unique callers) for one site, bucket and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub site: String,
    /// Start of the UTC bucket; `None` with [`Bucket::None`].
    pub bucket: Option<Timestamp>,
    /// One value per [`FactQuery::columns`] entry.
    pub key: Vec<Option<String>>,
    pub sums: Sums,
}

/// Ad cost of one local day, site, source, medium and campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostFact {
    pub day: Date,
    pub site: String,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub amount_minor: i64,
}

/// Deals and costs left out because they are in another currency than the report's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// `won` deals on calls and leads in another currency.
    pub deals: i64,
    /// Cost rows in another currency.
    pub costs: i64,
}

/// The store's whole answer to one [`FactQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Calls, unique callers and leads: every entry is added to its line.
    pub sums: Vec<Fact>,
    pub costs: Vec<CostFact>,
    pub skipped: Skipped,
}

impl Facts {
    /// Adds another window's answer to this one.
    pub fn extend(&mut self, other: Facts) {
        self.sums.extend(other.sums);
        self.costs.extend(other.costs);
        self.skipped.deals += other.skipped.deals;
        self.skipped.costs += other.skipped.costs;
    }
}
