//! Ending a call: BYE from either leg, hanging up on timers and shutdown, reaping a call that
//! escaped its timers, and the one CDR every call gets.

use crate::sip::dialog::Dialog;
use crate::sip::message::Method;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::event::CallEvent;
use crate::b2bua::session::{CallSession, Ctx, Leg, Phase};
use crate::call::outcome::Fault;
use crate::call::record::{CallDetailRecord, Disposition, HangupSide};
use crate::routing::dialer::AttemptId;

impl CallSession {
    /// A BYE on either leg: 200 at once, then end the call (RFC 3261 §15.1.2). A BYE that
    /// crosses our own (glare) is only answered: the call is already recorded.
    pub(super) fn on_bye(
        &mut self,
        ctx: &mut Ctx<'_>,
        leg: Leg,
        tx: TxId,
        req: &SipMessage,
        peer: Peer,
    ) {
        self.reply(ctx, tx, req, peer, 200);
        match self.phase {
            Phase::Answered => self.hang_up(ctx, leg.hangup_side(), &[leg.other()]),
            Phase::Setup if leg == Leg::A && self.in_voicemail() => {
                self.voicemail_caller_left(ctx);
            }
            Phase::Setup if leg == Leg::A && self.voice_answered_caller() => {
                self.voice_caller_left(ctx);
            }
            // A BYE on an early dialog (RFC 3261 §15) ends the attempt like a CANCEL.
            Phase::Setup if leg == Leg::A => {
                self.fail(ctx, Fault::CallerCancelled);
                self.cancel_all(ctx);
            }
            Phase::Setup | Phase::Ending => {}
        }
    }

    pub(super) fn send_bye(&mut self, ctx: &mut Ctx<'_>, leg: Leg) {
        let branch = ctx.ids.branch();
        let dialog = self.dialog_mut(leg);
        let bye = dialog.request(&Method::Bye, ctx.local, &branch).finish();
        let peer = dialog.peer;
        self.track_bye(ctx, bye, peer);
    }

    /// A BYE on one attempt's dialog (an attempt that answered too late).
    pub(super) fn send_bye_on(&mut self, ctx: &mut Ctx<'_>, id: AttemptId) {
        let branch = ctx.ids.branch();
        let dialog = &mut self.attempts[id].dialog;
        let bye = dialog.request(&Method::Bye, ctx.local, &branch).finish();
        let peer = dialog.peer;
        self.track_bye(ctx, bye, peer);
    }

    /// A BYE on a dialog outside the session's legs (a forked answer).
    pub(super) fn send_bye_in(&mut self, ctx: &mut Ctx<'_>, dialog: &mut Dialog) {
        let branch = ctx.ids.branch();
        let bye = dialog.request(&Method::Bye, ctx.local, &branch).finish();
        self.track_bye(ctx, bye, dialog.peer);
    }

    fn track_bye(&mut self, ctx: &mut Ctx<'_>, bye: SipMessage, peer: Peer) {
        if let Some(tx) = ctx.send(self.key, bye, peer) {
            self.byes.push(tx);
        }
    }

    /// Ends an answered call from `side`: record, then BYE the legs that did not hang up.
    pub(super) fn hang_up(&mut self, ctx: &mut Ctx<'_>, side: HangupSide, bye_legs: &[Leg]) {
        self.record(ctx, Disposition::Answered, 200, side);
        self.phase = Phase::Ending;
        self.max_deadline = None;
        for leg in bye_legs {
            self.send_bye(ctx, *leg);
        }
    }

    /// Reports the call's final record, once.
    pub(super) fn record(
        &mut self,
        ctx: &mut Ctx<'_>,
        disposition: Disposition,
        status: u16,
        side: HangupSide,
    ) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let mut cdr =
            CallDetailRecord::from_live(&self.live, ctx.wall(), disposition, status, side);
        cdr.counted = self.setup.counted();
        cdr.trail = self.trail.finish(disposition);
        self.media_release(ctx, &mut cdr);
        self.voicemail_facts(&mut cdr);
        let cdr = cdr.judge_quality(self.quality_min_talk);
        ctx.events.push_back(CallEvent::Ended(cdr));
    }

    /// `[calls] max_call_secs` reached: calltrack ends the call on both legs.
    pub(super) fn on_max_duration(&mut self, ctx: &mut Ctx<'_>) {
        self.max_deadline = None;
        if self.phase == Phase::Answered {
            self.hang_up(ctx, HangupSide::System, &[Leg::A, Leg::B]);
        }
    }

    /// The caller never ACKed our 2xx (RFC 3261 §13.3.1.4): end the call on both legs.
    pub fn on_ack_timeout(&mut self, ctx: &mut Ctx<'_>, tx: TxId) {
        if tx == self.a.invite_tx && self.phase == Phase::Answered {
            self.hang_up(ctx, HangupSide::System, &[Leg::A, Leg::B]);
        } else if tx == self.a.invite_tx && self.phase == Phase::Setup {
            // Our own 200 (calltrack answered to speak) was never ACKed.
            self.fail(ctx, Fault::Unreachable);
            self.cancel_all(ctx);
        }
    }

    /// Shutdown grace is over: end the call now, whatever its state.
    pub fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        match self.phase {
            Phase::Setup => {
                self.fail(ctx, Fault::Unreachable);
                self.cancel_all(ctx);
            }
            Phase::Answered => self.hang_up(ctx, HangupSide::System, &[Leg::A, Leg::B]),
            Phase::Ending => {}
        }
    }

    /// The process is stopping and cannot signal any more: record what is known.
    pub fn abandon(&mut self, ctx: &mut Ctx<'_>) {
        let (disposition, status) = if self.is_answered() {
            (Disposition::Answered, 200)
        } else {
            (Disposition::Interrupted, 0)
        };
        self.record(ctx, disposition, status, HangupSide::System);
    }

    /// The audit found the call alive past every deadline; the B2BUA has already dropped its
    /// client transactions. Whoever still waits for an answer from us gets one (500), a call
    /// still set up or talking is ended as on shutdown (its BYEs and CANCELs run on their own
    /// timers, nothing waits for their answers), and the call gets its CDR if it has none: an
    /// answered call always ends as a CDR.
    pub fn reap(&mut self, ctx: &mut Ctx<'_>) {
        let relays: Vec<_> = self.relays.drain().map(|(_, relay)| relay).collect();
        for relay in relays {
            self.reply(ctx, relay.server_tx, &relay.request, relay.peer, 500);
        }
        self.terminate(ctx);
        self.abandon(ctx);
        self.byes.clear();
        self.pending_ack = None;
    }
}
