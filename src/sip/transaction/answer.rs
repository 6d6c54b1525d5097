//! What a server transaction re-sends for a retransmitted request: the bytes of its last
//! response, or, for a plain final response to a non-INVITE (the 200 to a BYE), only the
//! recipe that rebuilds those very bytes from the retransmission (issue 12: such a
//! transaction absorbs retransmissions for Timer J's 32 s after the call, and its response
//! was most of what it kept).
//!
//! A recipe is kept only when rebuilding from the original request gives the response byte
//! for byte: RFC 3261 §8.2.6.2 has the response copy the request's Via list, From, To,
//! Call-ID and CSeq, and a retransmission carries the same values (§17.2.3 matched it by its
//! top Via), so the retransmission rebuilds the same answer (§17.2.2: "the last response ...
//! MUST be passed to the transport layer for retransmission").

use std::net::SocketAddr;

use bytes::Bytes;

use crate::sip::message::{SipMessage, response_with_reason};

/// The last response of a server transaction, as re-sent on a retransmission.
#[derive(Debug)]
pub(crate) enum KeptResponse {
    /// Its bytes as sent (shared with the transmit).
    Wire(Bytes),
    /// What rebuilds it from the request it answers.
    Rebuilt(Recipe),
}

/// A response that is [`response_with_reason`] of its request and nothing more: its status,
/// and its reason phrase and To tag in one buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Recipe {
    status: u16,
    /// Where the reason phrase ends in `text` and the To tag starts.
    reason_len: u16,
    tagged: bool,
    text: Box<[u8]>,
}

impl KeptResponse {
    /// How to keep `bytes`, the wire form of `response` sent for `request` from `source`:
    /// the recipe when it rebuilds exactly these bytes, else the bytes.
    pub(crate) fn keep(
        request: &SipMessage,
        response: &SipMessage,
        bytes: Bytes,
        source: SocketAddr,
    ) -> KeptResponse {
        match Recipe::of(response) {
            Some(recipe) if recipe.build(request, source) == bytes => KeptResponse::Rebuilt(recipe),
            _ => KeptResponse::Wire(bytes),
        }
    }

    /// The bytes to re-send; a recipe needs the retransmitted `request` (`None`: nothing to
    /// send, which no caller asks for).
    pub(crate) fn bytes(&self, request: Option<&SipMessage>, source: SocketAddr) -> Option<Bytes> {
        match self {
            KeptResponse::Wire(bytes) => Some(bytes.clone()),
            KeptResponse::Rebuilt(recipe) => request.map(|r| recipe.build(r, source)),
        }
    }
}

impl Recipe {
    fn of(response: &SipMessage) -> Option<Recipe> {
        let to = response.to().ok()?;
        let tag = to.tag();
        let reason = response.reason()?;
        let text = [reason, tag.unwrap_or_default().as_bytes()].concat();
        Some(Recipe {
            status: response.status()?,
            reason_len: u16::try_from(reason.len()).ok()?,
            tagged: tag.is_some(),
            text: text.into_boxed_slice(),
        })
    }

    fn build(&self, request: &SipMessage, source: SocketAddr) -> Bytes {
        let (reason, tag) = self.text.split_at(usize::from(self.reason_len));
        let tag = std::str::from_utf8(tag).ok().filter(|_| self.tagged);
        response_with_reason(request, self.status, reason, tag, Some(source))
            .finish()
            .wire_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Limits, response_to};

    const SOURCE: &str = "192.0.2.7:5060";

    fn bye() -> SipMessage {
        let text = "BYE sip:pbx@192.0.2.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-bye-1;rport\r\n\
Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-up\r\n\
From: <sip:a@192.0.2.7>;tag=from-1\r\nTo: <sip:b@192.0.2.10>;tag=to-1\r\n\
Call-ID: c-1@192.0.2.7\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        SipMessage::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn source() -> SocketAddr {
        SOURCE.parse().unwrap()
    }

    #[test]
    fn a_plain_response_is_kept_as_a_recipe_that_rebuilds_its_bytes() {
        let request = bye();
        let ok = response_to(&request, 200, "OK", Some("to-1"), Some(source())).finish();
        let kept = KeptResponse::keep(&request, &ok, ok.wire_bytes(), source());
        assert!(matches!(kept, KeptResponse::Rebuilt(_)));
        let again = kept.bytes(Some(&bye()), source()).unwrap();
        assert_eq!(again, ok.wire_bytes());
    }

    #[test]
    fn a_response_with_more_than_the_copied_headers_keeps_its_bytes() {
        let request = bye();
        let mut b = response_to(&request, 200, "OK", None, Some(source()));
        b.raw_header(b"Server", b"calltrack");
        let ok = b.finish();
        let kept = KeptResponse::keep(&request, &ok, ok.wire_bytes(), source());
        let KeptResponse::Wire(bytes) = &kept else {
            panic!("kept as a recipe: {kept:?}");
        };
        assert_eq!(bytes, &ok.wire_bytes());
        assert_eq!(kept.bytes(None, source()), Some(ok.wire_bytes()));
    }
}
