//! Opening a call: what the session is opened with, the caller's dialog, the live record
//! and the dialer's first rings.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::event::{CallEvent, CallKey};
use crate::b2bua::session::{CallSession, Ctx, Lifespan, Phase, legs};
use crate::call::record::LiveCall;
use crate::call::trail::Trail;
use crate::routing::dialer::{AttemptId, Dialer};

/// What every attempt's INVITE is built from, kept from the opening.
#[derive(Debug)]
pub(super) struct Dialing {
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
}

impl CallSession {
    /// Opens the call: builds the caller's dialog, reports the live call and rings what the
    /// dialer asks for.
    pub fn open(ctx: &mut Ctx<'_>, o: Opening) -> CallSession {
        let a = legs::caller_leg(ctx, &o);
        let live = live_call(ctx, &o);
        ctx.events.push_back(CallEvent::Started(live.clone()));
        ctx.owners.insert(a.invite_tx, o.key);
        let dialing = Dialing {
            dialer: Dialer::new(o.plan.route.clone(), &o.plan.caller),
            caller: o.plan.caller.clone(),
            max_forwards: o.plan.max_forwards,
            udp_max: o.udp_max_request_bytes,
            stamp: o.stamp,
            early: None,
            last_failure: None,
        };
        let mut session = CallSession {
            key: o.key,
            live,
            phase: Phase::Setup,
            a,
            attempts: Vec::new(),
            b: 0,
            dialing,
            relays: HashMap::new(),
            byes: HashSet::new(),
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
            max_duration: o.max_duration,
            quality_min_talk: o.quality_min_talk,
            relay_media: o.relay_media,
            record: o.record,
            trail: Trail::default(),
            span: o.span,
        };
        let first = session.dialing.dialer.start(ctx.now, ctx.rotation);
        session.run(ctx, first);
        if session.attempts.is_empty() {
            // Nothing was rung (the call already failed): a B leg that is never sent keeps
            // the B-leg accessors total.
            let leg = legs::callee_leg(ctx, &session.a.invite, &o.plan.caller, &o.plan.target);
            session.attempts.push(leg);
        }
        session
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
