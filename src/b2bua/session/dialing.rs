//! The B-leg attempts the dialer asks for: one INVITE per target rung, CANCEL of the ones it
//! drops, the dialer's timers, an attempt that gets no answer, and the retry over UDP.

use std::collections::VecDeque;

use crate::sip::SipMessage;

use crate::b2bua::bridge;
use crate::b2bua::session::legs::{callee_leg, cancel_for};
use crate::b2bua::session::{CallSession, Ctx, Leg, Phase, SetUp};
use crate::call::outcome::Fault;
use crate::call::record::HangupSide;
use crate::call::trail::TrailOutcome;
use crate::routing::dialer::{Action, AttemptId, Outcome};

impl CallSession {
    /// Carries out the dialer's actions, feeding back the INVITEs that could not be sent.
    pub(super) fn run(&mut self, ctx: &mut Ctx<'_>, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Ring(id) => {
                    if !self.ring(ctx, id) {
                        self.trail.ended(id, TrailOutcome::Unreachable, None);
                        if let Some(d) = self.dialing_mut() {
                            let unreachable = Outcome::Unreachable;
                            let next = d.dialer.on_outcome(ctx.now, id, unreachable, ctx.rotation);
                            queue.extend(next);
                        }
                    }
                }
                Action::Cancel(id) => self.cancel_attempt(ctx, id),
                Action::GiveUp(fault) => self.give_up(ctx, fault),
            }
        }
    }

    /// Sends attempt `id`'s INVITE; false when it could not be sent.
    fn ring(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) -> bool {
        if id != self.attempts.len() || self.phase != Phase::Setup {
            return false;
        }
        let SetUp::Dialling(d) = &self.setup else {
            return false;
        };
        let Some(target) = d.dialer.target(id).cloned() else {
            return false;
        };
        let leg = callee_leg(ctx, &d.invite, &d.caller, &target.target);
        let position = d.dialer.position(id);
        let scheme = d.dialer.plan().scheme.clone();
        let udp_max = d.udp_max;
        self.attempts.push(leg);
        tracing::debug!(attempt = id, target = %target.label, "ringing");
        if let Some((step, label)) = position {
            self.trail.rang(id, ctx.wall(), step, &label);
        }
        metrics::counter!("calltrack_dial_attempts_total", "scheme" => scheme).increment(1);
        let branch = ctx.ids.branch();
        let Some(mut invite) = self.build_invite(ctx, id, &branch) else {
            return false;
        };
        let size = invite.as_bytes().len();
        let pinned = target.target.transport_pinned;
        let b = &mut self.attempts[id];
        let transport = bridge::transport_for_size(b.dialog.transport, pinned, size, udp_max);
        if transport != b.dialog.transport {
            b.dialog.transport = transport;
            b.dialog.peer.transport = transport;
            b.tcp_upgraded = true;
            invite = match self.build_invite(ctx, id, &branch) {
                Some(invite) => invite,
                None => return false,
            };
        }
        self.send_invite(ctx, id, invite)
    }

    /// Attempt `id`'s INVITE, built from the caller's (`None` once the call is answered).
    fn build_invite(&self, ctx: &Ctx<'_>, id: AttemptId, branch: &str) -> Option<SipMessage> {
        let (b, d) = (&self.attempts[id].dialog, self.dialing()?);
        let (stamp, max_forwards) = (&d.stamp, d.max_forwards);
        let invite = bridge::b_leg_invite(
            &d.invite,
            b,
            ctx.local,
            branch,
            max_forwards,
            ctx.rules,
            stamp,
        );
        match self.voice_offer(invite) {
            Ok(invite) => Some(invite),
            Err(invite) => Some(self.media_body(ctx, Leg::A, invite)),
        }
    }

    /// Sends (or re-sends) an attempt's INVITE as a new client transaction.
    pub(super) fn send_invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: AttemptId,
        invite: SipMessage,
    ) -> bool {
        let b = &mut self.attempts[id];
        b.invite = Some(Box::new(invite.clone()));
        b.invite_tx = ctx.send(self.key, invite, b.dialog.peer);
        b.invite_tx.is_some()
    }

    /// The dialer dropped an attempt: CANCEL it once it may be cancelled. Before an answer
    /// it rang out (its own or its step's timeout); after one, another attempt won.
    fn cancel_attempt(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        let outcome = match self.live.answered_at {
            Some(_) => TrailOutcome::Cancelled,
            None => TrailOutcome::NoAnswer,
        };
        self.trail.ended(id, outcome, None);
        if let Some(b) = self.attempts.get_mut(id) {
            b.cancel_wanted = true;
            self.send_pending_cancel(ctx, id);
        }
    }

    /// Stops dialling: every attempt still ringing is cancelled (caller CANCEL, the whole
    /// call's ring timeout, shutdown).
    pub(super) fn cancel_all(&mut self, ctx: &mut Ctx<'_>) {
        self.ring_deadline = None;
        let ringing = self.dialing_mut().map(|d| d.dialer.stop());
        for id in ringing.unwrap_or_default() {
            self.cancel_attempt(ctx, id);
        }
    }

    /// CANCEL may only follow a provisional response (RFC 3261 §9.1); until then it waits.
    /// It matches the attempt's latest INVITE (after a digest retry, the authenticated one).
    pub(super) fn send_pending_cancel(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        let Some(b) = self.attempts.get_mut(id) else {
            return;
        };
        if !b.cancel_wanted || b.cancel_sent || !b.provisional_seen || b.final_seen {
            return;
        }
        let Some(invite) = &b.invite else {
            return;
        };
        let cancel = cancel_for(invite);
        b.cancel_sent = true;
        let peer = b.dialog.peer;
        ctx.send(self.key, cancel, peer);
    }

    /// The dialer has nothing left to ring: voicemail takes the call, or the caller hears
    /// the fault.
    fn give_up(&mut self, ctx: &mut Ctx<'_>, fault: Fault) {
        if self.fail_to_voicemail(ctx, fault) {
            return;
        }
        let (status, _) = fault.caller_status();
        let last_failure = self.dialing_mut().and_then(|d| d.last_failure.take());
        let relayed = match (fault, last_failure) {
            (Fault::Callee(code), Some(resp)) if code == status && resp.status() == Some(code) => {
                Some(resp)
            }
            _ => None,
        };
        match relayed {
            Some(resp)
                if self.phase == Phase::Setup
                    && !self.recorded
                    && !self.voice_answered_caller() =>
            {
                match self.relay_to_a(ctx, &resp, None) {
                    Some(answer) => self.end_setup(ctx, fault, answer),
                    None => self.fail(ctx, fault),
                }
            }
            _ => self.fail(ctx, fault),
        }
    }

    // ---- an attempt got no answer ------------------------------------------------------

    pub(super) fn on_attempt_timeout(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        // Timer C in Proceeding (RFC 3261 §16.8): "If the client transaction has received a
        // provisional response, the proxy MUST generate a CANCEL request matching that
        // transaction." After our own CANCEL (§9.1 wait) nothing more is sent.
        if self.attempts[id].provisional_seen {
            self.attempts[id].cancel_wanted = true;
            self.send_pending_cancel(ctx, id);
        }
        self.trail.ended(id, TrailOutcome::Unreachable, None);
        let live = self.dialing().is_some_and(|d| d.dialer.is_live(id));
        let b = &mut self.attempts[id];
        b.final_seen = true;
        if b.tcp_upgraded && !b.provisional_seen && live && self.phase == Phase::Setup {
            // RFC 3261 §18.1.1: a request moved to TCP for its size is retried over UDP.
            self.retry_over_udp(ctx, id);
            return;
        }
        b.invite = None;
        match self.phase {
            Phase::Setup => self.unreachable(ctx, id),
            Phase::Answered if id == self.b => self.hang_up(ctx, HangupSide::System, &[Leg::A]),
            Phase::Answered | Phase::Ending => {}
        }
    }

    /// Attempt `id` could not be reached: the dialer says what next.
    fn unreachable(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        let (now, unreachable) = (ctx.now, Outcome::Unreachable);
        let next = self
            .dialing_mut()
            .map(|d| d.dialer.on_outcome(now, id, unreachable, ctx.rotation));
        if let Some(next) = next {
            self.run(ctx, next);
        }
    }

    fn retry_over_udp(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        let udp = crate::sip::Transport::Udp;
        let b = &mut self.attempts[id];
        b.tcp_upgraded = false;
        b.final_seen = false;
        b.dialog.transport = udp;
        b.dialog.peer.transport = udp;
        let via = ctx.local.via(udp, &ctx.ids.branch());
        let Some(invite) = &b.invite else {
            return self.unreachable(ctx, id);
        };
        let retry = bridge::on_transport(invite, &via, &ctx.local.contact(udp));
        if !self.send_invite(ctx, id, retry) {
            self.unreachable(ctx, id);
        }
    }
}
