//! Requests inside the legs' dialogs (re-INVITE, UPDATE, PRACK, INFO, OPTIONS, ...) relayed
//! to the other leg, their responses carried back, and end-to-end ACKs.

use crate::sip::message::{Method, response_to};
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::bridge;
use crate::b2bua::session::legs::learn_target;
use crate::b2bua::session::{CallSession, Ctx, Leg, PendingAck, Phase, Relay};
use crate::call::outcome::reason_phrase;

impl CallSession {
    /// A request inside one of the legs' dialogs (never ACK, never a CANCEL of the INVITE).
    pub fn on_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        leg: Leg,
        tx: TxId,
        req: SipMessage,
        peer: Peer,
    ) {
        let method = req.method().cloned().unwrap_or(Method::Info);
        if leg == Leg::B
            && req.call_id() != self.attempts.get(self.b).map(|b| b.dialog.call_id.as_str())
        {
            return self.on_stray_attempt_request(ctx, tx, &req, peer);
        }
        if let Ok(cseq) = req.cseq() {
            self.dialog_mut(leg).remote_seq = Some(cseq.seq);
        }
        match method {
            Method::Bye => self.on_bye(ctx, leg, tx, &req, peer),
            _ if self.voice_holds_caller() && self.phase == Phase::Setup => {
                // calltrack itself holds the caller: nothing to relay to yet.
                let code = match method {
                    Method::Info | Method::Options => 200,
                    _ => 491,
                };
                self.reply(ctx, tx, &req, peer, code);
                if method == Method::Info && leg == Leg::A {
                    self.menu_info(ctx, &req);
                }
            }
            _ if self.phase == Phase::Ending => self.reply(ctx, tx, &req, peer, 481),
            Method::Invite if self.reinvite_in_flight() => self.reply(ctx, tx, &req, peer, 491),
            _ => self.relay_request(ctx, leg, tx, req, peer),
        }
    }

    /// A response of our own to an in-dialog request, with this leg's tag.
    pub(super) fn reply(
        &self,
        ctx: &mut Ctx<'_>,
        tx: TxId,
        req: &SipMessage,
        peer: Peer,
        code: u16,
    ) {
        let tag = self.dialog(self.leg_of(req)).local_tag.clone();
        let resp = response_to(req, code, reason_phrase(code), Some(&tag), Some(peer.addr));
        ctx.respond(tx, resp.finish());
    }

    /// A request on the dialog of an attempt that is not the B leg (one that answered too
    /// late and is being hung up): a BYE is confirmed, anything else has no dialog here.
    fn on_stray_attempt_request(&self, ctx: &mut Ctx<'_>, tx: TxId, req: &SipMessage, peer: Peer) {
        let attempt = self
            .attempts
            .iter()
            .find(|b| req.call_id() == Some(b.dialog.call_id.as_str()));
        let tag = attempt.map(|b| b.dialog.local_tag.as_str());
        let code = if req.method() == Some(&Method::Bye) {
            200
        } else {
            481
        };
        let resp = response_to(req, code, reason_phrase(code), tag, Some(peer.addr));
        ctx.respond(tx, resp.finish());
    }

    fn leg_of(&self, req: &SipMessage) -> Leg {
        let b = self.attempts.get(self.b).map(|b| b.dialog.call_id.as_str());
        if b.is_some() && req.call_id() == b {
            Leg::B
        } else {
            Leg::A
        }
    }

    /// RFC 3261 §14.1: one re-INVITE at a time per dialog (the ACK still counts).
    fn reinvite_in_flight(&self) -> bool {
        self.relays
            .values()
            .any(|r| r.request.method() == Some(&Method::Invite))
            || self.pending_ack.is_some()
    }

    fn relay_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        leg: Leg,
        tx: TxId,
        req: SipMessage,
        peer: Peer,
    ) {
        let method = req.method().cloned().unwrap_or(Method::Info);
        if bridge::is_target_refresh(&method) {
            learn_target(self.dialog_mut(leg), &req);
        }
        let toward = leg.other();
        let invite_seq = self.invite_seq(toward);
        let branch = ctx.ids.branch();
        let dialog = self.dialog_mut(toward);
        let target_peer = dialog.peer;
        let out = bridge::relay_request(&req, dialog, ctx.local, &branch, invite_seq, ctx.rules);
        let out = self.media_body(ctx, leg, out);
        let Some(client_tx) = ctx.send(self.key, out, target_peer) else {
            return self.reply(ctx, tx, &req, peer, 503);
        };
        let relay = Relay {
            server_tx: tx,
            from: leg,
            request: req,
            peer,
        };
        self.relays.insert(client_tx, relay);
    }

    /// The other leg answered a relayed request: carry the answer back to the originator.
    pub(super) fn on_relay_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        tx: TxId,
        resp: &SipMessage,
        retrans: bool,
    ) {
        let code = resp.status().unwrap_or(500);
        if code == 100 || retrans {
            return;
        }
        let Some(relay) = self.relays.remove(&tx) else {
            return;
        };
        let out = self.relayed_response(ctx, &relay, resp);
        ctx.respond(relay.server_tx, out);
        let is_invite = relay.request.method() == Some(&Method::Invite);
        if (200..300).contains(&code) && is_invite {
            self.await_ack(tx, relay.from.other());
        }
        if code < 200 {
            self.relays.insert(tx, relay);
        }
    }

    /// The response for the originator; a 2xx to a target refresh updates the answering
    /// leg's remote target and carries our Contact on the originating leg.
    fn relayed_response(&mut self, ctx: &Ctx<'_>, relay: &Relay, resp: &SipMessage) -> SipMessage {
        let code = resp.status().unwrap_or(500);
        let origin = relay.from;
        let refresh = relay
            .request
            .method()
            .is_some_and(bridge::is_target_refresh);
        if (200..300).contains(&code) && refresh {
            learn_target(self.dialog_mut(origin.other()), resp);
        }
        let contact =
            (refresh && code < 300).then(|| ctx.local.contact(self.dialog(origin).transport));
        let tag = &self.dialog(origin).local_tag;
        let source = Some(relay.peer.addr);
        let out = bridge::relay_response(
            &relay.request,
            resp,
            tag,
            source,
            contact.as_deref(),
            ctx.rules,
        );
        self.media_body(ctx, origin.other(), out)
    }

    /// A 2xx to a relayed re-INVITE: the originator's ACK is carried to `toward`.
    fn await_ack(&mut self, client_tx: TxId, toward: Leg) {
        let cseq = self.dialog(toward).local_seq;
        self.pending_ack = Some(PendingAck {
            client_tx,
            cseq,
            toward,
        });
    }

    /// An ACK for a 2xx, end to end: the caller's first ACK, or one for a relayed re-INVITE.
    pub fn on_ack(&mut self, ctx: &mut Ctx<'_>, leg: Leg, ack: SipMessage) {
        let seq = ack.cseq().map(|c| c.seq).ok();
        if leg == Leg::A && !self.a.acked && seq == Some(self.a.invite_seq) {
            if self.voice_ack(ctx) {
                return;
            }
            self.a.acked = true;
            let body = (!ack.body().is_empty()).then_some(&ack);
            self.ack_b(ctx, body);
            return;
        }
        let Some(pending) = self.pending_ack.filter(|p| p.toward == leg.other()) else {
            return;
        };
        self.pending_ack = None;
        self.relay_ack(ctx, pending, &ack);
    }

    fn relay_ack(&mut self, ctx: &mut Ctx<'_>, pending: PendingAck, ack: &SipMessage) {
        let branch = ctx.ids.branch();
        let dialog = self.dialog_mut(pending.toward);
        let peer = dialog.peer;
        let body = (!ack.body().is_empty()).then_some(ack);
        let out = bridge::ack_for(dialog, ctx.local, &branch, pending.cseq, body);
        let out = self.media_body(ctx, pending.toward.other(), out);
        if let Err(error) = ctx.layer.send_ack(ctx.now, pending.client_tx, out, peer) {
            tracing::debug!(%error, "relayed ACK not sent");
        }
    }
}
