//! Request and response validation: which well-parsed messages still get a 4xx/5xx (RFC 3261
//! §8.2, §16.3) or are discarded, as the RFC 4475 torture suite expects.

use super::headers::HeaderName;
use super::method::Method;
use super::uri::{Uri, UriError};
use super::{FramingIssue, NameAddr, SipMessage, Via};

/// A request calltrack refuses, with the status line to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
    /// For 420 Bad Extension: the `Unsupported:` value (RFC 3261 §8.2.2.3).
    pub unsupported: Option<String>,
    /// For 503: a `Retry-After` in seconds (RFC 3261 §21.5.4).
    pub retry_after_secs: Option<u32>,
    /// Why the request was refused, as a short machine token for counters and records
    /// (`blacklist`, `untrusted`, `unknown_number`); `None` lets the status speak.
    pub cause: Option<&'static str>,
}

impl Rejection {
    pub fn new(status: u16, reason: &'static str) -> Rejection {
        Rejection {
            status,
            reason,
            unsupported: None,
            retry_after_secs: None,
            cause: None,
        }
    }

    /// Names why the request was refused (see [`Rejection::cause`]).
    pub fn because(mut self, cause: &'static str) -> Rejection {
        self.cause = Some(cause);
        self
    }

    /// Adds a Retry-After (for 503 answers to overload and shutdown).
    pub fn retry_after(mut self, secs: u32) -> Rejection {
        self.retry_after_secs = Some(secs);
        self
    }

    fn bad(reason: &'static str) -> Rejection {
        Rejection::new(400, reason)
    }
}

/// Headers that must appear at most once (RFC 3261 §7.3.1, RFC 4475 §3.3.8).
const SINGLE: &[HeaderName] = &[
    HeaderName::To,
    HeaderName::From,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentType,
];

/// Checks a request before any transaction or call logic sees it. Max-Forwards may be
/// absent (RFC 2543 peers, RFC 4475 §3.4.1); the caller applies §16.3 hop counting.
pub fn validate_request(msg: &SipMessage) -> Result<(), Rejection> {
    let method = msg.method().ok_or(Rejection::bad("Not a request"))?;
    if !msg.version().eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::new(505, "Version Not Supported"));
    }
    check_framing(msg.framing())?;
    check_request_uri(msg.request_uri().unwrap_or_default())?;
    check_control_bytes(msg)?;
    check_core_headers(msg)?;
    check_cseq_method(msg, method)
}

/// Header values and the Request-URI carry no bare control bytes (RFC 3261 §25.1): a value is
/// `TEXT-UTF8char` (`%x21-7E` / UTF-8), `LWS` (SP, HTAB; folds are unfolded at parse time) and
/// `qdtext` of the same ranges, so NUL, the other C0 controls but HTAB, and DEL only appear
/// legally as the second byte of a `quoted-pair` (`"\" (%x00-09 / %x0B-0C / %x0E-7F)`). A
/// request with a bare one is malformed and gets 400 here, before any state; the legal
/// escaped form is never copied to the other leg either (see `call::bridge`).
fn check_control_bytes(msg: &SipMessage) -> Result<(), Rejection> {
    let uri = msg.request_uri().unwrap_or_default().as_bytes();
    let clean = !has_bare_control(uri)
        && msg
            .headers()
            .iter()
            .all(|f| !has_bare_control(msg.field_value(f)));
    match clean {
        true => Ok(()),
        false => Err(Rejection::bad("Control Character In Header")),
    }
}

/// Whether `value` holds a control byte (C0 but HTAB, or DEL) not escaped by a backslash.
/// Clean values (nearly all) take only the branch-free scan.
fn has_bare_control(value: &[u8]) -> bool {
    has_control_byte(value) && has_unescaped_control(value)
}

/// Whether any byte of `value` is a control byte: no early exit, so the compiler can scan
/// many bytes at a time (this runs over every header of every request).
fn has_control_byte(value: &[u8]) -> bool {
    value
        .iter()
        .fold(false, |seen, &b| seen | is_control_byte(b))
}

fn has_unescaped_control(value: &[u8]) -> bool {
    let mut escaped = false;
    for &b in value {
        if is_control_byte(b) && !escaped {
            return true;
        }
        escaped = b == b'\\' && !escaped;
    }
    false
}

/// Whether a value may be carried to the other leg: at most `max` bytes and no control byte
/// (NUL, C0 but HTAB, DEL). The receive screen already refused bare control bytes (RFC 3261
/// §25.1); this also keeps out the escaped ones a `quoted-pair` may legally hold, which a
/// peer's parser may still choke on. An unfit copied header is not forwarded at all: cutting
/// it would forward a different, possibly malformed value.
pub fn fit_to_forward(value: &[u8], max: usize) -> bool {
    value.len() <= max && !has_control_byte(value)
}

/// NUL, the C0 controls but HTAB, and DEL: the bytes RFC 3261 §25.1 allows in a header
/// value only inside a `quoted-pair` (CR and LF not even there; `call::bridge` forwards no
/// value holding any of them, escaped or not).
pub fn is_control_byte(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

fn check_framing(framing: FramingIssue) -> Result<(), Rejection> {
    match framing {
        FramingIssue::None => Ok(()),
        FramingIssue::BadContentLength => Err(Rejection::bad("Bad Content-Length")),
        FramingIssue::MultipleContentLength => Err(Rejection::bad("Multiple Content-Length")),
        FramingIssue::Truncated => Err(Rejection::bad("Content-Length Exceeds Message")),
        FramingIssue::UnterminatedHead => Err(Rejection::bad("Unterminated Header Block")),
        FramingIssue::MalformedHeaderLine => Err(Rejection::bad("Malformed Header Line")),
    }
}

/// SIP, SIPS and tel are routable; other schemes get 416 (RFC 3261 §8.2.2.1). Headers in a
/// Request-URI are not allowed (RFC 3261 §19.1.5, RFC 4475 §3.1.2.11).
fn check_request_uri(uri: &str) -> Result<(), Rejection> {
    match Uri::parse(uri) {
        Ok(Uri::Sip(sip)) if sip.headers.is_some() => Err(Rejection::bad("Headers In Request-URI")),
        Ok(_) => Ok(()),
        Err(UriError::UnsupportedScheme(_)) => Err(Rejection::new(416, "Unsupported URI Scheme")),
        Err(UriError::Malformed(_)) => Err(Rejection::bad("Malformed Request-URI")),
    }
}

fn check_core_headers(msg: &SipMessage) -> Result<(), Rejection> {
    for name in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if msg.header(&name).is_none_or(str::is_empty) {
            return Err(Rejection::bad(missing_reason(name)));
        }
    }
    if SINGLE.iter().any(|name| msg.count(name) > 1) {
        return Err(Rejection::bad("Duplicate Single-Value Header"));
    }
    check_vias(msg)?;
    check_cseq_number(msg)?;
    msg.from().map_err(|_| Rejection::bad("Malformed From"))?;
    msg.to().map_err(|_| Rejection::bad("Malformed To"))?;
    if let Some(Err(_)) = msg.max_forwards() {
        return Err(Rejection::bad("Malformed Max-Forwards"));
    }
    check_contacts(msg)
}

/// RFC 3261 §8.1.1.5: the CSeq sequence number "MUST be expressible as a 32-bit unsigned
/// integer and MUST be less than 2**31"; a request that breaks it is malformed (400).
fn check_cseq_number(msg: &SipMessage) -> Result<(), Rejection> {
    let cseq = msg.cseq().map_err(|_| Rejection::bad("Malformed CSeq"))?;
    match cseq.seq < MAX_CSEQ {
        true => Ok(()),
        false => Err(Rejection::bad("CSeq Out Of Range")),
    }
}

/// The first sequence number a request may not carry (RFC 3261 §8.1.1.5).
const MAX_CSEQ: u32 = 1 << 31;

fn missing_reason(name: HeaderName) -> &'static str {
    match name {
        HeaderName::To => "Missing To",
        HeaderName::From => "Missing From",
        HeaderName::CallId => "Missing Call-ID",
        _ => "Missing CSeq",
    }
}

fn check_vias(msg: &SipMessage) -> Result<(), Rejection> {
    let mut vias = msg.values(&HeaderName::Via).peekable();
    if vias.peek().is_none() {
        return Err(Rejection::bad("Missing Via"));
    }
    if vias.all(|v| Via::parse(v).is_ok()) {
        Ok(())
    } else {
        Err(Rejection::bad("Malformed Via"))
    }
}

fn check_contacts(msg: &SipMessage) -> Result<(), Rejection> {
    let ok = msg
        .values(&HeaderName::Contact)
        .all(|c| c == "*" || NameAddr::parse(c).is_ok());
    if ok {
        Ok(())
    } else {
        Err(Rejection::bad("Malformed Contact"))
    }
}

/// The CSeq method must equal the request method (RFC 3261 §8.1.1.5). An unknown method
/// with a mismatch gets 501 (RFC 4475 §3.1.2.18).
fn check_cseq_method(msg: &SipMessage, method: &Method) -> Result<(), Rejection> {
    let cseq = msg.cseq().map_err(|_| Rejection::bad("Malformed CSeq"))?;
    match (&cseq.method == method, method) {
        (true, _) => Ok(()),
        (false, Method::Extension(_)) => Err(Rejection::new(501, "Not Implemented")),
        (false, _) => Err(Rejection::bad("CSeq Method Mismatch")),
    }
}

/// Option tags named in `Require` that calltrack does not support get 420 Bad Extension with
/// an `Unsupported` header listing them (RFC 3261 §8.2.2.3). Not applied to ACK and CANCEL.
pub fn check_require(msg: &SipMessage, supported: &[&str]) -> Result<(), Rejection> {
    if matches!(msg.method(), Some(Method::Ack | Method::Cancel)) {
        return Ok(());
    }
    let unknown: Vec<&str> = msg
        .values(&HeaderName::Require)
        .filter(|tag| !tag.is_empty() && !supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Rejection {
        status: 420,
        reason: "Bad Extension",
        unsupported: Some(unknown.join(", ")),
        retry_after_secs: None,
        cause: Some("bad_extension"),
    })
}

/// Whether a response is fit to be matched to a transaction; unfit ones are discarded
/// (RFC 3261 §18.1.2, RFC 4475 §3.1.2.5).
pub fn validate_response(msg: &SipMessage) -> bool {
    msg.status().is_some()
        && msg.version().eq_ignore_ascii_case("SIP/2.0")
        && msg.framing() == FramingIssue::None
        && msg.top_via().is_ok()
        && msg.cseq().is_ok()
        && msg.call_id().is_some_and(|c| !c.is_empty())
        && msg.from().is_ok()
        && msg.to().is_ok()
}

/// What the receive path does with a datagram or stream frame.
#[derive(Debug)]
pub enum Screened {
    /// A request fit for the transaction layer.
    Request(SipMessage),
    /// A response fit for transaction matching.
    Response(SipMessage),
    /// A request to answer with this status, statelessly (it never reaches a transaction).
    Reject(SipMessage, Rejection),
    /// Nothing can be answered: unparseable, an unfit response, or no usable Via.
    Discard(&'static str),
}

/// Parses and screens one received message: the single entry point of the receive path
/// (RFC 3261 §18.2.1, §18.1.2). `supported` lists the option tags honoured in `Require`.
pub fn screen(buf: bytes::Bytes, limits: &super::Limits, supported: &[&str]) -> Screened {
    let msg = match SipMessage::parse(buf, limits) {
        Ok(msg) => msg,
        Err(_) => return Screened::Discard("unparseable"),
    };
    if !msg.is_request() {
        return match validate_response(&msg) {
            true => Screened::Response(msg),
            false => Screened::Discard("malformed response"),
        };
    }
    let verdict = validate_request(&msg).and_then(|()| check_require(&msg, supported));
    match verdict {
        Ok(()) => Screened::Request(msg),
        Err(_) if msg.count(&HeaderName::Via) == 0 => Screened::Discard("request without Via"),
        Err(_) if msg.method() == Some(&Method::Ack) => Screened::Discard("malformed ACK"),
        Err(rejection) => Screened::Reject(msg, rejection),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(cseq: &str, extra: &[u8]) -> Screened {
        let mut raw = format!(
            "INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKv1\r\n\
Max-Forwards: 70\r\nFrom: <sip:2@h>;tag=f\r\nTo: <sip:1@h>\r\nCall-ID: c1\r\nCSeq: {cseq} INVITE\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(extra);
        raw.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        screen(bytes::Bytes::from(raw), &Default::default(), &[])
    }

    fn status(s: Screened) -> Option<(u16, &'static str)> {
        match s {
            Screened::Reject(_, r) => Some((r.status, r.reason)),
            Screened::Request(_) => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn cseq_at_2_pow_31_is_refused() {
        assert_eq!(status(invite("2147483647", b"")), None);
        assert_eq!(
            status(invite("2147483648", b"")),
            Some((400, "CSeq Out Of Range"))
        );
        assert_eq!(
            status(invite("4294967295", b"")),
            Some((400, "CSeq Out Of Range"))
        );
    }

    #[test]
    fn bare_control_bytes_are_refused_escaped_ones_pass() {
        let refused = Some((400, "Control Character In Header"));
        assert_eq!(status(invite("1", b"Subject: a\0b\r\n")), refused);
        assert_eq!(status(invite("1", b"Subject: a\x1bb\r\n")), refused);
        assert_eq!(status(invite("1", b"Subject: a\x7f\r\n")), refused);
        assert_eq!(status(invite("1", b"Subject: a\tb\r\n")), None);
        assert_eq!(status(invite("1", b"Subject: \"a\\\0b\"\r\n")), None);
        assert_eq!(status(invite("1", b"Subject: \"a\\\\\0b\"\r\n")), refused);
    }
}
