//! Reports: pure aggregation of the facts the store hands over (calls, unique callers, leads
//! and costs, already summed per UTC bucket and group-by key) into rows, a total line and the
//! previous period's total. No I/O here: the store answers [`facts::FactQuery`]s, the CLI and
//! the HTTP API render a [`Report`].
//!
//! - [`fields`]: the group-by fields and their parsing (an unknown one lists what is allowed).
//! - [`request`]: a checked report request (dates, fields, site) and the fact windows it needs.
//! - [`facts`]: what the store answers with (additive sums only).
//! - [`figures`]: additive [`figures::Sums`] and the derived [`figures::Figures`].
//! - [`build`]: facts to rows (local days in each site's time zone), total and previous total.
//! - [`render`]: the table and CSV forms.
//! - [`tags`]: calls per keyword tag and source, a section of its own (a call with several
//!   tags is on several lines, so its lines reconcile through `calls_with_tags` instead).
//!
//! Invariant: every figure a row shows is derived from additive sums, and the total line is
//! the sum of the rows' sums, so a breakdown's rows always add up to its total.

pub mod build;
pub mod facts;
pub mod fields;
pub mod figures;
pub mod render;
pub mod request;
pub mod tags;

pub use build::{Report, Row, build};
pub use facts::{Bucket, CostFact, Fact, FactQuery, Facts, SiteSet, Skipped};
pub use fields::GroupField;
pub use figures::{Figures, Sums};
pub use request::{ReportInput, ReportRequest, RequestError, Zones};
