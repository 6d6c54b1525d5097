//! Prometheus metrics: installs the exporter's recorder once per process, renders the text
//! format for `GET /metrics`, and publishes what the SIP core and the lease table count.
//!
//! Everything else records through the `metrics` facade (`metrics::counter!`, ...). The core's
//! own counters (`CallStats`, `TxStats`) are turned into Prometheus counters here, by deltas,
//! after each input the driver feeds it: a few atomic adds per message, no lookups.

use std::sync::OnceLock;

use jiff::Timestamp;
use metrics::{Counter, Gauge, counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::b2bua::B2bua;
use crate::b2bua::CallStats;
use crate::lease::LeaseTable;
use crate::sip::transaction::TxStats;

/// The Prometheus text exposition format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets for the CDR batch commit latency, in seconds (100 µs .. 5 s).
const WRITE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets for INVITE in → B-leg INVITE out, in seconds (25 µs .. 1 s): fine below 1 ms, where
/// the p99 target lies, coarse above, where only overload goes.
const RELAY_BUCKETS: &[f64] = &[
    0.000025, 0.00005, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015,
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes
/// `/metrics` (the exporter keeps raw samples until then).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the global `metrics` recorder, once per process; later
/// calls (several servers in one test binary) reuse it. `None` when another recorder was
/// installed first (then `/metrics` answers 503).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(build_and_install).as_ref()
}

fn build_and_install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("calltrack_cdr_write_seconds".into()),
            WRITE_BUCKETS,
        )
        .ok()?
        .set_buckets_for_metric(
            Matcher::Full("calltrack_invite_relay_seconds".into()),
            RELAY_BUCKETS,
        )
        .ok()?;
    match builder.install_recorder() {
        Ok(handle) => {
            describe();
            Some(handle)
        }
        Err(error) => {
            tracing::warn!(%error, "Prometheus recorder not installed; /metrics disabled");
            None
        }
    }
}

/// The current metrics in the text format; `None` when no recorder is installed.
pub fn render() -> Option<String> {
    let handle = install()?;
    handle.run_upkeep();
    Some(handle.render())
}

/// The upkeep service: folds histogram samples into buckets every few seconds until `stop`,
/// so that memory stays flat between scrapes of `/metrics`.
pub async fn run_upkeep(stop: tokio_util::sync::CancellationToken) {
    let Some(handle) = install() else {
        return;
    };
    let mut every = crate::shutdown::Every::new(UPKEEP_EVERY, stop);
    while every.tick().await {
        handle.run_upkeep();
    }
}

/// HELP lines for the metrics this crate records.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "calltrack_calls_total",
        "Calls recorded (one per CDR), by disposition"
    );
    describe_gauge!("calltrack_active_calls", "Calls in progress");
    describe_counter!(
        "calltrack_core_messages_total",
        "SIP messages handed to each shard of the core (label shard): how evenly Call-IDs spread"
    );
    describe_gauge!("calltrack_transactions", "Live SIP transactions");
    describe_counter!(
        "calltrack_transactions_created_total",
        "SIP transactions created"
    );
    describe_counter!(
        "calltrack_retransmissions_total",
        "SIP retransmissions: sent by our timers, or absorbed (duplicates from peers)"
    );
    describe_counter!(
        "calltrack_messages_discarded_total",
        "Inbound messages dropped unanswered (unparseable, stray responses, no Via)"
    );
    describe_counter!(
        "calltrack_parse_errors_total",
        "Malformed requests answered statelessly with 400/420/..."
    );
    describe_counter!(
        "calltrack_transaction_timeouts_total",
        "Client transactions that timed out (Timer B/C/F, 64*T1 after a CANCEL, or transport error)"
    );
    describe_counter!(
        "calltrack_calls_reaped_total",
        "Calls freed by the audit because they outlived their deadlines (ring timeout or max_call_secs plus teardown)"
    );
    describe_counter!(
        "calltrack_invites_rejected_total",
        "New INVITEs refused, by SIP status"
    );
    describe_gauge!("calltrack_pool_numbers", "Numbers in a dynamic pool");
    describe_gauge!(
        "calltrack_pool_leased",
        "Pool numbers held by a visitor lease"
    );
    describe_gauge!(
        "calltrack_pool_estimated_accuracy",
        "Estimated share of the last 24 h of calls to a pool attributed to the right visitor (mean confidence; unheld and reserve calls count 0), refreshed every 10 min; NaN without calls"
    );
    describe_gauge!(
        "calltrack_pool_utilisation_ratio",
        "Leased share of a pool (leased / numbers)"
    );
    describe_counter!(
        "calltrack_pool_exhausted_total",
        "Visitors shown the reserve number because the pool was exhausted"
    );
    describe_counter!(
        "calltrack_overflow_codes_issued_total",
        "Overflow codes issued to visitors of a site whose pools were exhausted"
    );
    describe_gauge!(
        "calltrack_overflow_codes_live",
        "Overflow codes bound to a visitor session now, per site"
    );
    describe_gauge!(
        "calltrack_numbers_quarantined",
        "Pool numbers quarantined by leak detection (ringing while nobody holds them), per pool"
    );
    describe_counter!(
        "calltrack_numbers_quarantined_total",
        "Pool numbers quarantined by leak detection since the start"
    );
    describe_gauge!(
        "calltrack_cdr_queue_depth",
        "Store commands queued for the CDR writer"
    );
    describe_histogram!(
        "calltrack_cdr_write_seconds",
        metrics::Unit::Seconds,
        "Time to apply and commit one CDR batch"
    );
    describe_pg_spool_metrics();
    describe_histogram!(
        "calltrack_invite_relay_seconds",
        metrics::Unit::Seconds,
        "From reading a new call's INVITE off the socket to handing its B-leg INVITE to the socket"
    );
    describe_counter!(
        "calltrack_config_reloads_total",
        "Config reloads (SIGHUP), by result"
    );
    describe_counter!(
        "calltrack_dial_attempts_total",
        "INVITEs sent to distribution targets, by scheme"
    );
    describe_counter!(
        "calltrack_dial_answered_total",
        "Calls answered, by scheme and 1-based step"
    );
    describe_counter!(
        "calltrack_digest_answers_total",
        "INVITEs re-sent with digest credentials after a 401/407"
    );
    crate::edge::describe_metrics();
    crate::transport::describe_metrics();
    crate::media::describe_metrics();
    describe_speech_metrics();
}

/// Handles to the core's metrics, registered once, and the counts already published. Each
/// shard of the core has its own and publishes changes only, so the series sum the shards.
#[derive(Debug)]
pub struct CoreMetrics {
    active_calls: Gauge,
    transactions: Gauge,
    tx_created: Counter,
    retrans_sent: Counter,
    retrans_absorbed: Counter,
    discarded: Counter,
    parse_errors: Counter,
    tx_timeouts: Counter,
    calls_reaped: Counter,
    seen: Seen,
}

/// The core's cumulative counts at the last publish.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    calls: CallStats,
    tx: TxStats,
    created: u64,
    /// Calls in memory and live transactions (gauges).
    active: usize,
    live_tx: usize,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        let retrans =
            |kind: &'static str| counter!("calltrack_retransmissions_total", "kind" => kind);
        CoreMetrics {
            active_calls: gauge!("calltrack_active_calls"),
            transactions: gauge!("calltrack_transactions"),
            tx_created: counter!("calltrack_transactions_created_total"),
            retrans_sent: retrans("sent"),
            retrans_absorbed: retrans("absorbed"),
            discarded: counter!("calltrack_messages_discarded_total"),
            parse_errors: counter!("calltrack_parse_errors_total"),
            tx_timeouts: counter!("calltrack_transaction_timeouts_total"),
            calls_reaped: counter!("calltrack_calls_reaped_total"),
            seen: Seen::default(),
        }
    }
}

impl CoreMetrics {
    /// Publishes what changed in the core since the last call.
    pub fn observe(&mut self, b2bua: &B2bua) {
        let layer = b2bua.transactions();
        let now = Seen {
            calls: b2bua.stats(),
            tx: layer.stats(),
            created: layer.created(),
            active: b2bua.active_calls(),
            live_tx: layer.len(),
        };
        let was = std::mem::replace(&mut self.seen, now);
        shift(&self.active_calls, was.active, now.active);
        shift(&self.transactions, was.live_tx, now.live_tx);
        add(&self.tx_created, was.created, now.created);
        add(
            &self.retrans_sent,
            was.tx.retransmissions_sent,
            now.tx.retransmissions_sent,
        );
        add(
            &self.retrans_absorbed,
            was.tx.retransmissions_absorbed,
            now.tx.retransmissions_absorbed,
        );
        let dropped = |s: &Seen| s.calls.discarded + s.tx.stray_responses + s.tx.dropped_requests;
        add(&self.discarded, dropped(&was), dropped(&now));
        add(
            &self.parse_errors,
            was.calls.stateless_rejections,
            now.calls.stateless_rejections,
        );
        add(&self.tx_timeouts, was.tx.timeouts, now.tx.timeouts);
        add(
            &self.calls_reaped,
            was.calls.calls_reaped,
            now.calls.calls_reaped,
        );
    }
}

/// Moves a gauge that several shards add to by this shard's change.
fn shift(gauge: &Gauge, was: usize, now: usize) {
    if now > was {
        gauge.increment((now - was) as f64);
    } else if was > now {
        gauge.decrement((was - now) as f64);
    }
}

fn add(counter: &Counter, was: u64, now: u64) {
    if now > was {
        counter.increment(now - was);
    }
}

/// One CDR was produced.
pub fn call_recorded(disposition: &'static str) {
    counter!("calltrack_calls_total", "disposition" => disposition).increment(1);
}

/// Sets every pool's gauges from the lease table (called at scrape time).
pub fn publish_pools(leases: &LeaseTable, now: Timestamp) {
    for pool in leases.stats(now) {
        let labels = [("site", pool.site), ("pool", pool.pool)];
        let ratio = if pool.size == 0 {
            0.0
        } else {
            pool.leased as f64 / pool.size as f64
        };
        gauge!("calltrack_pool_numbers", &labels).set(pool.size as f64);
        gauge!("calltrack_pool_leased", &labels).set(pool.leased as f64);
        gauge!("calltrack_pool_utilisation_ratio", &labels).set(ratio);
        counter!("calltrack_pool_exhausted_total", &labels).absolute(pool.exhausted_total);
        gauge!("calltrack_numbers_quarantined", &labels).set(pool.quarantined as f64);
    }
    for (site, live) in leases.codes().live_by_site() {
        gauge!("calltrack_overflow_codes_live", "site" => site).set(live as f64);
    }
    counter!("calltrack_numbers_quarantined_total").absolute(leases.quarantined_total());
}

/// A pool's estimated attribution accuracy (`app::accuracy`); NaN without calls.
pub fn pool_estimated_accuracy(site: &str, pool: &str, estimate: Option<f64>) {
    let labels = [("site", site.to_owned()), ("pool", pool.to_owned())];
    gauge!("calltrack_pool_estimated_accuracy", &labels).set(estimate.unwrap_or(f64::NAN));
}

/// The PostgreSQL store's spool (`store::pg::spool` records them).
fn describe_pg_spool_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "calltrack_pg_spooled_commands_total",
        "Store commands written to the local spool file while PostgreSQL was unreachable"
    );
    describe_gauge!(
        "calltrack_pg_spool_depth",
        "Store commands in the local spool file waiting for PostgreSQL"
    );
    describe_counter!(
        "calltrack_pg_replayed_commands_total",
        "Spooled store commands replayed into PostgreSQL"
    );
    describe_counter!(
        "calltrack_pg_rejected_commands_total",
        "Store commands PostgreSQL refused with a SQL error, kept in the spool file's rejected table"
    );
}

/// The CDR writer's queue holds `depth` commands.
pub fn cdr_queue_depth(depth: usize) {
    gauge!("calltrack_cdr_queue_depth").set(depth as f64);
}

/// The speech service's HELP lines (`speech::service` records them).
fn describe_speech_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "calltrack_speech_queue_depth",
        "Recorded calls waiting for a transcript (due now or retried later)"
    );
    describe_gauge!(
        "calltrack_speech_lag_seconds",
        "How long the oldest waiting recording has waited since its call ended"
    );
    describe_counter!(
        "calltrack_speech_attempts_total",
        "Transcription attempts by result: done, retry (later) or failed (given up)"
    );
    describe_counter!(
        "calltrack_speech_audio_seconds_total",
        "Seconds of audio sent to the engine (per channel)"
    );
    describe_histogram!(
        "calltrack_speech_engine_seconds",
        "Time the engine took per channel; its sum over the audio seconds is the real-time factor"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_twice_reuses_the_first_recorder() {
        let first = install().map(|h| h as *const PrometheusHandle);
        let second = install().map(|h| h as *const PrometheusHandle);
        assert!(first.is_some());
        assert_eq!(first, second);
    }

    #[test]
    fn rendered_text_carries_recorded_counters() {
        install();
        call_recorded("busy");
        call_recorded("busy");
        let text = render().unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("calltrack_calls_total{disposition=\"busy\"}"))
            .unwrap_or_else(|| panic!("no busy line in:\n{text}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 2.0, "{line}");
    }
}
