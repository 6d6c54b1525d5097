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
//! Terminated state"); a transaction that only absorbs retransmissions is retired into a
//! compact record (`record`, `absorb`: key fingerprint, peer, what it answers with), queued by
//! expiry without timers (`fifo`) and indexed apart from the live ones (`records`, in 4-byte
//! handles, `record_index`); live transactions' timers live in a hashed wheel (`wheel`)
//! and are cancelled there at once, so memory follows the number of live transactions, records
//! and armed timers, not time.

mod absorb;
mod ack_recipe;
mod answer;
mod client;
mod event;
mod fifo;
pub(crate) mod fingerprint;
mod inbound;
mod key;
mod leg;
mod outbox;
mod peers;
mod record;
mod record_index;
mod records;
mod server;
mod timers;
mod wheel;

use std::time::Instant;

use crate::sip::message::{Method, SipMessage};
use crate::sip::peer::{Peer, Transmit};
use client::ClientTx;
use fingerprint::{Fingerprint, FingerprintMap, Fingerprinter};
use key::{ClientKey, ServerKey};
use outbox::{Ctx, Outbox};
use records::Records;
use server::ServerTx;
use timers::{TimerKind, TxTimers};

pub use event::{TxError, TxEvent, TxId, TxState, TxStats};
pub use timers::TimerConfig;

/// One live transaction. Boxed, so the map of transactions holds 16-byte values: a
/// transaction lives 32 s after its call on UDP (Timers J, L, M), and the map's buckets
/// (about twice the live count after a resize, never shrunk) would otherwise be 160 bytes
/// each whatever the transaction still keeps (issue 12).
#[derive(Debug)]
enum Machine {
    Server(Box<ServerTx>),
    Client(Box<ClientTx>),
}

impl Machine {
    fn state(&self) -> TxState {
        match self {
            Machine::Server(tx) => tx.state(),
            Machine::Client(tx) => tx.state(),
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
    /// The live transactions (records are in `records`).
    txs: std::collections::HashMap<TxId, Machine>,
    /// The live transactions' keys by fingerprint (`fingerprint`); each transaction keeps its
    /// own fingerprints.
    fingerprints: Fingerprinter,
    server_keys: FingerprintMap<TxId>,
    client_keys: FingerprintMap<TxId>,
    /// Server INVITE transactions by Call-ID + CSeq number + From tag, for 2xx ACKs (only
    /// while such an ACK may come: unindexed once a non-2xx final was sent).
    ack_keys: FingerprintMap<TxId>,
    /// The retired transactions' records, by expiry, with their own indexes.
    records: Records,
    out: Outbox,
}

impl TransactionLayer {
    pub fn new(timers: TimerConfig) -> Self {
        TransactionLayer {
            config: timers,
            next_id: 0,
            txs: std::collections::HashMap::new(),
            fingerprints: Fingerprinter::default(),
            server_keys: FingerprintMap::default(),
            client_keys: FingerprintMap::default(),
            ack_keys: FingerprintMap::default(),
            records: Records::default(),
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
        let key = ClientKey::for_response(&response)
            .filter(|_| status_ok)
            .map(|key| self.fingerprints.of(&key));
        match key.and_then(|key| self.client_keys.get(&key).copied()) {
            Some(id) => {
                let _ = self.with_client(now, id, |tx, ctx| tx.on_response(ctx, response));
            }
            None => match key.and_then(|key| self.records.client(key)) {
                Some(at) => self.absorb_response(now, at, response),
                None => self.out.stats.stray_responses += 1,
            },
        }
        self.prune_timers();
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(((id, kind), handle)) = self.out.timers.pop_due(now) {
            let Some(machine) = self.txs.get_mut(&id) else {
                continue;
            };
            if !machine.timers_mut().fired(kind.slot(), handle) {
                continue;
            }
            let mut ctx = Ctx {
                now,
                config: &self.config,
                tx: id,
                out: &mut self.out,
            };
            machine.on_timer(&mut ctx, kind);
            self.reap(now, id);
        }
        self.expire_records(now);
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
        if let Some(result) = self.record_respond(now, tx, &response) {
            return result;
        }
        let result = self
            .with_server(now, tx, |server, ctx| server.respond(ctx, response))
            .and_then(|r| r);
        self.prune_timers();
        result
    }

    /// Start a client transaction. The TU built the request including a top Via whose branch
    /// is unique (z9hG4bK...). INVITE: Timer A/B; others: E/F. CANCEL is an ordinary
    /// non-INVITE client transaction; sending one starts the §9.1 wait on the INVITE it
    /// cancels (same branch): 64*T1 later, without a final response, that INVITE ends in
    /// Timeout. Never called for ACK.
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
        let fingerprint = self.fingerprints.of(&key);
        if self.client_keys.contains_key(&fingerprint) || self.records.client(fingerprint).is_some()
        {
            return Err(TxError::DuplicateBranch);
        }
        let id = self.allocate_id();
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        };
        let tx = ClientTx::new(&mut ctx, request, peer, fingerprint);
        let cancelled = key.cancelled_invite().map(|k| self.fingerprints.of(&k));
        self.client_keys.insert(fingerprint, id);
        self.txs.insert(id, Machine::Client(Box::new(tx)));
        if let Some(invite) = cancelled.and_then(|k| self.client_keys.get(&k).copied()) {
            let _ = self.with_client(now, invite, |tx, ctx| tx.cancel_sent(ctx));
        }
        Ok(id)
    }

    /// Forgets client transaction `tx` without a word to the TU or the peer, for a TU that
    /// gave up on its call (the B2BUA's audit of calls past their deadlines). False when no
    /// such client transaction lives.
    pub fn abandon(&mut self, tx: TxId) -> bool {
        if self.abandon_record(tx) {
            return true;
        }
        if !matches!(self.txs.get(&tx), Some(Machine::Client(_))) {
            return false;
        }
        if let Some(Machine::Client(mut client)) = self.txs.remove(&tx) {
            remove_if_owned(&mut self.client_keys, client.key, tx);
            self.out.cancel_all(client.timers_mut());
        }
        self.prune_timers();
        true
    }

    /// Timer C for INVITEs that enter Proceeding from now on (see [`TimerConfig::c`]).
    pub fn set_timer_c(&mut self, c: std::time::Duration) {
        self.config.c = c;
    }

    /// The timer values in use.
    pub fn timer_config(&self) -> TimerConfig {
        self.config
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
        match self.record_send_ack(now, invite_tx, ack, peer) {
            Some(result) => result,
            None => match self.state(invite_tx) {
                Some(state) if matches!(self.txs.get(&invite_tx), Some(Machine::Client(_))) => {
                    Err(TxError::InvalidState(invite_tx, state))
                }
                Some(_) => Err(TxError::WrongRole(invite_tx)),
                None => Err(TxError::UnknownTransaction(invite_tx)),
            },
        }
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

    /// When to call [`Self::handle_timeout`]: the earliest timer deadline (at worst a little
    /// earlier, after a cancellation; never later).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.out.timers.next_deadline();
        match (timers, self.records_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Transactions held: live ones and the records of those that only absorb
    /// retransmissions.
    pub fn len(&self) -> usize {
        self.txs.len() + self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> TxStats {
        self.out.stats
    }

    /// Transactions created so far (client and server), for metrics.
    pub fn created(&self) -> u64 {
        self.next_id
    }

    /// The original request of a server transaction (the TU needs it to build responses)
    /// and its peer, until a final response was sent: from then on the transaction keeps only
    /// what absorbing retransmissions needs, and this is `None`.
    pub fn server_request(&self, tx: TxId) -> Option<(&SipMessage, Peer)> {
        match self.txs.get(&tx)? {
            Machine::Server(server) => Some((server.request()?, server.peer())),
            Machine::Client(_) => None,
        }
    }

    /// Whether `request` belongs to a server transaction still held here (a retransmission
    /// the layer will absorb), by the RFC 3261 §17.2.3 matching rules.
    pub fn has_server_transaction(&self, request: &SipMessage) -> bool {
        ServerKey::for_request(request).is_some_and(|key| self.find_server(&key).is_some())
    }

    /// The state of a transaction held here (`None` once it has terminated).
    pub fn state(&self, tx: TxId) -> Option<TxState> {
        match self.txs.get(&tx) {
            Some(machine) => Some(machine.state()),
            None => Some(self.records.by_id(tx)?.kind.state()),
        }
    }

    /// Why a step cannot run on `id`, which is no live transaction: it rests in a record, or
    /// it is unknown.
    fn not_live(&self, id: TxId) -> TxError {
        match self.records.by_id(id) {
            Some(at) => TxError::InvalidState(id, at.kind.state()),
            None => TxError::UnknownTransaction(id),
        }
    }

    fn allocate_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(std::num::NonZeroU64::new(self.next_id).unwrap_or(std::num::NonZeroU64::MAX))
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
            None => return Err(self.not_live(id)),
        };
        self.reap(now, id);
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
            None => return Err(self.not_live(id)),
        };
        self.reap(now, id);
        Ok(result)
    }

    /// After a step: unindexes a dialog key a server INVITE no longer needs, and destroys a
    /// terminated transaction with its index entries and timers.
    fn reap(&mut self, now: Instant, id: TxId) {
        if let Some(Machine::Server(tx)) = self.txs.get_mut(&id)
            && let Some(ack_key) = tx.release_ack_key()
        {
            remove_if_owned(&mut self.ack_keys, ack_key, id);
        }
        if self.txs.get(&id).map(Machine::state) != Some(TxState::Terminated) {
            return self.retire(now, id);
        }
        match self.txs.remove(&id) {
            Some(Machine::Server(mut tx)) => {
                remove_if_owned(&mut self.server_keys, tx.key, id);
                self.out.cancel_all(tx.timers_mut());
            }
            Some(Machine::Client(mut tx)) => {
                remove_if_owned(&mut self.client_keys, tx.key, id);
                self.out.cancel_all(tx.timers_mut());
            }
            None => {}
        }
    }

    /// Caches the next deadline for [`Self::poll_timeout`] after timers were cancelled or
    /// fired.
    fn prune_timers(&mut self) {
        self.out.timers.refresh();
    }
}

/// Removes `key` from `index` if `id` holds it there; whether it did.
fn remove_if_owned(index: &mut FingerprintMap<TxId>, key: Fingerprint, id: TxId) -> bool {
    let owned = index.get(&key) == Some(&id);
    if owned {
        index.remove(&key);
    }
    owned
}

#[cfg(test)]
mod record_tests;
#[cfg(test)]
mod tests;
