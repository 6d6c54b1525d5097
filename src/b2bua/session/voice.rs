//! calltrack speaking before it bridges (`announce`): the caller is answered by calltrack
//! itself (`answer = "answer"`: 200 OK with its own SDP, the prompt once the ACK is in;
//! `"early"`: 183 with SDP, the prompt as early media), the prompt plays out of the
//! caller-facing RTP port, and only then the dialer rings, offering the callee the codec the
//! caller negotiated (`media::sdp_answer`). The callee's 2xx connects the relay; with
//! `"answer"` the caller already has its 200 and hears nothing more of the set-up, with
//! `"early"` it gets its 200 (the same SDP) now. Time comes in as `now`: the prompt's end is
//! a session deadline, so tests run on a virtual clock.
//!
//! Failure paths: a caller that already has our 2xx is hung up with a BYE (a final error
//! cannot follow a 2xx); its BYE during the prompt ends the call with a CDR
//! (`cancelled`, hung up by the caller). Ports go back with the CDR as for any relayed call.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::AnswerMode;
use crate::media::menu::{Menu, MenuSpec};
use crate::media::player::Numbering;
use crate::media::prompt::Prompt;
use crate::media::sdp_answer::{self, Local, Negotiated};
use crate::media::stream::Side;
use crate::sip::SipMessage;
use crate::sip::message::{HeaderName, response_to};

use crate::b2bua::session::media::{is_sdp, with_body};
use crate::b2bua::session::{CallSession, Ctx, Leg, Phase};
use crate::call::outcome::{Fault, reason_phrase};
use crate::call::record::HangupSide;

#[path = "voice_code.rs"]
mod code;
#[path = "voice_mail.rs"]
mod mail;
#[path = "voice_menu.rs"]
mod menu;

pub use code::CodePlan;
pub(super) use mail::VoicemailCall;
pub use mail::VoicemailPlan;

/// After the prompt's last packet, a little room before the dialer starts.
const PROMPT_TAIL: Duration = Duration::from_millis(100);

/// What a call plays before bridging (decided when the call opens).
#[derive(Debug, Clone)]
pub struct VoicePlan {
    pub answer: AnswerMode,
    /// `announce`: played first.
    pub announce: Option<Arc<Prompt>>,
    /// A menu scheme's menu: after the announcement (and the code).
    pub menu: Option<MenuPlan>,
    /// A reserve-number call asks for the overflow code: after the announcement.
    pub code: Option<CodePlan>,
}

/// A menu with its prompts.
#[derive(Debug, Clone)]
pub struct MenuPlan {
    pub spec: MenuSpec,
    pub greeting: Arc<Prompt>,
    /// "Not a valid choice", then the greeting again.
    pub invalid_then_greeting: Arc<Prompt>,
}

/// Where the voice part of a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Our 200 is out; the prompt starts with the caller's ACK.
    AwaitingAck,
    /// The announcement plays until this instant.
    Playing(Instant),
    /// The menu listens (see `voice_menu`); the next look at keys and timers is due then.
    Menu(Instant),
    /// The overflow code is entered (see `voice_code`); the next look is due then.
    Code(Instant),
    /// The menu chose: the engine plans the branch (`take_branch`).
    Choosing,
    /// The dialer rings; the callee's answer connects the relay.
    Bridging,
}

/// The voice part of a call: the plan, the SDP calltrack answered the caller with, and the
/// codec both legs use.
#[derive(Debug)]
pub(super) struct Voice {
    plan: VoicePlan,
    stage: Stage,
    /// The menu while it runs, and when its prompt ends (`None`: it ended).
    menu: Option<(Menu, Option<Instant>)>,
    /// The overflow code while it is entered.
    code: Option<code::CodeEntry>,
    /// The branch the menu chose, until the engine takes it.
    branch: Option<String>,
    /// Our SDP answer to the caller (again in the 200 after an early 183).
    body: String,
    negotiated: Negotiated,
    ip: IpAddr,
    callee_port: u16,
    session_id: u64,
    /// The caller has our 2xx (`answer = "answer"`, or `"early"` once the callee answered).
    a_final: bool,
}

impl CallSession {
    /// Answers the caller and starts the prompt; `false` when the call cannot be spoken to
    /// (no SDP offer, no G.711, left direct): it is then bridged as any relayed call.
    pub(super) fn start_voice(&mut self, ctx: &mut Ctx<'_>, plan: VoicePlan) -> bool {
        let Some(voice) = self.answer_caller(ctx, plan) else {
            tracing::warn!("announcement skipped: the caller offered no relayable G.711 audio");
            return false;
        };
        let early = voice.plan.answer == AnswerMode::Early;
        self.voice = Some(Box::new(voice));
        self.ring_deadline = None;
        if early {
            self.play_announcement(ctx);
        }
        true
    }

    /// Our SDP answer to the caller's offer, sent in a 200 or a 183.
    fn answer_caller(&mut self, ctx: &mut Ctx<'_>, plan: VoicePlan) -> Option<Voice> {
        let invite = &self.dialing()?.invite;
        if invite.body().is_empty() || !is_sdp(invite) {
            return None;
        }
        let offer = crate::media::sdp::parse(invite.body()).ok()?;
        ctx.media
            .rewrite(ctx.now, self.key.0, Side::Caller, invite.body())?;
        let stream = offer
            .media
            .iter()
            .position(|m| m.kind == "audio" && m.port != 0)?;
        let (ip, ports) = ctx.media.stream_ports(self.key.0, stream)?;
        let session_id = u64::from(ctx.ids.number());
        let local = Local {
            ip,
            port: ports.caller,
            session_id,
        };
        let (body, negotiated) = sdp_answer::answer(&offer, local)?;
        let status = match plan.answer {
            AnswerMode::Answer => 200,
            AnswerMode::Early => 183,
        };
        let response = self.own_response(ctx, status, &body)?;
        ctx.respond(self.a.invite_tx, response);
        Some(Voice {
            a_final: status == 200,
            stage: Stage::AwaitingAck,
            menu: None,
            code: None,
            branch: None,
            plan,
            body,
            negotiated,
            ip,
            callee_port: ports.callee,
            session_id,
        })
    }

    /// A response of ours to the caller's INVITE with our SDP and Contact.
    fn own_response(&self, ctx: &Ctx<'_>, status: u16, body: &str) -> Option<SipMessage> {
        let invite = &self.dialing()?.invite;
        let tag = Some(self.a.dialog.local_tag.as_str());
        let mut b = response_to(
            invite,
            status,
            reason_phrase(status),
            tag,
            Some(self.a.peer.addr),
        );
        b.header(
            HeaderName::Contact,
            &ctx.local.contact(self.a.dialog.transport),
        );
        Some(b.body(Some("application/sdp"), body.as_bytes()))
    }

    /// The caller's ACK of our 200: the prompt starts. `false`: not ours to take.
    pub(super) fn voice_ack(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.voicemail_ack(ctx) {
            return true;
        }
        if !self
            .voice
            .as_ref()
            .is_some_and(|v| v.stage == Stage::AwaitingAck)
        {
            return false;
        }
        self.a.acked = true;
        self.play_announcement(ctx);
        true
    }

    /// The announcement, if any, else the menu, else the dialer.
    fn play_announcement(&mut self, ctx: &mut Ctx<'_>) {
        let Some(prompt) = self.voice.as_ref().and_then(|v| v.plan.announce.clone()) else {
            return self.after_announcement(ctx);
        };
        match self.play(ctx, &prompt) {
            Some(until) => {
                tracing::debug!(
                    secs = prompt.duration().as_secs_f32(),
                    "announcement playing"
                );
                if let Some(voice) = self.voice.as_mut() {
                    voice.stage = Stage::Playing(until);
                }
            }
            None => {
                tracing::warn!("announcement not played: no G.711 stream to the caller");
                self.after_announcement(ctx);
            }
        }
    }

    fn after_announcement(&mut self, ctx: &mut Ctx<'_>) {
        if self.voice.as_ref().is_some_and(|v| v.plan.code.is_some()) {
            self.start_code(ctx);
        } else {
            self.after_code(ctx);
        }
    }

    fn after_code(&mut self, ctx: &mut Ctx<'_>) {
        if self.voice.as_ref().is_some_and(|v| v.plan.menu.is_some()) {
            self.start_menu(ctx);
        } else {
            self.bridge_after_voice(ctx);
        }
    }

    /// Plays `prompt` to the caller from now (replacing what plays); when it ends, or `None`
    /// when nothing could be played. Each prompt restarts the audit's clock: a call that is
    /// spoken to is alive however many prompts and waits it takes (each bounded).
    pub(super) fn play(&mut self, ctx: &mut Ctx<'_>, prompt: &Prompt) -> Option<Instant> {
        self.lifespan.opened = ctx.now;
        ctx.media.stop_prompt(self.key.0);
        let numbering = Numbering {
            ssrc: ctx.ids.number(),
            seq: ctx.ids.number() as u16,
            timestamp: ctx.ids.number(),
        };
        ctx.media.play(self.key.0, ctx.now, prompt, numbering)?;
        Some(ctx.now + prompt.duration() + PROMPT_TAIL)
    }

    /// The voice part's next deadline (the announcement's end, the menu's next look).
    pub(super) fn voice_deadline(&self) -> Option<Instant> {
        match self.voice.as_ref()?.stage {
            Stage::Playing(at) | Stage::Menu(at) | Stage::Code(at)
                if self.phase == Phase::Setup =>
            {
                Some(at)
            }
            _ => None,
        }
    }

    /// The clock reached `ctx.now`: an announcement that ended hands the call on; a menu
    /// looks at its keys and timers.
    pub(super) fn on_voice_deadline(&mut self, ctx: &mut Ctx<'_>) {
        let due = self.voice_deadline().filter(|d| *d <= ctx.now);
        match (due, self.voice.as_ref().map(|v| v.stage)) {
            (Some(_), Some(Stage::Playing(_))) => self.after_announcement(ctx),
            (Some(_), Some(Stage::Menu(_))) => self.menu_tick(ctx),
            (Some(_), Some(Stage::Code(_))) => self.code_tick(ctx),
            _ => {}
        }
    }

    /// The menu's choice, for the engine to plan (once).
    pub fn take_branch(&mut self) -> Option<String> {
        self.voice.as_mut()?.branch.take()
    }

    /// The engine planned the chosen branch: ring it, or end the call if it cannot be.
    pub fn route_branch(
        &mut self,
        ctx: &mut Ctx<'_>,
        plan: Result<crate::routing::RoutePlan, crate::sip::message::Rejection>,
    ) {
        if self.phase != Phase::Setup || self.recorded {
            return;
        }
        let plan = match plan {
            Ok(plan) => plan,
            Err(rejection) => {
                tracing::warn!(
                    status = rejection.status,
                    "the menu's branch cannot be rung"
                );
                if self.fail_to_voicemail(ctx, Fault::Unreachable) {
                    return;
                }
                return self.fail(ctx, Fault::Unreachable);
            }
        };
        if let Some(d) = self.dialing_mut() {
            let caller = d.caller.clone();
            d.dialer = crate::routing::dialer::Dialer::new(plan.clone(), &caller);
        }
        self.live.scheme = Some(plan.scheme);
        self.bridge_after_voice(ctx);
    }

    /// The voice part is over: ring the scheme. Ringing starts now (ring timeout, audit).
    pub(super) fn bridge_after_voice(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(voice) = self.voice.as_mut() {
            voice.stage = Stage::Bridging;
            ctx.media.stop_prompt(self.key.0);
        }
        self.ring_deadline = Some(ctx.now + self.lifespan.ring_timeout);
        self.lifespan.opened = ctx.now;
        self.start_dialing(ctx);
    }

    /// Whether calltrack speaks to this call (it answered the caller to play or ask).
    pub fn is_spoken_to(&self) -> bool {
        self.voice.is_some()
    }

    /// Whether the caller has our own 2xx while the callee is not answered yet.
    pub(super) fn voice_answered_caller(&self) -> bool {
        self.voice.as_ref().is_some_and(|v| v.a_final)
    }

    /// Whether calltrack, not the callee, talks to the caller (no provisional of an attempt
    /// reaches the caller then).
    pub(super) fn voice_holds_caller(&self) -> bool {
        self.voice.is_some()
    }

    /// An attempt's INVITE carries our offer: the caller's negotiated codec, our callee port.
    pub(super) fn voice_offer(&self, invite: SipMessage) -> Result<SipMessage, SipMessage> {
        let Some(v) = self.voice.as_ref() else {
            return Err(invite);
        };
        let local = Local {
            ip: v.ip,
            port: v.callee_port,
            session_id: v.session_id,
        };
        let body = sdp_answer::offer_to_callee(v.negotiated, local);
        Ok(with_body(&invite, body.as_bytes()))
    }

    /// The callee's 2xx on a spoken-to call: the relay learns the callee; an early caller
    /// gets its 200 with the SDP of the 183.
    pub(super) fn voice_callee_answered(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        if !resp.body().is_empty() && is_sdp(resp) {
            ctx.media
                .rewrite(ctx.now, self.key.0, Side::Callee, resp.body());
        }
        let Some(voice) = self.voice.as_ref().filter(|v| !v.a_final) else {
            return;
        };
        let body = voice.body.clone();
        if let Some(ok) = self.own_response(ctx, 200, &body) {
            ctx.respond(self.a.invite_tx, ok);
        }
        if let Some(voice) = self.voice.as_mut() {
            voice.a_final = true;
        }
    }

    /// The set-up failed after the caller got our 2xx: BYE it and record the fault.
    pub(super) fn voice_fail(&mut self, ctx: &mut Ctx<'_>, fault: Fault) {
        let (status, _) = fault.caller_status();
        self.record(ctx, fault.disposition(), status, fault.hangup_side());
        self.phase = Phase::Ending;
        self.ring_deadline = None;
        self.send_bye(ctx, Leg::A);
    }

    /// The caller hung up (BYE) while calltrack spoke to it or the scheme rang.
    pub(super) fn voice_caller_left(&mut self, ctx: &mut Ctx<'_>) {
        let fault = Fault::CallerCancelled;
        self.record(ctx, fault.disposition(), 487, HangupSide::Caller);
        self.phase = Phase::Ending;
        self.cancel_all(ctx);
    }
}
