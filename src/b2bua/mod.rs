//! The B2BUA core: the transaction layer plus every call session, as one sans-IO state
//! machine. Datagrams and time go in; transmits and [`CallEvent`]s come out.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use jiff::Timestamp;

use crate::config::Config;
use crate::lease::LeaseTable;
use crate::media::MediaTable;
use crate::sip::dialog::{Ids, LocalEndpoint};
use crate::sip::message::{Limits, Method, Rejection, Screened, screen};
use crate::sip::transaction::{TransactionLayer, TxEvent, TxId};
use crate::sip::{Peer, SipMessage, Transmit};

use crate::call::history::CallerHistory;
use crate::edge::overload::OverloadGuard;
use crate::edge::{self, Edge, RequestVerdict, SharedFlood, blacklist::Blacklist};
use crate::health::{HealthTable, Prober};
use crate::routing::hosts::HostTable;
use crate::routing::rotation::Rotation;
use session::{CallSession, Leg};

mod audit;
mod bridge;
mod dialog_index;
pub mod event;
mod kept;
mod new_calls;
mod owners;
mod probing;
#[cfg(test)]
mod reack_tests;
mod recovered;
mod refusals;
mod seat;
pub(crate) mod session;
mod sessions;
mod voice_plans;

pub use event::{CallEvent, CallKey};
pub use owners::{Owners, WallClock};
pub use seat::ShardSeat;

/// Option tags calltrack honours in `Require` (it bridges PRACK and session refreshes).
pub const SUPPORTED: &[&str] = &["100rel", "timer"];
/// Methods calltrack accepts (the `Allow` header).
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY, MESSAGE";

/// Counters for the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls_bridged: u64,
    pub invites_rejected: u64,
    pub stateless_rejections: u64,
    pub discarded: u64,
    /// Calls the audit freed because they outlived their deadlines (see `audit.rs`).
    pub calls_reaped: u64,
}

/// What the core shares with other services or was seeded with at start-up.
#[derive(Debug)]
pub struct Shared {
    /// Resolved forwarding-target host names (the resolver service writes).
    pub hosts: HostTable,
    /// Visitor leases (the HTTP API and the sweeper write).
    pub leases: Arc<LeaseTable>,
    /// Earlier callers, loaded from the CDR table.
    pub history: CallerHistory,
    /// Refused callers (config file and admin API; the HTTP side writes).
    pub blacklist: Arc<Blacklist>,
    /// Forwarding-target health (the core's prober writes, routing and HTTP read).
    pub health: HealthTable,
    /// The flood guard (every shard checks it; its bans are read by the TCP accept loop).
    pub flood: SharedFlood,
    /// Round-robin rotation and stickiness (every shard's dialers).
    pub rotation: Rotation,
    /// Which shard this core is (its Call-IDs, probing, its part of the live-call count).
    pub seat: ShardSeat,
    /// The RTP relay's calls and ports (every shard writes SDP in, the media driver relays).
    pub media: Arc<MediaTable>,
}

impl Default for Shared {
    /// Nothing resolved, no pools, no history: for tests and tools.
    fn default() -> Self {
        Shared {
            hosts: HostTable::default(),
            leases: Arc::new(LeaseTable::new(Vec::new())),
            history: CallerHistory::new(None),
            blacklist: Arc::new(Blacklist::default()),
            health: HealthTable::default(),
            flood: SharedFlood::default(),
            rotation: Rotation::default(),
            seat: ShardSeat::default(),
            media: Arc::new(MediaTable::default()),
        }
    }
}

/// The whole SIP side of calltrack, without I/O.
#[derive(Debug)]
pub struct B2bua {
    config: Arc<Config>,
    hosts: HostTable,
    leases: Arc<LeaseTable>,
    history: CallerHistory,
    blacklist: Arc<Blacklist>,
    media: Arc<MediaTable>,
    /// The prompts the config names, loaded by the app (see `media::prompt_set`).
    prompts: Arc<crate::media::prompt_set::PromptSet>,
    edge: Edge,
    /// Refuses new INVITEs before any state while the core or the store is behind.
    overload: OverloadGuard,
    limits: Limits,
    layer: TransactionLayer,
    ids: Ids,
    local: LocalEndpoint,
    clock: WallClock,
    /// Boxed: a session is about 2 KB, moved out and back for every event it handles, and
    /// the map keeps spare slots; boxed, both cost a pointer.
    sessions: HashMap<CallKey, Box<CallSession>>,
    owners: Owners,
    /// Our dialogs by (Call-ID, local tag).
    dialogs: dialog_index::DialogIndex,
    /// Sessions whose call is over (CDR written), only cleaning up: they do not count
    /// against `max_concurrent_calls`.
    over: HashSet<CallKey>,
    /// When the audit of live calls runs next (see `audit.rs`).
    next_audit: Instant,
    rotation: Rotation,
    deadlines: BinaryHeap<Reverse<(Instant, CallKey)>>,
    armed: HashMap<CallKey, Instant>,
    events: VecDeque<CallEvent>,
    next_key: u64,
    /// Keys step by the shard count from the shard's index, so that a call's key is unique
    /// across shards (the media table, shared by every shard, is keyed by it).
    key_step: u64,
    shutting_down: bool,
    grace_ends: Option<Instant>,
    stats: CallStats,
    /// OPTIONS probing of forwarding targets (see `probing.rs`).
    prober: Prober,
    /// When the probe destinations are listed again (names resolved since).
    probes_refresh: Instant,
    /// The latest `now` seen, for inputs that carry none (reload).
    last_now: Instant,
    /// Calls a crash interrupted, being hung up (see `recovered.rs`).
    recovered: recovered::Recovered,
    /// Fingerprint of each answered call's dialogs as last reported (see `kept.rs`).
    kept: HashMap<CallKey, u64>,
    seat: ShardSeat,
}

impl B2bua {
    /// `hosts` holds resolved forwarding-target names; `now`/`wall` anchor the wall clock;
    /// `seed` feeds tags, branches and Call-IDs.
    pub fn new(
        config: Arc<Config>,
        shared: Shared,
        local: LocalEndpoint,
        now: Instant,
        wall: Timestamp,
        seed: u64,
    ) -> B2bua {
        let layer = TransactionLayer::new(audit::layer_timers(&config));
        let limits = Limits {
            max_message_bytes: config.sip.max_message_bytes,
            max_headers: config.sip.max_headers,
        };
        let prober = Prober::new(config.health.clone(), shared.health);
        let mut core = B2bua {
            edge: Edge::new(&config, shared.flood),
            overload: OverloadGuard::new(&config),
            config,
            hosts: shared.hosts,
            leases: shared.leases,
            history: shared.history,
            blacklist: shared.blacklist,
            media: shared.media,
            prompts: Arc::default(),
            limits,
            layer,
            ids: Ids::for_shard(seed, shared.seat.index(), shared.seat.count()),
            local,
            clock: WallClock::new(now, wall),
            sessions: HashMap::new(),
            owners: Owners::default(),
            dialogs: dialog_index::DialogIndex::default(),
            over: HashSet::new(),
            next_audit: now + audit::AUDIT_EVERY,
            rotation: shared.rotation,
            deadlines: BinaryHeap::new(),
            armed: HashMap::new(),
            events: VecDeque::new(),
            next_key: shared.seat.index() as u64,
            key_step: shared.seat.count().max(1) as u64,
            shutting_down: false,
            grace_ends: None,
            stats: CallStats::default(),
            prober,
            probes_refresh: now,
            last_now: now,
            recovered: Default::default(),
            kept: HashMap::new(),
            seat: shared.seat,
        };
        core.refresh_probes(now);
        core
    }

    /// Swaps in a new configuration: live calls keep what they were set up with, new calls
    /// follow the new one.
    pub fn reload(&mut self, config: Arc<Config>) {
        self.edge.reload(&config);
        self.overload.reload(&config);
        self.blacklist.replace_config(&config.blacklist);
        self.prober.set_config(config.health.clone());
        self.layer.set_timer_c(audit::layer_timers(&config).c);
        self.config = config;
        self.refresh_probes(self.last_now);
    }

    /// The prompts of the current config (at start and after each reload; the app loads
    /// them, so the core never reads a file).
    pub fn set_prompts(&mut self, prompts: Arc<crate::media::prompt_set::PromptSet>) {
        self.prompts = prompts;
    }

    /// Calls in memory, including those that are over and only cleaning up.
    pub fn active_calls(&self) -> usize {
        self.sessions.len()
    }

    /// Calls not over yet (no CDR written) in this shard.
    pub fn live_calls(&self) -> usize {
        self.sessions.len() - self.over.len()
    }

    /// Live calls of every shard: what `max_concurrent_calls` limits.
    fn live_calls_everywhere(&self) -> usize {
        self.live_calls() + self.seat.others()
    }

    /// Tells the other shards how many calls this one holds (after every input).
    fn publish_live_calls(&self) {
        self.seat.publish(self.live_calls());
    }

    pub fn stats(&self) -> CallStats {
        self.stats
    }

    pub fn transactions(&self) -> &TransactionLayer {
        &self.layer
    }

    // ---- inputs ----------------------------------------------------------------------

    /// One datagram or framed stream message from `peer`.
    /// The edge (flood guard, scanner list, source ACL) sees it first.
    pub fn handle_datagram(&mut self, now: Instant, bytes: Bytes, peer: Peer) {
        self.last_now = now;
        if !self.edge.admit_packet(now, &self.config, peer) {
            return;
        }
        match screen(bytes, &self.limits, SUPPORTED) {
            Screened::Request(msg) => match edge::admit_request(&self.config, &msg, peer) {
                RequestVerdict::Pass if self.shed_new_call(&msg, peer) => {}
                RequestVerdict::Pass => self.admit_in_dialog(now, msg, peer),
                RequestVerdict::Drop => {}
                RequestVerdict::Refuse(rejection) => self.reject_stateless(&msg, peer, &rejection),
            },
            Screened::Response(_) if !edge::admit_response(&self.config, peer) => {}
            Screened::Response(msg) => self.layer.handle_response(now, msg, peer),
            Screened::Reject(msg, rejection) => self.reject_stateless(&msg, peer, &rejection),
            Screened::Discard(why) => {
                self.stats.discarded += 1;
                tracing::debug!(%peer, why, "message discarded");
            }
        }
        self.drain_layer(now);
        self.publish_live_calls();
    }

    /// The message handed in next waited `waited` between its socket and the core (the
    /// overload guard's queue-delay signal).
    pub fn observe_queue_delay(&mut self, now: Instant, waited: std::time::Duration) {
        self.overload.observe_wait(now, waited);
    }

    /// Call events handed out and not yet taken by the CDR writer (the guard's store signal).
    pub fn observe_store_backlog(&mut self, backlog: usize) {
        self.overload.observe_store_backlog(backlog);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.layer.handle_timeout(now);
        self.drain_layer(now);
        self.fire_deadlines(now);
        self.run_audit(now);
        self.run_probes(now);
        self.run_recovered(now);
        if self.grace_ends.is_some_and(|t| t <= now) {
            self.grace_ends = None;
            self.terminate_all(now);
        }
        self.publish_live_calls();
    }

    pub fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        self.last_now = now;
        self.layer.handle_transport_error(now, peer);
        self.drain_layer(now);
        self.publish_live_calls();
    }

    /// New INVITEs get 503 from now on; live calls may finish until the grace period ends,
    /// then they are hung up (and recorded).
    pub fn begin_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        self.grace_ends = Some(now + self.config.calls.shutdown_grace);
    }

    /// No call a shutdown should wait for is left: calls that are over and only wait for a
    /// silent peer's answer to a CANCEL or a relayed request do not count.
    pub fn is_idle(&self) -> bool {
        self.live_calls() == 0 && self.sessions.values().all(|s| !s.holds_up_shutdown())
    }

    /// The process stops and can signal no more: every live call is recorded as it stands.
    pub fn abandon_all(&mut self, now: Instant) {
        let keys: Vec<CallKey> = self.sessions.keys().copied().collect();
        for key in keys {
            self.with_session(key, now, |s, ctx| s.abandon(ctx));
            self.remove_session(key, now);
        }
    }

    // ---- outputs ---------------------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.layer.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let session = self.deadlines.peek().map(|Reverse((t, _))| *t);
        [
            self.layer.poll_timeout(),
            session,
            self.grace_ends,
            self.probe_timeout(),
            self.recovered.poll_timeout(self.last_now),
            self.audit_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- dispatch --------------------------------------------------------------------

    fn drain_layer(&mut self, now: Instant) {
        while let Some(event) = self.layer.poll_event() {
            self.on_tx_event(now, event);
        }
    }

    fn on_tx_event(&mut self, now: Instant, event: TxEvent) {
        match event {
            TxEvent::Request { tx, request, peer } => self.on_request(now, tx, request, peer),
            TxEvent::Cancel { invite_tx, .. } => {
                self.with_owner(invite_tx, now, |s, ctx| s.on_cancel(ctx, invite_tx));
            }
            TxEvent::Ack { request, .. } => self.on_ack(now, request),
            TxEvent::Response {
                tx,
                response,
                retransmission,
            } if self.prober.owns(tx) => {
                if !retransmission {
                    self.on_probe_response(now, tx, &response);
                }
            }
            TxEvent::Timeout { tx } if self.prober.owns(tx) => self.on_probe_timeout(now, tx),
            TxEvent::Response { tx, response, .. } if self.recovered.owns(tx) => {
                self.on_recovered_bye(now, tx, response.status());
            }
            TxEvent::Timeout { tx } if self.recovered.owns(tx) => {
                self.on_recovered_bye(now, tx, None);
            }
            TxEvent::Response {
                tx,
                response,
                retransmission,
            } => {
                self.note_call_response(now, tx);
                self.with_owner(tx, now, |s, ctx| {
                    s.on_response(ctx, tx, response, retransmission)
                });
            }
            TxEvent::Timeout { tx } => self.with_owner(tx, now, |s, ctx| s.on_timeout(ctx, tx)),
            TxEvent::AckTimeout { tx } => {
                self.with_owner(tx, now, |s, ctx| s.on_ack_timeout(ctx, tx));
            }
        }
    }

    fn on_request(&mut self, now: Instant, tx: TxId, request: SipMessage, peer: Peer) {
        if let Some((key, leg)) = self.dialog_of(&request) {
            self.with_session(key, now, |s, ctx| s.on_request(ctx, leg, tx, request, peer));
            return;
        }
        let in_dialog = request.to().ok().and_then(|t| t.tag()).is_some();
        if in_dialog && self.answer_recovered(now, tx, &request, peer) {
            return;
        }
        match request.method() {
            _ if in_dialog => self.respond_status(now, tx, &request, peer, 481),
            Some(Method::Invite) => self.on_new_invite(now, tx, request, peer),
            Some(Method::Options) => self.answer_options(now, tx, &request, peer),
            Some(Method::Cancel | Method::Bye | Method::Prack) => {
                self.respond_status(now, tx, &request, peer, 481);
            }
            Some(Method::Extension(_)) => self.respond_status(now, tx, &request, peer, 501),
            _ => self.respond_status(now, tx, &request, peer, 405),
        }
    }

    fn on_ack(&mut self, now: Instant, ack: SipMessage) {
        if let Some((key, leg)) = self.dialog_of(&ack) {
            self.with_session(key, now, |s, ctx| s.on_ack(ctx, leg, ack));
        }
    }

    /// One rule for every request inside a call's dialogs, ACK included, before the
    /// transaction layer sees it: it must come from the leg's side (the A leg from a carrier,
    /// the B leg from the PBX). Others get a stateless 403, and an ACK is dropped, so it
    /// neither confirms a 2xx nor stops its retransmissions. With Record-Route echoed, a
    /// caller behind a record-routing proxy sends them through the proxy, which is trusted.
    fn admit_in_dialog(&mut self, now: Instant, msg: SipMessage, peer: Peer) {
        let outside = self
            .dialog_of(&msg)
            .is_some_and(|(_, leg)| !edge::side_source_ok(&self.config, leg.side(), peer));
        if !outside {
            return self.layer.handle_request(now, msg, peer);
        }
        metrics::counter!("calltrack_untrusted_dropped_total", "kind" => "in_dialog").increment(1);
        tracing::debug!(%peer, "in-dialog request from outside the leg's trusted networks refused");
        if msg.method() != Some(&Method::Ack) {
            let rejection = Rejection::new(403, "Forbidden").because("untrusted");
            self.reject_stateless(&msg, peer, &rejection);
        }
    }

    /// `(Call-ID, To tag)` names our side of a dialog.
    fn dialog_of(&self, request: &SipMessage) -> Option<(CallKey, Leg)> {
        let call_id = request.call_id()?;
        let tag = request.to().ok()?.tag()?;
        self.dialogs.get(call_id, tag)
    }
}
