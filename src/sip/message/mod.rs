//! The SIP message model: one owned buffer plus a zero-copy index of start line, headers and body.
//!
//! A [`SipMessage`] never copies header text: every accessor returns a slice of the buffer it
//! was parsed from, so headers calltrack does not understand are forwarded byte for byte.
//! Folded header lines (RFC 3261 §7.3.1) are unfolded once at parse time by overwriting the
//! CRLF with spaces, which is semantically identical and keeps every value on one line.

mod core_headers;
mod encode;
#[cfg(test)]
mod fuzz_regressions;
mod headers;
mod method;
mod params;
mod parse;
pub mod uri;
mod validate;

use std::ops::Range;

use bytes::Bytes;

pub use core_headers::{CSeq, HeaderError, NameAddr, Via};
pub use encode::{MessageBuilder, response_to, response_with_reason, stamp_received};
pub use headers::{HeaderName, split_list};
pub use method::Method;
pub use params::Params;
pub use parse::{Frame, Limits, ParseError, frame};
pub use uri::{Host, SipUri, Uri, UriError};
pub use validate::{
    Rejection, Screened, check_require, fit_to_forward, is_control_byte, screen, validate_request,
    validate_response,
};

/// A byte range inside the message buffer. `u32` keeps the index small; messages are capped
/// far below 4 GiB by [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    pub(crate) fn new(range: Range<usize>) -> Span {
        // Limits cap messages at 1 MiB, so these conversions never saturate in practice.
        Span {
            start: u32::try_from(range.start).unwrap_or(u32::MAX),
            end: u32::try_from(range.end).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`
    Request {
        method: Method,
        uri: Span,
        version: Span,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// One header line: its canonical name and where its name and value sit in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField {
    pub name: HeaderName,
    name_span: Span,
    value_span: Span,
}

/// What went wrong with framing; the message was still indexed so that a 400 can be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FramingIssue {
    #[default]
    None,
    /// Content-Length is not a non-negative integer (RFC 4475 §3.1.2.3).
    BadContentLength,
    /// More than one Content-Length value (RFC 4475 §3.3.9).
    MultipleContentLength,
    /// Content-Length is larger than the datagram (RFC 4475 §3.1.2.2).
    Truncated,
    /// The header block has no terminating empty line.
    UnterminatedHead,
    /// A header line could not be read (no colon, bad name).
    MalformedHeaderLine,
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct SipMessage {
    buf: Bytes,
    start: StartLine,
    headers: Vec<HeaderField>,
    body: Span,
    framing: FramingIssue,
}

impl SipMessage {
    /// Parses one complete message (a datagram, or a frame cut by [`frame`]).
    pub fn parse(buf: Bytes, limits: &Limits) -> Result<SipMessage, ParseError> {
        parse::parse_message(buf, limits)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn start_line(&self) -> &StartLine {
        &self.start
    }

    /// The request method, `None` for responses.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as received, `None` for responses.
    pub fn request_uri(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(self.text(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The SIP-Version token of the start line.
    pub fn version(&self) -> &str {
        match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                self.text(version)
            }
        }
    }

    /// The status code, `None` for requests.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase exactly as received (it may be UTF-8 or empty).
    pub fn reason(&self) -> Option<&[u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(self.bytes(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// Every header line in order.
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The raw header name as it was written (compact or long, any case).
    pub fn field_name(&self, field: &HeaderField) -> &[u8] {
        self.bytes(field.name_span)
    }

    /// The raw header value, trimmed of surrounding whitespace.
    pub fn field_value(&self, field: &HeaderField) -> &[u8] {
        self.bytes(field.value_span)
    }

    /// The header value as text; header values that are not UTF-8 read as `None`.
    pub fn field_str(&self, field: &HeaderField) -> Option<&str> {
        std::str::from_utf8(self.field_value(field)).ok()
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.fields(name).next().and_then(|f| self.field_str(f))
    }

    /// Every header line with this name.
    pub fn fields<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a HeaderField> {
        self.headers.iter().filter(move |f| f.name == *name)
    }

    /// Every value of a list header, across lines and comma-separated values (RFC 3261 §7.3.1).
    pub fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> {
        self.fields(name)
            .filter_map(|f| self.field_str(f))
            .flat_map(split_list)
    }

    /// How many header lines carry this name.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.fields(name).count()
    }

    pub fn body(&self) -> &[u8] {
        self.bytes(self.body)
    }

    /// The whole message as received (or as encoded).
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The message up to the end of its body; extra octets after Content-Length are not part
    /// of it (RFC 4475 §3.1.1.8).
    pub fn wire_bytes(&self) -> Bytes {
        self.buf.slice(0..self.body.range().end)
    }

    pub fn framing(&self) -> FramingIssue {
        self.framing
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header(&HeaderName::CallId)
    }

    pub fn cseq(&self) -> Result<CSeq<'_>, HeaderError> {
        CSeq::parse(self.required(&HeaderName::CSeq)?)
    }

    /// The topmost Via value (the one this hop answers to).
    pub fn top_via(&self) -> Result<Via<'_>, HeaderError> {
        let value = self
            .values(&HeaderName::Via)
            .next()
            .ok_or(HeaderError::Missing("Via"))?;
        Via::parse(value)
    }

    pub fn from(&self) -> Result<NameAddr<'_>, HeaderError> {
        NameAddr::parse(self.required(&HeaderName::From)?)
    }

    pub fn to(&self) -> Result<NameAddr<'_>, HeaderError> {
        NameAddr::parse(self.required(&HeaderName::To)?)
    }

    /// The first Contact, if any.
    pub fn contact(&self) -> Option<Result<NameAddr<'_>, HeaderError>> {
        self.values(&HeaderName::Contact)
            .next()
            .map(NameAddr::parse)
    }

    /// Max-Forwards, `None` when absent (RFC 2543 peers omit it).
    pub fn max_forwards(&self) -> Option<Result<u32, HeaderError>> {
        self.header(&HeaderName::MaxForwards)
            .map(|v| core_headers::parse_u32(v).map_err(|_| HeaderError::Invalid("Max-Forwards")))
    }

    fn required(&self, name: &HeaderName) -> Result<&str, HeaderError> {
        self.header(name)
            .ok_or(HeaderError::Missing(name.canonical()))
    }

    fn bytes(&self, span: Span) -> &[u8] {
        self.buf.get(span.range()).unwrap_or_default()
    }

    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(self.bytes(span)).unwrap_or_default()
    }
}
