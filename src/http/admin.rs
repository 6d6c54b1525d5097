//! The admin API: pool occupancy (`GET /v1/admin/pools`), read by `calltrack pool status`.
//! Every admin route passes `access::admin` (the admin role).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::lease::{LeaseTable, PoolStats};

/// One pool's occupancy, as served and as the CLI reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoolStatsView {
    pub site: String,
    pub pool: String,
    pub size: usize,
    pub leased: usize,
    pub ringing: usize,
    pub cooling: usize,
    pub free: usize,
    /// Numbers taken out of the pool by leak detection (`GET /v1/admin/numbers`).
    #[serde(default)]
    pub quarantined: usize,
    pub granted_total: u64,
    pub exhausted_total: u64,
}

impl From<PoolStats> for PoolStatsView {
    fn from(s: PoolStats) -> Self {
        PoolStatsView {
            site: s.site,
            pool: s.pool,
            size: s.size,
            leased: s.leased,
            ringing: s.ringing,
            cooling: s.cooling,
            free: s.free,
            quarantined: s.quarantined,
            granted_total: s.granted_total,
            exhausted_total: s.exhausted_total,
        }
    }
}

/// `GET /v1/admin/pools` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PoolsView {
    pub pools: Vec<PoolStatsView>,
}

/// `GET /v1/admin/pools`
#[utoipa::path(
    get,
    path = "/v1/admin/pools",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every pool's occupancy now", body = PoolsView),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn pools(State(leases): State<Arc<LeaseTable>>) -> Json<PoolsView> {
    let stats = leases.stats(Timestamp::now());
    Json(PoolsView {
        pools: stats.into_iter().map(PoolStatsView::from).collect(),
    })
}
