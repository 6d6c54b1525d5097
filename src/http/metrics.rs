//! `GET /metrics`: the Prometheus text exposition, with pool gauges refreshed at scrape time.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use crate::lease::LeaseTable;
use crate::telemetry::metrics;

/// Renders every metric; 503 when this process has no Prometheus recorder.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
        (status = 503, description = "No metrics recorder in this process", content_type = "text/plain", body = String),
    )
)]
pub async fn scrape(State(leases): State<Arc<LeaseTable>>) -> Response {
    metrics::publish_pools(&leases, Timestamp::now());
    match metrics::render() {
        Some(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response(),
    }
}
