//! One bridged call: the caller's leg (A, where calltrack is the UAS) and the callee's leg
//! (B, where calltrack is the UAC), and every transition from the INVITE to the CDR.
//!
//! The session never touches I/O: it drives the transaction layer handed to it in [`Ctx`]
//! and reports what happened as [`CallEvent`]s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::sip::dialog::{Dialog, Ids, LocalEndpoint};
use crate::sip::message::{HeaderName, Method, response_to};
use crate::sip::transaction::{TransactionLayer, TxId};
use crate::sip::{Peer, SipMessage};

use super::b2bua::{CallEvent, CallKey, Owners, WallClock};
use super::bridge::{self, CopyRules};
use super::outcome::{Fault, reason_phrase};
use super::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};

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

/// What a session may use while handling one input.
pub struct Ctx<'a> {
    pub now: Instant,
    pub layer: &'a mut TransactionLayer,
    pub ids: &'a mut Ids,
    pub local: &'a LocalEndpoint,
    pub owners: &'a mut Owners,
    pub events: &'a mut VecDeque<CallEvent>,
    pub clock: &'a WallClock,
    pub rules: CopyRules<'a>,
}

impl Ctx<'_> {
    /// Starts a client transaction owned by `key`; a refused send is reported as `None`.
    fn send(&mut self, key: CallKey, request: SipMessage, peer: Peer) -> Option<TxId> {
        match self.layer.send_request(self.now, request, peer) {
            Ok(tx) => {
                self.owners.insert(tx, key);
                Some(tx)
            }
            Err(error) => {
                tracing::warn!(%error, "request not sent");
                None
            }
        }
    }

    fn respond(&mut self, tx: TxId, response: SipMessage) {
        if let Err(error) = self.layer.respond(self.now, tx, response) {
            tracing::debug!(%error, "response not sent");
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
        let a = caller_leg(ctx, &o);
        let b = callee_leg(ctx, &o);
        let live = LiveCall {
            id: o.uid,
            call_id: o.invite.call_id().unwrap_or_default().to_string(),
            tracking_number: o.plan.tracking.number.clone(),
            caller: o.plan.caller.clone(),
            destination: o.plan.target.uri.clone(),
            started_at: ctx.clock.at(ctx.now),
            answered_at: None,
            attribution: o.plan.attribution.clone(),
            first_time_caller: o.first_call,
        };
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

    fn send_b_invite(
        &mut self,
        ctx: &mut Ctx<'_>,
        plan: &super::BridgePlan,
        udp_max: usize,
        stamp: &[(String, String)],
    ) {
        let branch = ctx.ids.branch();
        let mut invite = self.build_b_invite(ctx, plan, &branch, stamp);
        let size = invite.as_bytes().len();
        let pinned = plan.target.transport_pinned;
        let transport = bridge::transport_for_size(self.b.dialog.transport, pinned, size, udp_max);
        if transport != self.b.dialog.transport {
            self.b.dialog.transport = transport;
            self.b.dialog.peer.transport = transport;
            self.b.tcp_upgraded = true;
            invite = self.build_b_invite(ctx, plan, &branch, stamp);
        }
        self.b.invite = invite.clone();
        self.b.invite_tx = ctx.send(self.key, invite, self.b.dialog.peer);
        if self.b.invite_tx.is_none() {
            self.fail(ctx, Fault::Unreachable);
        }
    }

    fn build_b_invite(
        &self,
        ctx: &Ctx<'_>,
        plan: &super::BridgePlan,
        branch: &str,
        stamp: &[(String, String)],
    ) -> SipMessage {
        let mf = plan.max_forwards;
        bridge::b_leg_invite(
            &self.a.invite,
            &self.b.dialog,
            ctx.local,
            branch,
            mf,
            ctx.rules,
            stamp,
        )
    }

    // ---- responses -------------------------------------------------------------------

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

    fn on_b_invite_response(&mut self, ctx: &mut Ctx<'_>, resp: SipMessage, retrans: bool) {
        let code = resp.status().unwrap_or(500);
        match code {
            100 => self.on_b_trying(ctx),
            101..=199 => self.on_b_provisional(ctx, &resp),
            200..=299 if !retrans => self.on_b_answer(ctx, &resp),
            200..=299 => {}
            _ => self.on_b_failure(ctx, code, &resp),
        }
    }

    fn on_b_trying(&mut self, ctx: &mut Ctx<'_>) {
        self.b.provisional_seen = true;
        self.send_pending_cancel(ctx);
    }

    fn on_b_provisional(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        self.b.provisional_seen = true;
        learn_remote(&mut self.b.dialog, resp);
        if self.phase == Phase::Setup && !self.b.cancel_wanted {
            let contact = resp
                .to()
                .ok()
                .and_then(|t| t.tag())
                .map(|_| self.a_contact(ctx));
            let relayed = self.relay_to_a(ctx, resp, contact.as_deref());
            ctx.respond(self.a.invite_tx, relayed);
        }
        self.send_pending_cancel(ctx);
    }

    fn on_b_answer(&mut self, ctx: &mut Ctx<'_>, resp: &SipMessage) {
        self.b.final_seen = true;
        learn_remote(&mut self.b.dialog, resp);
        if self.phase != Phase::Setup || self.b.cancel_wanted {
            // Answered after the caller left (CANCEL crossed the 200): ACK and hang up.
            self.ack_b(ctx, None);
            self.send_bye(ctx, Leg::B);
            return;
        }
        let contact = self.a_contact(ctx);
        let relayed = self.relay_to_a(ctx, resp, Some(&contact));
        ctx.respond(self.a.invite_tx, relayed);
        self.phase = Phase::Answered;
        self.live.answered_at = Some(ctx.clock.at(ctx.now));
        self.ring_deadline = None;
        self.max_deadline = Some(ctx.now + self.max_duration);
        ctx.events.push_back(CallEvent::Answered {
            id: self.live.id.clone(),
            at: ctx.clock.at(ctx.now),
        });
        if !self.a.invite.body().is_empty() {
            // The offer was in the INVITE, so the ACK carries no answer: send it now.
            self.ack_b(ctx, None);
        }
    }

    fn on_b_failure(&mut self, ctx: &mut Ctx<'_>, code: u16, resp: &SipMessage) {
        self.b.final_seen = true;
        if self.phase != Phase::Setup || self.recorded {
            return;
        }
        let fault = Fault::Callee(code);
        let (status, _) = fault.caller_status();
        let answer = if status == code {
            self.relay_to_a(ctx, resp, None)
        } else {
            self.a_response(ctx, status)
        };
        ctx.respond(self.a.invite_tx, answer);
        self.record(ctx, fault.disposition(), status, fault.hangup_side());
        self.phase = Phase::Ending;
    }

    fn relay_to_a(&self, ctx: &Ctx<'_>, resp: &SipMessage, contact: Option<&str>) -> SipMessage {
        let tag = &self.a.dialog.local_tag;
        let source = Some(self.a.peer.addr);
        bridge::relay_response(&self.a.invite, resp, tag, source, contact, ctx.rules)
    }

    /// A response of our own to the caller's INVITE.
    fn a_response(&self, _ctx: &Ctx<'_>, status: u16) -> SipMessage {
        let tag = Some(self.a.dialog.local_tag.as_str());
        response_to(
            &self.a.invite,
            status,
            reason_phrase(status),
            tag,
            Some(self.a.peer.addr),
        )
        .finish()
    }

    fn a_contact(&self, ctx: &Ctx<'_>) -> String {
        ctx.local.contact(self.a.dialog.transport)
    }

    // ---- failure, cancel, hang-up ----------------------------------------------------

    /// The B-leg cannot be set up: answer the caller and record the outcome.
    fn fail(&mut self, ctx: &mut Ctx<'_>, fault: Fault) {
        if self.phase != Phase::Setup || self.recorded {
            return;
        }
        let (status, _) = fault.caller_status();
        let answer = self.a_response(ctx, status);
        ctx.respond(self.a.invite_tx, answer);
        self.record(ctx, fault.disposition(), status, fault.hangup_side());
        self.phase = Phase::Ending;
    }

    /// The caller cancelled (RFC 3261 §9.2): 487 to the caller, CANCEL toward the callee.
    pub fn on_cancel(&mut self, ctx: &mut Ctx<'_>, invite_tx: TxId) {
        if invite_tx != self.a.invite_tx || self.phase != Phase::Setup {
            return;
        }
        self.fail(ctx, Fault::CallerCancelled);
        self.cancel_b(ctx);
    }

    /// CANCEL may only follow a provisional response (RFC 3261 §9.1); until then it waits.
    fn cancel_b(&mut self, ctx: &mut Ctx<'_>) {
        self.b.cancel_wanted = true;
        self.ring_deadline = None;
        self.send_pending_cancel(ctx);
    }

    fn send_pending_cancel(&mut self, ctx: &mut Ctx<'_>) {
        if !self.b.cancel_wanted || self.b.cancel_sent || !self.b.provisional_seen {
            return;
        }
        if self.b.final_seen {
            return;
        }
        self.b.cancel_sent = true;
        let cancel = cancel_for(&self.b.invite);
        ctx.send(self.key, cancel, self.b.dialog.peer);
    }

    fn ack_b(&mut self, ctx: &mut Ctx<'_>, body_from: Option<&SipMessage>) {
        let Some(tx) = self.b.invite_tx.filter(|_| !self.b.acked) else {
            return;
        };
        self.b.acked = true;
        let branch = ctx.ids.branch();
        let ack = bridge::ack_for(
            &mut self.b.dialog,
            ctx.local,
            &branch,
            self.b.invite_seq,
            body_from,
        );
        if let Err(error) = ctx.layer.send_ack(ctx.now, tx, ack, self.b.dialog.peer) {
            tracing::debug!(%error, "ACK not sent");
        }
    }

    fn send_bye(&mut self, ctx: &mut Ctx<'_>, leg: Leg) {
        let branch = ctx.ids.branch();
        let dialog = self.dialog_mut(leg);
        let peer = dialog.peer;
        let bye = dialog.request(&Method::Bye, ctx.local, &branch).finish();
        if let Some(tx) = ctx.send(self.key, bye, peer) {
            self.byes.insert(tx);
        }
    }

    /// Ends an answered call from `side`: record, then BYE the legs that did not hang up.
    fn hang_up(&mut self, ctx: &mut Ctx<'_>, side: HangupSide, bye_legs: &[Leg]) {
        self.record(ctx, Disposition::Answered, 200, side);
        self.phase = Phase::Ending;
        self.max_deadline = None;
        for leg in bye_legs {
            self.send_bye(ctx, *leg);
        }
    }

    fn record(
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
        let ended = ctx.clock.at(ctx.now);
        let cdr = CallDetailRecord::from_live(&self.live, ended, disposition, status, side)
            .judge_quality(self.quality_min_talk);
        ctx.events.push_back(CallEvent::Ended(cdr));
    }

    // ---- requests inside the dialogs -------------------------------------------------

    /// A request inside one of the legs' dialogs (never ACK, never a CANCEL of the INVITE).
    pub fn on_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        leg: Leg,
        tx: TxId,
        req: SipMessage,
        peer: Peer,
    ) {
        let method = req.method().cloned().unwrap_or(Method::Info);
        if let Ok(cseq) = req.cseq() {
            self.dialog_mut(leg).remote_seq = Some(cseq.seq);
        }
        match method {
            Method::Bye => self.on_bye(ctx, leg, tx, &req, peer),
            _ if self.phase == Phase::Ending => self.reply(ctx, tx, &req, peer, 481),
            Method::Invite if self.reinvite_in_flight() => self.reply(ctx, tx, &req, peer, 491),
            _ => self.relay_request(ctx, leg, tx, req, peer),
        }
    }

    fn on_bye(&mut self, ctx: &mut Ctx<'_>, leg: Leg, tx: TxId, req: &SipMessage, peer: Peer) {
        self.reply(ctx, tx, req, peer, 200);
        match self.phase {
            Phase::Answered => self.hang_up(ctx, leg.hangup_side(), &[leg.other()]),
            // A BYE on an early dialog (RFC 3261 §15) ends the attempt like a CANCEL.
            Phase::Setup if leg == Leg::A => {
                self.fail(ctx, Fault::CallerCancelled);
                self.cancel_b(ctx);
            }
            Phase::Setup | Phase::Ending => {}
        }
    }

    fn reply(&self, ctx: &mut Ctx<'_>, tx: TxId, req: &SipMessage, peer: Peer, status: u16) {
        let tag = self.dialog(self.leg_of(req)).local_tag.clone();
        let resp = response_to(
            req,
            status,
            reason_phrase(status),
            Some(&tag),
            Some(peer.addr),
        );
        ctx.respond(tx, resp.finish());
    }

    fn leg_of(&self, req: &SipMessage) -> Leg {
        if req.call_id() == Some(self.b.dialog.call_id.as_str()) {
            Leg::B
        } else {
            Leg::A
        }
    }

    fn reinvite_in_flight(&self) -> bool {
        self.relays
            .values()
            .any(|r| r.request.method() == Some(&Method::Invite))
            || self.pending_ack.is_some()
    }

    fn relay_request(
        &mut self,
        ctx: &mut Ctx<'_>,
        leg: Leg,
        tx: TxId,
        req: SipMessage,
        peer: Peer,
    ) {
        let method = req.method().cloned().unwrap_or(Method::Info);
        if bridge::is_target_refresh(&method) {
            learn_target(self.dialog_mut(leg), &req);
        }
        let toward = leg.other();
        let invite_seq = self.invite_seq(toward);
        let branch = ctx.ids.branch();
        let dialog = self.dialog_mut(toward);
        let target_peer = dialog.peer;
        let out = bridge::relay_request(&req, dialog, ctx.local, &branch, invite_seq, ctx.rules);
        match ctx.send(self.key, out, target_peer) {
            Some(client_tx) => {
                self.relays.insert(
                    client_tx,
                    Relay {
                        server_tx: tx,
                        from: leg,
                        request: req,
                        peer,
                    },
                );
            }
            None => self.reply(ctx, tx, &req, peer, 503),
        }
    }

    fn on_relay_response(&mut self, ctx: &mut Ctx<'_>, tx: TxId, resp: &SipMessage, retrans: bool) {
        let code = resp.status().unwrap_or(500);
        if code == 100 || retrans {
            return;
        }
        let Some(relay) = self.relays.remove(&tx) else {
            return;
        };
        let origin = relay.from;
        let method = relay.request.method().cloned();
        let refresh = method.as_ref().is_some_and(bridge::is_target_refresh);
        if (200..300).contains(&code) && refresh {
            learn_target(self.dialog_mut(origin.other()), resp);
        }
        let contact =
            (refresh && code < 300).then(|| ctx.local.contact(self.dialog(origin).transport));
        let tag = self.dialog(origin).local_tag.clone();
        let out = bridge::relay_response(
            &relay.request,
            resp,
            &tag,
            Some(relay.peer.addr),
            contact.as_deref(),
            ctx.rules,
        );
        ctx.respond(relay.server_tx, out);
        if code < 200 {
            self.relays.insert(tx, relay);
        }
        if (200..300).contains(&code) && method == Some(Method::Invite) {
            let cseq = self.dialog(origin.other()).local_seq;
            self.pending_ack = Some(PendingAck {
                client_tx: tx,
                cseq,
                toward: origin.other(),
            });
        }
    }

    /// An ACK for a 2xx, end to end: the caller's first ACK, or one for a relayed re-INVITE.
    pub fn on_ack(&mut self, ctx: &mut Ctx<'_>, leg: Leg, ack: SipMessage) {
        let seq = ack.cseq().map(|c| c.seq).ok();
        if leg == Leg::A && !self.a.acked && seq == Some(self.a.invite_seq) {
            self.a.acked = true;
            let body = (!ack.body().is_empty()).then_some(&ack);
            self.ack_b(ctx, body);
            return;
        }
        let Some(pending) = self.pending_ack.filter(|p| p.toward == leg.other()) else {
            return;
        };
        self.pending_ack = None;
        let branch = ctx.ids.branch();
        let dialog = self.dialog_mut(pending.toward);
        let peer = dialog.peer;
        let body = (!ack.body().is_empty()).then_some(&ack);
        let out = bridge::ack_for(dialog, ctx.local, &branch, pending.cseq, body);
        if let Err(error) = ctx.layer.send_ack(ctx.now, pending.client_tx, out, peer) {
            tracing::debug!(%error, "relayed ACK not sent");
        }
    }

    // ---- timers ----------------------------------------------------------------------

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

    fn on_b_invite_timeout(&mut self, ctx: &mut Ctx<'_>) {
        self.b.final_seen = true;
        if self.b.tcp_upgraded && !self.b.provisional_seen && self.phase == Phase::Setup {
            // RFC 3261 §18.1.1: a request moved to TCP for its size is retried over UDP.
            self.retry_b_over_udp(ctx);
            return;
        }
        match self.phase {
            Phase::Setup => self.fail(ctx, Fault::Unreachable),
            Phase::Answered => self.hang_up(ctx, HangupSide::System, &[Leg::A]),
            Phase::Ending => {}
        }
    }

    fn retry_b_over_udp(&mut self, ctx: &mut Ctx<'_>) {
        self.b.tcp_upgraded = false;
        self.b.final_seen = false;
        self.b.dialog.transport = crate::sip::Transport::Udp;
        self.b.dialog.peer.transport = crate::sip::Transport::Udp;
        let branch = ctx.ids.branch();
        let via = ctx.local.via(crate::sip::Transport::Udp, &branch);
        let retry = bridge::replace_via(&self.b.invite, &via);
        self.b.invite = retry.clone();
        self.b.invite_tx = ctx.send(self.key, retry, self.b.dialog.peer);
        if self.b.invite_tx.is_none() {
            self.fail(ctx, Fault::Unreachable);
        }
    }

    /// The caller never ACKed our 2xx (RFC 3261 §13.3.1.4): end the call on both legs.
    pub fn on_ack_timeout(&mut self, ctx: &mut Ctx<'_>, tx: TxId) {
        if tx == self.a.invite_tx && self.phase == Phase::Answered {
            self.hang_up(ctx, HangupSide::System, &[Leg::A, Leg::B]);
        }
    }

    /// Ring timeout or maximum call duration reached.
    pub fn on_deadline(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        if due(self.ring_deadline) && self.phase == Phase::Setup {
            self.ring_deadline = None;
            self.fail(ctx, Fault::RingTimeout);
            self.cancel_b(ctx);
        }
        if due(self.max_deadline) && self.phase == Phase::Answered {
            self.hang_up(ctx, HangupSide::System, &[Leg::A, Leg::B]);
        }
    }

    /// Shutdown grace is over: end the call now, whatever its state.
    pub fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        match self.phase {
            Phase::Setup => {
                self.fail(ctx, Fault::Unreachable);
                self.cancel_b(ctx);
            }
            Phase::Answered => self.hang_up(ctx, HangupSide::System, &[Leg::A, Leg::B]),
            Phase::Ending => {}
        }
    }

    /// The process is stopping and cannot signal any more: record what is known.
    pub fn abandon(&mut self, ctx: &mut Ctx<'_>) {
        let disposition = if self.is_answered() {
            Disposition::Answered
        } else {
            Disposition::Interrupted
        };
        let status = if self.is_answered() { 200 } else { 0 };
        self.record(ctx, disposition, status, HangupSide::System);
    }

    // ---- small accessors -------------------------------------------------------------

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

/// The caller leg's dialog as UAS (RFC 3261 §12.1.1).
fn caller_leg(ctx: &mut Ctx<'_>, o: &Opening) -> CallerLeg {
    let invite = &o.invite;
    let from = invite.from().ok();
    let to = invite.to().ok();
    let remote_target = invite.contact().and_then(Result::ok).map_or_else(
        || from.as_ref().map_or("", |f| f.uri).to_string(),
        |c| c.uri.to_string(),
    );
    let route_set: Vec<String> = invite
        .values(&HeaderName::RecordRoute)
        .map(str::to_string)
        .collect();
    let peer = in_dialog_peer(&route_set, &remote_target, o.peer);
    let invite_seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    CallerLeg {
        dialog: Dialog {
            call_id: invite.call_id().unwrap_or_default().to_string(),
            local_tag: ctx.ids.tag(),
            remote_tag: from.as_ref().and_then(|f| f.tag()).map(str::to_string),
            local_uri: format!("<{}>", to.as_ref().map_or("", |t| t.uri)),
            remote_uri: format!("<{}>", from.as_ref().map_or("", |f| f.uri)),
            local_seq: ctx.ids.small_seq(),
            remote_seq: Some(invite_seq),
            remote_target,
            route_set,
            peer,
            transport: o.peer.transport,
        },
        invite_tx: o.invite_tx,
        invite: o.invite.clone(),
        invite_seq,
        peer: o.peer,
        acked: false,
    }
}

/// Where in-dialog requests to the caller go: the first route or the remote target when it
/// names an IP address, else back where the INVITE came from (NAT-friendly, like rport).
fn in_dialog_peer(route_set: &[String], target: &str, source: Peer) -> Peer {
    let next = route_set.first().map_or(target, String::as_str);
    crate::sip::dialog::uri_peer(next, source.transport).unwrap_or(source)
}

/// The callee leg's dialog as UAC (RFC 3261 §12.1.2), before any response.
fn callee_leg(ctx: &mut Ctx<'_>, o: &Opening) -> CalleeLeg {
    let target = &o.plan.target;
    let caller_uri = caller_uri(o, ctx.local, target.peer.transport);
    let invite_seq = ctx.ids.small_seq();
    CalleeLeg {
        dialog: Dialog {
            call_id: ctx.ids.call_id(),
            local_tag: ctx.ids.tag(),
            remote_tag: None,
            local_uri: caller_uri,
            remote_uri: format!("<{}>", target.uri),
            local_seq: invite_seq,
            remote_seq: None,
            remote_target: target.uri.clone(),
            route_set: Vec::new(),
            peer: target.peer,
            transport: target.peer.transport,
        },
        invite_tx: None,
        invite: o.invite.clone(),
        invite_seq,
        provisional_seen: false,
        final_seen: false,
        cancel_wanted: false,
        cancel_sent: false,
        acked: false,
        tcp_upgraded: false,
    }
}

/// The B-leg From: the caller's display name and number at calltrack's host, so the PBX
/// sees who calls without learning the carrier's topology.
fn caller_uri(o: &Opening, local: &LocalEndpoint, transport: crate::sip::Transport) -> String {
    let host = local.host_port(transport);
    let display = o
        .invite
        .from()
        .ok()
        .and_then(|f| f.display)
        .filter(|d| !d.is_empty());
    let user = if o.plan.caller.is_empty() {
        "anonymous"
    } else {
        o.plan.caller.as_str()
    };
    match display {
        Some(name) if !name.contains('"') || name.starts_with('"') => {
            format!("\"{}\" <sip:{user}@{host}>", name.trim_matches('"'))
        }
        _ => format!("<sip:{user}@{host}>"),
    }
}

/// Learns the remote tag, target and route set from a response that creates or confirms the
/// dialog (RFC 3261 §12.1.2: the route set is the Record-Route list reversed).
fn learn_remote(dialog: &mut Dialog, resp: &SipMessage) {
    let Some(tag) = resp.to().ok().and_then(|t| t.tag()).map(str::to_string) else {
        return;
    };
    if dialog.remote_tag.is_none() {
        dialog.route_set = resp
            .values(&HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        dialog.route_set.reverse();
    }
    dialog.remote_tag = Some(tag);
    learn_target(dialog, resp);
}

/// A target refresh: the Contact of a request or 2xx becomes the remote target (§12.2).
fn learn_target(dialog: &mut Dialog, msg: &SipMessage) {
    if let Some(Ok(contact)) = msg.contact() {
        dialog.remote_target = contact.uri.to_string();
        let next = dialog.route_set.first().map_or(contact.uri, String::as_str);
        if let Some(peer) = crate::sip::dialog::uri_peer(next, dialog.peer.transport) {
            dialog.peer = peer;
        }
    }
}

/// The CANCEL for a client INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To,
/// CSeq number and top Via (branch) as the INVITE, and its Route headers.
fn cancel_for(invite: &SipMessage) -> SipMessage {
    let mut b = crate::sip::message::MessageBuilder::request(
        &Method::Cancel,
        invite.request_uri().unwrap_or_default(),
    );
    if let Some(via) = invite.values(&HeaderName::Via).next() {
        b.header(HeaderName::Via, via);
    }
    b.copy_headers(invite, HeaderName::Route);
    b.header(HeaderName::MaxForwards, "70");
    b.copy_headers(invite, HeaderName::From);
    b.copy_headers(invite, HeaderName::To);
    b.copy_headers(invite, HeaderName::CallId);
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
    b.header(HeaderName::CSeq, &format!("{seq} CANCEL"));
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn cancel_copies_the_invite_identity() {
        let invite = SipMessage::parse(
            Bytes::from_static(
                b"INVITE sip:1@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb1;rport\r\n\
Max-Forwards: 69\r\nFrom: <sip:2@h>;tag=f\r\nTo: <sip:1@127.0.0.1:5080>\r\nCall-ID: cid\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n",
            ),
            &Default::default(),
        )
        .unwrap();
        let cancel = cancel_for(&invite);
        assert_eq!(cancel.method(), Some(&Method::Cancel));
        assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bKb1"));
        assert_eq!(cancel.cseq().unwrap().seq, 7);
        assert_eq!(cancel.cseq().unwrap().method, Method::Cancel);
        assert_eq!(cancel.call_id(), Some("cid"));
    }
}
