//! One bridged call: the caller's leg (A, where calltrack is the UAS) and the callee's leg
//! (B, where calltrack is the UAC), and every transition from the INVITE to the CDR.
//!
//! The session never touches I/O: it drives the transaction layer handed to it in [`Ctx`]
//! and reports what happened as [`CallEvent`]s. This file holds the types, the opening and
//! the entry points; the transitions live beside it by concern:
//! - `legs`: building each leg's dialog and what a leg learns from the other side,
//! - `setup`: the B-leg INVITE and its answers, failure, CANCEL and the ring timeout,
//! - `relay`: in-dialog requests, their responses and end-to-end ACKs,
//! - `hangup`: BYE, hanging up, the CDR, shutdown.

mod ctx;
mod hangup;
mod legs;
mod relay;
mod setup;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::sip::dialog::Dialog;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use super::b2bua::{CallEvent, CallKey};
use super::record::{HangupSide, LiveCall};

pub use ctx::Ctx;

/// The two sides of a bridged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller (carrier) side: calltrack is the UAS.
    A,
    /// The callee (PBX) side: calltrack is the UAC.
    B,
}

impl Leg {
    fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    fn hangup_side(self) -> HangupSide {
        match self {
            Leg::A => HangupSide::Caller,
            Leg::B => HangupSide::Callee,
        }
    }
}

/// Where the call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// B-leg INVITE sent; the caller has no final response yet.
    Setup,
    /// 2xx relayed to the caller: talking.
    Answered,
    /// The caller has its final response or BYEs are out; only clean-up is left.
    Ending,
}

/// A request relayed from one leg to the other, waiting for the answer to carry back.
#[derive(Debug)]
struct Relay {
    server_tx: TxId,
    from: Leg,
    request: SipMessage,
    peer: Peer,
}

/// The caller leg: the INVITE we answer and the dialog we hold as UAS.
#[derive(Debug)]
struct CallerLeg {
    dialog: Dialog,
    invite_tx: TxId,
    invite: SipMessage,
    invite_seq: u32,
    peer: Peer,
    acked: bool,
}

/// The callee leg: the INVITE we sent and the dialog we hold as UAC.
#[derive(Debug)]
struct CalleeLeg {
    dialog: Dialog,
    invite_tx: Option<TxId>,
    invite: SipMessage,
    invite_seq: u32,
    provisional_seen: bool,
    final_seen: bool,
    cancel_wanted: bool,
    cancel_sent: bool,
    acked: bool,
    /// The INVITE was moved to TCP for its size; on a transport failure retry over UDP.
    tcp_upgraded: bool,
}

/// A 2xx to a relayed re-INVITE that still needs the originator's ACK carried across.
#[derive(Debug, Clone, Copy)]
struct PendingAck {
    client_tx: TxId,
    cseq: u32,
    toward: Leg,
}

/// One call from INVITE to CDR.
#[derive(Debug)]
pub struct CallSession {
    key: CallKey,
    live: LiveCall,
    phase: Phase,
    a: CallerLeg,
    b: CalleeLeg,
    relays: HashMap<TxId, Relay>,
    byes: HashSet<TxId>,
    pending_ack: Option<PendingAck>,
    recorded: bool,
    ring_deadline: Option<Instant>,
    max_deadline: Option<Instant>,
    max_duration: Duration,
    quality_min_talk: Duration,
    span: tracing::Span,
}

/// Everything needed to open a session for an admitted INVITE.
#[derive(Debug)]
pub struct Opening {
    pub key: CallKey,
    pub uid: String,
    pub invite_tx: TxId,
    pub invite: SipMessage,
    pub peer: Peer,
    pub plan: super::BridgePlan,
    pub ring_timeout: Duration,
    pub max_duration: Duration,
    pub udp_max_request_bytes: usize,
    /// Extra headers stamped on the B-leg INVITE (attribution).
    pub stamp: Vec<(String, String)>,
    /// No earlier call from this caller within the uniqueness window.
    pub first_call: bool,
    /// Talk time that makes an answered call a quality call.
    pub quality_min_talk: Duration,
    /// The call's log span (`call_id`, `tracking_number`).
    pub span: tracing::Span,
}

impl CallSession {
    /// Opens the call: builds both dialogs, sends the B-leg INVITE, reports the live call.
    pub fn open(ctx: &mut Ctx<'_>, o: Opening) -> CallSession {
        let a = legs::caller_leg(ctx, &o);
        let b = legs::callee_leg(ctx, &o);
        let live = live_call(ctx, &o);
        ctx.events.push_back(CallEvent::Started(live.clone()));
        ctx.owners.insert(a.invite_tx, o.key);
        let mut session = CallSession {
            key: o.key,
            live,
            phase: Phase::Setup,
            a,
            b,
            relays: HashMap::new(),
            byes: HashSet::new(),
            pending_ack: None,
            recorded: false,
            ring_deadline: Some(ctx.now + o.ring_timeout),
            max_deadline: None,
            max_duration: o.max_duration,
            quality_min_talk: o.quality_min_talk,
            span: o.span.clone(),
        };
        session.send_b_invite(ctx, &o.plan, o.udp_max_request_bytes, &o.stamp);
        session
    }

    // ---- entry points that fan out by transaction ----------------------------------------

    /// A response on one of this session's client transactions.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_>, tx: TxId, resp: SipMessage, retrans: bool) {
        if Some(tx) == self.b.invite_tx {
            self.on_b_invite_response(ctx, resp, retrans);
        } else if self.relays.contains_key(&tx) {
            self.on_relay_response(ctx, tx, &resp, retrans);
        } else if self.byes.contains(&tx) && resp.status().is_some_and(|c| c >= 200) {
            self.byes.remove(&tx);
        }
    }

    /// A client transaction of this session got no final response (Timer B/F or transport).
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>, tx: TxId) {
        if Some(tx) == self.b.invite_tx {
            self.on_b_invite_timeout(ctx);
        } else if let Some(relay) = self.relays.remove(&tx) {
            self.reply(ctx, relay.server_tx, &relay.request, relay.peer, 408);
        } else {
            self.byes.remove(&tx);
        }
    }

    /// Ring timeout or maximum call duration reached.
    pub fn on_deadline(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        if due(self.ring_deadline) {
            self.on_ring_timeout(ctx);
        }
        if due(self.max_deadline) {
            self.on_max_duration(ctx);
        }
    }

    // ---- accessors -----------------------------------------------------------------------

    /// `(Call-ID, local tag)` of each leg: how in-dialog requests find this session.
    pub fn dialog_keys(&self) -> [((String, String), Leg); 2] {
        let key = |d: &Dialog| (d.call_id.clone(), d.local_tag.clone());
        [(key(&self.a.dialog), Leg::A), (key(&self.b.dialog), Leg::B)]
    }

    /// Done when the outcome is recorded and nothing is left in flight.
    pub fn is_done(&self) -> bool {
        self.recorded
            && self.phase == Phase::Ending
            && self.byes.is_empty()
            && self.relays.is_empty()
            && (self.b.final_seen || self.b.invite_tx.is_none())
    }

    /// The call's log span: everything logged while handling this call carries its ids.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The dialled tracking number.
    pub fn tracking_number(&self) -> &str {
        &self.live.tracking_number
    }

    pub fn is_answered(&self) -> bool {
        self.live.answered_at.is_some()
    }

    /// The earliest session timer (ring timeout, maximum duration).
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.ring_deadline, self.max_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn dialog(&self, leg: Leg) -> &Dialog {
        match leg {
            Leg::A => &self.a.dialog,
            Leg::B => &self.b.dialog,
        }
    }

    fn dialog_mut(&mut self, leg: Leg) -> &mut Dialog {
        match leg {
            Leg::A => &mut self.a.dialog,
            Leg::B => &mut self.b.dialog,
        }
    }

    fn invite_seq(&self, leg: Leg) -> u32 {
        match leg {
            Leg::A => self.a.invite_seq,
            Leg::B => self.b.invite_seq,
        }
    }
}

/// The live-call record reported when the B-leg goes out.
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
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}
