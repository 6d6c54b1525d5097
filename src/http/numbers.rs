//! Number hygiene over the admin API: every tracking number with its kind, pool, state, calls
//! and junk share over the last 30 days and, for a quarantined pool number, since when and why
//! (`GET /v1/admin/numbers`); and restoring a quarantined number to its pool
//! (`POST /v1/admin/numbers/{number}/restore`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use crate::call::record::rfc3339;
use crate::config::{Config, SharedConfig};
use crate::lease::{LeaseTable, Quarantine};
use crate::store::StoreReader;
use crate::store::number_hygiene::{NumberCalls, number_calls};

/// How far back `calls` and `junk_share` look.
const PERIOD: SignedDuration = SignedDuration::from_hours(30 * 24);

/// One tracking number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumberView {
    pub number: String,
    pub site: String,
    /// `static`, `dynamic` (a pool number), `default` or `reserve`.
    pub kind: String,
    /// The pool of a pool number.
    pub pool: Option<String>,
    /// `quarantined` (out of its pool), `held` (a visitor's lease holds it) or `active`.
    pub state: String,
    /// Calls to the number in the last 30 days (CDRs).
    pub calls: u64,
    /// Share of those that were junk (nobody held the pool number, under 5 s of talk, or a
    /// blacklisted caller), 0..1; `null` without calls.
    pub junk_share: Option<f64>,
    pub quarantined_since: Option<String>,
    pub quarantined_reason: Option<String>,
}

/// `GET /v1/admin/numbers` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumbersView {
    pub numbers: Vec<NumberView>,
}

/// `GET /v1/admin/numbers`
#[utoipa::path(
    get,
    path = "/v1/admin/numbers",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every tracking number with its state, calls and junk share", body = NumbersView),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(config): State<SharedConfig>,
    State(leases): State<Arc<LeaseTable>>,
    State(reader): State<StoreReader>,
) -> Result<Json<NumbersView>, ApiError> {
    let now = Timestamp::now();
    let since = now.saturating_sub(PERIOD).unwrap_or(Timestamp::MIN);
    let counted = reader
        .read(move |conn| number_calls(conn, since))
        .await
        .map_err(super::calls::read_failed)?;
    let quarantined = leases.quarantined();
    let config = config.load();
    let numbers = every_number(&config)
        .into_iter()
        .map(|(number, site, kind, pool)| {
            let calls = counted.get(&number).copied().unwrap_or_default();
            let q = quarantined.iter().find(|q| q.number == number);
            let held = pool.is_some() && leases.holder_of(&number, now).is_some();
            view(number, site, kind, pool, calls, q, held)
        })
        .collect();
    Ok(Json(NumbersView { numbers }))
}

/// `POST /v1/admin/numbers/{number}/restore`: 204 when the number was quarantined and is
/// back in its pool, 404 when it is not a quarantined number.
#[utoipa::path(
    post,
    path = "/v1/admin/numbers/{number}/restore",
    tag = "admin",
    params(("number" = String, Path, description = "The quarantined pool number (E.164 digits)")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Back in its pool (saved with the next lease snapshot, within 5 s)"),
        (status = 404, description = "Not a quarantined number", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn restore(
    State(leases): State<Arc<LeaseTable>>,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    let number = number.trim_start_matches('+');
    if leases.restore_number(number, Timestamp::now()) {
        tracing::info!(tracking_number = %number, "quarantined pool number restored");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// (number, site, kind, pool) of every configured tracking number, in file order.
fn every_number(config: &Config) -> Vec<(String, String, &'static str, Option<String>)> {
    let mut all = Vec::new();
    for site in &config.sites {
        let mut push = |number: &str, kind, pool: Option<&str>| {
            all.push((
                number.to_owned(),
                site.id.clone(),
                kind,
                pool.map(str::to_owned),
            ));
        };
        for s in &site.static_numbers {
            push(&s.number, "static", None);
        }
        for pool in &site.pools {
            for number in &pool.numbers {
                push(number, "dynamic", Some(&pool.id));
            }
        }
        for (number, kind) in [
            (&site.default_number, "default"),
            (&site.reserve_number, "reserve"),
        ] {
            if let Some(number) = number {
                push(number, kind, None);
            }
        }
    }
    all
}

fn view(
    number: String,
    site: String,
    kind: &'static str,
    pool: Option<String>,
    calls: NumberCalls,
    quarantine: Option<&Quarantine>,
    held: bool,
) -> NumberView {
    let state = match (quarantine, held) {
        (Some(_), _) => "quarantined",
        (None, true) => "held",
        (None, false) => "active",
    };
    NumberView {
        number,
        site,
        kind: kind.to_owned(),
        pool,
        state: state.to_owned(),
        calls: calls.calls,
        junk_share: (calls.calls > 0).then(|| calls.junk as f64 / calls.calls as f64),
        quarantined_since: quarantine.map(|q| rfc3339::format(q.since)),
        quarantined_reason: quarantine.map(|q| q.reason.clone()),
    }
}
