//! Setting the call up: the B-leg INVITE and every answer to it, relayed to the caller;
//! failure, the caller's CANCEL, the ring timeout and the retry over UDP.

use crate::sip::SipMessage;
use crate::sip::message::response_to;
use crate::sip::transaction::TxId;

use super::super::BridgePlan;
use super::super::b2bua::CallEvent;
use super::super::bridge;
use super::super::outcome::{Fault, reason_phrase};
use super::super::record::HangupSide;
use super::legs::{cancel_for, learn_remote};
use super::{CallSession, Ctx, Leg, Phase};

impl CallSession {
    pub(super) fn send_b_invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        plan: &BridgePlan,
        udp_max: usize,
        stamp: &[(String, String)],
    ) {
        let branch = ctx.ids.branch();
        let mut invite = self.build_b_invite(ctx, plan, &branch, stamp);
        let size = invite.as_bytes().len();
        let pinned = plan.target.transport_pinned;
        let transport = bridge::transport_for_size(self.b.dialog.transport, pinned, size, udp_max);
        if transport != self.b.dialog.transport {
            self.b.dialog.transport = transport;
            self.b.dialog.peer.transport = transport;
            self.b.tcp_upgraded = true;
            invite = self.build_b_invite(ctx, plan, &branch, stamp);
        }
        self.b.invite = invite.clone();
        self.b.invite_tx = ctx.send(self.key, invite, self.b.dialog.peer);
        if self.b.invite_tx.is_none() {
            self.fail(ctx, Fault::Unreachable);
        }
    }

    fn build_b_invite(
        &self,
        ctx: &Ctx<'_>,
        plan: &BridgePlan,
        branch: &str,
        stamp: &[(String, String)],
    ) -> SipMessage {
        let (a, b, mf) = (&self.a.invite, &self.b.dialog, plan.max_forwards);
        bridge::b_leg_invite(a, b, ctx.local, branch, mf, ctx.rules, stamp)
    }

    // ---- answers to the B-leg INVITE ---------------------------------------------------

    pub(super) fn on_b_invite_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        resp: SipMessage,
        retrans: bool,
    ) {
        let code = resp.status().unwrap_or(500);
        match code {
            100 => self.on_b_trying(ctx),
            101..=199 => self.on_b_provisional(ctx, &resp),
            // A retransmitted 2xx is re-ACKed by the transaction layer (RFC 6026 §7.2).
            200..=299 if !retrans => self.on_b_answer(ctx, &resp),
            200..=299 => {}
            _ => self.on_b_failure(ctx, code, &resp),
        }
    }

    fn on_b_trying(&mut self, ctx: &mut Ctx<'_>) {
        self.b.provisional_seen = true;
        self.send_pending_cancel(ctx);
    }

    /// 18x: relayed as it is (a reliable one keeps Require/RSeq, RFC 3262), with our Contact
    /// when it creates an early dialog.
    fn on_b_provisional(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        self.b.provisional_seen = true;
        learn_remote(&mut self.b.dialog, resp);
        if self.phase == Phase::Setup && !self.b.cancel_wanted {
            let has_tag = resp.to().ok().and_then(|t| t.tag()).is_some();
            let contact = has_tag.then(|| self.a_contact(ctx));
            let relayed = self.relay_to_a(ctx, resp, contact.as_deref());
            ctx.respond(self.a.invite_tx, relayed);
        }
        self.send_pending_cancel(ctx);
    }

    fn on_b_answer(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        self.b.final_seen = true;
        if self.is_another_fork(resp) {
            self.shed_fork(ctx, resp);
            return;
        }
        learn_remote(&mut self.b.dialog, resp);
        if self.phase != Phase::Setup || self.b.cancel_wanted {
            // Answered after the caller left (CANCEL crossed the 200): ACK and hang up.
            self.ack_b(ctx, None);
            self.send_bye(ctx, Leg::B);
            return;
        }
        let contact = self.a_contact(ctx);
        let relayed = self.relay_to_a(ctx, resp, Some(&contact));
        ctx.respond(self.a.invite_tx, relayed);
        self.mark_answered(ctx);
        if !self.a.invite.body().is_empty() {
            // The offer was in the INVITE, so the ACK carries no answer: send it now.
            self.ack_b(ctx, None);
        }
    }

    /// A 2xx from a second branch of a forked INVITE after one branch already answered
    /// (RFC 3261 §13.2.2.4): it has a To tag of its own.
    fn is_another_fork(&self, resp: &SipMessage) -> bool {
        let tag = resp.to().ok().and_then(|t| t.tag());
        self.live.answered_at.is_some()
            && tag.is_some()
            && tag != self.b.dialog.remote_tag.as_deref()
    }

    /// ACKs and hangs up the extra branch on a dialog of its own; the call keeps its dialog.
    fn shed_fork(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        let Some(tx) = self.b.invite_tx else { return };
        let mut fork = self.b.dialog.clone();
        fork.remote_tag = None;
        learn_remote(&mut fork, resp);
        let branch = ctx.ids.branch();
        let ack = bridge::ack_for(&mut fork, ctx.local, &branch, self.b.invite_seq, None);
        if let Err(error) = ctx.layer.send_ack(ctx.now, tx, ack, fork.peer) {
            tracing::debug!(%error, "ACK for a forked answer not sent");
        }
        let branch = ctx.ids.branch();
        let bye = fork
            .request(&crate::sip::Method::Bye, ctx.local, &branch)
            .finish();
        if let Some(bye_tx) = ctx.send(self.key, bye, fork.peer) {
            self.byes.insert(bye_tx);
        }
    }

    /// Talking from now on: the ring timer stops, the maximum-duration timer starts.
    fn mark_answered(&mut self, ctx: &mut Ctx<'_>) {
        self.phase = Phase::Answered;
        self.live.answered_at = Some(ctx.wall());
        self.ring_deadline = None;
        self.max_deadline = Some(ctx.now + self.max_duration);
        ctx.events.push_back(CallEvent::Answered {
            id: self.live.id.clone(),
            at: ctx.wall(),
        });
    }

    fn on_b_failure(&mut self, ctx: &mut Ctx<'_>, code: u16, resp: &SipMessage) {
        self.b.final_seen = true;
        if self.phase != Phase::Setup || self.recorded {
            return;
        }
        let fault = Fault::Callee(code);
        let (status, _) = fault.caller_status();
        let answer = if status == code {
            self.relay_to_a(ctx, resp, None)
        } else {
            self.a_response(status)
        };
        self.end_setup(ctx, fault, answer);
    }

    fn relay_to_a(&self, ctx: &Ctx<'_>, resp: &SipMessage, contact: Option<&str>) -> SipMessage {
        let tag = &self.a.dialog.local_tag;
        let source = Some(self.a.peer.addr);
        bridge::relay_response(&self.a.invite, resp, tag, source, contact, ctx.rules)
    }

    /// A response of our own to the caller's INVITE.
    fn a_response(&self, status: u16) -> SipMessage {
        let tag = Some(self.a.dialog.local_tag.as_str());
        let source = Some(self.a.peer.addr);
        response_to(&self.a.invite, status, reason_phrase(status), tag, source).finish()
    }

    fn a_contact(&self, ctx: &Ctx<'_>) -> String {
        ctx.local.contact(self.a.dialog.transport)
    }

    // ---- failure, cancel, ring timeout -------------------------------------------------

    /// The B-leg cannot be set up: answer the caller and record the outcome.
    pub(super) fn fail(&mut self, ctx: &mut Ctx<'_>, fault: Fault) {
        if self.phase != Phase::Setup || self.recorded {
            return;
        }
        let (status, _) = fault.caller_status();
        let answer = self.a_response(status);
        self.end_setup(ctx, fault, answer);
    }

    /// The caller gets its final answer: record, stop ringing, only clean-up is left.
    fn end_setup(&mut self, ctx: &mut Ctx<'_>, fault: Fault, answer: SipMessage) {
        let status = answer.status().unwrap_or(500);
        ctx.respond(self.a.invite_tx, answer);
        self.record(ctx, fault.disposition(), status, fault.hangup_side());
        self.phase = Phase::Ending;
        self.ring_deadline = None;
    }

    /// The caller cancelled (RFC 3261 §9.2): 487 to the caller, CANCEL toward the callee.
    pub fn on_cancel(&mut self, ctx: &mut Ctx<'_>, invite_tx: TxId) {
        if invite_tx != self.a.invite_tx || self.phase != Phase::Setup {
            return;
        }
        self.fail(ctx, Fault::CallerCancelled);
        self.cancel_b(ctx);
    }

    /// The callee rang too long: 480 to the caller, CANCEL toward the callee.
    pub(super) fn on_ring_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.ring_deadline = None;
        if self.phase == Phase::Setup {
            self.fail(ctx, Fault::RingTimeout);
            self.cancel_b(ctx);
        }
    }

    /// CANCEL may only follow a provisional response (RFC 3261 §9.1); until then it waits.
    pub(super) fn cancel_b(&mut self, ctx: &mut Ctx<'_>) {
        self.b.cancel_wanted = true;
        self.ring_deadline = None;
        self.send_pending_cancel(ctx);
    }

    fn send_pending_cancel(&mut self, ctx: &mut Ctx<'_>) {
        let b = &self.b;
        if !b.cancel_wanted || b.cancel_sent || !b.provisional_seen || b.final_seen {
            return;
        }
        self.b.cancel_sent = true;
        let cancel = cancel_for(&self.b.invite);
        ctx.send(self.key, cancel, self.b.dialog.peer);
    }

    /// The ACK for the callee's 2xx, once (RFC 3261 §13.2.2.4); `body_from` carries the
    /// caller's answer to a late offer.
    pub(super) fn ack_b(&mut self, ctx: &mut Ctx<'_>, body_from: Option<&SipMessage>) {
        let Some(tx) = self.b.invite_tx.filter(|_| !self.b.acked) else {
            return;
        };
        self.b.acked = true;
        let branch = ctx.ids.branch();
        let seq = self.b.invite_seq;
        let ack = bridge::ack_for(&mut self.b.dialog, ctx.local, &branch, seq, body_from);
        if let Err(error) = ctx.layer.send_ack(ctx.now, tx, ack, self.b.dialog.peer) {
            tracing::debug!(%error, "ACK not sent");
        }
    }

    // ---- the B-leg INVITE got no answer ------------------------------------------------

    pub(super) fn on_b_invite_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.b.final_seen = true;
        if self.b.tcp_upgraded && !self.b.provisional_seen && self.phase == Phase::Setup {
            // RFC 3261 §18.1.1: a request moved to TCP for its size is retried over UDP.
            self.retry_b_over_udp(ctx);
            return;
        }
        match self.phase {
            Phase::Setup => self.fail(ctx, Fault::Unreachable),
            Phase::Answered => self.hang_up(ctx, HangupSide::System, &[Leg::A]),
            Phase::Ending => {}
        }
    }

    fn retry_b_over_udp(&mut self, ctx: &mut Ctx<'_>) {
        let udp = crate::sip::Transport::Udp;
        self.b.tcp_upgraded = false;
        self.b.final_seen = false;
        self.b.dialog.transport = udp;
        self.b.dialog.peer.transport = udp;
        let via = ctx.local.via(udp, &ctx.ids.branch());
        let retry = bridge::replace_via(&self.b.invite, &via);
        self.b.invite = retry.clone();
        self.b.invite_tx = ctx.send(self.key, retry, self.b.dialog.peer);
        if self.b.invite_tx.is_none() {
            self.fail(ctx, Fault::Unreachable);
        }
    }
}
