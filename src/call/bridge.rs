//! Translating messages between the legs: the B-leg INVITE built from the caller's, and
//! requests and responses relayed with only end-to-end headers carried across. Via, routing,
//! dialog identifiers and Contact never cross (topology hiding); everything else is copied
//! byte for byte.

use std::net::SocketAddr;

use crate::sip::dialog::{Dialog, LocalEndpoint};
use crate::sip::message::{HeaderName, MessageBuilder, Method, response_with_reason};
use crate::sip::{SipMessage, Transport};

/// Headers that belong to one hop or one dialog (RFC 3261 §16.6, §12) or that calltrack
/// rewrites itself; they are never copied from one leg to the other.
const LEG_LOCAL: &[HeaderName] = &[
    HeaderName::Via,
    HeaderName::Route,
    HeaderName::RecordRoute,
    HeaderName::Contact,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::From,
    HeaderName::To,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::RAck,
    HeaderName::ProxyRequire,
];

/// Extension headers that are per hop for a B2BUA: credentials and challenges.
const LEG_LOCAL_OTHER: &[&str] = &[
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
];

/// What crosses from one leg to the other.
#[derive(Debug, Clone, Copy)]
pub struct CopyRules<'a> {
    /// Header-name prefix that only calltrack may write (attribution headers); copies of it
    /// arriving from outside are dropped.
    pub reserved_prefix: &'a str,
}

impl CopyRules<'_> {
    fn crosses(&self, msg: &SipMessage, field: &crate::sip::message::HeaderField) -> bool {
        if LEG_LOCAL.contains(&field.name) {
            return false;
        }
        let name = msg.field_name(field);
        let reserved = !self.reserved_prefix.is_empty()
            && name.len() >= self.reserved_prefix.len()
            && name[..self.reserved_prefix.len()]
                .eq_ignore_ascii_case(self.reserved_prefix.as_bytes());
        !reserved
            && !LEG_LOCAL_OTHER
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Copies every end-to-end header of `from`, in order, byte for byte.
    pub fn copy(&self, from: &SipMessage, to: &mut MessageBuilder) {
        for field in from.headers() {
            if self.crosses(from, field) {
                to.raw_header(from.field_name(field), from.field_value(field));
            }
        }
    }
}

/// Finishes a message with the body (and Content-Type) of `source`.
fn with_body_of(b: MessageBuilder, source: &SipMessage) -> SipMessage {
    b.body(source.header(&HeaderName::ContentType), source.body())
}

/// The B-leg INVITE (RFC 3261 §8.1.1): fresh Call-ID, tags and branch from `dialog`, our
/// Contact, the caller's end-to-end headers and body (SDP offer) unchanged.
pub fn b_leg_invite(
    a_invite: &SipMessage,
    dialog: &Dialog,
    local: &LocalEndpoint,
    branch: &str,
    max_forwards: u32,
    rules: CopyRules<'_>,
    extra: &[(String, String)],
) -> SipMessage {
    let mut b = MessageBuilder::request(&Method::Invite, &dialog.remote_target);
    b.header(HeaderName::Via, &local.via(dialog.transport, branch))
        .header(HeaderName::MaxForwards, &max_forwards.to_string())
        .header(
            HeaderName::From,
            &format!("{};tag={}", dialog.local_uri, dialog.local_tag),
        )
        .header(HeaderName::To, &dialog.remote_uri)
        .header(HeaderName::CallId, &dialog.call_id)
        .header(HeaderName::CSeq, &format!("{} INVITE", dialog.local_seq))
        .header(HeaderName::Contact, &local.contact(dialog.transport));
    rules.copy(a_invite, &mut b);
    for (name, value) in extra {
        b.raw_header(name.as_bytes(), value.as_bytes());
    }
    with_body_of(b, a_invite)
}

/// A response on one leg that mirrors a response received on the other: same status, reason
/// phrase as received, end-to-end headers and body. `contact` is ours for this leg, added to
/// responses that establish or refresh a dialog.
pub fn relay_response(
    request: &SipMessage,
    from_other_leg: &SipMessage,
    to_tag: &str,
    source: Option<SocketAddr>,
    contact: Option<&str>,
    rules: CopyRules<'_>,
) -> SipMessage {
    let code = from_other_leg.status().unwrap_or(500);
    let reason = from_other_leg.reason().unwrap_or_default();
    let mut b = response_with_reason(request, code, reason, Some(to_tag), source);
    if let Some(contact) = contact {
        b.header(HeaderName::Contact, contact);
    }
    rules.copy(from_other_leg, &mut b);
    with_body_of(b, from_other_leg)
}

/// An in-dialog request on `dialog` that mirrors one received on the other leg. A PRACK's
/// RAck is renumbered to this leg's INVITE CSeq (RFC 3262 §7.2).
pub fn relay_request(
    request: &SipMessage,
    dialog: &mut Dialog,
    local: &LocalEndpoint,
    branch: &str,
    invite_cseq: u32,
    rules: CopyRules<'_>,
) -> SipMessage {
    let method = request.method().cloned().unwrap_or(Method::Info);
    let mut b = dialog.request(&method, local, branch);
    if is_target_refresh(&method) {
        b.header(HeaderName::Contact, &local.contact(dialog.transport));
    }
    if let Some(rack) = request.header(&HeaderName::RAck) {
        b.header(HeaderName::RAck, &renumber_rack(rack, invite_cseq));
    }
    rules.copy(request, &mut b);
    with_body_of(b, request)
}

/// The ACK for a 2xx on this leg (RFC 3261 §13.2.2.4): CSeq number of the INVITE it
/// acknowledges, the body of the caller's ACK (an answer to a late offer) carried across.
pub fn ack_for(
    dialog: &mut Dialog,
    local: &LocalEndpoint,
    branch: &str,
    invite_cseq: u32,
    body_from: Option<&SipMessage>,
) -> SipMessage {
    let saved = dialog.local_seq;
    dialog.local_seq = invite_cseq;
    let b = dialog.request(&Method::Ack, local, branch);
    dialog.local_seq = saved;
    match body_from {
        Some(ack) => with_body_of(b, ack),
        None => b.finish(),
    }
}

/// The same request with a new top Via (a retry on another transport is a new transaction,
/// RFC 3261 §8.1.3.1); everything else is kept byte for byte.
pub fn replace_via(request: &SipMessage, via: &str) -> SipMessage {
    let method = request.method().cloned().unwrap_or(Method::Invite);
    let mut b = MessageBuilder::request(&method, request.request_uri().unwrap_or_default());
    b.header(HeaderName::Via, via);
    for field in request.headers() {
        if !matches!(
            field.name,
            HeaderName::Via | HeaderName::ContentLength | HeaderName::ContentType
        ) {
            b.raw_header(request.field_name(field), request.field_value(field));
        }
    }
    with_body_of(b, request)
}

/// Requests that may change the remote target (RFC 3261 §12.2, RFC 3311).
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify
    )
}

/// `RAck: 1 314 INVITE` -> `RAck: 1 <invite_cseq> INVITE`.
fn renumber_rack(rack: &str, invite_cseq: u32) -> String {
    let mut parts = rack.split_ascii_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(rseq), Some(_), Some(method)) => format!("{rseq} {invite_cseq} {method}"),
        _ => rack.to_string(),
    }
}

/// The transport for a leg's messages: the target's, unless the request is too large for
/// UDP and the target did not pin a transport (RFC 3261 §18.1.1).
pub fn transport_for_size(
    default: Transport,
    pinned: bool,
    size: usize,
    udp_max: usize,
) -> Transport {
    if default == Transport::Udp && !pinned && size > udp_max {
        Transport::Tcp
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_is_renumbered() {
        assert_eq!(renumber_rack("7 314 INVITE", 2), "7 2 INVITE");
        assert_eq!(renumber_rack("junk", 2), "junk");
    }

    #[test]
    fn large_requests_move_to_tcp_unless_pinned() {
        assert_eq!(
            transport_for_size(Transport::Udp, false, 1400, 1300),
            Transport::Tcp
        );
        assert_eq!(
            transport_for_size(Transport::Udp, true, 1400, 1300),
            Transport::Udp
        );
        assert_eq!(
            transport_for_size(Transport::Udp, false, 1200, 1300),
            Transport::Udp
        );
    }
}
