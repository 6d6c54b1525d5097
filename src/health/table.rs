//! The health of each probed destination: the up/down state machine with its thresholds
//! (Kamailio dispatcher style), and the [`HealthTable`] the prober writes and routing and
//! the admin API read.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use jiff::Timestamp;

use crate::sip::Peer;

/// What is known about a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Not decided yet (no probe answered, fewer failures than the threshold): routable.
    Unknown,
    Up,
    /// Skipped by routing until enough probes succeed again.
    Down,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Up => "up",
            HealthState::Down => "down",
        }
    }
}

/// How one probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// 2xx or one of `health.alive_codes`.
    Alive { status: u16, rtt: Duration },
    /// Any other final status (408, 480, 5xx, 6xx...).
    BadStatus { status: u16, rtt: Duration },
    /// No final answer before Timer F (64*T1), or the transport failed.
    Timeout,
}

impl ProbeResult {
    /// The `result` label of `calltrack_probes_total`.
    pub fn label(self) -> &'static str {
        match self {
            ProbeResult::Alive { .. } => "success",
            ProbeResult::BadStatus { .. } => "bad_status",
            ProbeResult::Timeout => "timeout",
        }
    }
}

/// Consecutive results needed to change state; both at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failures_to_down: u32,
    pub successes_to_up: u32,
}

/// One destination's health, as routing and the admin API see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub peer: Peer,
    /// The Request-URI the probes carry.
    pub uri: String,
    pub state: HealthState,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Final status of the last answered probe (`None`: never answered or last one timed out).
    pub last_status: Option<u16>,
    pub last_rtt: Option<Duration>,
    pub last_probe_at: Option<Timestamp>,
    /// When `state` last changed (or the destination was first listed).
    pub since: Timestamp,
}

impl TargetHealth {
    pub fn new(peer: Peer, uri: String, at: Timestamp) -> TargetHealth {
        TargetHealth {
            peer,
            uri,
            state: HealthState::Unknown,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_status: None,
            last_rtt: None,
            last_probe_at: None,
            since: at,
        }
    }

    /// Counts one probe result; returns the new state when it changed.
    pub fn record(
        &mut self,
        result: ProbeResult,
        at: Timestamp,
        t: Thresholds,
    ) -> Option<HealthState> {
        self.last_probe_at = Some(at);
        let next = match result {
            ProbeResult::Alive { status, rtt } => {
                self.answered(status, rtt);
                self.consecutive_failures = 0;
                self.consecutive_successes = self.consecutive_successes.saturating_add(1);
                self.after_success(t)
            }
            ProbeResult::BadStatus { status, rtt } => {
                self.answered(status, rtt);
                self.failed(t)
            }
            ProbeResult::Timeout => {
                self.last_status = None;
                self.last_rtt = None;
                self.failed(t)
            }
        };
        (next != self.state).then(|| {
            self.state = next;
            self.since = at;
            next
        })
    }

    /// The target answered a call's INVITE (any response): it is alive, whatever the
    /// probes said. Clears a down mark at once (a call is stronger evidence than
    /// `successes_to_up` probes) and resets the failure count; returns the new state when
    /// it changed. Not a probe: `last_status`, `last_rtt` and `last_probe_at` stay.
    pub fn heard_from(&mut self, at: Timestamp) -> Option<HealthState> {
        self.consecutive_failures = 0;
        (self.state != HealthState::Up).then(|| {
            self.state = HealthState::Up;
            self.since = at;
            HealthState::Up
        })
    }

    fn answered(&mut self, status: u16, rtt: Duration) {
        self.last_status = Some(status);
        self.last_rtt = Some(rtt);
    }

    /// Unknown becomes up at the first success; down needs `successes_to_up` in a row.
    fn after_success(&self, t: Thresholds) -> HealthState {
        match self.state {
            HealthState::Down if self.consecutive_successes < t.successes_to_up => {
                HealthState::Down
            }
            _ => HealthState::Up,
        }
    }

    fn failed(&mut self, t: Thresholds) -> HealthState {
        self.consecutive_successes = 0;
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.consecutive_failures >= t.failures_to_down {
            HealthState::Down
        } else {
            self.state
        }
    }
}

/// Every probed destination by peer. Cheap to clone (shared); the prober is the only writer.
#[derive(Debug, Clone, Default)]
pub struct HealthTable(Arc<DashMap<Peer, TargetHealth>>);

impl HealthTable {
    /// Whether routing may use `peer`: anything not known to be down (an unprobed peer, or
    /// probing disabled, counts as up).
    pub fn is_up(&self, peer: &Peer) -> bool {
        self.0
            .get(peer)
            .is_none_or(|h| h.state != HealthState::Down)
    }

    /// One destination's health.
    pub fn get(&self, peer: &Peer) -> Option<TargetHealth> {
        self.0.get(peer).map(|h| h.clone())
    }

    /// Every destination, ordered by URI then address.
    pub fn snapshot(&self) -> Vec<TargetHealth> {
        let mut all: Vec<TargetHealth> = self.0.iter().map(|h| h.value().clone()).collect();
        all.sort_by(|a, b| (&a.uri, a.peer.addr).cmp(&(&b.uri, b.peer.addr)));
        all
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn insert(&self, health: TargetHealth) {
        self.0.insert(health.peer, health);
    }

    pub(super) fn update<R>(
        &self,
        peer: &Peer,
        f: impl FnOnce(&mut TargetHealth) -> R,
    ) -> Option<R> {
        self.0.get_mut(peer).map(|mut h| f(&mut h))
    }

    /// Every listed peer at `addr`, whatever the transport (a call may have moved to TCP).
    pub(super) fn peers_at(&self, addr: std::net::SocketAddr) -> Vec<Peer> {
        self.0
            .iter()
            .filter(|h| h.key().addr == addr)
            .map(|h| *h.key())
            .collect()
    }

    pub(super) fn retain(&self, keep: impl Fn(&Peer) -> bool) {
        self.0.retain(|peer, _| keep(peer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Transport;

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    const T: Thresholds = Thresholds {
        failures_to_down: 3,
        successes_to_up: 2,
    };
    const OK: ProbeResult = ProbeResult::Alive {
        status: 200,
        rtt: Duration::from_millis(12),
    };
    const BAD: ProbeResult = ProbeResult::BadStatus {
        status: 503,
        rtt: Duration::from_millis(3),
    };

    fn health() -> TargetHealth {
        let peer = Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap());
        TargetHealth::new(
            peer,
            "sip:127.0.0.1:5080".into(),
            ts("2026-01-01T00:00:00Z"),
        )
    }

    #[test]
    fn first_success_makes_unknown_up_and_failures_need_the_threshold() {
        let mut h = health();
        let at = ts("2026-01-01T00:01:00Z");
        assert_eq!(h.record(OK, at, T), Some(HealthState::Up));
        assert_eq!((h.last_status, h.since), (Some(200), at));
        assert_eq!(h.record(ProbeResult::Timeout, at, T), None);
        assert_eq!(h.record(BAD, at, T), None);
        assert_eq!(h.state, HealthState::Up);
        let later = ts("2026-01-01T00:02:00Z");
        assert_eq!(
            h.record(ProbeResult::Timeout, later, T),
            Some(HealthState::Down)
        );
        assert_eq!(
            (h.consecutive_failures, h.last_status, h.since),
            (3, None, later)
        );
    }

    #[test]
    fn down_needs_consecutive_successes_and_a_failure_resets_them() {
        let mut h = health();
        let at = ts("2026-01-01T00:01:00Z");
        for _ in 0..3 {
            h.record(BAD, at, T);
        }
        assert_eq!(h.state, HealthState::Down);
        assert_eq!(h.record(OK, at, T), None);
        assert_eq!(h.record(BAD, at, T), None);
        assert_eq!(h.record(OK, at, T), None);
        assert_eq!(h.record(OK, at, T), Some(HealthState::Up));
        assert_eq!(h.consecutive_failures, 0);
    }

    #[test]
    fn table_treats_unknown_and_unlisted_peers_as_up() {
        let table = HealthTable::default();
        let mut h = health();
        assert!(table.is_up(&h.peer));
        table.insert(h.clone());
        assert!(table.is_up(&h.peer));
        h.state = HealthState::Down;
        table.insert(h.clone());
        assert!(!table.is_up(&h.peer));
        assert_eq!(table.snapshot(), vec![h]);
    }
}
