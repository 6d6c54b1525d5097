//! The B-leg attempts the dialer asks for: one INVITE per target rung, CANCEL of the ones it
//! drops, the dialer's timers, an attempt that gets no answer, and the retry over UDP.

use std::collections::VecDeque;

use crate::sip::SipMessage;

use crate::b2bua::bridge;
use crate::b2bua::session::legs::{callee_leg, cancel_for};
use crate::b2bua::session::{CallSession, Ctx, Leg, Phase};
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
                        let dialer = &mut self.dialing.dialer;
                        queue.extend(dialer.on_outcome(
                            ctx.now,
                            id,
                            Outcome::Unreachable,
                            ctx.rotation,
                        ));
                    }
                }
                Action::Cancel(id) => self.cancel_attempt(ctx, id),
                Action::GiveUp(fault) => self.give_up(ctx, fault),
            }
        }
    }

    /// Sends attempt `id`'s INVITE; false when it could not be sent.
    fn ring(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) -> bool {
        let Some(target) = self.dialing.dialer.target(id).cloned() else {
            return false;
        };
        if id != self.attempts.len() || self.phase != Phase::Setup {
            return false;
        }
        let caller = self.dialing.caller.clone();
        let leg = callee_leg(ctx, &self.a.invite, &caller, &target.target);
        self.attempts.push(leg);
        tracing::debug!(attempt = id, target = %target.label, "ringing");
        if let Some((step, label)) = self.dialing.dialer.position(id) {
            self.trail.rang(id, ctx.wall(), step, &label);
        }
        let scheme = self.dialing.dialer.plan().scheme.clone();
        metrics::counter!("calltrack_dial_attempts_total", "scheme" => scheme).increment(1);
        let branch = ctx.ids.branch();
        let mut invite = self.build_invite(ctx, id, &branch);
        let size = invite.as_bytes().len();
        let pinned = target.target.transport_pinned;
        let b = &mut self.attempts[id];
        let transport =
            bridge::transport_for_size(b.dialog.transport, pinned, size, self.dialing.udp_max);
        if transport != b.dialog.transport {
            b.dialog.transport = transport;
            b.dialog.peer.transport = transport;
            b.tcp_upgraded = true;
            invite = self.build_invite(ctx, id, &branch);
        }
        self.send_invite(ctx, id, invite)
    }

    fn build_invite(&self, ctx: &Ctx<'_>, id: AttemptId, branch: &str) -> SipMessage {
        let (a, b, d) = (&self.a.invite, &self.attempts[id].dialog, &self.dialing);
        let invite =
            bridge::b_leg_invite(a, b, ctx.local, branch, d.max_forwards, ctx.rules, &d.stamp);
        self.media_body(ctx, Leg::A, invite)
    }

    /// Sends (or re-sends) an attempt's INVITE as a new client transaction.
    pub(super) fn send_invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        id: AttemptId,
        invite: SipMessage,
    ) -> bool {
        let b = &mut self.attempts[id];
        b.invite = invite.clone();
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
        for id in self.dialing.dialer.stop() {
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
        b.cancel_sent = true;
        let cancel = cancel_for(&b.invite);
        let peer = b.dialog.peer;
        ctx.send(self.key, cancel, peer);
    }

    /// The dialer has nothing left to ring: the caller hears the fault.
    fn give_up(&mut self, ctx: &mut Ctx<'_>, fault: Fault) {
        let (status, _) = fault.caller_status();
        let relayed = match (fault, self.dialing.last_failure.take()) {
            (Fault::Callee(code), Some(resp)) if code == status && resp.status() == Some(code) => {
                Some(resp)
            }
            _ => None,
        };
        match relayed {
            Some(resp) if self.phase == Phase::Setup && !self.recorded => {
                let answer = self.relay_to_a(ctx, &resp, None);
                self.end_setup(ctx, fault, answer);
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
        let b = &mut self.attempts[id];
        b.final_seen = true;
        let live = self.dialing.dialer.is_live(id);
        if b.tcp_upgraded && !b.provisional_seen && live && self.phase == Phase::Setup {
            // RFC 3261 §18.1.1: a request moved to TCP for its size is retried over UDP.
            self.retry_over_udp(ctx, id);
            return;
        }
        match self.phase {
            Phase::Setup => {
                let next =
                    self.dialing
                        .dialer
                        .on_outcome(ctx.now, id, Outcome::Unreachable, ctx.rotation);
                self.run(ctx, next);
            }
            Phase::Answered if id == self.b => self.hang_up(ctx, HangupSide::System, &[Leg::A]),
            Phase::Answered | Phase::Ending => {}
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
        let retry = bridge::on_transport(&b.invite, &via, &ctx.local.contact(udp));
        if !self.send_invite(ctx, id, retry) {
            let next =
                self.dialing
                    .dialer
                    .on_outcome(ctx.now, id, Outcome::Unreachable, ctx.rotation);
            self.run(ctx, next);
        }
    }
}
