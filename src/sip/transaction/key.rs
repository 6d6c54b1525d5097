//! Transaction matching keys: server side per RFC 3261 §17.2.3 (with the RFC 2543 fallback),
//! client side per §17.1.3, and the dialog key that ties a 2xx ACK to its INVITE.

use crate::sip::message::{Method, SipMessage};

/// Identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// "the branch parameter in the request is equal to the one in the top Via header field
    /// of the request that created the transaction, the sent-by value in the top Via of the
    /// request is equal to the one in the request that created the transaction, and the
    /// method of the request matches the one that created the transaction, except for ACK,
    /// where the method of the request that created the transaction is INVITE."
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: Method,
    },
    /// The RFC 2543 fallback, for a branch without the `z9hG4bK` cookie: "the Request-URI,
    /// To tag, From tag, Call-ID, CSeq, and top Via header field match those of the INVITE
    /// request which created the transaction" (for ACK, the To tag is that of the response).
    /// Boxed: rare, and it would make every key five strings wide.
    Rfc2543(Box<Rfc2543Key>),
}

/// The fields of [`ServerKey::Rfc2543`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Rfc2543Key {
    request_uri: String,
    to_tag: Option<String>,
    from_tag: Option<String>,
    call_id: String,
    cseq: u32,
    method: Method,
    top_via: String,
}

impl ServerKey {
    /// The key of the transaction a request belongs to (ACK maps to INVITE). `None` when the
    /// request lacks a readable top Via or CSeq (the receive path screens those out).
    pub(crate) fn for_request(request: &SipMessage) -> Option<ServerKey> {
        let method = match request.method()? {
            Method::Ack => Method::Invite,
            other => other.clone(),
        };
        Self::with_method(request, method)
    }

    /// The key of the INVITE transaction a CANCEL cancels (RFC 3261 §9.2: the CANCEL carries
    /// the INVITE's top Via branch, Request-URI, Call-ID, To, From and CSeq number).
    pub(crate) fn for_cancelled_invite(cancel: &SipMessage) -> Option<ServerKey> {
        Self::with_method(cancel, Method::Invite)
    }

    /// The RFC 2543 key with no To tag: an INVITE that opened a dialog carried none, while
    /// its ACK carries the tag of our response.
    pub(crate) fn without_to_tag(&self) -> Option<ServerKey> {
        match self {
            ServerKey::Rfc2543(key) if key.to_tag.is_some() => {
                let mut key = key.clone();
                key.to_tag = None;
                Some(ServerKey::Rfc2543(key))
            }
            _ => None,
        }
    }

    fn with_method(request: &SipMessage, method: Method) -> Option<ServerKey> {
        let via = request.top_via().ok()?;
        if via.has_rfc3261_branch() {
            return Some(ServerKey::Rfc3261 {
                branch: via.branch()?.to_string(),
                sent_by: via.sent_by.to_ascii_lowercase(),
                method,
            });
        }
        Self::rfc2543(request, method)
    }

    fn rfc2543(request: &SipMessage, method: Method) -> Option<ServerKey> {
        let top_via = request.values(&crate::sip::HeaderName::Via).next()?;
        Some(ServerKey::Rfc2543(Box::new(Rfc2543Key {
            request_uri: request.request_uri()?.to_string(),
            to_tag: request.to().ok()?.tag().map(str::to_string),
            from_tag: request.from().ok()?.tag().map(str::to_string),
            call_id: request.call_id()?.to_string(),
            cseq: request.cseq().ok()?.seq,
            method,
            top_via: top_via.to_string(),
        })))
    }
}

/// Identifies a client transaction (RFC 3261 §17.1.3): "the response matches a client
/// transaction if ... the response has the same value of the branch parameter in the top Via
/// header field as the branch parameter in the top Via header field of the request that
/// created the transaction [and] the method parameter in the CSeq header field matches the
/// method of the request that created the transaction."
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: String,
    method: Method,
}

impl ClientKey {
    /// The key of a request we send; `None` without an RFC 3261 branch.
    pub(crate) fn for_request(request: &SipMessage) -> Option<ClientKey> {
        let via = request.top_via().ok()?;
        if !via.has_rfc3261_branch() {
            return None;
        }
        Some(ClientKey {
            branch: via.branch()?.to_string(),
            method: request.method()?.clone(),
        })
    }

    /// For a CANCEL, the key of the INVITE it cancels: same branch (RFC 3261 §9.1).
    pub(crate) fn cancelled_invite(&self) -> Option<ClientKey> {
        (self.method == Method::Cancel).then(|| ClientKey {
            branch: self.branch.clone(),
            method: Method::Invite,
        })
    }

    /// The key a received response points at.
    pub(crate) fn for_response(response: &SipMessage) -> Option<ClientKey> {
        let via = response.top_via().ok()?;
        Some(ClientKey {
            branch: via.branch()?.to_string(),
            method: response.cseq().ok()?.method,
        })
    }
}

/// Ties the ACK for a 2xx (a transaction of its own, with a new branch) to the INVITE server
/// transaction it acknowledges: Call-ID, CSeq number and From tag (RFC 3261 §13.2.2.4: the
/// ACK's CSeq number equals the INVITE's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AckKey {
    call_id: String,
    cseq: u32,
    from_tag: Option<String>,
}

impl AckKey {
    pub(crate) fn for_request(request: &SipMessage) -> Option<AckKey> {
        Some(AckKey {
            call_id: request.call_id()?.to_string(),
            cseq: request.cseq().ok()?.seq,
            from_tag: request.from().ok()?.tag().map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Limits;
    use bytes::Bytes;

    fn parse(text: &str) -> SipMessage {
        SipMessage::parse(Bytes::from(text.replace('\n', "\r\n")), &Limits::default()).unwrap()
    }

    fn request(method: &str, via: &str, to: &str) -> SipMessage {
        parse(&format!(
            "{method} sip:bob@example.com SIP/2.0\nVia: {via}\nFrom: <sip:a@example.org>;tag=f1\n\
To: {to}\nCall-ID: k1\nCSeq: 7 {method}\nContent-Length: 0\n\n"
        ))
    }

    #[test]
    fn ack_and_cancel_map_to_the_invite_key() {
        let via = "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKx1";
        let invite = ServerKey::for_request(&request("INVITE", via, "<sip:bob@example.com>"));
        let ack = ServerKey::for_request(&request("ACK", via, "<sip:bob@example.com>;tag=t"));
        let cancel = request("CANCEL", via, "<sip:bob@example.com>");
        assert!(invite.is_some());
        assert_eq!(invite, ack);
        assert_eq!(invite, ServerKey::for_cancelled_invite(&cancel));
        assert_ne!(invite, ServerKey::for_request(&cancel));
        let other_host = "SIP/2.0/UDP other:5060;branch=z9hG4bKx1";
        let moved = ServerKey::for_request(&request("INVITE", other_host, "<sip:b@c>"));
        assert_ne!(invite, moved, "sent-by is part of the key");
    }

    #[test]
    fn bare_cookie_falls_back_to_rfc2543() {
        let via = "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK";
        let key = ServerKey::for_request(&request("OPTIONS", via, "<sip:bob@example.com>"));
        assert!(matches!(key, Some(ServerKey::Rfc2543(k)) if k.cseq == 7));
        let ack = ServerKey::for_request(&request("ACK", via, "<sip:b@example.com>;tag=9"));
        assert!(ack.unwrap().without_to_tag().is_some());
        assert!(ClientKey::for_request(&request("OPTIONS", via, "<sip:b@c>")).is_none());
    }
}
