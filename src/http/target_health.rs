//! The admin API's view of forwarding-target health: `GET /v1/admin/health` lists every
//! probed destination with its state, last answer and round-trip time.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::SharedConfig;
use crate::health::{HealthTable, TargetHealth};

/// One destination, as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetHealthView {
    /// `host:port` (the `target` label of `calltrack_target_up`).
    pub destination: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The Request-URI the probes carry.
    pub uri: String,
    /// `unknown`, `up` or `down`; only `down` is skipped by routing.
    pub state: String,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Final status of the last answered probe; `null` after a timeout.
    pub last_status: Option<u16>,
    pub last_rtt_ms: Option<u64>,
    pub last_probe_at: Option<String>,
    /// When the state last changed (RFC 3339).
    pub since: String,
}

impl From<TargetHealth> for TargetHealthView {
    fn from(h: TargetHealth) -> Self {
        TargetHealthView {
            destination: h.peer.addr.to_string(),
            transport: h.peer.transport.to_string().to_ascii_lowercase(),
            uri: h.uri,
            state: h.state.as_str().to_string(),
            consecutive_failures: h.consecutive_failures,
            consecutive_successes: h.consecutive_successes,
            last_status: h.last_status,
            last_rtt_ms: h
                .last_rtt
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            last_probe_at: h.last_probe_at.map(rfc3339),
            since: rfc3339(h.since),
        }
    }
}

/// `GET /v1/admin/health` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetsHealthView {
    /// Whether probing is on (`[health] enabled`); when off the list is empty.
    pub enabled: bool,
    pub interval_secs: u64,
    pub targets: Vec<TargetHealthView>,
}

/// `GET /v1/admin/health`
#[utoipa::path(
    get,
    path = "/v1/admin/health",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every probed forwarding target", body = TargetsHealthView),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(config): State<SharedConfig>,
    State(health_table): State<HealthTable>,
) -> Json<TargetsHealthView> {
    let config = config.load();
    let health = &config.health;
    Json(TargetsHealthView {
        enabled: health.enabled,
        interval_secs: health.interval.as_secs(),
        targets: health_table
            .snapshot()
            .into_iter()
            .map(TargetHealthView::from)
            .collect(),
    })
}

fn rfc3339(at: Timestamp) -> String {
    at.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::HealthState;
    use crate::sip::{Peer, Transport};

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    #[test]
    fn view_names_state_status_rtt_and_times() {
        let peer = Peer::new(Transport::Tcp, "127.0.0.1:5090".parse().unwrap());
        let mut h = TargetHealth::new(
            peer,
            "sip:127.0.0.1:5090;transport=tcp".into(),
            ts("2026-11-23T10:00:00Z"),
        );
        h.state = HealthState::Down;
        h.consecutive_failures = 3;
        h.last_status = Some(503);
        h.last_rtt = Some(Duration::from_micros(12_900));
        h.last_probe_at = Some(ts("2026-11-23T10:01:30Z"));
        let json = serde_json::to_value(TargetHealthView::from(h)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "destination": "127.0.0.1:5090",
                "transport": "tcp",
                "uri": "sip:127.0.0.1:5090;transport=tcp",
                "state": "down",
                "consecutive_failures": 3,
                "consecutive_successes": 0,
                "last_status": 503,
                "last_rtt_ms": 12,
                "last_probe_at": "2026-11-23T10:01:30Z",
                "since": "2026-11-23T10:00:00Z",
            })
        );
    }

    /// The text the `time` crate's RFC 3339 formatter wrote before the switch to `jiff`:
    /// `Z`, and only the fraction digits needed (trailing zeros dropped).
    #[test]
    fn times_keep_their_text_form() {
        assert_eq!(rfc3339(ts("2026-11-23T10:01:30Z")), "2026-11-23T10:01:30Z");
        assert_eq!(
            rfc3339(ts("2026-11-23T13:01:30.250+03:00")),
            "2026-11-23T10:01:30.25Z"
        );
        assert_eq!(
            rfc3339(ts("2026-11-23T10:01:30.000000001Z")),
            "2026-11-23T10:01:30.000000001Z"
        );
    }
}
