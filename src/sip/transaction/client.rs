//! Client transactions: the INVITE machine of RFC 3261 §17.1.1 as amended by RFC 6026 §7.2
//! (Calling, Proceeding, Completed, Accepted) and the non-INVITE machine of §17.1.2 (Trying,
//! Proceeding, Completed), plus the ACK for a non-2xx final (§17.1.1.3).
//!
//! Every INVITE ends even when its peer falls silent: Timer B in Calling, Timer C in
//! Proceeding (§16.6 step 11), and 64*T1 after our CANCEL (§9.1).
//!
//! Once a final response arrives, the request is dropped. A non-2xx final keeps the ACK bytes
//! to re-send on a retransmitted final (Completed, §17.1.1.2), in one exact-size buffer shared
//! with the transmit (a refcount, see `outbox::kept_bytes`); in Accepted (RFC 6026 §7.2) and in
//! non-INVITE Completed (§17.1.2.2) the transaction is retired into a record (`record`, `leg`).

use std::time::Duration;

use bytes::Bytes;

use super::fingerprint::Fingerprint;
use super::leg::{AcceptedLeg, Legs};
use super::outbox::{Ctx, kept_bytes};
use super::record::{ClientInviteRecord, ClientNonInviteRecord, Retired};
use super::timers::{Slot, TimerKind, TxTimers};
use super::{TxEvent, TxId, TxState};
use crate::sip::message::{HeaderName, MessageBuilder, Method, SipMessage};
use crate::sip::peer::Peer;

/// One client transaction.
#[derive(Debug)]
pub(crate) struct ClientTx {
    /// Re-sent by Timers A and E; `None` once a final response arrived.
    request: Option<Box<SipMessage>>,
    peer: Peer,
    invite: bool,
    state: TxState,
    /// The current retransmit interval of Timer A or E.
    interval: Duration,
    /// The ACK this transaction sent for a non-2xx final (§17.1.1.3).
    ack: Option<Bytes>,
    /// The leg of the first 2xx, handed at once to the record that replaces the
    /// transaction in Accepted (`leg`); boxed, as it lives only for that step.
    accepted: Option<Box<AcceptedLeg>>,
    timers: TxTimers,
    /// The TU sent a CANCEL for this INVITE (§9.1): provisionals no longer reset Timer C.
    cancelled: bool,
    /// The fingerprint of its key (RFC 3261 §17.1.3).
    pub(crate) key: Fingerprint,
}

impl ClientTx {
    /// Sends the request and starts Calling (A on unreliable transports, B always;
    /// §17.1.1.2) or Trying (E on unreliable transports, F always; §17.1.2.2).
    pub(crate) fn new(
        ctx: &mut Ctx<'_>,
        request: SipMessage,
        peer: Peer,
        key: Fingerprint,
    ) -> Self {
        let invite = request.method() == Some(&Method::Invite);
        let (state, retransmit, timeout) = if invite {
            (TxState::Calling, TimerKind::A, TimerKind::B)
        } else {
            (TxState::Trying, TimerKind::E, TimerKind::F)
        };
        ctx.send(peer, request.wire_bytes());
        let mut tx = ClientTx {
            request: Some(Box::new(request)),
            peer,
            invite,
            state,
            interval: ctx.config.t1,
            ack: None,
            accepted: None,
            timers: TxTimers::default(),
            cancelled: false,
            key,
        };
        if !peer.transport.is_reliable() {
            ctx.arm(&mut tx.timers, retransmit, tx.interval);
        }
        ctx.arm(&mut tx.timers, timeout, ctx.config.transaction_timeout());
        tx
    }

    pub(crate) fn state(&self) -> TxState {
        self.state
    }

    pub(crate) fn peer(&self) -> Peer {
        self.peer
    }

    pub(crate) fn timers_mut(&mut self) -> &mut TxTimers {
        &mut self.timers
    }

    /// A response matched to this transaction (status already checked to be 1xx-6xx).
    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: SipMessage) {
        let status = response.status().unwrap_or_default();
        if self.invite {
            self.on_invite_response(ctx, response, status);
        } else {
            self.on_non_invite_response(ctx, response, status);
        }
    }

    fn on_invite_response(&mut self, ctx: &mut Ctx<'_>, response: SipMessage, status: u16) {
        match (self.state, status) {
            (TxState::Calling | TxState::Proceeding, 100..=199) => {
                self.on_provisional(ctx, response, status);
            }
            (TxState::Calling | TxState::Proceeding, 200..=299) => self.accept(ctx, response),
            (TxState::Calling | TxState::Proceeding, _) => self.complete_invite(ctx, response),
            // §17.1.1.2: "Any retransmissions of the final response that are received while
            // in the Completed state MUST cause the ACK to be re-passed to the transport
            // layer for retransmission, but the newly received response MUST NOT be passed
            // up to the TU."
            (TxState::Completed, 300..) => {
                ctx.absorbed();
                if let Some(ack) = &self.ack {
                    ctx.resend(self.peer, ack.clone());
                }
            }
            _ => ctx.absorbed(),
        }
    }

    /// §17.1.1.2: a provisional in Calling moves to Proceeding, where the request is no
    /// longer retransmitted (Timer A stops) and Timer B does not run. Timer C takes its place
    /// (§16.6 step 11), reset by every provisional but 100 (§16.7 step 2), unless a CANCEL
    /// was sent: then the §9.1 wait runs to its end.
    fn on_provisional(&mut self, ctx: &mut Ctx<'_>, response: SipMessage, status: u16) {
        let first = self.state == TxState::Calling;
        self.state = TxState::Proceeding;
        ctx.cancel(&mut self.timers, Slot::Retransmit);
        if !self.cancelled && (first || status > 100) {
            ctx.arm(&mut self.timers, TimerKind::C, ctx.config.c);
        }
        pass_up(ctx, response, false);
    }

    /// The TU sent a CANCEL for this INVITE. §9.1: "If there is no final response for the
    /// original request in 64*T1 seconds ..., the client SHOULD then consider the original
    /// transaction cancelled and SHOULD destroy the client transaction handling the original
    /// request." The TU hears a timeout then.
    pub(crate) fn cancel_sent(&mut self, ctx: &mut Ctx<'_>) {
        let waiting = matches!(self.state, TxState::Calling | TxState::Proceeding);
        if self.invite && waiting && !self.cancelled {
            self.cancelled = true;
            let wait = ctx.config.transaction_timeout();
            ctx.arm(&mut self.timers, TimerKind::Cancelled, wait);
        }
    }

    /// RFC 6026 §7.2: a 2xx in Calling or Proceeding moves to Accepted, is passed to the TU,
    /// and starts Timer M = 64*T1.
    fn accept(&mut self, ctx: &mut Ctx<'_>, response: SipMessage) {
        self.state = TxState::Accepted;
        self.request = None;
        ctx.cancel_all(&mut self.timers);
        ctx.arm(
            &mut self.timers,
            TimerKind::M,
            ctx.config.transaction_timeout(),
        );
        self.accepted = Some(Box::new(AcceptedLeg::of(ctx, &response)));
        pass_up(ctx, response, false);
    }

    /// §17.1.1.2: a 300-699 moves to Completed; the ACK is generated and sent, the response
    /// passed up, and Timer D started (32 s unreliable, zero reliable).
    fn complete_invite(&mut self, ctx: &mut Ctx<'_>, response: SipMessage) {
        self.state = TxState::Completed;
        ctx.cancel_all(&mut self.timers);
        let request = self.request.take();
        if let Some(ack) = request.and_then(|request| build_ack(&request, &response)) {
            let bytes = kept_bytes(&ack);
            ctx.send(self.peer, bytes.clone());
            self.ack = Some(bytes);
        }
        pass_up(ctx, response, false);
        let timer_d = ctx.config.timer_d(self.reliable());
        self.finish_after(ctx, TimerKind::D, timer_d);
    }

    fn on_non_invite_response(&mut self, ctx: &mut Ctx<'_>, response: SipMessage, status: u16) {
        match (self.state, status) {
            (TxState::Trying | TxState::Proceeding, 100..=199) => {
                self.state = TxState::Proceeding;
                pass_up(ctx, response, false);
            }
            // §17.1.2.2: a final response moves to Completed; "Timer K to fire in T4 seconds
            // for unreliable transports, and zero seconds for reliable transports."
            (TxState::Trying | TxState::Proceeding, _) => {
                self.state = TxState::Completed;
                self.request = None;
                ctx.cancel_all(&mut self.timers);
                pass_up(ctx, response, false);
                let timer_k = ctx.config.linger(self.reliable());
                self.finish_after(ctx, TimerKind::K, timer_k);
            }
            _ => ctx.absorbed(),
        }
    }

    /// A timer of this transaction fired (it was still current).
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, kind: TimerKind) {
        match (kind, self.state) {
            // §17.1.1.2: Timer A doubles without a cap: 0.5, 1.5, 3.5, 7.5 ... s.
            (TimerKind::A, TxState::Calling) => {
                self.interval = self.interval.saturating_mul(2);
                self.retransmit(ctx, kind);
            }
            // §17.1.2.2: E doubles up to T2 in Trying, and is T2 in Proceeding.
            (TimerKind::E, TxState::Trying) => {
                self.interval = ctx.config.capped_backoff(self.interval);
                self.retransmit(ctx, kind);
            }
            (TimerKind::E, TxState::Proceeding) => {
                self.interval = ctx.config.t2;
                self.retransmit(ctx, kind);
            }
            (TimerKind::B, TxState::Calling)
            | (TimerKind::C, TxState::Proceeding)
            | (TimerKind::Cancelled, TxState::Calling | TxState::Proceeding)
            | (TimerKind::F, TxState::Trying | TxState::Proceeding) => {
                ctx.timeout();
                self.terminate(ctx);
            }
            (TimerKind::D | TimerKind::K, TxState::Completed)
            | (TimerKind::M, TxState::Accepted) => self.terminate(ctx),
            _ => {}
        }
    }

    fn retransmit(&mut self, ctx: &mut Ctx<'_>, kind: TimerKind) {
        if let Some(request) = &self.request {
            ctx.resend(self.peer, request.wire_bytes());
        }
        ctx.arm(&mut self.timers, kind, self.interval);
    }

    /// §17.1.4 / §8.1.3.1: a transport failure before any final response is reported as a
    /// timeout and ends the transaction.
    pub(crate) fn on_transport_error(&mut self, ctx: &mut Ctx<'_>) {
        if matches!(
            self.state,
            TxState::Calling | TxState::Trying | TxState::Proceeding
        ) {
            ctx.timeout();
            self.terminate(ctx);
        }
    }

    /// The record that replaces this transaction once it only absorbs retransmissions
    /// (Accepted, RFC 6026 §7.2; non-INVITE Completed, §17.1.2.2), or `None` before that.
    pub(crate) fn retire(&mut self, id: TxId) -> Option<Retired> {
        let key = self.key;
        match (self.invite, self.state) {
            (true, TxState::Accepted) => Some(Retired::ClientInvite(ClientInviteRecord {
                id,
                key,
                legs: Legs::of(self.accepted.take().map(|leg| *leg)),
            })),
            (false, TxState::Completed) => {
                Some(Retired::ClientNonInvite(ClientNonInviteRecord { id, key }))
            }
            _ => None,
        }
    }

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

fn pass_up(ctx: &mut Ctx<'_>, response: SipMessage, retransmission: bool) {
    ctx.emit(TxEvent::Response {
        tx: ctx.tx,
        response,
        retransmission,
    });
}

/// The ACK for a non-2xx final response (§17.1.1.3): "The ACK request constructed by the
/// client transaction MUST contain values for the Call-ID, From, and Request-URI that are
/// equal to the values of those header fields in the request passed to the transport by the
/// client transaction ... The To header field in the ACK MUST equal the To header field in
/// the response being acknowledged ... The ACK MUST contain a single Via header field, and
/// this MUST be equal to the top Via header field of the original request ... The CSeq
/// header field in the ACK MUST contain the same value for the sequence number as was
/// present in the original request, but the method parameter MUST be equal to 'ACK'. If the
/// INVITE request whose response is being acknowledged had Route header fields, those header
/// fields MUST appear in the ACK."
pub(crate) fn build_ack(request: &SipMessage, response: &SipMessage) -> Option<SipMessage> {
    let uri = request.request_uri()?;
    let top_via = request.values(&HeaderName::Via).next()?;
    let seq = request.cseq().ok()?.seq;
    let mut ack = MessageBuilder::request(&Method::Ack, uri);
    ack.header(HeaderName::Via, top_via)
        .header(HeaderName::MaxForwards, "70")
        .copy_headers(request, HeaderName::Route)
        .copy_headers(request, HeaderName::From)
        .copy_headers(response, HeaderName::To)
        .copy_headers(request, HeaderName::CallId)
        .header(HeaderName::CSeq, &format!("{seq} ACK"));
    Some(ack.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Limits;

    fn parse(text: &str) -> SipMessage {
        SipMessage::parse(Bytes::from(text.replace('\n', "\r\n")), &Limits::default()).unwrap()
    }

    #[test]
    fn ack_for_non_2xx_follows_17_1_1_3() {
        let invite = parse(
            "INVITE sip:bob@192.0.2.4 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\n\
Via: SIP/2.0/UDP upstream;branch=z9hG4bKup\nMax-Forwards: 69\nRoute: <sip:p1;lr>\nRoute: <sip:p2;lr>\n\
From: <sip:a@x>;tag=f\nTo: <sip:bob@y>\nCall-ID: c9\nCSeq: 42 INVITE\nContent-Length: 0\n\n",
        );
        let busy = parse(
            "SIP/2.0 486 Busy Here\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\n\
From: <sip:a@x>;tag=f\nTo: <sip:bob@y>;tag=b7\nCall-ID: c9\nCSeq: 42 INVITE\nContent-Length: 0\n\n",
        );
        let ack = build_ack(&invite, &busy).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.request_uri(), Some("sip:bob@192.0.2.4"));
        let vias: Vec<_> = ack.values(&HeaderName::Via).collect();
        assert_eq!(vias, ["SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1"]);
        assert_eq!(ack.header(&HeaderName::To), Some("<sip:bob@y>;tag=b7"));
        assert_eq!(ack.header(&HeaderName::From), Some("<sip:a@x>;tag=f"));
        assert_eq!(ack.call_id(), Some("c9"));
        let cseq = ack.cseq().unwrap();
        assert_eq!((cseq.seq, cseq.method), (42, Method::Ack));
        assert_eq!(ack.count(&HeaderName::Route), 2);
        assert_eq!(ack.header(&HeaderName::MaxForwards), Some("70"));
        let reparsed = SipMessage::parse(ack.wire_bytes(), &Limits::default()).unwrap();
        assert_eq!(reparsed.headers().len(), ack.headers().len());
    }
}
