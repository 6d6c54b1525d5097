//! Answers to the attempts' INVITEs: provisionals relayed to the caller, the first 2xx that
//! wins the call (the other attempts are cancelled), 2xx that lost or crossed a CANCEL,
//! failures handed to the dialer; the caller's CANCEL and the whole call's ring timeout.

use crate::sip::SipMessage;
use crate::sip::message::{HeaderName, response_to};
use crate::sip::transaction::TxId;

use crate::b2bua::bridge;
use crate::b2bua::event::CallEvent;
use crate::b2bua::session::legs::learn_remote;
use crate::b2bua::session::{CallSession, Ctx, Leg, Phase, SetUp};
use crate::call::outcome::{Fault, reason_phrase};
use crate::routing::dialer::{AttemptId, Outcome};

impl CallSession {
    pub(super) fn on_attempt_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: AttemptId,
        resp: SipMessage,
        retrans: bool,
    ) {
        let code = resp.status().unwrap_or(500);
        match code {
            100 => {
                self.attempts[id].provisional_seen = true;
                self.send_pending_cancel(ctx, id);
            }
            101..=199 => self.on_provisional(ctx, id, &resp),
            // A retransmitted 2xx is re-ACKed by the transaction layer (RFC 6026 §7.2).
            200..=299 if !retrans => {
                self.trail.answered_with(id, code);
                self.on_answer(ctx, id, &resp);
            }
            200..=299 => {}
            _ => self.on_failure(ctx, id, code, &resp),
        }
    }

    /// 18x: relayed as it is (a reliable one keeps Require/RSeq, RFC 3262), with our Contact
    /// when it creates an early dialog.
    fn on_provisional(&mut self, ctx: &mut Ctx<'_>, id: AttemptId, resp: &SipMessage) {
        let b = &mut self.attempts[id];
        b.provisional_seen = true;
        learn_remote(&mut b.dialog, resp);
        let cancelled = b.cancel_wanted;
        let spoken = self.voice_holds_caller();
        if self.phase == Phase::Setup && !cancelled && !spoken && self.may_relay(id, resp) {
            let has_tag = resp.to().ok().and_then(|t| t.tag()).is_some();
            if has_tag {
                self.b = id;
            }
            let contact = has_tag.then(|| self.a_contact(ctx));
            if let Some(relayed) = self.relay_to_a(ctx, resp, contact.as_deref()) {
                ctx.respond(self.a.invite_tx, relayed);
            }
        }
        self.send_pending_cancel(ctx, id);
    }

    /// Early media reaches the caller from one attempt only: the first that sends an 18x
    /// with a body or a reliable 18x owns it while it rings; meanwhile the others' 18x are
    /// not relayed (the caller already hears something, and one RSeq space is kept).
    fn may_relay(&mut self, id: AttemptId, resp: &SipMessage) -> bool {
        let Some(d) = self.dialing_mut() else {
            return false;
        };
        let owner = d.early.filter(|&e| d.dialer.is_live(e));
        if owner.is_some_and(|e| e != id) {
            return false;
        }
        let early = !resp.body().is_empty() || resp.header(&HeaderName::RSeq).is_some();
        if early {
            d.early = Some(id);
        }
        true
    }

    fn on_answer(&mut self, ctx: &mut Ctx<'_>, id: AttemptId, resp: &SipMessage) {
        self.attempts[id].final_seen = true;
        self.attempts[id].invite = None;
        let answered = self.live.answered_at.is_some();
        if answered && id == self.b {
            if self.is_another_fork(resp) {
                self.shed_fork(ctx, resp);
            }
            return;
        }
        learn_remote(&mut self.attempts[id].dialog, resp);
        let late = answered || self.in_voicemail();
        if self.phase != Phase::Setup || self.attempts[id].cancel_wanted || late {
            // Answered after the caller left, after a CANCEL crossed it, or after another
            // attempt won: ACK and hang up that dialog.
            self.ack_attempt(ctx, id, None);
            self.send_bye_on(ctx, id);
            return;
        }
        let Some(d) = self.dialing() else {
            return;
        };
        let early_offer = !d.invite.body().is_empty();
        self.b = id;
        if self.voice_holds_caller() {
            self.voice_callee_answered(ctx, resp);
        } else {
            let contact = self.a_contact(ctx);
            if let Some(relayed) = self.relay_to_a(ctx, resp, Some(&contact)) {
                ctx.respond(self.a.invite_tx, relayed);
            }
        }
        self.mark_answered(ctx, id);
        if early_offer {
            // The offer was in the INVITE, so the ACK carries no answer: send it now.
            self.ack_attempt(ctx, id, None);
        }
        let cancels = self
            .dialing_mut()
            .map(|d| d.dialer.on_answer(id, ctx.rotation));
        self.run(ctx, cancels.unwrap_or_default());
        self.settle();
    }

    /// The call is won and the other attempts are cancelled: what only the set-up needed
    /// goes (see [`SetUp`]).
    fn settle(&mut self) {
        let counted = self.setup.counted();
        self.setup = SetUp::Answered { counted };
    }

    /// A 2xx from a second branch of a forked INVITE after one branch already answered
    /// (RFC 3261 §13.2.2.4): it has a To tag of its own.
    fn is_another_fork(&self, resp: &SipMessage) -> bool {
        let tag = resp.to().ok().and_then(|t| t.tag());
        tag.is_some() && tag != self.b().dialog.remote_tag.as_deref()
    }

    /// ACKs and hangs up the extra branch on a dialog of its own; the call keeps its dialog.
    fn shed_fork(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        let Some(tx) = self.b().invite_tx else { return };
        let mut fork = self.b().dialog.clone();
        fork.remote_tag = None;
        learn_remote(&mut fork, resp);
        let branch = ctx.ids.branch();
        let ack = bridge::ack_for(&mut fork, ctx.local, &branch, self.b().invite_seq, None);
        if let Err(error) = ctx.layer.send_ack(ctx.now, tx, ack, fork.peer) {
            tracing::debug!(%error, "ACK for a forked answer not sent");
        }
        self.send_bye_in(ctx, &mut fork);
    }

    /// Talking from now on: the ring timers stop, the maximum-duration timer starts, the
    /// record learns which step and target answered.
    fn mark_answered(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        self.phase = Phase::Answered;
        self.live.answered_at = Some(ctx.wall());
        let dialer = self.dialing().map(|d| &d.dialer);
        let position = dialer.and_then(|d| d.position(id));
        let scheme = dialer.map(|d| d.plan().scheme.clone()).unwrap_or_default();
        let destination = dialer
            .and_then(|d| d.target(id))
            .map(|t| t.target.uri.clone());
        if let Some((step, label)) = position {
            tracing::info!(step, target = %label, "answered");
            metrics::counter!("calltrack_dial_answered_total", "scheme" => scheme, "step" => step.to_string())
                .increment(1);
            self.live.answered_step = Some(step);
            self.live.answered_target = Some(label);
        }
        if let Some(destination) = destination {
            self.live.destination = destination;
        }
        self.ring_deadline = None;
        self.max_deadline = Some(ctx.now + self.lifespan.max_duration);
        self.lifespan.answered = Some(ctx.now);
        self.media_answered(ctx);
        ctx.events.push_back(CallEvent::Answered {
            id: self.live.id.clone(),
            at: ctx.wall(),
        });
    }

    fn on_failure(&mut self, ctx: &mut Ctx<'_>, id: AttemptId, code: u16, resp: &SipMessage) {
        self.attempts[id].final_seen = true;
        if matches!(code, 401 | 407) && self.answer_challenge(ctx, id, resp) {
            return;
        }
        self.attempts[id].invite = None;
        self.trail.answered_with(id, code);
        let (setup, recorded) = (self.phase == Phase::Setup, self.recorded);
        let Some(d) = self
            .dialing_mut()
            .filter(|d| setup && !recorded && d.dialer.is_live(id))
        else {
            return;
        };
        d.last_failure = Some(resp.clone());
        let next = d
            .dialer
            .on_outcome(ctx.now, id, Outcome::Status(code), ctx.rotation);
        self.run(ctx, next);
    }

    /// An attempt's response relayed to the caller's INVITE (`None` once answered: the
    /// caller's INVITE is no longer kept).
    pub(super) fn relay_to_a(
        &self,
        ctx: &Ctx<'_>,
        resp: &SipMessage,
        contact: Option<&str>,
    ) -> Option<SipMessage> {
        let invite = &self.dialing()?.invite;
        let tag = &self.a.dialog.local_tag;
        let source = Some(self.a.peer.addr);
        let relayed = bridge::relay_response(invite, resp, tag, source, contact, ctx.rules);
        Some(self.media_body(ctx, Leg::B, relayed))
    }

    /// A response of our own to the caller's INVITE (`None` once answered).
    fn a_response(&self, status: u16) -> Option<SipMessage> {
        let invite = &self.dialing()?.invite;
        let tag = Some(self.a.dialog.local_tag.as_str());
        let source = Some(self.a.peer.addr);
        Some(response_to(invite, status, reason_phrase(status), tag, source).finish())
    }

    fn a_contact(&self, ctx: &Ctx<'_>) -> String {
        ctx.local.contact(self.a.dialog.transport)
    }

    // ---- failure, cancel, ring timeout -------------------------------------------------

    /// The call cannot be set up: answer the caller and record the outcome.
    pub(super) fn fail(&mut self, ctx: &mut Ctx<'_>, fault: Fault) {
        if self.phase != Phase::Setup || self.recorded {
            return;
        }
        if self.cut_voicemail(ctx) {
            return;
        }
        if self.voice_answered_caller() {
            return self.voice_fail(ctx, fault);
        }
        let (status, _) = fault.caller_status();
        if let Some(answer) = self.a_response(status) {
            self.end_setup(ctx, fault, answer);
        }
    }

    /// The caller gets its final answer: record, stop ringing, only clean-up is left.
    pub(super) fn end_setup(&mut self, ctx: &mut Ctx<'_>, fault: Fault, answer: SipMessage) {
        let status = answer.status().unwrap_or(500);
        ctx.respond(self.a.invite_tx, answer);
        self.record(ctx, fault.disposition(), status, fault.hangup_side());
        self.phase = Phase::Ending;
        self.ring_deadline = None;
    }

    /// The caller cancelled (RFC 3261 §9.2): 487 to the caller, CANCEL toward every attempt.
    pub fn on_cancel(&mut self, ctx: &mut Ctx<'_>, invite_tx: TxId) {
        // A CANCEL after our own 2xx has no effect (RFC 3261 §9.2).
        if invite_tx != self.a.invite_tx || self.phase != Phase::Setup {
            return;
        }
        if self.voice_answered_caller() {
            return;
        }
        self.fail(ctx, Fault::CallerCancelled);
        self.cancel_all(ctx);
    }

    /// The call rang too long (`[calls] ring_timeout_secs`): 480 to the caller, CANCEL
    /// toward every attempt.
    pub(super) fn on_ring_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.ring_deadline = None;
        if self.phase == Phase::Setup && !self.fail_to_voicemail(ctx, Fault::RingTimeout) {
            self.fail(ctx, Fault::RingTimeout);
            self.cancel_all(ctx);
        }
    }

    /// The ACK for an attempt's 2xx, once (RFC 3261 §13.2.2.4); `body_from` carries the
    /// caller's answer to a late offer.
    pub(super) fn ack_attempt(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: AttemptId,
        body_from: Option<&SipMessage>,
    ) {
        let b = &mut self.attempts[id];
        let Some(tx) = b.invite_tx.filter(|_| !b.acked) else {
            return;
        };
        b.acked = true;
        let branch = ctx.ids.branch();
        let ack = bridge::ack_for(&mut b.dialog, ctx.local, &branch, b.invite_seq, body_from);
        let peer = b.dialog.peer;
        // A body here is the caller's answer to the callee's late offer.
        let ack = self.media_body(ctx, Leg::A, ack);
        if let Err(error) = ctx.layer.send_ack(ctx.now, tx, ack, peer) {
            tracing::debug!(%error, "ACK not sent");
        }
    }

    /// The ACK for the B leg's 2xx.
    pub(super) fn ack_b(&mut self, ctx: &mut Ctx<'_>, body_from: Option<&SipMessage>) {
        self.ack_attempt(ctx, self.b, body_from);
    }
}
