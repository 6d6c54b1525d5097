//! Routing received requests to server transactions: §17.2.3 matching, retransmission
//! absorption, the ACK (non-2xx absorbed, 2xx to the TU) and the CANCEL (§9.2).

use std::time::Instant;

use super::key::{AckKey, ServerKey};
use super::outbox::Ctx;
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
        if let Some(&id) = self.server_keys.get(&self.fingerprints.of(&key)) {
            if self.absorb_request(now, id, &request) {
                return;
            }
            let _ = self.with_server(now, id, |tx, ctx| tx.on_retransmission(ctx, &request));
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
    pub(super) fn on_ack(&mut self, now: Instant, ack: SipMessage, peer: Peer, key: &ServerKey) {
        let matched = self
            .server_key(key)
            .or_else(|| self.server_key(&key.without_to_tag()?));
        let invite_tx = match matched {
            Some(id) if self.record_acked(id).is_some() => Some(id),
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
        let key = self.fingerprints.of(&AckKey::for_request(ack)?);
        let id = *self.ack_keys.get(&key)?;
        if self.record_acked(id).is_some() {
            return Some(id);
        }
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
        let invite_tx = ServerKey::for_cancelled_invite(&cancel).and_then(|k| self.server_key(&k));
        let Some(invite_tx) = invite_tx.filter(|_| self.server_key(&key).is_none()) else {
            return self.on_request(now, cancel, peer, key);
        };
        let to_tag = match self.txs.get(&invite_tx) {
            Some(Machine::Server(invite)) => invite.to_tag().map(str::to_string),
            _ => self.record_to_tag(invite_tx).map(str::to_string),
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
            self.ack_keys.insert(ack_key, id);
        }
        self.server_keys.insert(key, id);
        self.txs.insert(id, Machine::Server(Box::new(tx)));
        id
    }

    fn server_key(&self, key: &ServerKey) -> Option<TxId> {
        self.server_keys.get(&self.fingerprints.of(key)).copied()
    }
}
