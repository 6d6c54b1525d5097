//! The SIP transaction layer (RFC 3261 §17, amended by RFC 6026): matches messages to
//! transactions, absorbs retransmissions, retransmits on timers and reports to the TU.
//!
//! Sans-IO (quinn-proto style): messages and `now` go in through `handle_*`, `send_*` and
//! `respond`; datagrams, events and the next deadline come out through `poll_*`. The driver
//! feeds input, sleeps until [`TransactionLayer::poll_timeout`], calls
//! [`TransactionLayer::handle_timeout`] and drains the outputs. Nothing here reads a clock.
//!
//! Invariants: a terminated transaction is removed at once, together with its index entries
//! (§17.1.1.2: "The client transaction MUST be destroyed the instant it enters the
//! Terminated state"); cancelled timers are skipped lazily and pruned, so memory follows the
//! number of live transactions, not time.

mod client;
mod key;
mod outbox;
mod server;
mod timers;

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use thiserror::Error;

use crate::sip::message::{Method, SipMessage, response_to};
use crate::sip::peer::{Peer, Transmit};
use client::ClientTx;
use key::{AckKey, ClientKey, ServerKey};
use outbox::{Ctx, Outbox};
use server::ServerTx;
use timers::{Armed, TimerKind, TxTimers};

pub use timers::TimerConfig;

/// Names one transaction for the lifetime of the layer (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(u64);

impl TxId {
    /// The raw number, for logs and metrics.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// The states of Figures 5-8 of RFC 3261, plus Accepted (RFC 6026 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// What the layer tells the transaction user.
#[derive(Debug)]
pub enum TxEvent {
    /// A request that created a new server transaction (any method but ACK; a CANCEL that
    /// matches no INVITE server transaction also arrives here). For INVITE the layer has
    /// already sent 100 Trying (built with `response_to`).
    Request {
        tx: TxId,
        request: SipMessage,
        peer: Peer,
    },
    /// A CANCEL matching a live INVITE server transaction (RFC 3261 §9.2): the layer already
    /// answered 200 OK to the CANCEL itself. If the INVITE transaction has no final response
    /// yet, the TU must answer it 487 (via `respond`) and cancel its own downstream work.
    Cancel {
        invite_tx: TxId,
        cancel: SipMessage,
        peer: Peer,
    },
    /// An ACK that is not absorbed by a server transaction (the ACK for a 2xx, end to end).
    /// `invite_tx` is the accepted INVITE server transaction it acknowledges, when known
    /// (matched by Call-ID + CSeq number + From tag). Retransmitted ACKs arrive here too.
    Ack {
        request: SipMessage,
        peer: Peer,
        invite_tx: Option<TxId>,
    },
    /// A response for a client transaction: provisional or final. `retransmission` is true
    /// for a repeated 2xx to an INVITE (RFC 6026 Accepted state).
    Response {
        tx: TxId,
        response: SipMessage,
        retransmission: bool,
    },
    /// Timer B or F fired, or a transport error hit the transaction: treat as 408/503
    /// (§17.1.4, §8.1.3.1).
    Timeout { tx: TxId },
    /// A 2xx we sent for an INVITE was never ACKed within 64*T1 (§13.3.1.4): the TU should
    /// end the dialog (BYE).
    AckTimeout { tx: TxId },
}

/// Why a TU call was refused. Nothing is sent when an error is returned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxError {
    #[error("no live transaction {0}")]
    UnknownTransaction(TxId),
    #[error("transaction {0} cannot do that in state {1:?}")]
    InvalidState(TxId, TxState),
    #[error("transaction {0} has the other role (client vs server)")]
    WrongRole(TxId),
    #[error("request has no top Via with an RFC 3261 branch (z9hG4bK...)")]
    MissingBranch,
    #[error("a client transaction with this branch and method is already live")]
    DuplicateBranch,
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
}

/// Counters for metrics; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Requests and responses re-sent by timers or in answer to a retransmission.
    pub retransmissions_sent: u64,
    /// Retransmitted requests and responses the layer absorbed.
    pub retransmissions_absorbed: u64,
    /// Responses that matched no client transaction (§17.1.3, RFC 6026 §7.2).
    pub stray_responses: u64,
    /// Client transactions that failed: Timer B, Timer F or a transport error.
    pub timeouts: u64,
    /// Server INVITE transactions whose final response was never ACKed (Timer H, or
    /// Timer L without the 2xx ACK).
    pub ack_timeouts: u64,
    /// Requests without a usable Via or CSeq (the receive path should screen them out).
    pub dropped_requests: u64,
}

/// One live transaction.
#[derive(Debug)]
enum Machine {
    Server(ServerTx),
    Client(ClientTx),
}

impl Machine {
    fn state(&self) -> TxState {
        match self {
            Machine::Server(tx) => tx.state(),
            Machine::Client(tx) => tx.state(),
        }
    }

    fn timers(&self) -> &TxTimers {
        match self {
            Machine::Server(tx) => tx.timers(),
            Machine::Client(tx) => tx.timers(),
        }
    }

    fn timers_mut(&mut self) -> &mut TxTimers {
        match self {
            Machine::Server(tx) => tx.timers_mut(),
            Machine::Client(tx) => tx.timers_mut(),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, kind: TimerKind) {
        match self {
            Machine::Server(tx) => tx.on_timer(ctx, kind),
            Machine::Client(tx) => tx.on_timer(ctx, kind),
        }
    }
}

/// All transactions of one SIP endpoint, with their indexes and output queues.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    next_id: u64,
    txs: HashMap<TxId, Machine>,
    server_keys: HashMap<ServerKey, TxId>,
    client_keys: HashMap<ClientKey, TxId>,
    /// Server INVITE transactions by Call-ID + CSeq number + From tag, for 2xx ACKs.
    ack_keys: HashMap<AckKey, TxId>,
    out: Outbox,
}

impl TransactionLayer {
    pub fn new(timers: TimerConfig) -> Self {
        TransactionLayer {
            config: timers,
            next_id: 0,
            txs: HashMap::new(),
            server_keys: HashMap::new(),
            client_keys: HashMap::new(),
            ack_keys: HashMap::new(),
            out: Outbox::default(),
        }
    }

    /// A screened request from the network (already validated). Retransmissions are absorbed
    /// here (re-sending the last response); ACKs for non-2xx finals are absorbed
    /// (Completed -> Confirmed).
    pub fn handle_request(&mut self, now: Instant, request: SipMessage, peer: Peer) {
        let Some(key) = ServerKey::for_request(&request) else {
            self.out.stats.dropped_requests += 1;
            return;
        };
        match request.method() {
            Some(Method::Ack) => self.on_ack(now, request, peer, &key),
            Some(Method::Cancel) => self.on_cancel(now, request, peer, key),
            _ => self.on_request(now, request, peer, key),
        }
        self.prune_timers();
    }

    /// A screened response; matched by top Via branch + CSeq method (§17.1.3); stray
    /// responses are dropped (counted).
    pub fn handle_response(&mut self, now: Instant, response: SipMessage, _peer: Peer) {
        let status_ok = response.status().is_some_and(|s| (100..700).contains(&s));
        let id = ClientKey::for_response(&response)
            .filter(|_| status_ok)
            .and_then(|key| self.client_keys.get(&key).copied());
        match id {
            Some(id) => {
                let _ = self.with_client(now, id, |tx, ctx| tx.on_response(ctx, response));
            }
            None => self.out.stats.stray_responses += 1,
        }
        self.prune_timers();
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((id, armed)) = self.out.timers.pop_due(now) {
            let Some(machine) = self.txs.get_mut(&id) else {
                continue;
            };
            if !machine.timers().is_current(armed) {
                continue;
            }
            machine.timers_mut().cancel(armed.kind.slot());
            let mut ctx = Ctx {
                now,
                config: &self.config,
                tx: id,
                out: &mut self.out,
            };
            machine.on_timer(&mut ctx, armed.kind);
            self.reap(id);
        }
        self.prune_timers();
    }

    /// The transport could not deliver to `peer` (TCP connect refused, ICMP): client
    /// transactions waiting on it get Timeout (§17.1.4).
    pub fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        let mut ids: Vec<TxId> = self
            .txs
            .iter()
            .filter(|(_, m)| matches!(m, Machine::Client(tx) if tx.peer() == peer))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let _ = self.with_client(now, id, |tx, ctx| tx.on_transport_error(ctx));
        }
        self.prune_timers();
    }

    /// Send a response on a server transaction (provisional or final). 2xx to INVITE moves
    /// it to Accepted (RFC 6026): the layer retransmits the 2xx (T1 doubling to T2, UDP
    /// only) until the matching ACK arrives or 64*T1 passes (then AckTimeout); retransmitted
    /// INVITEs are absorbed.
    pub fn respond(&mut self, now: Instant, tx: TxId, response: SipMessage) -> Result<(), TxError> {
        let result = self
            .with_server(now, tx, |server, ctx| server.respond(ctx, response))
            .and_then(|r| r);
        self.prune_timers();
        result
    }

    /// Start a client transaction. The TU built the request including a top Via whose branch
    /// is unique (z9hG4bK...). INVITE: Timer A/B; others: E/F. CANCEL is an ordinary
    /// non-INVITE client transaction. Never called for ACK.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: SipMessage,
        peer: Peer,
    ) -> Result<TxId, TxError> {
        match request.method() {
            None => return Err(TxError::InvalidMessage("send_request needs a request")),
            Some(Method::Ack) => return Err(TxError::InvalidMessage("ACK is not a transaction")),
            Some(_) => {}
        }
        let key = ClientKey::for_request(&request).ok_or(TxError::MissingBranch)?;
        if request.cseq().is_err() {
            return Err(TxError::InvalidMessage("request has no readable CSeq"));
        }
        if self.client_keys.contains_key(&key) {
            return Err(TxError::DuplicateBranch);
        }
        let id = self.allocate_id();
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        };
        let tx = ClientTx::new(&mut ctx, request, peer, key.clone());
        self.client_keys.insert(key, id);
        self.txs.insert(id, Machine::Client(tx));
        Ok(id)
    }

    /// Send the ACK for a 2xx received on client INVITE transaction `invite_tx` (end to end,
    /// §13.2.2.4). The layer transmits it now and re-sends it for every retransmitted 2xx
    /// while the transaction is in Accepted state (Timer M = 64*T1).
    pub fn send_ack(
        &mut self,
        now: Instant,
        invite_tx: TxId,
        ack: SipMessage,
        peer: Peer,
    ) -> Result<(), TxError> {
        if ack.method() != Some(&Method::Ack) {
            return Err(TxError::InvalidMessage("send_ack needs an ACK request"));
        }
        self.with_client(now, invite_tx, |tx, ctx| tx.send_ack(ctx, ack, peer))
            .and_then(|r| r)
    }

    /// A message outside any transaction (a stateless 4xx for a malformed request, an ACK
    /// resent by the TU).
    pub fn send_stateless(&mut self, message: SipMessage, peer: Peer) {
        self.out.transmits.push_back(Transmit {
            peer,
            bytes: message.wire_bytes(),
        });
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.out.events.pop_front()
    }

    /// The earliest timer deadline; call [`Self::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.timers.next_deadline()
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    pub fn stats(&self) -> TxStats {
        self.out.stats
    }

    /// The original request of a server transaction (the TU needs it to build responses)
    /// and its peer.
    pub fn server_request(&self, tx: TxId) -> Option<(&SipMessage, Peer)> {
        match self.txs.get(&tx)? {
            Machine::Server(server) => Some((server.request(), server.peer())),
            Machine::Client(_) => None,
        }
    }

    /// The state of a live transaction (`None` once it has terminated).
    pub fn state(&self, tx: TxId) -> Option<TxState> {
        self.txs.get(&tx).map(Machine::state)
    }

    /// A new request, or a retransmission of one that already has a transaction.
    fn on_request(&mut self, now: Instant, request: SipMessage, peer: Peer, key: ServerKey) {
        if let Some(&id) = self.server_keys.get(&key) {
            let _ = self.with_server(now, id, |tx, ctx| tx.on_retransmission(ctx));
            return;
        }
        let id = self.open_server(now, request.clone(), peer, key);
        let event = TxEvent::Request {
            tx: id,
            request,
            peer,
        };
        self.out.events.push_back(event);
    }

    /// An ACK: absorbed by a Completed/Confirmed INVITE transaction (non-2xx), otherwise an
    /// end-to-end 2xx ACK for the TU, tied to its Accepted INVITE transaction when known.
    fn on_ack(&mut self, now: Instant, ack: SipMessage, peer: Peer, key: &ServerKey) {
        let matched = self.server_keys.get(key).copied().or_else(|| {
            let untagged = key.without_to_tag()?;
            self.server_keys.get(&untagged).copied()
        });
        let invite_tx = match matched {
            Some(id) => match self.with_server(now, id, |tx, ctx| tx.on_ack(ctx)) {
                Ok(false) => return,
                Ok(true) => Some(id),
                Err(_) => None,
            },
            None => self.accept_2xx_ack(now, &ack),
        };
        let event = TxEvent::Ack {
            request: ack,
            peer,
            invite_tx,
        };
        self.out.events.push_back(event);
    }

    /// Ties a 2xx ACK (new branch) to its Accepted INVITE server transaction by dialog.
    fn accept_2xx_ack(&mut self, now: Instant, ack: &SipMessage) -> Option<TxId> {
        let id = *self.ack_keys.get(&AckKey::for_request(ack)?)?;
        let accepted = self.with_server(now, id, |tx, _| tx.on_2xx_ack()).ok()?;
        accepted.then_some(id)
    }

    /// A CANCEL (§9.2): a retransmission of an earlier CANCEL, a CANCEL of a live INVITE
    /// (answered 200 here, reported as [`TxEvent::Cancel`]), or an unmatched one that the TU
    /// answers (481).
    fn on_cancel(&mut self, now: Instant, cancel: SipMessage, peer: Peer, key: ServerKey) {
        let invite_tx = ServerKey::for_cancelled_invite(&cancel)
            .and_then(|k| self.server_keys.get(&k).copied());
        let Some(invite_tx) = invite_tx.filter(|_| !self.server_keys.contains_key(&key)) else {
            return self.on_request(now, cancel, peer, key);
        };
        let to_tag = match self.txs.get(&invite_tx) {
            Some(Machine::Server(invite)) => invite.to_tag().map(str::to_string),
            _ => None,
        };
        let ok = response_to(&cancel, 200, "OK", to_tag.as_deref(), Some(peer.addr)).finish();
        let id = self.open_server(now, cancel.clone(), peer, key);
        let _ = self.with_server(now, id, |tx, ctx| tx.respond(ctx, ok));
        let event = TxEvent::Cancel {
            invite_tx,
            cancel,
            peer,
        };
        self.out.events.push_back(event);
    }

    fn open_server(
        &mut self,
        now: Instant,
        request: SipMessage,
        peer: Peer,
        key: ServerKey,
    ) -> TxId {
        let id = self.allocate_id();
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        };
        let tx = ServerTx::new(&mut ctx, request, peer, key.clone());
        if let Some(ack_key) = &tx.ack_key {
            self.ack_keys.insert(ack_key.clone(), id);
        }
        self.server_keys.insert(key, id);
        self.txs.insert(id, Machine::Server(tx));
        id
    }

    fn allocate_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    /// Runs one step of a server transaction, then removes it if it terminated.
    fn with_server<R>(
        &mut self,
        now: Instant,
        id: TxId,
        step: impl FnOnce(&mut ServerTx, &mut Ctx<'_>) -> R,
    ) -> Result<R, TxError> {
        let result = match self.txs.get_mut(&id) {
            Some(Machine::Server(tx)) => {
                let mut ctx = Ctx {
                    now,
                    config: &self.config,
                    tx: id,
                    out: &mut self.out,
                };
                step(tx, &mut ctx)
            }
            Some(Machine::Client(_)) => return Err(TxError::WrongRole(id)),
            None => return Err(TxError::UnknownTransaction(id)),
        };
        self.reap(id);
        Ok(result)
    }

    /// Runs one step of a client transaction, then removes it if it terminated.
    fn with_client<R>(
        &mut self,
        now: Instant,
        id: TxId,
        step: impl FnOnce(&mut ClientTx, &mut Ctx<'_>) -> R,
    ) -> Result<R, TxError> {
        let result = match self.txs.get_mut(&id) {
            Some(Machine::Client(tx)) => {
                let mut ctx = Ctx {
                    now,
                    config: &self.config,
                    tx: id,
                    out: &mut self.out,
                };
                step(tx, &mut ctx)
            }
            Some(Machine::Server(_)) => return Err(TxError::WrongRole(id)),
            None => return Err(TxError::UnknownTransaction(id)),
        };
        self.reap(id);
        Ok(result)
    }

    /// Destroys a terminated transaction and its index entries.
    fn reap(&mut self, id: TxId) {
        if self.txs.get(&id).map(Machine::state) != Some(TxState::Terminated) {
            return;
        }
        match self.txs.remove(&id) {
            Some(Machine::Server(tx)) => {
                remove_if_owned(&mut self.server_keys, &tx.key, id);
                if let Some(ack_key) = &tx.ack_key {
                    remove_if_owned(&mut self.ack_keys, ack_key, id);
                }
            }
            Some(Machine::Client(tx)) => remove_if_owned(&mut self.client_keys, &tx.key, id),
            None => {}
        }
    }

    /// Drops cancelled timers at the head of the queue (so `poll_timeout` is exact) and
    /// compacts the queue when cancelled entries dominate it.
    fn prune_timers(&mut self) {
        let txs = &self.txs;
        let live =
            |id: TxId, armed: Armed| txs.get(&id).is_some_and(|m| m.timers().is_current(armed));
        while let Some((id, armed)) = self.out.timers.peek() {
            if live(id, armed) {
                break;
            }
            self.out.timers.pop();
        }
        if self.out.timers.len() > 64 + 4 * txs.len() {
            self.out.timers.retain(live);
        }
    }
}

fn remove_if_owned<K: std::hash::Hash + Eq>(index: &mut HashMap<K, TxId>, key: &K, id: TxId) {
    if index.get(key) == Some(&id) {
        index.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::sip::message::{HeaderName, Limits, MessageBuilder};
    use crate::sip::peer::Transport;

    fn peer() -> Peer {
        Peer::new(Transport::Udp, "192.0.2.1:5060".parse().unwrap())
    }

    fn invite(n: u32) -> SipMessage {
        let mut b = MessageBuilder::request(&Method::Invite, "sip:bob@192.0.2.2");
        b.header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{n}"),
        )
        .header(HeaderName::From, "<sip:a@192.0.2.1>;tag=a")
        .header(HeaderName::To, "<sip:bob@192.0.2.2>")
        .header(HeaderName::CallId, &format!("c{n}"))
        .header(HeaderName::CSeq, "1 INVITE");
        b.finish()
    }

    fn ack(n: u32) -> SipMessage {
        let mut b = MessageBuilder::request(&Method::Ack, "sip:bob@192.0.2.2");
        b.header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{n}"),
        )
        .header(HeaderName::From, "<sip:a@192.0.2.1>;tag=a")
        .header(HeaderName::To, "<sip:bob@192.0.2.2>;tag=b")
        .header(HeaderName::CallId, &format!("c{n}"))
        .header(HeaderName::CSeq, "1 ACK");
        b.finish()
    }

    fn drain(layer: &mut TransactionLayer) -> Vec<TxEvent> {
        while layer.poll_transmit().is_some() {}
        std::iter::from_fn(|| layer.poll_event()).collect()
    }

    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let mut now = Instant::now();
        for n in 0..2_000 {
            layer.handle_request(now, invite(n), peer());
            let [TxEvent::Request { tx, request, .. }] = &drain(&mut layer)[..] else {
                panic!("one Request per INVITE")
            };
            let busy = response_to(request, 486, "Busy Here", Some("b"), None).finish();
            layer.respond(now, *tx, busy).unwrap();
            // The ACK cancels G and H; they stay queued only until pruned.
            layer.handle_request(now, ack(n), peer());
            assert!(drain(&mut layer).is_empty(), "non-2xx ACK is absorbed");
            assert!(layer.out.timers.len() <= 64 + 4 * layer.len() + 4);
            now += Duration::from_millis(10);
            layer.handle_timeout(now);
        }
        while let Some(deadline) = layer.poll_timeout() {
            now = deadline;
            layer.handle_timeout(now);
        }
        assert!(layer.is_empty());
        assert_eq!(layer.out.timers.len(), 0);
        assert!(layer.server_keys.is_empty() && layer.ack_keys.is_empty());
    }

    #[test]
    fn poll_timeout_skips_cancelled_timers() {
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let now = Instant::now();
        layer.handle_request(now, invite(1), peer());
        let [TxEvent::Request { tx, request, .. }] = &drain(&mut layer)[..] else {
            panic!()
        };
        let busy = response_to(request, 486, "Busy Here", Some("b"), None).finish();
        layer.respond(now, *tx, busy).unwrap();
        assert_eq!(layer.poll_timeout(), Some(now + Duration::from_millis(500)));
        layer.handle_request(now, ack(1), peer());
        assert_eq!(
            layer.poll_timeout(),
            Some(now + Duration::from_secs(5)),
            "Timer I only"
        );
    }

    #[test]
    fn junk_from_the_network_never_panics() {
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let now = Instant::now();
        let junk: &[&[u8]] = &[
            b"OPTIONS sip:a@b SIP/2.0\r\n\r\n",
            b"ACK sip:a@b SIP/2.0\r\nVia: garbage\r\n\r\n",
            b"CANCEL sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK\r\n\r\n",
            b"SIP/2.0 200 OK\r\n\r\n",
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: x\r\n\r\n",
            b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n",
        ];
        for bytes in junk {
            let msg = SipMessage::parse(Bytes::from_static(bytes), &Limits::default()).unwrap();
            layer.handle_request(now, msg.clone(), peer());
            layer.handle_response(now, msg, peer());
        }
        layer.handle_timeout(now + Duration::from_secs(100));
        assert!(layer.is_empty());
        // Responses fed to handle_request and requests fed to handle_response are refused too.
        assert_eq!(layer.stats().dropped_requests, 6);
        assert_eq!(layer.stats().stray_responses, 6);
    }
}
