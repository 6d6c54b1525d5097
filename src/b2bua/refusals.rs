//! Answers calltrack gives on its own, outside any call: refused INVITEs (and their CDRs),
//! OPTIONS keep-alives, stray in-dialog requests and malformed requests.

use std::time::Instant;

use crate::sip::message::{HeaderName, MessageBuilder, Method, Rejection, response_to};
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::{ALLOW, B2bua, CallEvent, SUPPORTED};
use crate::call::Refusal;
use crate::call::inbound::user_digits;
use crate::call::outcome::reason_phrase;
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};

impl B2bua {
    /// A final answer to an INVITE that will not be bridged, counted by cause
    /// (`calltrack_rejected_total{reason}`). Calls from trusted carriers are recorded as
    /// `rejected` with the cause as `reject_reason`; refusals of untrusted sources, overload
    /// and shutdown are only counted (recording them would let a flood write to the database).
    /// A refusal after planning (`known`: nothing reachable, no target) keeps in its record
    /// what the pipeline knew: tracking number, caller, site, number kind, visit.
    pub(super) fn reject_invite(
        &mut self,
        now: Instant,
        tx: TxId,
        invite: &SipMessage,
        peer: Peer,
        r: &Rejection,
        known: Option<&Refusal>,
    ) {
        self.stats.invites_rejected += 1;
        let reason = cause_of(r);
        metrics::counter!("calltrack_rejected_total", "reason" => reason).increment(1);
        metrics::counter!("calltrack_invites_rejected_total", "status" => r.status.to_string())
            .increment(1);
        tracing::info!(status = r.status, reason, %peer, "INVITE rejected");
        let tag = self.ids.tag();
        let response = rejection_response(invite, r, &tag, peer);
        self.respond(now, tx, response);
        if !UNRECORDED.contains(&reason) {
            let mut cdr = self.rejected_record(now, invite, r.status, known);
            cdr.reject_reason = Some(reason.to_owned());
            self.events.push_back(CallEvent::Ended(cdr));
        }
    }

    fn rejected_record(
        &mut self,
        now: Instant,
        invite: &SipMessage,
        status: u16,
        known: Option<&Refusal>,
    ) -> CallDetailRecord {
        let at = self.clock.at(now);
        let tracking_number = match known {
            Some(k) => k.tracking.number.clone(),
            None => invite
                .request_uri()
                .and_then(user_digits)
                .unwrap_or_default(),
        };
        let caller = match known {
            Some(k) => k.caller.clone(),
            None => invite
                .from()
                .ok()
                .and_then(|f| user_digits(f.uri))
                .unwrap_or_default(),
        };
        let live = LiveCall {
            id: self.ids.call_uid(),
            call_id: invite.call_id().unwrap_or_default().to_string(),
            tracking_number,
            caller,
            destination: String::new(),
            started_at: at,
            answered_at: None,
            attribution: known.map(|k| k.attribution.clone()).unwrap_or_default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        };
        CallDetailRecord::from_live(&live, at, Disposition::Rejected, status, HangupSide::System)
    }

    /// OPTIONS outside a dialog is for calltrack itself (keep-alive pings): 200 with what we
    /// support (RFC 3261 §11.2). Max-Forwards 0 is fine here: we are the endpoint.
    pub(super) fn answer_options(
        &mut self,
        now: Instant,
        tx: TxId,
        request: &SipMessage,
        peer: Peer,
    ) {
        let tag = self.ids.tag();
        let mut b = response_to(request, 200, "OK", Some(&tag), Some(peer.addr));
        b.header(HeaderName::Allow, ALLOW)
            .header(HeaderName::Accept, "application/sdp")
            .header(HeaderName::Supported, &SUPPORTED.join(", "));
        self.respond(now, tx, b.finish());
    }

    pub(super) fn respond_status(
        &mut self,
        now: Instant,
        tx: TxId,
        request: &SipMessage,
        peer: Peer,
        status: u16,
    ) {
        let tag = self.ids.tag();
        let mut b = response_to(
            request,
            status,
            reason_phrase(status),
            Some(&tag),
            Some(peer.addr),
        );
        if status == 405 {
            b.header(HeaderName::Allow, ALLOW);
        }
        self.respond(now, tx, b.finish());
    }

    fn respond(&mut self, now: Instant, tx: TxId, response: SipMessage) {
        if let Err(error) = self.layer.respond(now, tx, response) {
            tracing::debug!(%error, "response not sent");
        }
    }

    /// While the core is behind, a new INVITE (no To tag, no transaction yet) is answered 503
    /// with Retry-After without a transaction, so that a refusal costs as little as possible
    /// (see `edge::overload`); `true` when it was.
    pub(super) fn shed_new_call(&mut self, request: &SipMessage, peer: Peer) -> bool {
        let Some((signal, rejection)) = self.overload.refusal() else {
            return false;
        };
        let new_call = request.method() == Some(&Method::Invite)
            && request.to().ok().and_then(|t| t.tag()).is_none()
            && !self.layer.has_server_transaction(request);
        if !new_call {
            return false;
        }
        self.stats.stateless_rejections += 1;
        metrics::counter!("calltrack_rejected_total", "reason" => "overload").increment(1);
        metrics::counter!("calltrack_overload_refused_total", "signal" => signal.as_str())
            .increment(1);
        let tag = self.ids.tag();
        let response = rejection_response(request, &rejection, &tag, peer);
        self.layer.send_stateless(response, peer);
        true
    }

    /// A malformed request is answered without a transaction (RFC 3261 §8.2, §16.3).
    pub(super) fn reject_stateless(
        &mut self,
        request: &SipMessage,
        peer: Peer,
        rejection: &Rejection,
    ) {
        self.stats.stateless_rejections += 1;
        tracing::debug!(%peer, status = rejection.status, reason = rejection.reason, "malformed request rejected");
        let tag = self.ids.tag();
        let response = rejection_response(request, rejection, &tag, peer);
        self.layer.send_stateless(response, peer);
    }
}

/// Refusals that are counted but never written as CDRs: they come from outside the trusted
/// carriers or at moments when the store must not be loaded.
const UNRECORDED: &[&str] = &["untrusted", "overload", "shutdown"];

/// The rejection's cause; rejections that name none get one from their status.
fn cause_of(r: &Rejection) -> &'static str {
    r.cause.unwrap_or(match r.status {
        400 => "malformed",
        403 => "forbidden",
        404 => "unknown_number",
        420 => "bad_extension",
        483 => "too_many_hops",
        500 => "internal",
        503 => "unavailable",
        _ => "refused",
    })
}

/// The response for a rejection: status line, Unsupported (420) and Retry-After (503).
fn rejection_response(request: &SipMessage, r: &Rejection, tag: &str, peer: Peer) -> SipMessage {
    let mut b: MessageBuilder =
        response_to(request, r.status, r.reason, Some(tag), Some(peer.addr));
    if let Some(unsupported) = &r.unsupported {
        b.header(HeaderName::Unsupported, unsupported);
    }
    if let Some(secs) = r.retry_after_secs {
        b.header(HeaderName::RetryAfter, &secs.to_string());
    }
    if r.cause == Some(super::new_calls::NO_MEDIA_PORTS) {
        // RFC 3326 §2: the protocol, its cause and a text for people.
        b.header(
            HeaderName::Reason,
            "SIP;cause=503;text=\"no RTP ports free on the media relay\"",
        );
    }
    b.finish()
}
