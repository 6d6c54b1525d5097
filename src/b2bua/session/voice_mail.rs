//! Voicemail, carried out by the session: when the scheme gave up (every step and the
//! fallback failed, or the call rang out) and the call has a voicemail, calltrack answers
//! the caller itself (a 200 with its SDP answer; a caller already answered to hear a prompt
//! keeps its dialog; an early-media caller gets its 200 now), then `call::voicemail` says
//! what follows: the greeting, the beep, and the caller's message, recorded from the beep's
//! end by the relay's recorder (the stereo WAV of recordings, the agent side silent) until
//! `max_secs`, '#' (RFC 4733 or SIP INFO) or the caller's BYE. calltrack ends it with a
//! BYE. The CDR says `voicemail` with `voicemail_secs` and the recording; a caller who left
//! before the beep left no message: the scheme's failure stays the disposition and the
//! recording is `skipped` (`no_media`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::b2bua::session::{CallSession, Ctx, Leg, Phase};
use crate::call::outcome::Fault;
use crate::call::record::{CallDetailRecord, Disposition, HangupSide};
use crate::call::recording::{RecordingReason, RecordingStatus};
use crate::call::voicemail::{Ending, Step, Voicemail, takes};
use crate::config::AnswerMode;
use crate::media::dtmf::Digit;
use crate::media::prompt::Prompt;
use crate::media::stream::Side;

use super::menu::KEY_POLL;
use super::{PROMPT_TAIL, Stage, VoicePlan};

/// Room the audit gives a voicemail beyond its greeting, beep and `max_secs`.
const AUDIT_SLACK: Duration = Duration::from_secs(30);

/// A call's voicemail, with its prompts (decided when the call opens).
#[derive(Debug, Clone)]
pub struct VoicemailPlan {
    pub greeting: Arc<Prompt>,
    /// `None`: `beep = false` (or the beep is not loaded).
    pub beep: Option<Arc<Prompt>>,
    pub max: Duration,
}

/// The voicemail of one call: its plan, and once the scheme failed, its course.
#[derive(Debug)]
pub(in crate::b2bua::session) struct VoicemailCall {
    plan: VoicemailPlan,
    /// Why the scheme failed (the disposition when no message is left).
    fault: Option<Fault>,
    machine: Option<Voicemail>,
    /// The next look at the caller's keys while the message is recorded.
    key_poll: Option<Instant>,
}

impl VoicemailCall {
    pub(in crate::b2bua::session) fn new(plan: VoicemailPlan) -> VoicemailCall {
        VoicemailCall {
            plan,
            fault: None,
            machine: None,
            key_poll: None,
        }
    }
}

impl CallSession {
    /// A menu's branch has a voicemail of its own: it replaces the call's.
    pub fn set_voicemail(&mut self, plan: Option<VoicemailPlan>) {
        if let (Some(plan), true) = (plan, self.relay_media) {
            self.voicemail = Some(Box::new(VoicemailCall::new(plan)));
        }
    }

    /// The scheme gave up with `fault`: voicemail takes the call if it has one and can (a
    /// relayed G.711 caller); `false` when the caller is to hear the failure instead.
    pub(in crate::b2bua::session) fn fail_to_voicemail(
        &mut self,
        ctx: &mut Ctx<'_>,
        fault: Fault,
    ) -> bool {
        let ready = self.voicemail.as_ref().is_some_and(|v| v.fault.is_none());
        if !ready || !takes(fault) || self.phase != Phase::Setup || self.recorded {
            return false;
        }
        if !self.answer_for_voicemail(ctx) {
            tracing::warn!("voicemail skipped: the caller offered no relayable G.711 audio");
            return false;
        }
        tracing::info!(?fault, "the scheme failed: voicemail");
        self.cancel_all(ctx);
        self.trail.voicemail(ctx.wall());
        if let Some(vm) = self.voicemail.as_mut() {
            vm.fault = Some(fault);
        }
        if self.a.acked {
            self.begin_voicemail(ctx);
        }
        true
    }

    /// The caller gets a 200 with our SDP, unless it has one already.
    fn answer_for_voicemail(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(voice) = self.voice.as_mut() else {
            let plan = VoicePlan {
                answer: AnswerMode::Answer,
                announce: None,
                menu: None,
                code: None,
            };
            let Some(mut voice) = self.answer_caller(ctx, plan) else {
                return false;
            };
            voice.stage = Stage::Bridging;
            self.voice = Some(Box::new(voice));
            return true;
        };
        voice.stage = Stage::Bridging;
        if !voice.a_final {
            voice.a_final = true;
            let body = voice.body.clone();
            if let Some(ok) = self.own_response(ctx, 200, &body) {
                ctx.respond(self.a.invite_tx, ok);
            }
        }
        true
    }

    /// Whether the scheme failed and voicemail holds the call.
    pub(in crate::b2bua::session) fn in_voicemail(&self) -> bool {
        self.voicemail.as_ref().is_some_and(|v| v.fault.is_some())
    }

    /// The caller's ACK of our 200 while voicemail waits for it: the greeting starts.
    pub(in crate::b2bua::session) fn voicemail_ack(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let waiting = self
            .voicemail
            .as_ref()
            .is_some_and(|v| v.fault.is_some() && v.machine.is_none());
        if waiting {
            self.a.acked = true;
            self.begin_voicemail(ctx);
        }
        waiting
    }

    fn begin_voicemail(&mut self, ctx: &mut Ctx<'_>) {
        let Some(vm) = self.voicemail.as_ref() else {
            return;
        };
        let plan = vm.plan.clone();
        let greeting = plan.greeting.duration() + PROMPT_TAIL;
        let beep = plan.beep.as_ref().map(|b| b.duration() + PROMPT_TAIL);
        let (machine, step) = Voicemail::start(ctx.now, greeting, beep, plan.max);
        if let Some(vm) = self.voicemail.as_mut() {
            vm.machine = Some(machine);
        }
        let whole = greeting + beep.unwrap_or_default() + plan.max + AUDIT_SLACK;
        self.lifespan.answered = Some(ctx.now);
        self.lifespan.max_duration = whole;
        self.voicemail_step(ctx, step);
    }

    /// The voicemail's next deadline: the machine's, or the next look at the keys.
    pub(in crate::b2bua::session) fn voicemail_deadline(&self) -> Option<Instant> {
        let vm = self.voicemail.as_ref()?;
        let due = vm.machine.as_ref()?.poll_timeout()?;
        Some(vm.key_poll.map_or(due, |k| k.min(due)))
    }

    /// The clock reached `ctx.now`: keys heard in RTP, then the machine's timers.
    pub(in crate::b2bua::session) fn on_voicemail_deadline(&mut self, ctx: &mut Ctx<'_>) {
        if self.voicemail_deadline().is_none_or(|d| d > ctx.now) || self.recorded {
            return;
        }
        while let Some(digit) = ctx.media.poll_digit(self.key.0, Side::Caller) {
            self.voicemail_key(ctx, digit);
        }
        let step = self
            .voicemail
            .as_mut()
            .and_then(|v| v.machine.as_mut())
            .and_then(|m| m.handle_timeout(ctx.now));
        if let Some(step) = step {
            self.voicemail_step(ctx, step);
        }
        let now = ctx.now;
        if let Some(vm) = self.voicemail.as_mut().filter(|v| v.key_poll.is_some()) {
            vm.key_poll = Some(now + KEY_POLL);
        }
    }

    /// A key from the caller (RFC 4733 or SIP INFO): '#' ends the message.
    pub(in crate::b2bua::session) fn voicemail_key(&mut self, ctx: &mut Ctx<'_>, digit: Digit) {
        let step = self
            .voicemail
            .as_mut()
            .and_then(|v| v.machine.as_mut())
            .and_then(|m| m.handle_key(ctx.now, digit.as_char()));
        if let Some(step) = step {
            self.voicemail_step(ctx, step);
        }
    }

    fn voicemail_step(&mut self, ctx: &mut Ctx<'_>, step: Step) {
        let Some(plan) = self.voicemail.as_ref().map(|v| v.plan.clone()) else {
            return;
        };
        match step {
            Step::Greet => {
                if self.play(ctx, &plan.greeting).is_none() {
                    tracing::warn!("voicemail greeting not played: no G.711 stream to the caller");
                }
            }
            Step::Beep => {
                if let Some(beep) = &plan.beep {
                    self.play(ctx, beep);
                }
            }
            Step::Record => self.record_message(ctx),
            Step::HangUp(ending) => self.end_voicemail(ctx, ending),
        }
    }

    /// The message is recorded from now on (the recording's timeline starts here).
    fn record_message(&mut self, ctx: &mut Ctx<'_>) {
        ctx.media.stop_prompt(self.key.0);
        while ctx.media.poll_digit(self.key.0, Side::Caller).is_some() {}
        ctx.media.answered(self.key.0, ctx.now, Some(&self.live.id));
        if let Some(vm) = self.voicemail.as_mut() {
            vm.key_poll = Some(ctx.now + KEY_POLL);
        }
        tracing::debug!("voicemail recording");
    }

    /// The caller hung up while voicemail held it.
    pub(in crate::b2bua::session) fn voicemail_caller_left(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let machine = self.voicemail.as_mut().and_then(|v| v.machine.as_mut());
        let ending = machine.map_or(Ending::CallerLeft, |m| m.caller_left(now));
        self.end_voicemail(ctx, ending);
    }

    /// The voicemail is over: the CDR, then a BYE unless the caller hung up.
    pub(in crate::b2bua::session) fn end_voicemail(&mut self, ctx: &mut Ctx<'_>, ending: Ending) {
        let left = self.voicemail_left_message();
        let fault = self.voicemail.as_ref().and_then(|v| v.fault);
        let disposition = match (left, fault) {
            (true, _) | (false, None) => Disposition::Voicemail,
            (false, Some(fault)) => fault.disposition(),
        };
        let side = match ending {
            Ending::CallerLeft => HangupSide::Caller,
            Ending::MaxLength | Ending::Hash => HangupSide::System,
        };
        tracing::info!(?ending, message = left, "voicemail over");
        self.record(ctx, disposition, 200, side);
        self.phase = Phase::Ending;
        if ending != Ending::CallerLeft {
            self.send_bye(ctx, Leg::A);
        }
    }

    /// Ends a voicemail the call's other timers or shutdown cut short (the message so far
    /// is kept); `false`: no voicemail holds the call.
    pub(in crate::b2bua::session) fn cut_voicemail(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let started = self.voicemail.as_ref().is_some_and(|v| v.machine.is_some());
        if started && !self.recorded {
            let now = ctx.now;
            if let Some(m) = self.voicemail.as_mut().and_then(|v| v.machine.as_mut()) {
                m.handle_key(now, '#');
            }
            self.end_voicemail(ctx, Ending::MaxLength);
        }
        started
    }

    /// Whether the caller's message started (the beep is over).
    fn voicemail_left_message(&self) -> bool {
        let machine = self.voicemail.as_ref().and_then(|v| v.machine.as_ref());
        machine.is_some_and(Voicemail::recorded)
    }

    /// Whether the relay records this call: `record = true`, or a voicemail message.
    pub(in crate::b2bua::session) fn recording_requested(&self) -> bool {
        self.record || self.voicemail_left_message()
    }

    /// The CDR of a call that went to voicemail: the message's length, and the recording's
    /// state as a voicemail's (a caller who left before the beep: `skipped`, `no_media`).
    /// There is no callee, so no one-way audio to judge.
    pub(in crate::b2bua::session) fn voicemail_facts(&self, cdr: &mut CallDetailRecord) {
        let Some(vm) = self.voicemail.as_ref().filter(|v| v.fault.is_some()) else {
            return;
        };
        let secs = vm.machine.as_ref().and_then(Voicemail::secs);
        cdr.voicemail_secs = secs.filter(|_| cdr.disposition == Disposition::Voicemail);
        cdr.one_way_audio = None;
        if !self.voicemail_left_message() {
            cdr.recording_status = Some(RecordingStatus::Skipped);
            cdr.recording_reason = Some(RecordingReason::NoMedia);
        }
    }
}
