//! Routing received requests to server transactions: §17.2.3 matching, retransmission
//! absorption, the ACK (non-2xx absorbed, 2xx to the TU) and the CANCEL (§9.2).

use std::time::Instant;

use super::key::{AckKey, ServerKey};
use super::outbox::Ctx;
use super::record::RecordRef;
use super::server::ServerTx;
use super::{Machine, TransactionLayer, TxEvent, TxId};
use crate::sip::message::{Method, SipMessage, response_to};
use crate::sip::peer::Peer;

impl TransactionLayer {
    /// A new request, or a retransmission of one that already has a transaction.
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        request: SipMessage,
        peer: Peer,
        key: ServerKey,
    ) {
        match self.find_server(&key) {
            Some(Found::Live(id)) => {
                let _ = self.with_server(now, id, |tx, ctx| tx.on_retransmission(ctx, &request));
                return;
            }
            Some(Found::Record(at)) => return self.absorb_request(now, at, &request),
            None => {}
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
    pub(super) fn on_ack(&mut self, now: Instant, ack: SipMessage, peer: Peer, key: &ServerKey) {
        let matched = self
            .find_server(key)
            .or_else(|| self.find_server(&key.without_to_tag()?));
        let invite_tx = match matched {
            Some(Found::Record(at)) => self.record_acked(at),
            Some(Found::Live(id)) => match self.with_server(now, id, |tx, ctx| tx.on_ack(ctx)) {
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
        let key = self.fingerprints.of(&AckKey::for_request(ack)?);
        let Some(&id) = self.ack_keys.get(&key) else {
            return self.record_acked(self.records.ack(key)?);
        };
        let accepted = self
            .with_server(now, id, |tx, ctx| tx.on_2xx_ack(ctx))
            .ok()?;
        accepted.then_some(id)
    }

    /// A CANCEL (§9.2): a retransmission of an earlier CANCEL, a CANCEL of a live INVITE
    /// (answered 200 here, reported as [`TxEvent::Cancel`]), or an unmatched one that the TU
    /// answers (481).
    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        cancel: SipMessage,
        peer: Peer,
        key: ServerKey,
    ) {
        let invite = ServerKey::for_cancelled_invite(&cancel).and_then(|k| self.find_server(&k));
        let Some(invite) = invite.filter(|_| self.find_server(&key).is_none()) else {
            return self.on_request(now, cancel, peer, key);
        };
        let (invite_tx, to_tag) = match invite {
            Found::Live(id) => match self.txs.get(&id) {
                Some(Machine::Server(invite)) => (id, invite.to_tag().map(str::to_string)),
                _ => (id, None),
            },
            Found::Record(at) => match self.records.id_of(at) {
                Some(id) => (id, self.record_to_tag(at).map(str::to_string)),
                None => return self.on_request(now, cancel, peer, key),
            },
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
        let key = self.fingerprints.of(&key);
        let ack_key = (request.method() == Some(&Method::Invite))
            .then(|| AckKey::for_request(&request))
            .flatten()
            .map(|k| self.fingerprints.of(&k));
        let tx = ServerTx::new(&mut ctx, request, peer, key, ack_key);
        if let Some(ack_key) = ack_key {
            // The newest INVITE with this dialog key takes it over, from a record too.
            self.records.forget_ack(ack_key);
            self.ack_keys.insert(ack_key, id);
        }
        self.server_keys.insert(key, id);
        self.txs.insert(id, Machine::Server(Box::new(tx)));
        id
    }

    /// The server transaction `key` matches (§17.2.3): a live one, or a record.
    pub(super) fn find_server(&self, key: &ServerKey) -> Option<Found> {
        let key = self.fingerprints.of(key);
        match self.server_keys.get(&key) {
            Some(&id) => Some(Found::Live(id)),
            None => self.records.server(key).map(Found::Record),
        }
    }
}

/// Where a matched server transaction is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Found {
    Live(TxId),
    Record(RecordRef),
}
