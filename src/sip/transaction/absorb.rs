//! The layer's side of the compact records (`record`): a transaction that reached a state
//! where it only absorbs retransmissions is retired into a record (its machine, timer slots
//! and timer-wheel nodes freed), records answer retransmissions, and expire in queue order.
//!
//! A record's lifetime is the transaction's lifetime timer as it was armed (Timers L, J, M,
//! K). The one queue whose records can arrive out of deadline order is the server INVITE's
//! (its Timer L starts at the 2xx, the record at the ACK): a record there behind a later
//! deadline lives until that one (at most the ACK's delay longer), which only absorbs
//! INVITE retransmissions a little longer (RFC 6026 §7.1 sets no upper bound on that).

use std::time::Instant;

use super::outbox::Ctx;
use super::record::{RecordRef, Retired};
use super::{Machine, TransactionLayer, TxError, TxId, remove_if_owned};
use crate::sip::message::SipMessage;
use crate::sip::peer::Peer;

impl TransactionLayer {
    /// After a step: replaces transaction `id` by its record if it now only absorbs
    /// retransmissions and its lifetime timer runs (a zero timer already terminated it). The
    /// record leaves the live transactions and their indexes for the records' own.
    pub(super) fn retire(&mut self, now: Instant, id: TxId) {
        let (retired, lifetime) = match self.txs.get_mut(&id) {
            Some(Machine::Server(tx)) => (
                tx.retire(id, &mut self.out.peers),
                tx.timers_mut().lifetime(),
            ),
            Some(Machine::Client(tx)) => (tx.retire(id), tx.timers_mut().lifetime()),
            None => return,
        };
        let Some(mut retired) = retired else { return };
        let deadline = lifetime.and_then(|h| self.out.timers.deadline(h));
        if let Some(mut machine) = self.txs.remove(&id) {
            self.out.cancel_all(machine.timers_mut());
        }
        self.unindex_live(id, &mut retired);
        match deadline {
            Some(deadline) => {
                self.records.push(now, deadline, retired);
            }
            None => retired.release(&mut self.out.peers),
        }
    }

    /// Takes a retired transaction's keys out of the live indexes; an ACK key another
    /// transaction took over is not the record's to keep.
    fn unindex_live(&mut self, id: TxId, retired: &mut Retired) {
        match retired {
            Retired::ServerInvite(r) => {
                remove_if_owned(&mut self.server_keys, r.key, id);
                let ack_key = r.ack_key.take();
                r.ack_key = ack_key.filter(|&k| remove_if_owned(&mut self.ack_keys, k, id));
            }
            Retired::ServerNonInvite(r) => {
                remove_if_owned(&mut self.server_keys, r.key, id);
            }
            Retired::ClientInvite(r) => {
                remove_if_owned(&mut self.client_keys, r.key, id);
            }
            Retired::ClientNonInvite(r) => {
                remove_if_owned(&mut self.client_keys, r.key, id);
            }
        }
    }

    /// Forgets every record whose lifetime ran out at `now` (Timers L, J, M, K: RFC 6026 §7.1,
    /// §7.2; RFC 3261 §17.2.2, §17.1.2.2). A server INVITE record was ACKed, so Timer L ends it
    /// without an AckTimeout.
    pub(super) fn expire_records(&mut self, now: Instant) {
        while let Some(retired) = self.records.pop_due(now) {
            retired.release(&mut self.out.peers);
        }
    }

    /// The earliest record expiry.
    pub(super) fn records_deadline(&self) -> Option<Instant> {
        self.records.next_deadline()
    }

    fn ctx(&mut self, now: Instant, id: TxId) -> Ctx<'_> {
        Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        }
    }

    /// A retransmitted request matched server record `at`: absorbed, and a non-INVITE
    /// answered with its last response (§17.2.2; RFC 6026 §7.1 absorbs an INVITE's).
    pub(super) fn absorb_request(&mut self, now: Instant, at: RecordRef, request: &SipMessage) {
        self.out.stats.retransmissions_absorbed += 1;
        let Some(r) = self.records.server_non_invite(at) else {
            return;
        };
        let Some(peer) = self.out.peers.get(&r.peer) else {
            return;
        };
        let id = r.id;
        if let Some(bytes) = r.last.bytes(Some(request), peer.addr) {
            self.ctx(now, id).resend(peer, bytes);
        }
    }

    /// An ACK matched record `at`: the id of the server INVITE whose 2xx it acknowledges
    /// again (a retransmitted ACK, passed to the TU), `None` for any other record.
    pub(super) fn record_acked(&self, at: RecordRef) -> Option<TxId> {
        self.records.server_invite(at).map(|r| r.id)
    }

    /// The To tag of the final response of a server INVITE record, for the 200 to a CANCEL.
    pub(super) fn record_to_tag(&self, at: RecordRef) -> Option<&str> {
        self.records.server_invite(at)?.to_tag.as_deref()
    }

    /// A response matched client record `at` (RFC 6026 §7.2, §17.1.2.2).
    pub(super) fn absorb_response(&mut self, now: Instant, at: RecordRef, response: SipMessage) {
        let Some(r) = self.records.client_invite_mut(at) else {
            self.out.stats.retransmissions_absorbed += 1;
            return;
        };
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: r.id,
            out: &mut self.out,
        };
        r.on_response(&mut ctx, response);
    }

    /// The TU's ACK for a 2xx of client INVITE record `id`; `None` when `id` is no record.
    pub(super) fn record_send_ack(
        &mut self,
        now: Instant,
        id: TxId,
        ack: SipMessage,
        peer: Peer,
    ) -> Option<Result<(), TxError>> {
        let at = self.records.by_id(id)?;
        if !at.kind.is_client() {
            return Some(Err(TxError::WrongRole(id)));
        }
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        };
        Some(match self.records.client_invite_mut(at) {
            Some(r) => r.send_ack(&mut ctx, ack, peer),
            None => Err(TxError::InvalidState(id, at.kind.state())),
        })
    }

    /// A response from the TU on server record `id`: a 2xx retransmission of an Accepted
    /// INVITE goes to the transport (RFC 6026 §7.1: "Any retransmission of the 2xx response
    /// passed from the TU to the transaction while in the Accepted state MUST be passed to
    /// the transport"); anything else is refused. `None` when `id` is no record.
    pub(super) fn record_respond(
        &mut self,
        now: Instant,
        id: TxId,
        response: &SipMessage,
    ) -> Option<Result<(), TxError>> {
        let at = self.records.by_id(id)?;
        let state = at.kind.state();
        if at.kind.is_client() {
            return Some(Err(TxError::WrongRole(id)));
        }
        let is_2xx = response.status().is_some_and(|s| (200..300).contains(&s));
        let record = self.records.server_invite(at).filter(|_| is_2xx);
        let Some(peer) = record.and_then(|r| self.out.peers.get(&r.peer)) else {
            return Some(Err(TxError::InvalidState(id, state)));
        };
        self.ctx(now, id).send(peer, response.wire_bytes());
        Some(Ok(()))
    }

    /// Forgets client record `id` (see [`TransactionLayer::abandon`]); false when it is none.
    pub(super) fn abandon_record(&mut self, id: TxId) -> bool {
        let Some(at) = self.records.by_id(id).filter(|at| at.kind.is_client()) else {
            return false;
        };
        if let Some(retired) = self.records.remove(at) {
            retired.release(&mut self.out.peers);
        }
        true
    }
}
