//! Server transactions: the INVITE machine of RFC 3261 §17.2.1 as amended by RFC 6026 §7.1
//! (Proceeding, Completed, Confirmed, Accepted) and the non-INVITE machine of §17.2.2
//! (Trying, Proceeding, Completed).
//!
//! Once a final response is sent, the transaction only absorbs retransmissions and keeps
//! just what that needs: the key, the peer, and (while a retransmission may still need it) the
//! bytes of the last final response, in one buffer of their exact size shared with the
//! transmit (a refcount, see `outbox::kept_bytes`), or for a plain non-INVITE final only the
//! recipe that rebuilds them from the retransmission (`answer`). The request that created it
//! is dropped. In Accepted after the ACK (RFC 6026 §7.1) and in non-INVITE Completed
//! (§17.2.2) it is retired into a record (`record`).

use std::time::Duration;

use super::answer::KeptResponse;
use super::fingerprint::Fingerprint;
use super::outbox::{Ctx, kept_bytes};
use super::peers::Peers;
use super::record::{Retired, ServerInviteRecord, ServerNonInviteRecord};
use super::timers::{Slot, TimerKind, TxTimers};
use super::{TxError, TxEvent, TxId, TxState};
use crate::sip::message::{Method, SipMessage, response_to};
use crate::sip::peer::Peer;

/// One server transaction: the request that created it (until the final response), where it
/// came from, and the last response sent (what a retransmitted request is answered with).
#[derive(Debug)]
pub(crate) struct ServerTx {
    /// The TU builds its responses from it; `None` once a final response was sent.
    request: Option<Box<SipMessage>>,
    peer: Peer,
    invite: bool,
    state: TxState,
    /// What a retransmitted request (Proceeding, Completed) or Timer G / the 2xx
    /// retransmission (§13.3.1.4) re-sends; dropped once nothing will re-send it (Confirmed:
    /// §17.2.1 only absorbs ACKs there; Accepted after the ACK: RFC 6026 §7.1 absorbs INVITE
    /// retransmissions without answering them).
    last_response: Option<KeptResponse>,
    /// The To tag of the last response of an INVITE, for the 200 to a CANCEL (§9.2: "The To
    /// tag of the response to the CANCEL and the To tag in the response to the original
    /// request SHOULD be the same").
    to_tag: Option<Box<str>>,
    /// The current retransmit interval of Timer G or of the 2xx (§13.3.1.4).
    interval: Duration,
    /// Whether the ACK for our 2xx arrived (Accepted state).
    acked: bool,
    timers: TxTimers,
    /// The fingerprint of its key (RFC 3261 §17.2.3).
    pub(crate) key: Fingerprint,
    /// Ties the 2xx ACK to this transaction (Call-ID, CSeq number, From tag); given back to
    /// the layer (unindexed) once a non-2xx final makes it useless.
    pub(crate) ack_key: Option<Fingerprint>,
}

impl ServerTx {
    /// A new server transaction. An INVITE enters Proceeding and is answered 100 Trying at
    /// once (§17.2.1: "The server transaction MUST generate a 100 (Trying) response unless it
    /// knows that the TU will generate a provisional or final response within 200 ms"); any
    /// other request enters Trying.
    pub(crate) fn new(
        ctx: &mut Ctx<'_>,
        request: SipMessage,
        peer: Peer,
        key: Fingerprint,
        ack_key: Option<Fingerprint>,
    ) -> Self {
        let invite = request.method() == Some(&Method::Invite);
        // §17.2.1: the To tag in a 100 Trying is downgraded to SHOULD NOT.
        let trying = invite.then(|| response_to(&request, 100, "Trying", None, Some(peer.addr)));
        let mut tx = ServerTx {
            request: Some(Box::new(request)),
            peer,
            invite,
            state: if invite {
                TxState::Proceeding
            } else {
                TxState::Trying
            },
            last_response: None,
            to_tag: None,
            interval: ctx.config.t1,
            acked: false,
            timers: TxTimers::default(),
            key,
            ack_key,
        };
        if let Some(trying) = trying {
            tx.transmit(ctx, &trying.finish());
        }
        tx
    }

    pub(crate) fn state(&self) -> TxState {
        self.state
    }

    /// The request, while no final response was sent.
    pub(crate) fn request(&self) -> Option<&SipMessage> {
        self.request.as_deref()
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    pub(crate) fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    pub(crate) fn timers_mut(&mut self) -> &mut TxTimers {
        &mut self.timers
    }

    /// A retransmission of the request: "If a request retransmission is received while in
    /// the Proceeding state, the most recent provisional response that was received from the
    /// TU MUST be passed to the transport layer for retransmission" (§17.2.1, and likewise
    /// the final response in Completed, §17.2.2). In Trying, Confirmed and Accepted it is
    /// only absorbed (RFC 6026 §7.1: INVITE retransmissions in Accepted are not passed up).
    pub(crate) fn on_retransmission(&mut self, ctx: &mut Ctx<'_>, request: &SipMessage) {
        ctx.absorbed();
        if matches!(self.state, TxState::Proceeding | TxState::Completed) {
            self.resend_last(ctx, Some(request));
        }
    }

    /// An ACK that matched this INVITE transaction by §17.2.3. Returns whether it is the ACK
    /// for our 2xx (which belongs to the TU) rather than one the transaction absorbs.
    pub(crate) fn on_ack(&mut self, ctx: &mut Ctx<'_>) -> bool {
        match self.state {
            // §17.2.1: "If an ACK is received while the server transaction is in the
            // Completed state, the server transaction MUST transition to the Confirmed state."
            TxState::Completed => {
                self.state = TxState::Confirmed;
                self.last_response = None;
                ctx.cancel_all(&mut self.timers);
                let timer_i = ctx.config.linger(self.reliable());
                self.finish_after(ctx, TimerKind::I, timer_i);
                false
            }
            TxState::Accepted => self.on_2xx_ack(ctx),
            _ => {
                ctx.absorbed();
                false
            }
        }
    }

    /// The ACK for our 2xx arrived (matched by dialog): stop retransmitting the 2xx
    /// (§13.3.1.4). Returns whether the transaction was in Accepted.
    pub(crate) fn on_2xx_ack(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.state != TxState::Accepted {
            return false;
        }
        self.acked = true;
        self.last_response = None;
        ctx.cancel(&mut self.timers, Slot::Retransmit);
        true
    }

    /// The dialog key of an INVITE that will not be ACKed end to end (a non-2xx final was
    /// sent), for the layer to unindex; `None` while it may still be needed.
    pub(crate) fn release_ack_key(&mut self) -> Option<Fingerprint> {
        match self.state {
            TxState::Completed | TxState::Confirmed | TxState::Terminated => self.ack_key.take(),
            _ => None,
        }
    }

    /// A response from the TU.
    pub(crate) fn respond(
        &mut self,
        ctx: &mut Ctx<'_>,
        response: SipMessage,
    ) -> Result<(), TxError> {
        let status =
            response
                .status()
                .filter(|s| (100..700).contains(s))
                .ok_or(TxError::InvalidMessage(
                    "respond needs a response with a 1xx-6xx status",
                ))?;
        match (self.invite, self.state, status) {
            (_, TxState::Trying | TxState::Proceeding, 100..=199) => {
                self.state = TxState::Proceeding;
                self.transmit(ctx, &response);
            }
            (false, TxState::Trying | TxState::Proceeding, _) => {
                self.complete_non_invite(ctx, &response)
            }
            (true, TxState::Proceeding, 200..=299) => self.accept(ctx, &response),
            (true, TxState::Proceeding, _) => self.complete_invite(ctx, &response),
            // RFC 6026 §7.1: "Any retransmission of the 2xx response passed from the TU to
            // the transaction while in the Accepted state MUST be passed to the transport".
            (true, TxState::Accepted, 200..=299) => self.transmit(ctx, &response),
            (_, state, _) => return Err(TxError::InvalidState(ctx.tx, state)),
        }
        Ok(())
    }

    /// §17.2.2: a final response moves Trying/Proceeding to Completed; "Timer J to fire in
    /// 64*T1 seconds for unreliable transports, and zero seconds for reliable transports".
    fn complete_non_invite(&mut self, ctx: &mut Ctx<'_>, response: &SipMessage) {
        self.state = TxState::Completed;
        let request = self.request.take();
        self.transmit(ctx, response);
        if let (Some(request), Some(KeptResponse::Wire(bytes))) = (request, &self.last_response) {
            let kept = KeptResponse::keep(&request, response, bytes.clone(), self.peer.addr);
            self.last_response = Some(kept);
        }
        let timer_j = ctx.config.timer_j(self.reliable());
        self.finish_after(ctx, TimerKind::J, timer_j);
    }

    /// §17.2.1: a 3xx-6xx moves Proceeding to Completed; "For unreliable transports, timer G
    /// is set to fire in T1 seconds ... timer H MUST be set to fire in 64*T1 seconds for all
    /// transports."
    fn complete_invite(&mut self, ctx: &mut Ctx<'_>, response: &SipMessage) {
        self.state = TxState::Completed;
        self.request = None;
        self.transmit(ctx, response);
        self.start_retransmitting(ctx, TimerKind::G);
        ctx.arm(
            &mut self.timers,
            TimerKind::H,
            ctx.config.transaction_timeout(),
        );
    }

    /// RFC 6026 §7.1: a 2xx moves Proceeding to Accepted and "Timer L MUST be set to fire in
    /// 64*T1". calltrack's layer also does the UAS core's 2xx retransmission of §13.3.1.4
    /// ("starting with T1 and doubling ... until it reaches T2") until the ACK arrives.
    fn accept(&mut self, ctx: &mut Ctx<'_>, response: &SipMessage) {
        self.state = TxState::Accepted;
        self.request = None;
        self.transmit(ctx, response);
        self.start_retransmitting(ctx, TimerKind::Retransmit2xx);
        ctx.arm(
            &mut self.timers,
            TimerKind::L,
            ctx.config.transaction_timeout(),
        );
    }

    fn start_retransmitting(&mut self, ctx: &mut Ctx<'_>, kind: TimerKind) {
        if !self.reliable() {
            self.interval = ctx.config.t1;
            ctx.arm(&mut self.timers, kind, self.interval);
        }
    }

    /// A timer of this transaction fired (it was still current).
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, kind: TimerKind) {
        match (kind, self.state) {
            (TimerKind::G, TxState::Completed) | (TimerKind::Retransmit2xx, TxState::Accepted) => {
                self.resend_last(ctx, None);
                self.interval = ctx.config.capped_backoff(self.interval);
                ctx.arm(&mut self.timers, kind, self.interval);
            }
            // §17.2.1: "If timer H fires while in the Completed state, it implies that the ACK
            // was never received."
            (TimerKind::H, TxState::Completed) => {
                ctx.out.stats.ack_timeouts += 1;
                self.terminate(ctx);
            }
            (TimerKind::I, TxState::Confirmed) | (TimerKind::J, TxState::Completed) => {
                self.terminate(ctx);
            }
            (TimerKind::L, TxState::Accepted) => self.end_accepted(ctx),
            _ => {}
        }
    }

    /// Timer L: the transaction ends; without an ACK the TU learns the dialog is dead
    /// (§13.3.1.4: "the dialog is confirmed, but the session SHOULD be terminated").
    fn end_accepted(&mut self, ctx: &mut Ctx<'_>) {
        if !self.acked {
            ctx.out.stats.ack_timeouts += 1;
            ctx.emit(TxEvent::AckTimeout { tx: ctx.tx });
        }
        self.terminate(ctx);
    }

    /// Sends a response and keeps its bytes (a refcount on the same buffer) for
    /// retransmissions, unless the 2xx was already ACKed.
    fn transmit(&mut self, ctx: &mut Ctx<'_>, response: &SipMessage) {
        let tag = response
            .to()
            .ok()
            .and_then(|to| to.tag().map(Box::<str>::from));
        if self.invite && tag.is_some() {
            self.to_tag = tag;
        }
        let bytes = if response.status().is_some_and(|s| s >= 200) {
            kept_bytes(response)
        } else {
            response.wire_bytes()
        };
        if !self.acked {
            self.last_response = Some(KeptResponse::Wire(bytes.clone()));
        }
        ctx.send(self.peer, bytes);
    }

    /// Re-sends the last response; `request` is the retransmission being answered (`None`
    /// for a timer, which only re-sends INVITE responses, kept as bytes).
    fn resend_last(&self, ctx: &mut Ctx<'_>, request: Option<&SipMessage>) {
        let bytes = self.last_response.as_ref();
        if let Some(bytes) = bytes.and_then(|kept| kept.bytes(request, self.peer.addr)) {
            ctx.resend(self.peer, bytes);
        }
    }

    /// The record that replaces this transaction once it only absorbs retransmissions
    /// (Accepted after the ACK, RFC 6026 §7.1; non-INVITE Completed, §17.2.2), or `None`.
    pub(crate) fn retire(&mut self, id: TxId, peers: &mut Peers) -> Option<Retired> {
        let key = self.key;
        match (self.invite, self.state) {
            (true, TxState::Accepted) if self.acked => {
                Some(Retired::ServerInvite(ServerInviteRecord {
                    id,
                    key,
                    ack_key: self.ack_key.take(),
                    peer: peers.hold(self.peer),
                    to_tag: self.to_tag.take(),
                }))
            }
            (false, TxState::Completed) => {
                let last = self.last_response.take()?;
                Some(Retired::ServerNonInvite(ServerNonInviteRecord {
                    id,
                    key,
                    peer: peers.hold(self.peer),
                    last,
                }))
            }
            _ => None,
        }
    }

    /// Arms a lingering timer, or terminates at once when its value is zero (reliable
    /// transports).
    fn finish_after(&mut self, ctx: &mut Ctx<'_>, kind: TimerKind, after: Duration) {
        if after.is_zero() {
            self.terminate(ctx);
        } else {
            ctx.arm(&mut self.timers, kind, after);
        }
    }

    fn terminate(&mut self, ctx: &mut Ctx<'_>) {
        self.state = TxState::Terminated;
        ctx.cancel_all(&mut self.timers);
    }

    fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }
}
