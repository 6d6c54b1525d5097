//! Opening a call: what the session is opened with, the caller's dialog, the live record
//! and the dialer's first rings.

use std::collections::HashMap;
use std::time::Duration;

use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::event::{CallEvent, CallKey};
use crate::b2bua::session::{CallSession, Ctx, Lifespan, Phase, legs};
use crate::call::record::LiveCall;
use crate::call::trail::Trail;
use crate::routing::dialer::{AttemptId, Dialer};

/// What every attempt's INVITE and the caller's responses are built from while the call is
/// set up.
#[derive(Debug)]
pub(super) struct Dialing {
    /// The caller's INVITE.
    pub(super) invite: SipMessage,
    pub(super) dialer: Dialer,
    pub(super) caller: String,
    pub(super) max_forwards: u32,
    pub(super) udp_max: usize,
    /// Extra headers stamped on every B-leg INVITE (attribution).
    pub(super) stamp: Vec<(String, String)>,
    /// The attempt whose early media (18x with SDP, or a reliable 18x) the caller gets.
    pub(super) early: Option<AttemptId>,
    /// The last failure response of an attempt, relayed when the dialer gives up with it.
    pub(super) last_failure: Option<SipMessage>,
}

/// What a call keeps of its set-up. Every use of the caller's INVITE and of the dialer is
/// before the caller has a 2xx (responses to the caller, each attempt's INVITE, CANCELs,
/// digest and transport retries, the dialer's timers), so once a 2xx won the call and the
/// other attempts are cancelled ([`CallSession::settle`]) only the plan's `counted` is kept:
/// a held call then carries neither INVITE nor plan, stamp or dialer.
#[derive(Debug)]
pub(super) enum SetUp {
    /// Ringing: boxed, as it is the larger part of a session and goes on answer.
    Dialling(Box<Dialing>),
    /// A 2xx won the call.
    Answered {
        /// The plan's `counted`, for the CDR.
        counted: bool,
    },
}

impl SetUp {
    /// Whether the call counts towards quality calls (the plan's `counted`).
    pub(super) fn counted(&self) -> bool {
        match self {
            SetUp::Dialling(d) => d.dialer.plan().counted,
            SetUp::Answered { counted } => *counted,
        }
    }
}

/// Everything needed to open a session for an admitted INVITE.
#[derive(Debug)]
pub struct Opening {
    pub key: CallKey,
    pub uid: String,
    pub invite_tx: TxId,
    pub invite: SipMessage,
    pub peer: Peer,
    pub plan: crate::call::BridgePlan,
    pub ring_timeout: Duration,
    pub max_duration: Duration,
    pub udp_max_request_bytes: usize,
    /// Extra headers stamped on the B-leg INVITE (attribution).
    pub stamp: Vec<(String, String)>,
    /// No earlier call from this caller within the uniqueness window.
    pub first_call: bool,
    /// Talk time that makes an answered call a quality call (the site's threshold).
    pub quality_min_talk: Duration,
    /// `media = "relay"`: the call's SDP is rewritten so its RTP flows through calltrack.
    pub relay_media: bool,
    /// `record = true` (implies `relay_media`): recorded from the answer on.
    pub record: bool,
    /// The call's log span (`call_id`, `tracking_number`).
    pub span: tracing::Span,
    /// A prompt played before bridging (needs `relay_media`).
    pub voice: Option<super::VoicePlan>,
    /// Voicemail when the scheme fails (needs `relay_media`).
    pub voicemail: Option<super::VoicemailPlan>,
}

impl CallSession {
    /// Opens the call: builds the caller's dialog, reports the live call and rings what the
    /// dialer asks for.
    pub fn open(ctx: &mut Ctx<'_>, o: Opening) -> CallSession {
        let a = legs::caller_leg(ctx, &o);
        let live = live_call(ctx, &o);
        ctx.events.push_back(CallEvent::Started(live.clone()));
        ctx.owners.insert(a.invite_tx, o.key);
        let dialing = Box::new(Dialing {
            invite: o.invite,
            dialer: Dialer::new(o.plan.route.clone(), &o.plan.caller),
            caller: o.plan.caller.clone(),
            max_forwards: o.plan.max_forwards,
            udp_max: o.udp_max_request_bytes,
            stamp: o.stamp,
            early: None,
            last_failure: None,
        });
        let mut session = CallSession {
            key: o.key,
            live,
            phase: Phase::Setup,
            a,
            // Most calls ring one target: room for more is made when the dialer asks.
            attempts: Vec::with_capacity(1),
            b: 0,
            setup: SetUp::Dialling(dialing),
            relays: HashMap::new(),
            byes: Vec::new(),
            pending_ack: None,
            recorded: false,
            ring_deadline: Some(ctx.now + o.ring_timeout),
            max_deadline: None,
            lifespan: Lifespan {
                opened: ctx.now,
                ring_timeout: o.ring_timeout,
                answered: None,
                max_duration: o.max_duration,
            },
            quality_min_talk: o.quality_min_talk,
            relay_media: o.relay_media,
            record: o.record,
            trail: Trail::default(),
            voice: None,
            voicemail: o
                .voicemail
                .filter(|_| o.relay_media)
                .map(|plan| Box::new(super::voice::VoicemailCall::new(plan))),
            registered: 0,
            span: o.span,
        };
        let spoken = match o.voice.filter(|_| o.relay_media) {
            Some(plan) => session.start_voice(ctx, plan),
            None => false,
        };
        // A menu route rings nothing itself: unspoken, the engine routes it to its default.
        if !spoken && o.plan.route.has_targets() {
            session.start_dialing(ctx);
        }
        session
    }

    /// The dialer's first rings (at the INVITE, or once calltrack finished speaking).
    pub(super) fn start_dialing(&mut self, ctx: &mut Ctx<'_>) {
        let first = match self.dialing_mut() {
            Some(d) => d.dialer.start(ctx.now, ctx.rotation),
            None => return,
        };
        self.run(ctx, first);
        if let (true, SetUp::Dialling(d)) = (self.attempts.is_empty(), &self.setup) {
            // Nothing was rung (the call already failed): a B leg that is never sent keeps
            // the B-leg accessors total.
            let plan = d.dialer.plan();
            let target = plan.first_target().or(plan.fallback.as_ref());
            let leg = target.map(|t| legs::callee_leg(ctx, &d.invite, &d.caller, &t.target));
            self.attempts.extend(leg);
        }
    }
}

/// The live-call record reported when the call opens.
fn live_call(ctx: &Ctx<'_>, o: &Opening) -> LiveCall {
    LiveCall {
        id: o.uid.clone(),
        call_id: o.invite.call_id().unwrap_or_default().to_string(),
        tracking_number: o.plan.tracking.number.clone(),
        caller: o.plan.caller.clone(),
        destination: o.plan.target.uri.clone(),
        started_at: ctx.wall(),
        answered_at: None,
        attribution: o.plan.attribution.clone(),
        first_time_caller: o.first_call,
        scheme: Some(o.plan.route.scheme.clone()),
        answered_step: None,
        answered_target: None,
    }
}
