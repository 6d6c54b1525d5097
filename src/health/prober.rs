//! The prober: sends one OPTIONS per destination every `interval` through the transaction
//! layer, counts each final answer or timeout, and publishes the result in the
//! [`HealthTable`]. Sans-IO: `now` and the wall-clock time are passed in.
//!
//! Invariant: at most one probe per destination is in flight. The next probe is due one
//! interval after the previous one was sent, but never before that one has ended (a peer
//! that never answers is probed every `max(interval, 64*T1)`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::config::HealthConfig;
use crate::sip::Peer;
use crate::sip::dialog::Ids;
use crate::sip::transaction::{TransactionLayer, TxId};

use crate::health::probe::{ProbeSender, options_request};
use crate::health::table::{HealthState, HealthTable, ProbeResult, TargetHealth, Thresholds};

/// What a probe round may use: the clock readings, the transaction layer and ids.
pub struct ProbeCtx<'a> {
    pub now: Instant,
    pub wall: Timestamp,
    pub layer: &'a mut TransactionLayer,
    pub ids: &'a mut Ids,
    pub sender: ProbeSender<'a>,
}

/// One probed destination's schedule.
#[derive(Debug)]
struct Destination {
    uri: String,
    next_probe: Instant,
    /// The probe on the wire and when it was sent.
    in_flight: Option<(TxId, Instant)>,
}

/// Schedules probes and turns their outcomes into health.
#[derive(Debug)]
pub struct Prober {
    config: HealthConfig,
    table: HealthTable,
    destinations: HashMap<Peer, Destination>,
    by_tx: HashMap<TxId, Peer>,
}

impl Prober {
    pub fn new(config: HealthConfig, table: HealthTable) -> Prober {
        Prober {
            config,
            table,
            destinations: HashMap::new(),
            by_tx: HashMap::new(),
        }
    }

    pub fn table(&self) -> &HealthTable {
        &self.table
    }

    /// New thresholds, interval and alive codes apply from the next probe on.
    pub fn set_config(&mut self, config: HealthConfig) {
        self.config = config;
    }

    /// Replaces the destination list (the first URI of each peer wins). Known peers keep
    /// their state and schedule; new ones are probed at once; gone ones are forgotten.
    /// With probing disabled the list is empty and every peer counts as up.
    pub fn set_destinations(&mut self, list: Vec<(Peer, String)>, now: Instant, wall: Timestamp) {
        let list = if self.config.enabled {
            list
        } else {
            Vec::new()
        };
        let mut wanted: HashMap<Peer, String> = HashMap::new();
        for (peer, uri) in list {
            wanted.entry(peer).or_insert(uri);
        }
        self.destinations
            .retain(|peer, _| wanted.contains_key(peer));
        self.by_tx.retain(|_, peer| wanted.contains_key(peer));
        self.table.retain(|peer| wanted.contains_key(peer));
        for (peer, uri) in wanted {
            let dest = self
                .destinations
                .entry(peer)
                .or_insert_with(|| Destination {
                    uri: uri.clone(),
                    next_probe: now,
                    in_flight: None,
                });
            dest.uri.clone_from(&uri);
            if self
                .table
                .update(&peer, |h| h.uri.clone_from(&uri))
                .is_none()
            {
                self.table.insert(TargetHealth::new(peer, uri, wall));
                publish_gauge(&peer, HealthState::Unknown);
            }
        }
    }

    /// When the next probe is due (`None`: nothing to probe).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.destinations
            .values()
            .filter(|d| d.in_flight.is_none())
            .map(|d| d.next_probe)
            .min()
    }

    /// Sends every probe that is due.
    pub fn handle_timeout(&mut self, ctx: &mut ProbeCtx<'_>) {
        let due: Vec<Peer> = self
            .destinations
            .iter()
            .filter(|(_, d)| d.in_flight.is_none() && d.next_probe <= ctx.now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            self.send_probe(ctx, peer);
        }
    }

    /// Whether `tx` is one of our probes (its events must not go to a call).
    pub fn owns(&self, tx: TxId) -> bool {
        self.by_tx.contains_key(&tx)
    }

    /// A response on a probe transaction; provisional ones and retransmissions are ignored.
    pub fn on_response(&mut self, now: Instant, wall: Timestamp, tx: TxId, status: u16) {
        if status < 200 {
            return;
        }
        let Some((peer, sent_at)) = self.finish(tx, now) else {
            return;
        };
        let rtt = now.saturating_duration_since(sent_at);
        let result = if self.config.is_alive(status) {
            ProbeResult::Alive { status, rtt }
        } else {
            ProbeResult::BadStatus { status, rtt }
        };
        self.record(peer, result, wall);
    }

    /// Timer F fired or the transport failed: the probe got no answer.
    pub fn on_timeout(&mut self, now: Instant, wall: Timestamp, tx: TxId) {
        if let Some((peer, _)) = self.finish(tx, now) {
            self.record(peer, ProbeResult::Timeout, wall);
        }
    }

    /// A target answered a call's INVITE: it is up again if it was marked down (see
    /// [`crate::health::TargetHealth::heard_from`]). Peers that are not probed are ignored.
    pub fn on_call_response(&mut self, peer: Peer, wall: Timestamp) {
        for listed in self.table.peers_at(peer.addr) {
            let change = self.table.update(&listed, |h| h.heard_from(wall)).flatten();
            if let Some(state) = change {
                publish_gauge(&listed, state);
                tracing::info!(peer = %listed, "forwarding target answered a call: up");
            }
        }
    }

    fn send_probe(&mut self, ctx: &mut ProbeCtx<'_>, peer: Peer) {
        let interval = self.config.interval;
        let Some(dest) = self.destinations.get_mut(&peer) else {
            return;
        };
        let request = options_request(&dest.uri, peer, ctx.sender, ctx.ids);
        match ctx.layer.send_request(ctx.now, request, peer) {
            Ok(tx) => {
                dest.in_flight = Some((tx, ctx.now));
                dest.next_probe = ctx.now + interval;
                self.by_tx.insert(tx, peer);
            }
            Err(error) => {
                tracing::warn!(%error, %peer, "health probe not sent");
                dest.next_probe = ctx.now + interval;
                self.record(peer, ProbeResult::Timeout, ctx.wall);
            }
        }
    }

    /// Ends the probe `tx`; the next one is due one interval after it was sent, or now.
    fn finish(&mut self, tx: TxId, now: Instant) -> Option<(Peer, Instant)> {
        let peer = self.by_tx.remove(&tx)?;
        let dest = self.destinations.get_mut(&peer)?;
        let (_, sent_at) = dest.in_flight.take()?;
        dest.next_probe = dest.next_probe.max(now);
        Some((peer, sent_at))
    }

    fn record(&mut self, peer: Peer, result: ProbeResult, wall: Timestamp) {
        metrics::counter!("calltrack_probes_total", "result" => result.label()).increment(1);
        let thresholds = self.thresholds();
        let Some(change) = self
            .table
            .update(&peer, |h| h.record(result, wall, thresholds))
        else {
            return;
        };
        if let Some(state) = change {
            publish_gauge(&peer, state);
            match state {
                HealthState::Down => tracing::warn!(%peer, ?result, "forwarding target is down"),
                _ => tracing::info!(%peer, ?result, "forwarding target is up"),
            }
        }
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            failures_to_down: self.config.failures_to_down,
            successes_to_up: self.config.successes_to_up,
        }
    }

    /// The probe interval (for Retry-After when a target is down).
    pub fn interval(&self) -> Duration {
        self.config.interval
    }
}

/// `calltrack_target_up{target="host:port"}`: 0 when down, 1 otherwise.
fn publish_gauge(peer: &Peer, state: HealthState) {
    let up = if state == HealthState::Down { 0.0 } else { 1.0 };
    metrics::gauge!("calltrack_target_up", "target" => peer.addr.to_string()).set(up);
}

#[cfg(test)]
#[path = "prober_tests.rs"]
mod tests;
