//! Which calls to list, in which order and from where: the one filter of the calls API
//! (`GET /v1/calls`, `/v1/calls.csv`) and `calltrack cdr list`, parsed from `name=value`
//! pairs so both speak the same names, values and error messages.
//!
//! `from`/`to` are RFC 3339 instants or `YYYY-MM-DD` dates: a date is midnight in UTC, or in
//! the site's time zone when `site` is given; `from` is inclusive, `to` exclusive (a `to`
//! date includes that whole day). Every problem is reported at once, with what is allowed.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::call::record::{Disposition, rfc3339};

/// Calls per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most calls per page.
pub const MAX_LIMIT: usize = 500;

/// Every name a query may use.
pub const NAMES: [&str; 15] = [
    "from",
    "to",
    "site",
    "source",
    "medium",
    "campaign",
    "tracking_number",
    "caller",
    "disposition",
    "first_time",
    "quality",
    "missed",
    "sort",
    "limit",
    "cursor",
];

/// Conditions every listed call meets; `None` is no condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// Started at or after.
    pub from: Option<Timestamp>,
    /// Started before.
    pub to: Option<Timestamp>,
    pub site: Option<String>,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub tracking_number: Option<String>,
    pub caller: Option<String>,
    pub disposition: Option<Disposition>,
    pub first_time: Option<bool>,
    pub quality: Option<bool>,
    pub missed: Option<bool>,
}

/// The listing order, on `(started_at, seq)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// `-started_at`: newest first (the default).
    #[default]
    Newest,
    /// `started_at`: oldest first.
    Oldest,
}

/// Where a page starts: just after the call at `(started_at, seq)` in the listing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The stored text of the last call's `started_at`.
    pub started_at: String,
    pub seq: i64,
}

impl Cursor {
    /// The opaque text handed out as `next_cursor`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.seq, self.started_at)
    }

    fn decode(text: &str) -> Option<Cursor> {
        let (seq, started_at) = text.split_once('_')?;
        let at = rfc3339::parse(started_at).ok()?;
        Some(Cursor {
            started_at: rfc3339::format(at),
            seq: seq.parse().ok()?,
        })
    }
}

/// One page request: filter, order, size and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallQuery {
    pub filter: CallFilter,
    pub sort: Sort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Default for CallQuery {
    fn default() -> Self {
        Self {
            filter: CallFilter::default(),
            sort: Sort::Newest,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// A `from`/`to` value before the site's time zone is known.
enum Bound {
    At(Timestamp),
    Day(Date),
}

impl CallQuery {
    /// Parses `name=value` pairs. `zone` gives a site's time zone for dates (`None`: UTC).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        zone: &dyn Fn(&str) -> Option<TimeZone>,
    ) -> Result<CallQuery, Vec<String>> {
        let mut query = CallQuery::default();
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let (mut from, mut to) = (None, None);
        for (name, value) in pairs {
            if seen.contains(&name) {
                problems.push(format!("{name}: given more than once"));
                continue;
            }
            seen.push(name);
            let f = &mut query.filter;
            let result = match name {
                "from" => bound(value).map(|b| from = Some(b)),
                "to" => bound(value).map(|b| to = Some(b)),
                "site" => text(value).map(|v| f.site = Some(v)),
                "source" => text(value).map(|v| f.source = Some(v)),
                "medium" => text(value).map(|v| f.medium = Some(v)),
                "campaign" => text(value).map(|v| f.campaign = Some(v)),
                "tracking_number" => digits(value).map(|v| f.tracking_number = Some(v)),
                "caller" => text(value).map(|v| f.caller = Some(v)),
                "disposition" => disposition(value).map(|v| f.disposition = Some(v)),
                "first_time" => flag(value).map(|v| f.first_time = Some(v)),
                "quality" => flag(value).map(|v| f.quality = Some(v)),
                "missed" => flag(value).map(|v| f.missed = Some(v)),
                "sort" => sort(value).map(|v| query.sort = v),
                "limit" => limit(value).map(|v| query.limit = v),
                "cursor" => Cursor::decode(value)
                    .map(|c| query.cursor = Some(c))
                    .ok_or_else(|| "not a cursor this API handed out (next_cursor)".to_owned()),
                _ => Err(format!("unknown filter; allowed: {}", NAMES.join(", "))),
            };
            if let Err(message) = result {
                problems.push(format!("{name}: {message}"));
            }
        }
        let tz = query
            .filter
            .site
            .as_deref()
            .and_then(zone)
            .unwrap_or(TimeZone::UTC);
        query.filter.from = from.and_then(|b| resolve(b, &tz, false, "from", &mut problems));
        query.filter.to = to.and_then(|b| resolve(b, &tz, true, "to", &mut problems));
        if let (Some(from), Some(to)) = (query.filter.from, query.filter.to) {
            if from >= to {
                problems.push(format!(
                    "to: must be after from ({} is not after {})",
                    rfc3339::format(to),
                    rfc3339::format(from)
                ));
            }
        }
        if problems.is_empty() {
            Ok(query)
        } else {
            Err(problems)
        }
    }
}

fn bound(value: &str) -> Result<Bound, String> {
    if let Ok(at) = rfc3339::parse(value) {
        return Ok(Bound::At(at));
    }
    match value.parse::<Date>() {
        Ok(day) if value.len() == 10 => Ok(Bound::Day(day)),
        _ => Err(format!(
            "{value:?} is neither an RFC 3339 time (2026-11-23T03:20:00Z) nor a date (2026-11-23)"
        )),
    }
}

/// A date's midnight in `tz` (`end`: the next midnight, so the day is included).
fn resolve(
    b: Bound,
    tz: &TimeZone,
    end: bool,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<Timestamp> {
    let day = match b {
        Bound::At(at) => return Some(at),
        Bound::Day(day) if end => day.tomorrow(),
        Bound::Day(day) => Ok(day),
    };
    match day.and_then(|d| d.to_zoned(tz.clone())) {
        Ok(zoned) => Some(zoned.timestamp()),
        Err(e) => {
            problems.push(format!("{name}: {e}"));
            None
        }
    }
}

fn text(value: &str) -> Result<String, String> {
    let value = value.trim();
    match value.chars().count() {
        0 => Err("empty; leave the filter out instead".to_owned()),
        1..=256 => Ok(value.to_owned()),
        _ => Err("longer than 256 characters".to_owned()),
    }
}

/// A tracking number as stored: E.164 digits without '+'.
fn digits(value: &str) -> Result<String, String> {
    let value = value.trim().trim_start_matches('+');
    if (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a phone number (digits, e.g. 74951234567)"
        ))
    }
}

fn disposition(value: &str) -> Result<Disposition, String> {
    value.parse().map_err(|_| {
        let allowed: Vec<&str> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
        format!("{value:?} is not one of {}", allowed.join(", "))
    })
}

fn flag(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

fn sort(value: &str) -> Result<Sort, String> {
    match value {
        "-started_at" => Ok(Sort::Newest),
        "started_at" => Ok(Sort::Oldest),
        _ => Err(format!(
            "{value:?}: use -started_at (newest first) or started_at (oldest first)"
        )),
    }
}

fn limit(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("{value:?} is not a number from 1 to {MAX_LIMIT}")),
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
