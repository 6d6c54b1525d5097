//! One shard of the SIP core as the transport driver sees it: the B2BUA plus what it feeds
//! (gauges, metrics, the heartbeat, the store backlog) and follows (the live config).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use jiff::Timestamp;

use super::backlog::StoreBacklog;
use super::now;
use super::relay_latency::RelayLatency;
use super::watchdog::{BEAT_EVERY, Heartbeat};
use crate::b2bua::{B2bua, CallEvent, Shared};
use crate::config::{Config, SharedConfig};
use crate::http::Gauges;
use crate::sip::dialog::LocalEndpoint;
use crate::sip::{Peer, Transmit};
use crate::store::StoreCommand;
use crate::telemetry::metrics::{self as ops_metrics, CoreMetrics};
use crate::transport::driver::Core;
use crate::transport::{Inbound, LocalAddrs};

/// The B2BUA as the transport driver sees it, plus the gauges HTTP reads, its metrics, the
/// live config it follows and the watchdog heartbeat it beats.
#[derive(Debug)]
pub(super) struct Engine {
    pub(super) b2bua: B2bua,
    gauges: Arc<Gauges>,
    metrics: CoreMetrics,
    live: SharedConfig,
    /// The config the core runs on; swapped when `live` changes (a reload).
    current: Arc<Config>,
    heartbeat: Heartbeat,
    next_beat: Instant,
    /// Call events not yet taken by the CDR writer: the overload guard's store signal.
    pub(super) backlog: StoreBacklog,
    relay: RelayLatency,
    /// This shard's calls as last added to `gauges.active_calls` (the shards' sum).
    published_calls: usize,
    /// Messages this shard was handed (`calltrack_core_messages_total{shard}`).
    messages: metrics::Counter,
}

impl Engine {
    pub(super) fn new(
        live: SharedConfig,
        shared: Shared,
        sip: &LocalAddrs,
        gauges: Arc<Gauges>,
        heartbeat: Heartbeat,
        backlog: StoreBacklog,
    ) -> Engine {
        let config = live.load_full();
        let local = LocalEndpoint {
            udp: sip.udp.first().copied(),
            tcp: sip.tcp.first().copied(),
            advertised_host: config.sip.advertised_host.clone(),
            advertised_port: config.sip.advertised_port,
        };
        let seed = rand::random::<u64>();
        let wall = Timestamp::now();
        let shard = shared.seat.index().to_string();
        let messages = metrics::counter!("calltrack_core_messages_total", "shard" => shard);
        let mut b2bua = B2bua::new(config.clone(), shared, local, now(), wall, seed);
        b2bua.set_prompts(load_prompts(&config));
        Engine {
            b2bua,
            gauges,
            metrics: CoreMetrics::default(),
            live,
            current: config,
            heartbeat,
            next_beat: now(),
            backlog,
            relay: RelayLatency::default(),
            published_calls: 0,
            messages,
        }
    }

    /// Before each input: follow a reloaded config (so one input sees one config) and beat.
    fn enter(&mut self, now: Instant) {
        let latest = self.live.load();
        if !Arc::ptr_eq(&latest, &self.current) {
            self.current = Arc::clone(&latest);
            self.b2bua.reload(self.current.clone());
            self.b2bua.set_prompts(load_prompts(&self.current));
            tracing::debug!("SIP core follows the reloaded config");
        }
        self.heartbeat.beat(now);
        if now >= self.next_beat {
            self.next_beat = now + BEAT_EVERY;
        }
    }

    fn publish(&mut self) {
        let calls = self.b2bua.active_calls();
        let gauge = &self.gauges.active_calls;
        if calls > self.published_calls {
            gauge.fetch_add(calls - self.published_calls, Ordering::Relaxed);
        } else {
            gauge.fetch_sub(self.published_calls - calls, Ordering::Relaxed);
        }
        self.published_calls = calls;
        self.metrics.observe(&self.b2bua);
    }
}

impl Core for Engine {
    type Event = StoreCommand;

    fn handle_inbound(&mut self, now: Instant, inbound: Inbound) {
        self.enter(now);
        self.messages.increment(1);
        self.b2bua
            .observe_queue_delay(now, now.saturating_duration_since(inbound.received));
        self.b2bua.observe_store_backlog(self.backlog.unwritten());
        let bridged = self.b2bua.stats().calls_bridged;
        self.b2bua.handle_datagram(now, inbound.bytes, inbound.peer);
        let relayed = self.b2bua.stats().calls_bridged - bridged;
        if relayed > 0 {
            self.relay
                .started(inbound.received, u32::try_from(relayed).unwrap_or(u32::MAX));
        }
        self.publish();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        self.b2bua.handle_timeout(now);
        self.publish();
    }

    fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        self.enter(now);
        self.b2bua.handle_transport_error(now, peer);
        self.publish();
    }

    /// When the input's last transmit has gone to the sockets, its relayed INVITEs are timed.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        let transmit = self.b2bua.poll_transmit();
        if transmit.is_none() {
            self.relay.sent(now());
        }
        transmit
    }

    fn poll_event(&mut self) -> Option<StoreCommand> {
        let event = self.b2bua.poll_event()?;
        self.backlog.emitted();
        if let CallEvent::Ended(cdr) = &event {
            ops_metrics::call_recorded(cdr.disposition.as_str());
        }
        Some(store_command(event))
    }

    /// The core's next timer, or the next heartbeat if that comes first.
    fn poll_timeout(&self) -> Option<Instant> {
        let core = self.b2bua.poll_timeout();
        Some(core.map_or(self.next_beat, |t| t.min(self.next_beat)))
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.enter(now);
        self.b2bua.begin_shutdown(now);
    }

    fn is_idle(&self) -> bool {
        self.b2bua.is_idle()
    }
}

fn store_command(event: CallEvent) -> StoreCommand {
    match event {
        CallEvent::Started(live) => StoreCommand::CallStarted(live),
        CallEvent::Answered { id, at } => StoreCommand::CallAnswered {
            id,
            answered_at: at,
        },
        CallEvent::Ended(cdr) => StoreCommand::CallEnded(cdr),
        CallEvent::Dialogs { id, dialogs } => StoreCommand::DialogsChanged { id, dialogs },
    }
}

/// The prompts `config` names, loaded once per config; a file that changed since validation
/// is logged and its announcement skipped.
fn load_prompts(config: &Config) -> Arc<crate::media::prompt_set::PromptSet> {
    let (set, problems) = crate::media::prompt_set::PromptSet::load(config);
    for problem in problems {
        tracing::error!(key = %problem.key, error = %problem.error, "prompt not loaded");
    }
    Arc::new(set)
}
