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

use super::fifo::RecordQueue;
use super::outbox::Ctx;
use super::record::{
    ClientInviteRecord, ClientNonInviteRecord, RecordKind, RecordRef, Retired, ServerInviteRecord,
    ServerNonInviteRecord,
};
use super::{Machine, TransactionLayer, TxError, TxId, remove_if_owned};
use crate::sip::message::SipMessage;
use crate::sip::peer::Peer;

/// The records, one queue per kind.
#[derive(Debug, Default)]
pub(crate) struct Records {
    server_invite: RecordQueue<ServerInviteRecord>,
    server_non_invite: RecordQueue<ServerNonInviteRecord>,
    pub(super) client_invite: RecordQueue<ClientInviteRecord>,
    client_non_invite: RecordQueue<ClientNonInviteRecord>,
}

impl Records {
    fn next_deadline(&self) -> Option<Instant> {
        [
            self.server_invite.next_deadline(),
            self.server_non_invite.next_deadline(),
            self.client_invite.next_deadline(),
            self.client_non_invite.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn push(&mut self, now: Instant, deadline: Instant, retired: Retired) -> RecordRef {
        let (kind, seq) = match retired {
            Retired::ServerInvite(r) => (
                RecordKind::ServerInvite,
                self.server_invite.push(now, deadline, r),
            ),
            Retired::ServerNonInvite(r) => (
                RecordKind::ServerNonInvite,
                self.server_non_invite.push(now, deadline, r),
            ),
            Retired::ClientInvite(r) => (
                RecordKind::ClientInvite,
                self.client_invite.push(now, deadline, r),
            ),
            Retired::ClientNonInvite(r) => (
                RecordKind::ClientNonInvite,
                self.client_non_invite.push(now, deadline, r),
            ),
        };
        RecordRef { kind, seq }
    }

    /// Records queued (live ones).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.server_invite.len()
            + self.server_non_invite.len()
            + self.client_invite.len()
            + self.client_non_invite.len()
    }
}

impl TransactionLayer {
    /// After a step: replaces transaction `id` by its record if it now only absorbs
    /// retransmissions and its lifetime timer runs (a zero timer already terminated it).
    pub(super) fn retire(&mut self, now: Instant, id: TxId) {
        let (retired, lifetime) = match self.txs.get_mut(&id) {
            Some(Machine::Server(tx)) => (tx.retire(id), tx.timers_mut().lifetime()),
            Some(Machine::Client(tx)) => (tx.retire(id), tx.timers_mut().lifetime()),
            _ => return,
        };
        let Some(retired) = retired else { return };
        let deadline = lifetime.and_then(|h| self.out.timers.deadline(h));
        let Some(deadline) = deadline else {
            return self.drop_retired(id, retired);
        };
        if let Some(mut machine) = self.txs.remove(&id) {
            if let Some(timers) = machine.timers_mut() {
                self.out.cancel_all(timers);
            }
        }
        let at = self.records.push(now, deadline, retired);
        self.txs.insert(id, Machine::Absorbing(at));
    }

    /// A retired transaction without a lifetime timer (cannot happen: each absorbing state
    /// arms one): it is destroyed like a terminated one.
    fn drop_retired(&mut self, id: TxId, retired: Retired) {
        if let Some(mut machine) = self.txs.remove(&id) {
            if let Some(timers) = machine.timers_mut() {
                self.out.cancel_all(timers);
            }
        }
        self.unindex(id, retired);
    }

    /// Forgets every record whose lifetime ran out at `now` (Timers L, J, M, K: RFC 6026 §7.1,
    /// §7.2; RFC 3261 §17.2.2, §17.1.2.2). A server INVITE record was ACKed, so Timer L ends it
    /// without an AckTimeout.
    pub(super) fn expire_records(&mut self, now: Instant) {
        while let Some(r) = self.records.server_invite.pop_due(now) {
            self.unindex(r.id, Retired::ServerInvite(r));
        }
        while let Some(r) = self.records.server_non_invite.pop_due(now) {
            self.unindex(r.id, Retired::ServerNonInvite(r));
        }
        while let Some(r) = self.records.client_invite.pop_due(now) {
            self.unindex(r.id, Retired::ClientInvite(r));
        }
        while let Some(r) = self.records.client_non_invite.pop_due(now) {
            self.unindex(r.id, Retired::ClientNonInvite(r));
        }
    }

    /// The earliest record expiry.
    pub(super) fn records_deadline(&self) -> Option<Instant> {
        self.records.next_deadline()
    }

    fn unindex(&mut self, id: TxId, retired: Retired) {
        self.txs.remove(&id);
        match retired {
            Retired::ServerInvite(r) => {
                remove_if_owned(&mut self.server_keys, r.key, id);
                if let Some(ack_key) = r.ack_key {
                    remove_if_owned(&mut self.ack_keys, ack_key, id);
                }
            }
            Retired::ServerNonInvite(r) => remove_if_owned(&mut self.server_keys, r.key, id),
            Retired::ClientInvite(r) => remove_if_owned(&mut self.client_keys, r.key, id),
            Retired::ClientNonInvite(r) => remove_if_owned(&mut self.client_keys, r.key, id),
        }
    }

    fn record_of(&self, id: TxId) -> Option<RecordRef> {
        match self.txs.get(&id)? {
            Machine::Absorbing(at) => Some(*at),
            _ => None,
        }
    }

    fn ctx(&mut self, now: Instant, id: TxId) -> Ctx<'_> {
        Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        }
    }

    /// A retransmitted request matched record `id`: absorbed, and a non-INVITE answered with
    /// its last response (§17.2.2). False when `id` is no server record.
    pub(super) fn absorb_request(&mut self, now: Instant, id: TxId, request: &SipMessage) -> bool {
        let Some(at) = self.record_of(id).filter(|at| !at.kind.is_client()) else {
            return false;
        };
        self.out.stats.retransmissions_absorbed += 1;
        if at.kind != RecordKind::ServerNonInvite {
            return true;
        }
        let Some(r) = self.records.server_non_invite.get(at.seq) else {
            return true;
        };
        let peer = Peer::from(r.peer);
        if let Some(bytes) = r.last.bytes(Some(request), peer.addr) {
            self.ctx(now, id).resend(peer, bytes);
        }
        true
    }

    /// An ACK matched record `id`: `Some` when it is a server INVITE record, whose 2xx it
    /// acknowledges again (a retransmitted ACK, passed to the TU).
    pub(super) fn record_acked(&self, id: TxId) -> Option<bool> {
        let at = self.record_of(id)?;
        (at.kind == RecordKind::ServerInvite).then_some(true)
    }

    /// The To tag of the final response of a server INVITE record, for the 200 to a CANCEL.
    pub(super) fn record_to_tag(&self, id: TxId) -> Option<&str> {
        let at = self.record_of(id)?;
        let r = self.records.server_invite.get(at.seq)?;
        r.to_tag.as_deref()
    }

    /// A response matched client record `id` (RFC 6026 §7.2, §17.1.2.2); given back when
    /// `id` is no client record.
    pub(super) fn absorb_response(
        &mut self,
        now: Instant,
        id: TxId,
        response: SipMessage,
    ) -> Option<SipMessage> {
        let Some(at) = self.record_of(id).filter(|at| at.kind.is_client()) else {
            return Some(response);
        };
        let records = &mut self.records.client_invite;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        };
        match records
            .get_mut(at.seq)
            .filter(|_| at.kind == RecordKind::ClientInvite)
        {
            Some(r) => r.on_response(&mut ctx, response),
            None => ctx.absorbed(),
        }
        None
    }

    /// The TU's ACK for a 2xx of client INVITE record `id`; `None` when `id` is no record.
    pub(super) fn record_send_ack(
        &mut self,
        now: Instant,
        id: TxId,
        ack: SipMessage,
        peer: Peer,
    ) -> Option<Result<(), TxError>> {
        let at = self.record_of(id)?;
        if !at.kind.is_client() {
            return Some(Err(TxError::WrongRole(id)));
        }
        let records = &mut self.records.client_invite;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            tx: id,
            out: &mut self.out,
        };
        Some(match records.get_mut(at.seq) {
            Some(r) if at.kind == RecordKind::ClientInvite => r.send_ack(&mut ctx, ack, peer),
            _ => Err(TxError::InvalidState(id, at.kind.state())),
        })
    }

    /// A response from the TU on server record `id`: a 2xx retransmission of an Accepted
    /// INVITE goes to the transport (RFC 6026 §7.1); anything else is refused. `None` when
    /// `id` is no record.
    pub(super) fn record_respond(
        &mut self,
        now: Instant,
        id: TxId,
        response: &SipMessage,
    ) -> Option<Result<(), TxError>> {
        let at = self.record_of(id)?;
        let state = at.kind.state();
        if at.kind.is_client() {
            return Some(Err(TxError::WrongRole(id)));
        }
        let is_2xx = response.status().is_some_and(|s| (200..300).contains(&s));
        let peer = match self.records.server_invite.get(at.seq) {
            Some(r) if at.kind == RecordKind::ServerInvite && is_2xx => Peer::from(r.peer),
            _ => return Some(Err(TxError::InvalidState(id, state))),
        };
        self.ctx(now, id).send(peer, response.wire_bytes());
        Some(Ok(()))
    }

    /// Forgets client record `id` (see [`TransactionLayer::abandon`]); false when it is none.
    pub(super) fn abandon_record(&mut self, id: TxId) -> bool {
        let Some(at) = self.record_of(id).filter(|at| at.kind.is_client()) else {
            return false;
        };
        let retired = match at.kind {
            RecordKind::ClientInvite => self
                .records
                .client_invite
                .remove(at.seq)
                .map(Retired::ClientInvite),
            _ => self
                .records
                .client_non_invite
                .remove(at.seq)
                .map(Retired::ClientNonInvite),
        };
        match retired {
            Some(retired) => self.unindex(id, retired),
            None => {
                self.txs.remove(&id);
            }
        }
        true
    }
}
