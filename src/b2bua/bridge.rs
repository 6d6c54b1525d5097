//! Translating messages between the legs: the B-leg INVITE built from the caller's, and
//! requests and responses relayed with only end-to-end headers carried across. Via, routing,
//! dialog identifiers and Contact never cross (topology hiding); everything else is copied
//! byte for byte, as long as it is fit to forward (bounded, no control bytes).

use std::net::SocketAddr;

use crate::sip::dialog::{Dialog, LocalEndpoint};
use crate::sip::message::{
    HeaderName, MessageBuilder, Method, fit_to_forward, response_with_reason,
};
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
    /// Longest header value copied across (`[tracking] max_forwarded_header_bytes`).
    pub max_value_bytes: usize,
    /// The carrier's Diversion headers go on to the PBX below calltrack's
    /// (`[tracking] keep_carrier_diversion`).
    pub carrier_diversion: bool,
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
            && self.fits(msg, field, name)
    }

    fn fits(
        &self,
        msg: &SipMessage,
        field: &crate::sip::message::HeaderField,
        name: &[u8],
    ) -> bool {
        let fits = fit_to_forward(msg.field_value(field), self.max_value_bytes);
        if !fits {
            let name = String::from_utf8_lossy(name);
            tracing::debug!(header = %name, "oversized or control-byte header not forwarded");
        }
        fits
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
/// Contact, the caller's end-to-end headers and body (SDP offer) unchanged, then `extra`
/// (attribution). A `Diversion` in `extra` goes above every copied header: RFC 5806 §4 puts
/// the newest diversion first, so a PBX reading the first Diversion reads calltrack's, and
/// the carrier's follow it (or are dropped, `carrier_diversion = false`).
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
    let (diversion, stamp): (Vec<_>, Vec<_>) = extra
        .iter()
        .partition(|(name, _)| is_diversion(name.as_bytes()));
    for (name, value) in diversion {
        b.raw_header(name.as_bytes(), value.as_bytes());
    }
    for field in a_invite.headers() {
        let name = a_invite.field_name(field);
        let carrier_diversion = rules.carrier_diversion || !is_diversion(name);
        if carrier_diversion && rules.crosses(a_invite, field) {
            b.raw_header(name, a_invite.field_value(field));
        }
    }
    for (name, value) in stamp {
        b.raw_header(name.as_bytes(), value.as_bytes());
    }
    with_body_of(b, a_invite)
}

/// `Diversion` (RFC 5806; it has no compact form).
fn is_diversion(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"Diversion")
}

/// A response on one leg that mirrors a response received on the other: same status, reason
/// phrase as received, end-to-end headers and body. `contact` is ours for this leg, added to
/// responses that establish or refresh a dialog; those also carry the request's
/// Record-Route lines, copied in order (RFC 3261 §12.1.1: "the UAS MUST copy all
/// Record-Route header field values from the request into the response", for 2xx and 1xx
/// with a To tag), so the caller's in-dialog requests come back through its proxies.
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
        b.copy_headers(request, HeaderName::RecordRoute);
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

/// The same request moved to another transport: a new top Via (a retry on another
/// transport is a new transaction, RFC 3261 §8.1.3.1) and our Contact for that transport
/// (a Contact still saying `transport=tcp` after a fall-back to UDP would send the PBX's
/// in-dialog requests to a transport the dialog no longer uses); everything else is kept
/// byte for byte, in order.
pub fn on_transport(request: &SipMessage, via: &str, contact: &str) -> SipMessage {
    let method = request.method().cloned().unwrap_or(Method::Invite);
    let mut b = MessageBuilder::request(&method, request.request_uri().unwrap_or_default());
    b.header(HeaderName::Via, via);
    for field in request.headers() {
        match field.name {
            HeaderName::Via | HeaderName::ContentLength | HeaderName::ContentType => {}
            HeaderName::Contact => {
                b.header(HeaderName::Contact, contact);
            }
            _ => {
                b.raw_header(request.field_name(field), request.field_value(field));
            }
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
    use crate::sip::Peer;
    use bytes::Bytes;

    #[test]
    fn rack_is_renumbered() {
        assert_eq!(renumber_rack("7 314 INVITE", 2), "7 2 INVITE");
        assert_eq!(renumber_rack("junk", 2), "junk");
    }

    const A_INVITE: &str = "INVITE sip:74950000101@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKa1\r\n\
Record-Route: <sip:127.0.0.3:5070;lr>\r\nRecord-Route: <sip:127.0.0.4;lr>\r\n\
From: \"Alice\" <sip:79990000001@carrier>;tag=f1\r\nTo: <sip:74950000101@carrier>\r\n\
Call-ID: a1\r\nCSeq: 1 INVITE\r\nDiversion: <sip:forged@carrier>;reason=user-busy\r\n\
Subject: \"a\\\0b\"\r\nX-Long: LONG\r\nUser-to-User: kept\r\nContent-Length: 0\r\n\r\n";

    fn a_invite() -> SipMessage {
        let raw = A_INVITE.replace("LONG", &"x".repeat(2000));
        SipMessage::parse(Bytes::from(raw), &Default::default()).unwrap()
    }

    fn local() -> LocalEndpoint {
        LocalEndpoint {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: Some("127.0.0.1:5060".parse().unwrap()),
            advertised_host: None,
            advertised_port: None,
        }
    }

    /// Every value of the header lines with this raw name, in order.
    fn named<'a>(msg: &'a SipMessage, name: &str) -> Vec<&'a str> {
        msg.headers()
            .iter()
            .filter(|f| msg.field_name(f).eq_ignore_ascii_case(name.as_bytes()))
            .filter_map(|f| msg.field_str(f))
            .collect()
    }

    fn b_invite(carrier_diversion: bool) -> SipMessage {
        let dialog = Dialog {
            call_id: "b1@calltrack".into(),
            local_tag: "t1".into(),
            remote_tag: None,
            local_uri: "<sip:79990000001@127.0.0.1:5060>".into(),
            remote_uri: "<sip:100@127.0.0.9>".into(),
            local_seq: 5,
            remote_seq: None,
            remote_target: "sip:100@127.0.0.9".into(),
            route_set: Vec::new(),
            peer: Peer::new(Transport::Udp, "127.0.0.9:5060".parse().unwrap()),
            transport: Transport::Udp,
        };
        let rules = CopyRules {
            reserved_prefix: "X-CT-",
            max_value_bytes: 1024,
            carrier_diversion,
        };
        let stamp = [
            ("X-CT-Source".to_string(), "google".to_string()),
            (
                "Diversion".to_string(),
                "<sip:74950000101@127.0.0.1:5060>;reason=unconditional".to_string(),
            ),
        ];
        b_leg_invite(
            &a_invite(),
            &dialog,
            &local(),
            "z9hG4bKb",
            70,
            rules,
            &stamp,
        )
    }

    #[test]
    fn calltracks_diversion_is_on_top_of_the_carriers() {
        let b = b_invite(true);
        let diversions: Vec<&str> = named(&b, "Diversion");
        assert_eq!(
            diversions,
            [
                "<sip:74950000101@127.0.0.1:5060>;reason=unconditional",
                "<sip:forged@carrier>;reason=user-busy"
            ]
        );
        assert_eq!(named(&b, "X-CT-Source"), ["google"]);
    }

    #[test]
    fn carrier_diversion_dropped_when_not_kept() {
        let b = b_invite(false);
        let diversions: Vec<&str> = named(&b, "Diversion");
        assert_eq!(
            diversions,
            ["<sip:74950000101@127.0.0.1:5060>;reason=unconditional"]
        );
    }

    #[test]
    fn oversized_and_control_byte_headers_are_not_forwarded() {
        let b = b_invite(true);
        let text = String::from_utf8_lossy(b.as_bytes());
        assert!(!text.contains("X-Long"), "a 2000-byte value is over 1024");
        assert!(
            !text.contains("Subject"),
            "an escaped NUL is still a control byte"
        );
        assert!(!b.as_bytes().contains(&0), "no NUL reaches the PBX");
        assert!(text.contains("User-to-User: kept"));
    }

    #[test]
    fn dialog_creating_responses_echo_record_route_in_order() {
        let invite = a_invite();
        let pbx = SipMessage::parse(
            Bytes::from_static(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb\r\n\
From: <sip:1@h>;tag=t1\r\nTo: <sip:2@h>;tag=p1\r\nCall-ID: b1\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n"),
            &Default::default(),
        )
        .unwrap();
        let rules = CopyRules {
            reserved_prefix: "X-CT-",
            max_value_bytes: 1024,
            carrier_diversion: true,
        };
        let ours = Some("<sip:127.0.0.1:5060>");
        let with_dialog = relay_response(&invite, &pbx, "a-tag", None, ours, rules);
        let routes: Vec<&str> = with_dialog.values(&HeaderName::RecordRoute).collect();
        assert_eq!(routes, ["<sip:127.0.0.3:5070;lr>", "<sip:127.0.0.4;lr>"]);
        let without = relay_response(&invite, &pbx, "a-tag", None, None, rules);
        assert_eq!(without.count(&HeaderName::RecordRoute), 0);
    }

    #[test]
    fn moving_to_udp_rewrites_via_and_contact() {
        let mut dialog_invite = b_invite(true);
        let tcp = local().contact(Transport::Tcp);
        dialog_invite = on_transport(
            &dialog_invite,
            "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKt",
            &tcp,
        );
        assert_eq!(
            dialog_invite.header(&HeaderName::Contact),
            Some(tcp.as_str())
        );
        let udp = local().contact(Transport::Udp);
        let retry = on_transport(
            &dialog_invite,
            &local().via(Transport::Udp, "z9hG4bKu"),
            &udp,
        );
        assert_eq!(
            retry.header(&HeaderName::Contact),
            Some("<sip:127.0.0.1:5060>")
        );
        assert_eq!(retry.top_via().unwrap().branch(), Some("z9hG4bKu"));
        assert_eq!(retry.count(&HeaderName::Contact), 1);
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
