//! One bridged call: the caller's leg (A, where calltrack is the UAS) and the callee's leg
//! (B, where calltrack is the UAC), and every transition from the INVITE to the CDR. Until
//! someone answers, B is a set of attempts (one INVITE per target the dialer rings); the
//! first 2xx becomes the call's B leg.
//!
//! The session never touches I/O: it drives the transaction layer handed to it in [`Ctx`]
//! and reports what happened as [`CallEvent`]s. This file holds the types, the opening and
//! the entry points; the transitions live beside it by concern:
//! - `legs`: building each leg's dialog and what a leg learns from the other side,
//! - `dialing`: the B-leg attempts the dialer asks for, their CANCELs, timers and retries,
//! - `answers`: every answer to an attempt's INVITE, relayed to the caller; failure,
//! - `auth`: re-sending an attempt's INVITE with digest credentials,
//! - `relay`: in-dialog requests, their responses and end-to-end ACKs,
//! - `hangup`: BYE, hanging up, the CDR, shutdown, and reaping a call that escaped,
//! - `lifespan`: the deadlines a call must be over by, whatever its peers do,
//! - `snapshot`: the answered call's dialogs as kept for crash recovery,
//! - `media`: SDP of a relayed call rewritten through the RTP relay, its quality facts,
//! - `voice`: calltrack answering the caller itself and playing a prompt before it bridges,
//!   and voicemail when the scheme fails (`voice_mail`).

mod answers;
mod auth;
mod ctx;
mod dialing;
mod hangup;
mod legs;
mod lifespan;
mod media;
mod open;
mod relay;
mod snapshot;
mod voice;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::sip::dialog::Dialog;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::event::CallKey;
use crate::call::record::{HangupSide, LiveCall};
use crate::call::trail::Trail;
use crate::routing::dialer::AttemptId;

pub use ctx::Ctx;
pub use lifespan::Lifespan;
pub use open::Opening;
pub use voice::{CodePlan, MenuPlan, VoicePlan, VoicemailPlan};

use open::{Dialing, SetUp};

/// The two sides of a bridged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller (carrier) side: calltrack is the UAS.
    A,
    /// The callee (PBX) side: calltrack is the UAC.
    B,
}

impl Leg {
    /// The side of calltrack this leg's peer is on, for the edge's source checks.
    pub fn side(self) -> crate::edge::Side {
        match self {
            Leg::A => crate::edge::Side::Carrier,
            Leg::B => crate::edge::Side::Pbx,
        }
    }

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

/// The caller leg: the dialog we hold as UAS and the transaction of the INVITE we answer
/// (the INVITE itself is kept only while the call is set up, see [`SetUp`]).
#[derive(Debug)]
struct CallerLeg {
    dialog: Dialog,
    invite_tx: TxId,
    invite_seq: u32,
    peer: Peer,
    acked: bool,
}

/// One attempt of the callee leg: the INVITE we sent to one target and the dialog we hold
/// as UAC. Each attempt has its own Call-ID and From tag (RFC 3261 §8.2.2.2), so parallel
/// INVITEs to one PBX are never merged.
#[derive(Debug)]
struct CalleeLeg {
    dialog: Dialog,
    invite_tx: Option<TxId>,
    /// The INVITE as last sent, while its transaction may still need it (a CANCEL copies it,
    /// the digest retry and the retry over UDP re-send it): `None` before it is sent and
    /// once its final response is in, so a held call keeps no INVITE (boxed: a pointer then).
    invite: Option<Box<SipMessage>>,
    invite_seq: u32,
    provisional_seen: bool,
    final_seen: bool,
    cancel_wanted: bool,
    cancel_sent: bool,
    acked: bool,
    /// The INVITE was moved to TCP for its size; on a transport failure retry over UDP.
    tcp_upgraded: bool,
    /// The INVITE was re-sent with digest credentials (only once per attempt).
    auth_tried: bool,
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
    /// Every attempt, indexed by [`AttemptId`]; never empty once opened (see `open`).
    attempts: Vec<CalleeLeg>,
    /// The attempt that is the B leg: the one that answered, before that the one whose
    /// provisional reached the caller last (in-dialog requests of early dialogs go there).
    b: AttemptId,
    /// The caller's INVITE and the dialer until a 2xx wins the call; then only what the CDR
    /// needs of the plan.
    setup: SetUp,
    relays: HashMap<TxId, Relay>,
    /// Our BYEs still waiting for a final response (rarely more than two: a Vec is half a
    /// set's size in every held call).
    byes: Vec<TxId>,
    pending_ack: Option<PendingAck>,
    recorded: bool,
    ring_deadline: Option<Instant>,
    max_deadline: Option<Instant>,
    /// What the audit checks the call against (see `lifespan`).
    lifespan: Lifespan,
    quality_min_talk: Duration,
    /// `media = "relay"`: SDP crossing the legs goes through the relay (see `media`).
    relay_media: bool,
    /// `record = true`: the relayed call is recorded from the answer on.
    record: bool,
    /// What each attempt did, for the CDR's routing trail.
    trail: Trail,
    /// calltrack speaks to the caller before bridging (`announce`; see `voice`).
    voice: Option<Box<voice::Voice>>,
    /// The scheme's (or site's) voicemail, taken when the scheme fails (see `voice_mail`).
    voicemail: Option<Box<voice::VoicemailCall>>,
    /// How many of [`Self::dialog_keys`] the engine has been handed (see
    /// [`Self::new_dialog_keys`]).
    registered: usize,
    span: tracing::Span,
}

impl CallSession {
    // ---- entry points that fan out by transaction ----------------------------------------

    /// A response on one of this session's client transactions.
    pub fn on_response(&mut self, ctx: &mut Ctx<'_>, tx: TxId, resp: SipMessage, retrans: bool) {
        if let Some(id) = self.attempt_of(tx) {
            self.on_attempt_response(ctx, id, resp, retrans);
        } else if self.relays.contains_key(&tx) {
            self.on_relay_response(ctx, tx, &resp, retrans);
        } else if self.byes.contains(&tx) && resp.status().is_some_and(|c| c >= 200) {
            self.byes.retain(|t| *t != tx);
        }
    }

    /// A client transaction of this session got no final response (Timer B/C/F, 64*T1 after
    /// our CANCEL, or a transport error).
    pub fn on_timeout(&mut self, ctx: &mut Ctx<'_>, tx: TxId) {
        if let Some(id) = self.attempt_of(tx) {
            self.on_attempt_timeout(ctx, id);
        } else if let Some(relay) = self.relays.remove(&tx) {
            self.reply(ctx, relay.server_tx, &relay.request, relay.peer, 408);
        } else {
            self.byes.retain(|t| *t != tx);
        }
    }

    /// The whole call's ring timeout, the maximum call duration, or a dialer timer.
    pub fn on_deadline(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        if due(self.ring_deadline) {
            self.on_ring_timeout(ctx);
        }
        if due(self.max_deadline) {
            self.on_max_duration(ctx);
        }
        let setup = self.phase == Phase::Setup;
        let next = match self.dialing_mut() {
            Some(d) if setup && due(d.dialer.next_deadline()) => {
                Some(d.dialer.on_timeout(now, ctx.rotation))
            }
            _ => None,
        };
        if let Some(next) = next {
            self.run(ctx, next);
        }
        self.on_voice_deadline(ctx);
        self.on_voicemail_deadline(ctx);
    }

    // ---- accessors -----------------------------------------------------------------------

    /// `(Call-ID, local tag)` of the caller leg, then of every attempt in order: how
    /// in-dialog requests find this session. The list only grows while the call lives.
    pub fn dialog_keys(&self) -> Vec<(&str, &str, Leg)> {
        fn key(d: &Dialog, leg: Leg) -> (&str, &str, Leg) {
            (d.call_id.as_str(), d.local_tag.as_str(), leg)
        }
        std::iter::once(key(&self.a.dialog, Leg::A))
            .chain(self.attempts.iter().map(|b| key(&b.dialog, Leg::B)))
            .collect()
    }

    /// The entries of [`Self::dialog_keys`] not handed out by an earlier call of this one:
    /// the engine registers them (attempts add dialogs while the call is set up).
    pub fn new_dialog_keys(&mut self) -> Vec<(&str, &str, Leg)> {
        let known = self.registered;
        self.registered = 1 + self.attempts.len();
        if self.registered == known {
            return Vec::new();
        }
        self.dialog_keys().into_iter().skip(known).collect()
    }

    /// Done when the outcome is recorded and nothing is left in flight.
    pub fn is_done(&self) -> bool {
        self.recorded
            && self.phase == Phase::Ending
            && self.byes.is_empty()
            && self.relays.is_empty()
            && self
                .attempts
                .iter()
                .all(|b| b.final_seen || b.invite_tx.is_none())
    }

    /// The call is over for the caller and for the record (its CDR is written); what is left
    /// is clean-up: answers to our CANCELs, BYEs and relayed requests. Such a call no longer
    /// counts against `[calls] max_concurrent_calls`.
    pub fn is_over(&self) -> bool {
        self.recorded && self.phase == Phase::Ending
    }

    /// Whether a shutdown should wait for this call: it is still live, or a BYE of ours may
    /// still need retransmitting. A call that only waits for a silent PBX to answer a CANCEL
    /// does not hold shutdown up.
    pub fn holds_up_shutdown(&self) -> bool {
        !self.is_over() || !self.byes.is_empty()
    }

    /// The deadlines the audit checks the call against.
    pub fn lifespan(&self) -> Lifespan {
        self.lifespan
    }

    /// The call's log span: everything logged while handling this call carries its ids.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The call's id (the CDR's) and the caller leg's Call-ID, for logs.
    pub fn ids(&self) -> (&str, &str) {
        (&self.live.id, &self.a.dialog.call_id)
    }

    /// The caller's number (the From URI's user).
    pub fn caller(&self) -> &str {
        &self.live.caller
    }

    /// The dialled tracking number.
    pub fn tracking_number(&self) -> &str {
        &self.live.tracking_number
    }

    pub fn is_answered(&self) -> bool {
        self.live.answered_at.is_some()
    }

    /// The earliest session timer (ring timeouts, maximum duration).
    pub fn next_deadline(&self) -> Option<Instant> {
        let dialer = self
            .dialing()
            .filter(|_| self.phase == Phase::Setup)
            .and_then(|d| d.dialer.next_deadline());
        [
            self.ring_deadline,
            self.max_deadline,
            dialer,
            self.voice_deadline(),
            self.voicemail_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The dialling state, until a 2xx won the call.
    fn dialing(&self) -> Option<&Dialing> {
        match &self.setup {
            SetUp::Dialling(d) => Some(d),
            SetUp::Answered { .. } => None,
        }
    }

    fn dialing_mut(&mut self) -> Option<&mut Dialing> {
        match &mut self.setup {
            SetUp::Dialling(d) => Some(d),
            SetUp::Answered { .. } => None,
        }
    }

    fn attempt_of(&self, tx: TxId) -> Option<AttemptId> {
        self.attempts.iter().position(|b| b.invite_tx == Some(tx))
    }

    /// Where attempt INVITE `tx` was sent (`None`: not an attempt's INVITE).
    pub fn attempt_peer(&self, tx: TxId) -> Option<Peer> {
        self.attempt_of(tx).map(|id| self.attempts[id].dialog.peer)
    }

    /// The B leg (see [`CallSession::b`]).
    fn b(&self) -> &CalleeLeg {
        &self.attempts[self.b]
    }

    fn b_mut(&mut self) -> &mut CalleeLeg {
        &mut self.attempts[self.b]
    }

    fn dialog(&self, leg: Leg) -> &Dialog {
        match leg {
            Leg::A => &self.a.dialog,
            Leg::B => &self.b().dialog,
        }
    }

    fn dialog_mut(&mut self, leg: Leg) -> &mut Dialog {
        match leg {
            Leg::A => &mut self.a.dialog,
            Leg::B => &mut self.b_mut().dialog,
        }
    }

    fn invite_seq(&self, leg: Leg) -> u32 {
        match leg {
            Leg::A => self.a.invite_seq,
            Leg::B => self.b().invite_seq,
        }
    }
}
