//! `GET /v1/pools/usage?site=&from=&to=`: each pool's per-minute samples (leased numbers,
//! exhausted or not) and its exhaustion minutes in a period, for the dashboard's pools page.
//! `from`/`to` are RFC 3339 or `YYYY-MM-DD` (midnight UTC; a `to` date includes its day);
//! the default is the last 24 hours, the longest period 31 days. Each pool also carries its
//! quarantined numbers now and its estimated accuracy over the 24 h before `to`. On
//! PostgreSQL the samples and calls are every node's.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use std::sync::Arc;

use super::errors::ApiError;
use crate::config::SharedConfig;
use crate::lease::LeaseTable;
use crate::store::BackendReader;
use crate::store::lease_history::estimate;
use crate::store::pool_usage::PoolUsage;

/// The longest period one request may ask for.
const MAX_PERIOD: SignedDuration = SignedDuration::from_hours(31 * 24);
const DAY: SignedDuration = SignedDuration::from_hours(24);

/// `GET /v1/pools/usage` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolUsageView {
    pub pools: Vec<PoolUsage>,
}

/// The query, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageQuery {
    pub site: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// `GET /v1/pools/usage`
#[utoipa::path(
    get,
    path = "/v1/pools/usage",
    tag = "pools",
    params(
        ("site" = Option<String>, Query, description = "Only this site's pools"),
        ("from" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD (default: 24 h before `to`)"),
        ("to" = Option<String>, Query, description = "RFC 3339 or YYYY-MM-DD, a date inclusive (default: now)")
    ),
    responses(
        (status = 200, description = "Each pool's samples and exhaustion minutes", body = PoolUsageView),
        (status = 400, description = "A bad parameter; every problem is listed")
    )
)]
pub async fn usage(
    State(reader): State<BackendReader>,
    State(config): State<SharedConfig>,
    State(leases): State<Arc<LeaseTable>>,
    RawQuery(query): RawQuery,
) -> Result<Json<PoolUsageView>, ApiError> {
    let now = Timestamp::now();
    let q = parse_query(query.as_deref().unwrap_or(""), now)?;
    let sites = config.load().sites.clone();
    let mut pools = reader
        .read_operator(move |r| {
            let mut pools = r.pool_usage(q.site.as_deref(), q.from, q.to)?;
            let since = q.to.checked_sub(DAY).unwrap_or(Timestamp::MIN);
            let shown: Vec<String> = pools.iter().map(|p| p.site.clone()).collect();
            for site in sites.iter().filter(|s| shown.contains(&s.id)) {
                let calls = r.number_calls(&site.id, since)?;
                for found in estimate(site, &calls) {
                    let pool = pools
                        .iter_mut()
                        .find(|p| p.site == site.id && p.pool == found.pool);
                    if let Some(pool) = pool {
                        pool.estimated_accuracy = found.estimate;
                    }
                }
            }
            Ok(pools)
        })
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot read pool usage");
            ApiError::Rejected {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "store_unavailable",
                message: "the store cannot be read now".to_owned(),
            }
        })?;
    for stats in leases.stats(now) {
        let pool = pools
            .iter_mut()
            .find(|p| p.site == stats.site && p.pool == stats.pool);
        if let Some(pool) = pool {
            pool.quarantined = u32::try_from(stats.quarantined).unwrap_or(u32::MAX);
        }
    }
    Ok(Json(PoolUsageView { pools }))
}

/// Checks the query string, listing every problem at once.
pub fn parse_query(query: &str, now: Timestamp) -> Result<UsageQuery, ApiError> {
    let mut problems = Vec::new();
    let (mut site, mut from, mut to) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "site" if !value.is_empty() => site = Some(value.into_owned()),
            "site" => {}
            "from" => from = instant("from", &value, false, &mut problems),
            "to" => to = instant("to", &value, true, &mut problems),
            other => problems.push(format!(
                "unknown parameter {other:?}; allowed: site, from, to"
            )),
        }
    }
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to.checked_sub(DAY).unwrap_or(Timestamp::MIN));
    if problems.is_empty() && from >= to {
        problems.push("from must be before to".to_owned());
    } else if problems.is_empty() && to.duration_since(from) > MAX_PERIOD {
        problems.push("the period may be at most 31 days".to_owned());
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            problems,
        });
    }
    Ok(UsageQuery { site, from, to })
}

/// RFC 3339, or a date at midnight UTC (the next midnight for an inclusive `to`).
fn instant(key: &str, value: &str, end: bool, problems: &mut Vec<String>) -> Option<Timestamp> {
    if let Ok(t) = value.parse::<Timestamp>() {
        return Some(t);
    }
    let day = value
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp());
    match day {
        Some(t) if end => t.checked_add(DAY).ok(),
        Some(t) => Some(t),
        None => {
            problems.push(format!(
                "{key}: {value:?} is not an RFC 3339 time or a YYYY-MM-DD date"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_to_the_last_day() {
        let q = parse_query("", now()).unwrap();
        assert_eq!((q.site, q.to), (None, now()));
        assert_eq!(q.from, "2026-03-09T12:00:00Z".parse().unwrap());
    }

    #[test]
    fn a_to_date_includes_its_day() {
        let q = parse_query("site=shop&from=2026-03-01&to=2026-03-02", now()).unwrap();
        assert_eq!(q.site.as_deref(), Some("shop"));
        assert_eq!(q.from, "2026-03-01T00:00:00Z".parse().unwrap());
        assert_eq!(q.to, "2026-03-03T00:00:00Z".parse().unwrap());
    }

    #[test]
    fn every_problem_is_listed() {
        let Err(ApiError::Invalid { problems, .. }) =
            parse_query("from=yesterday&to=2026-13-01&pool=web", now())
        else {
            panic!("bad query accepted");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        let Err(ApiError::Invalid { problems, .. }) =
            parse_query("from=2026-01-01&to=2026-03-01", now())
        else {
            panic!("a two-month period accepted");
        };
        assert_eq!(problems, ["the period may be at most 31 days"]);
    }
}
