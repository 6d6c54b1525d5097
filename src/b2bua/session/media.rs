//! A relayed call's media (`media = "relay"`): every SDP body that crosses from one leg to
//! the other (the INVITE's offer, 18x and 2xx answers, re-INVITE, UPDATE and PRACK bodies,
//! their answers, and an ACK's answer to a late offer) goes through the RTP relay, which
//! learns where the sending side wants packets and names its own ports to the receiving side
//! (RFC 3264 offer/answer needs no more: the direction alone says which side a body speaks
//! for). The answer starts the one-way-audio clock; the CDR takes the quality facts and the
//! ports go back when the call is recorded (and again, harmlessly, when the session goes).

use crate::sip::SipMessage;
use crate::sip::message::{HeaderName, MessageBuilder, Method};

use crate::b2bua::session::{CallSession, Ctx, Leg};
use crate::call::record::CallDetailRecord;
use crate::call::recording::RecordingFacts;
use crate::media::Side;

impl CallSession {
    /// `msg`, about to leave towards the other leg from `from`, with its SDP rewritten when
    /// the call is relayed; otherwise (or for a body the relay cannot read) `msg` itself.
    pub(super) fn media_body(&self, ctx: &Ctx<'_>, from: Leg, msg: SipMessage) -> SipMessage {
        if !self.relay_media || self.recorded || msg.body().is_empty() || !is_sdp(&msg) {
            return msg;
        }
        match ctx
            .media
            .rewrite(ctx.now, self.key.0, side(from), msg.body())
        {
            Some(body) => with_body(&msg, &body),
            None => msg,
        }
    }

    /// The callee answered: one-way audio is judged from now, and a recorded call's
    /// recording starts (named after the call's id).
    pub(super) fn media_answered(&self, ctx: &Ctx<'_>) {
        if self.relay_media {
            let record_as = self.record.then_some(self.live.id.as_str());
            ctx.media.answered(self.key.0, ctx.now, record_as);
        }
    }

    /// The call is being recorded: its voice-quality facts go into `cdr`, its ports back,
    /// and the CDR says where its recording stands (`pending` until the file is written).
    pub(super) fn media_release(&self, ctx: &Ctx<'_>, cdr: &mut CallDetailRecord) {
        let quality = if self.relay_media {
            ctx.media.release(self.key.0, ctx.now)
        } else {
            None
        };
        if let Some(quality) = &quality {
            quality.apply(cdr);
        }
        let facts = quality.and_then(|q| q.recording);
        let answered = cdr.answered_at.is_some() || self.in_voicemail();
        RecordingFacts::apply_as(self.recording_requested(), answered, facts, cdr);
    }
}

fn side(leg: Leg) -> Side {
    match leg {
        Leg::A => Side::Caller,
        Leg::B => Side::Callee,
    }
}

/// `Content-Type: application/sdp` (RFC 3264 §5; parameters allowed, any case).
pub(super) fn is_sdp(msg: &SipMessage) -> bool {
    msg.header(&HeaderName::ContentType).is_some_and(|ct| {
        let media_type = ct.split(';').next().unwrap_or("").trim();
        media_type.eq_ignore_ascii_case("application/sdp")
    })
}

/// The same message with another body: start line and headers byte for byte, in order,
/// Content-Type last and Content-Length matching the new body.
pub(super) fn with_body(msg: &SipMessage, body: &[u8]) -> SipMessage {
    let mut b = match (msg.method(), msg.status()) {
        (Some(method), _) => MessageBuilder::request(method, msg.request_uri().unwrap_or_default()),
        (None, Some(code)) => MessageBuilder::response(code, msg.reason().unwrap_or_default()),
        (None, None) => MessageBuilder::request(&Method::Info, ""),
    };
    for field in msg.headers() {
        if !matches!(
            field.name,
            HeaderName::ContentLength | HeaderName::ContentType
        ) {
            b.raw_header(msg.field_name(field), msg.field_value(field));
        }
    }
    b.body(msg.header(&HeaderName::ContentType), body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_new_body_keeps_every_header_and_fixes_the_length() {
        let raw = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
Content-Type: Application/SDP; charset=utf-8\r\nX-Kept: yes\r\nContent-Length: 4\r\n\r\nv=0\n";
        let msg = SipMessage::parse(Bytes::from(raw), &Default::default()).unwrap();
        assert!(is_sdp(&msg));
        let out = with_body(&msg, b"v=0\r\ns=-\r\n");
        assert_eq!(out.status(), Some(200));
        assert_eq!(out.body(), b"v=0\r\ns=-\r\n");
        assert_eq!(out.header(&HeaderName::ContentLength), Some("10"));
        assert_eq!(
            out.header(&HeaderName::ContentType),
            Some("Application/SDP; charset=utf-8")
        );
        let text = String::from_utf8_lossy(out.as_bytes()).to_string();
        assert!(text.starts_with(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nX-Kept: yes\r\n"
        ));
    }
}
