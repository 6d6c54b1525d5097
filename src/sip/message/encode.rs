//! Building messages: a builder that writes the wire form and its index in one pass, and
//! responses built from a request (RFC 3261 §8.2.6).

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::{BufMut, BytesMut};

use super::headers::HeaderName;
use super::method::Method;
use super::{FramingIssue, HeaderField, SipMessage, Span, StartLine, Via};

/// Writes a message: start line, headers in the order given, then Content-Length and body.
#[derive(Debug)]
pub struct MessageBuilder {
    buf: BytesMut,
    start: StartLine,
    headers: Vec<HeaderField>,
}

impl MessageBuilder {
    /// `METHOD uri SIP/2.0`
    pub fn request(method: &Method, uri: &str) -> MessageBuilder {
        let mut buf = BytesMut::with_capacity(1024);
        buf.put_slice(method.as_str().as_bytes());
        buf.put_u8(b' ');
        let uri_start = buf.len();
        buf.put_slice(uri.as_bytes());
        let uri = Span::new(uri_start..buf.len());
        buf.put_u8(b' ');
        let version = Span::new(buf.len()..buf.len() + 7);
        buf.put_slice(b"SIP/2.0\r\n");
        let start = StartLine::Request {
            method: method.clone(),
            uri,
            version,
        };
        MessageBuilder {
            buf,
            start,
            headers: Vec::with_capacity(16),
        }
    }

    /// `SIP/2.0 code reason`; the reason phrase is written as given (it may be relayed bytes).
    pub fn response(code: u16, reason: &[u8]) -> MessageBuilder {
        let mut buf = BytesMut::with_capacity(512);
        buf.put_slice(b"SIP/2.0 ");
        let _ = write!(ByteWriter(&mut buf), "{code} ");
        let reason_start = buf.len();
        buf.put_slice(reason);
        let reason = Span::new(reason_start..buf.len());
        buf.put_slice(b"\r\n");
        let start = StartLine::Response {
            version: Span::new(0..7),
            code,
            reason,
        };
        MessageBuilder {
            buf,
            start,
            headers: Vec::with_capacity(16),
        }
    }

    /// Appends a header under its canonical name.
    pub fn header(&mut self, name: HeaderName, value: &str) -> &mut Self {
        self.push(name, name.canonical().as_bytes(), value.as_bytes())
    }

    /// Appends a header whose value is formatted straight into the message (no `String` of
    /// its own: in-dialog requests write several such headers per call).
    pub fn header_fmt(&mut self, name: HeaderName, value: std::fmt::Arguments<'_>) -> &mut Self {
        self.push_with(name, name.canonical().as_bytes(), |buf| {
            // Writing into a `BytesMut` cannot fail.
            let _ = ByteWriter(buf).write_fmt(value);
        })
    }

    /// Appends a header exactly as received (name spelling and value bytes kept).
    pub fn raw_header(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        self.push(HeaderName::from_bytes(name), name, value)
    }

    /// Copies every line of `name` from another message, byte for byte.
    pub fn copy_headers(&mut self, from: &SipMessage, name: HeaderName) -> &mut Self {
        for field in from.fields(&name) {
            self.raw_header(from.field_name(field), from.field_value(field));
        }
        self
    }

    fn push(&mut self, name: HeaderName, raw_name: &[u8], value: &[u8]) -> &mut Self {
        self.push_with(name, raw_name, |buf| buf.put_slice(value))
    }

    /// Appends `raw_name: ` and the value `write` puts in the buffer, then CRLF.
    fn push_with(
        &mut self,
        name: HeaderName,
        raw_name: &[u8],
        write: impl FnOnce(&mut BytesMut),
    ) -> &mut Self {
        let name_start = self.buf.len();
        self.buf.put_slice(raw_name);
        let name_span = Span::new(name_start..self.buf.len());
        self.buf.put_slice(b": ");
        let value_start = self.buf.len();
        write(&mut self.buf);
        let value_span = Span::new(value_start..self.buf.len());
        self.buf.put_slice(b"\r\n");
        self.headers.push(HeaderField {
            name,
            name_span,
            value_span,
        });
        self
    }

    /// Finishes with a body (Content-Type first when given) and the matching Content-Length.
    pub fn body(mut self, content_type: Option<&str>, body: &[u8]) -> SipMessage {
        if let Some(ct) = content_type.filter(|_| !body.is_empty()) {
            self.header(HeaderName::ContentType, ct);
        }
        self.header(HeaderName::ContentLength, &body.len().to_string());
        self.buf.put_slice(b"\r\n");
        let body_start = self.buf.len();
        self.buf.put_slice(body);
        let body = Span::new(body_start..self.buf.len());
        SipMessage {
            buf: self.buf.freeze(),
            start: self.start,
            headers: self.headers,
            body,
            framing: FramingIssue::None,
        }
    }

    /// Finishes without a body (`Content-Length: 0`).
    pub fn finish(self) -> SipMessage {
        self.body(None, &[])
    }
}

/// `fmt::Write` over `BytesMut`, for numbers in start lines.
struct ByteWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// Starts a response to `request` (RFC 3261 §8.2.6.2): Via values (the top one stamped with
/// `received`/`rport` for `source`, RFC 3581 §4), From, To (with `to_tag` added when the To has
/// none and the status is above 100), Call-ID and CSeq, in that order.
pub fn response_to(
    request: &SipMessage,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    source: Option<SocketAddr>,
) -> MessageBuilder {
    response_with_reason(request, code, reason.as_bytes(), to_tag, source)
}

/// [`response_to`] with the reason phrase as raw bytes, for relaying a phrase exactly as it
/// was received (it may be UTF-8 or empty, RFC 4475 §3.1.1.12).
pub fn response_with_reason(
    request: &SipMessage,
    code: u16,
    reason: &[u8],
    to_tag: Option<&str>,
    source: Option<SocketAddr>,
) -> MessageBuilder {
    let mut b = MessageBuilder::response(code, reason);
    copy_vias(&mut b, request, source);
    b.copy_headers(request, HeaderName::From);
    copy_to(&mut b, request, if code > 100 { to_tag } else { None });
    b.copy_headers(request, HeaderName::CallId);
    b.copy_headers(request, HeaderName::CSeq);
    b
}

/// Via values one per line, the top one stamped; a Via list that does not parse (the request
/// is being rejected) is copied line by line as received.
fn copy_vias(b: &mut MessageBuilder, request: &SipMessage, source: Option<SocketAddr>) {
    if !request
        .values(&HeaderName::Via)
        .all(|v| Via::parse(v).is_ok())
    {
        b.copy_headers(request, HeaderName::Via);
        return;
    }
    for (i, via) in request.values(&HeaderName::Via).enumerate() {
        match (i, source) {
            (0, Some(src)) => b.header(HeaderName::Via, &stamp_received(via, src)),
            _ => b.header(HeaderName::Via, via),
        };
    }
}

fn copy_to(b: &mut MessageBuilder, request: &SipMessage, to_tag: Option<&str>) {
    let Some(to) = request.header(&HeaderName::To) else {
        return;
    };
    let has_tag = request.to().ok().and_then(|t| t.tag()).is_some();
    match to_tag {
        Some(tag) if !has_tag => b.header(HeaderName::To, &format!("{to};tag={tag}")),
        _ => b.header(HeaderName::To, to),
    };
}

/// Adds `received` when the source IP differs from the sent-by host, and fills `rport` with
/// the source port when the client asked for it (RFC 3261 §18.2.1, RFC 3581 §4).
pub fn stamp_received(via_value: &str, source: SocketAddr) -> String {
    let Ok(via) = Via::parse(via_value) else {
        return via_value.to_string();
    };
    let wants_rport = via.params.get("rport").is_some();
    let sent_by_ip = match via.host {
        super::Host::Ip(ip) => Some(ip),
        super::Host::Name(_) => None,
    };
    let needs_received = wants_rport || sent_by_ip != Some(source.ip());
    let mut out = String::with_capacity(via_value.len() + 40);
    let (head, _) = via_value.split_once(';').unwrap_or((via_value, ""));
    out.push_str(head.trim_end());
    for (name, value) in via.params.iter() {
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    if needs_received {
        let _ = match source.ip() {
            std::net::IpAddr::V6(ip) => write!(out, ";received=[{ip}]"),
            ip => write!(out, ";received={ip}"),
        };
    }
    if wants_rport {
        let _ = write!(out, ";rport={}", source.port());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Limits;
    use bytes::Bytes;

    #[test]
    fn built_request_reparses_identically() {
        let mut b = MessageBuilder::request(&Method::Invite, "sip:74950000001@127.0.0.1");
        b.header(
            HeaderName::Via,
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc",
        )
        .header(HeaderName::CallId, "abc@host")
        .raw_header(b"X-Custom", b"kept  as is");
        let msg = b.body(Some("application/sdp"), b"v=0\r\n");
        let again = SipMessage::parse(msg.as_bytes().clone(), &Limits::default()).unwrap();
        assert_eq!(again.request_uri(), Some("sip:74950000001@127.0.0.1"));
        assert_eq!(again.headers().len(), msg.headers().len());
        assert_eq!(again.call_id(), msg.call_id());
        assert_eq!(again.body(), b"v=0\r\n");
        assert_eq!(again.header(&HeaderName::ContentLength), Some("5"));
        assert_eq!(msg.header(&HeaderName::Other), Some("kept  as is"));
    }

    #[test]
    fn a_formatted_header_is_the_same_bytes_and_index_as_a_written_one() {
        let (call, seq) = ("abc@host", 7);
        let mut written = MessageBuilder::request(&Method::Bye, "sip:a@127.0.0.1");
        written
            .header(HeaderName::CallId, call)
            .header(HeaderName::CSeq, &format!("{seq} BYE"));
        let mut formatted = MessageBuilder::request(&Method::Bye, "sip:a@127.0.0.1");
        formatted
            .header_fmt(HeaderName::CallId, format_args!("{call}"))
            .header_fmt(HeaderName::CSeq, format_args!("{seq} {}", Method::Bye));
        let (written, formatted) = (written.finish(), formatted.finish());
        assert_eq!(formatted.as_bytes(), written.as_bytes());
        assert_eq!(formatted.headers(), written.headers());
        assert_eq!(formatted.cseq().map(|c| c.seq), Ok(7));
    }

    #[test]
    fn response_copies_dialog_headers_and_stamps_rport() {
        let req = SipMessage::parse(
            Bytes::from_static(
                b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP p.example\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 2 OPTIONS\r\nl: 0\r\n\r\n",
            ),
            &Limits::default(),
        )
        .unwrap();
        let source: SocketAddr = "192.0.2.9:40000".parse().unwrap();
        let resp = response_to(&req, 200, "OK", Some("t9"), Some(source)).finish();
        let vias: Vec<_> = resp.values(&HeaderName::Via).collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.9;rport=40000",
                "SIP/2.0/UDP p.example"
            ]
        );
        assert_eq!(resp.header(&HeaderName::To), Some("<sip:a@b>;tag=t9"));
        assert_eq!(resp.status(), Some(200));
        assert_eq!(resp.cseq().unwrap().seq, 2);
        let trying = response_to(&req, 100, "Trying", Some("t9"), None).finish();
        assert_eq!(trying.header(&HeaderName::To), Some("<sip:a@b>"));
    }
}
