//! Framing and parsing: check, then parse (RFC 3261 §7, §18.3), with hard size caps.
//!
//! [`frame`] tells a stream reader whether a whole message is buffered ("incomplete" is a
//! normal answer); [`parse_message`] indexes one complete message without copying it.

use bytes::Bytes;
use thiserror::Error;

use super::headers::HeaderName;
use super::method::{Method, is_token_char};
use super::{FramingIssue, HeaderField, SipMessage, Span, StartLine};

/// Hard caps applied to every message before any other work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 65_535,
            max_headers: 128,
        }
    }
}

/// Why bytes are not a SIP message at all. With these no response can be built reliably,
/// so a datagram is dropped and a stream connection is closed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("message is {len} bytes, over the {max} byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("more than {max} header lines")]
    TooManyHeaders { max: usize },
    #[error("empty message")]
    Empty,
    #[error("start line is neither a SIP request line nor a status line")]
    BadStartLine,
    #[error("status code is not three digits")]
    BadStatusCode,
    #[error("Content-Length cannot frame a stream message")]
    BadContentLength,
}

/// What [`frame`] found at the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes is buffered.
    Complete(usize),
    /// More bytes are needed; nothing is consumed.
    Incomplete,
    /// This many CR/LF keep-alive bytes come first (RFC 5626 §3.5.1); consume them.
    KeepAlive(usize),
}

/// Finds the length of the first message in a stream buffer (RFC 3261 §18.3): the end of the
/// header block plus Content-Length. Never reads past the caps.
pub fn frame(buf: &[u8], limits: &Limits) -> Result<Frame, ParseError> {
    let keepalive = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if keepalive > 0 {
        return Ok(Frame::KeepAlive(keepalive));
    }
    let Some(head_len) = find_head_end(buf) else {
        return too_large_or(buf.len(), limits, Frame::Incomplete);
    };
    let body_len = stream_content_length(&buf[..head_len])?;
    let total = head_len + body_len;
    if total > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            len: total,
            max: limits.max_message_bytes,
        });
    }
    Ok(if buf.len() >= total {
        Frame::Complete(total)
    } else {
        Frame::Incomplete
    })
}

fn too_large_or(len: usize, limits: &Limits, frame: Frame) -> Result<Frame, ParseError> {
    if len > limits.max_message_bytes {
        Err(ParseError::TooLarge {
            len,
            max: limits.max_message_bytes,
        })
    } else {
        Ok(frame)
    }
}

/// Length of the head including its terminating empty line, if it is all buffered.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while let Some(nl) = buf.get(pos..)?.iter().position(|&b| b == b'\n') {
        let line_end = pos + nl + 1;
        let line = &buf[pos..line_end];
        if pos > 0 && (line == b"\r\n" || line == b"\n") {
            return Some(line_end);
        }
        pos = line_end;
    }
    None
}

/// Content-Length of a stream message: required to be one non-negative integer; absent
/// means 0 (a lenient reading of RFC 3261 §18.3 that Kamailio shares).
fn stream_content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some((name, value)) = split_header_line(line) else {
            continue;
        };
        if HeaderName::from_bytes(name) != HeaderName::ContentLength {
            continue;
        }
        let len = parse_length(value).ok_or(ParseError::BadContentLength)?;
        if found.is_some_and(|f| f != len) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(len);
    }
    Ok(found.unwrap_or(0))
}

/// Splits `name : value` (whitespace allowed before the colon, RFC 3261 §7.3.1).
fn split_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = trim(&line[..colon]);
    let value = trim(&line[colon + 1..]);
    Some((name, value))
}

fn parse_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Parses one complete message. Problems that still allow a response (bad Content-Length,
/// malformed header lines, a missing empty line) are recorded in [`FramingIssue`] so the
/// validator can answer 400; only unreadable start lines and cap violations fail here.
///
/// One pass over the head; a message that uses header folding (rare) is unfolded into a copy
/// and indexed again.
pub(crate) fn parse_message(buf: Bytes, limits: &Limits) -> Result<SipMessage, ParseError> {
    if buf.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            len: buf.len(),
            max: limits.max_message_bytes,
        });
    }
    let skip = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if skip == buf.len() {
        return Err(ParseError::Empty);
    }
    if let Some(indexed) = index_message(&buf, skip, limits)? {
        return Ok(indexed.into_message(buf));
    }
    let buf = unfold(buf, skip);
    let indexed = index_message(&buf, skip, limits)?.ok_or(ParseError::BadStartLine)?;
    Ok(indexed.into_message(buf))
}

/// The index of one message, before it is joined with its buffer.
struct Indexed {
    start: StartLine,
    fields: Vec<HeaderField>,
    body: Span,
    framing: FramingIssue,
}

impl Indexed {
    fn into_message(self, buf: Bytes) -> SipMessage {
        SipMessage {
            buf,
            start: self.start,
            headers: self.fields,
            body: self.body,
            framing: self.framing,
        }
    }
}

/// Indexes start line, headers and body in one pass; `None` when a folded line is met.
fn index_message(buf: &[u8], skip: usize, limits: &Limits) -> Result<Option<Indexed>, ParseError> {
    let mut lines = Lines { buf, pos: skip };
    let (line_start, line_end) = lines.next().ok_or(ParseError::Empty)?;
    let start = parse_start_line(buf, line_start, line_end)?;
    let mut index = HeaderIndex::default();
    let mut head_closed = false;
    for (s, e) in lines.by_ref() {
        if s == e {
            head_closed = true;
            break;
        }
        if matches!(buf[s], b' ' | b'\t') {
            return Ok(None);
        }
        index.push_line(buf, s, e, limits)?;
    }
    if !head_closed {
        index.framing = FramingIssue::UnterminatedHead;
    }
    let body_start = lines.pos.min(buf.len());
    let (body, framing) = body_span(buf, &index, body_start);
    let framing = if index.framing == FramingIssue::None {
        framing
    } else {
        index.framing
    };
    Ok(Some(Indexed {
        start,
        fields: index.fields,
        body,
        framing,
    }))
}

/// Replaces folding (CRLF or LF followed by SP/HT inside the head) with spaces. Copies the
/// buffer only when the message actually uses folding.
fn unfold(buf: Bytes, from: usize) -> Bytes {
    let head_end = find_head_end(&buf[from..]).map_or(buf.len(), |h| from + h);
    let folds = fold_positions(&buf[from..head_end]);
    if folds.is_empty() {
        return buf;
    }
    let mut owned = buf.to_vec();
    for (at, len) in folds {
        owned[from + at..from + at + len].fill(b' ');
    }
    Bytes::from(owned)
}

/// `(offset, length)` of every line break that is followed by whitespace.
fn fold_positions(head: &[u8]) -> Vec<(usize, usize)> {
    let mut folds = Vec::new();
    for (i, &b) in head.iter().enumerate() {
        if b == b'\n' && matches!(head.get(i + 1), Some(b' ' | b'\t')) {
            let cr = i > 0 && head[i - 1] == b'\r';
            folds.push(if cr { (i - 1, 2) } else { (i, 1) });
        }
    }
    folds
}

/// Iterates over `(start, end)` of lines, `end` excluding the CRLF or LF.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for Lines<'_> {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        let start = self.pos;
        let (end, next) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (start + nl, start + nl + 1),
            None => (self.buf.len(), self.buf.len()),
        };
        let end = if end > start && self.buf[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        self.pos = next;
        Some((start, end))
    }
}

fn parse_start_line(buf: &[u8], start: usize, end: usize) -> Result<StartLine, ParseError> {
    let line = &buf[start..end];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(line, start);
    }
    parse_request_line(line, start)
}

/// `SIP-Version SP Status-Code SP Reason-Phrase` (RFC 3261 §7.2). The reason phrase is kept
/// exactly as received, UTF-8 or empty.
fn parse_status_line(line: &[u8], offset: usize) -> Result<StartLine, ParseError> {
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let rest = &line[sp + 1..];
    let code_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if code_len != 3 || rest.get(3).is_some_and(|&b| b != b' ') {
        return Err(ParseError::BadStatusCode);
    }
    let code = rest[..3]
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&code) {
        return Err(ParseError::BadStatusCode);
    }
    let reason_start = (offset + sp + 1 + 4).min(offset + line.len());
    Ok(StartLine::Response {
        version: Span::new(offset..offset + sp),
        code,
        reason: Span::new(reason_start..offset + line.len()),
    })
}

/// `Method SP Request-URI SP SIP-Version` (RFC 3261 §7.1). Extra spaces between the elements
/// and at the end are tolerated (RFC 4475 §3.1.2.9, §3.1.2.10); the URI itself is checked by
/// the validator, which rejects embedded whitespace.
fn parse_request_line(line: &[u8], offset: usize) -> Result<StartLine, ParseError> {
    let trimmed_len = line.trim_ascii_end().len();
    let line = &line[..trimmed_len];
    let first_sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let last_sp = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let method = std::str::from_utf8(&line[..first_sp]).map_err(|_| ParseError::BadStartLine)?;
    let method = Method::from_token(method).ok_or(ParseError::BadStartLine)?;
    let version = &line[last_sp + 1..];
    if last_sp <= first_sp || version.len() < 4 || !version[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::BadStartLine);
    }
    let uri = &line[first_sp + 1..last_sp];
    let lead = uri.len() - uri.trim_ascii_start().len();
    let uri_len = uri.trim_ascii().len();
    if uri_len == 0 {
        return Err(ParseError::BadStartLine);
    }
    let uri_start = offset + first_sp + 1 + lead;
    Ok(StartLine::Request {
        method,
        uri: Span::new(uri_start..uri_start + uri_len),
        version: Span::new(offset + last_sp + 1..offset + line.len()),
    })
}

/// Header lines collected so far.
struct HeaderIndex {
    fields: Vec<HeaderField>,
    framing: FramingIssue,
    /// The first Content-Length value and how many there were.
    content_length: Option<Span>,
    content_lengths: usize,
}

impl Default for HeaderIndex {
    fn default() -> Self {
        HeaderIndex {
            fields: Vec::with_capacity(16),
            framing: FramingIssue::None,
            content_length: None,
            content_lengths: 0,
        }
    }
}

impl HeaderIndex {
    fn push_line(
        &mut self,
        buf: &[u8],
        start: usize,
        end: usize,
        limits: &Limits,
    ) -> Result<(), ParseError> {
        if self.fields.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        let line = &buf[start..end];
        let Some(colon) = memchr::memchr(b':', line) else {
            self.framing = FramingIssue::MalformedHeaderLine;
            return Ok(());
        };
        let name = line[..colon].trim_ascii_end();
        if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
            self.framing = FramingIssue::MalformedHeaderLine;
            return Ok(());
        }
        let value = &line[colon + 1..];
        let lead = value.len() - value.trim_ascii_start().len();
        let value_start = start + colon + 1 + lead;
        let value_end = value_start + value.trim_ascii().len();
        let header = HeaderName::from_bytes(name);
        let value_span = Span::new(value_start..value_end);
        if header == HeaderName::ContentLength {
            self.content_lengths += 1;
            self.content_length.get_or_insert(value_span);
        }
        self.fields.push(HeaderField {
            name: header,
            name_span: Span::new(start..start + name.len()),
            value_span,
        });
        Ok(())
    }
}

/// The body by Content-Length (RFC 3261 §18.3). Without a Content-Length (legal over UDP,
/// RFC 2543 peers) the body is the rest of the datagram; extra octets after Content-Length
/// are not part of the message (RFC 4475 §3.1.1.8).
fn body_span(buf: &[u8], index: &HeaderIndex, body_start: usize) -> (Span, FramingIssue) {
    let rest = Span::new(body_start..buf.len());
    let Some(first) = index.content_length else {
        return (rest, FramingIssue::None);
    };
    if index.content_lengths > 1 {
        return (rest, FramingIssue::MultipleContentLength);
    }
    match parse_length(trim(&buf[first.range()])) {
        None => (rest, FramingIssue::BadContentLength),
        Some(len) if body_start + len > buf.len() => (rest, FramingIssue::Truncated),
        Some(len) => (Span::new(body_start..body_start + len), FramingIssue::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:74950000001@calltrack.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: <sip:74950000001@calltrack.example>\r\n\
From: \"Alice\" <sip:79161234567@carrier.example>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@carrier.example\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:79161234567@192.0.2.1:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r";

    fn parse(bytes: &[u8]) -> SipMessage {
        SipMessage::parse(Bytes::copy_from_slice(bytes), &Limits::default()).unwrap()
    }

    #[test]
    fn indexes_a_typical_invite_without_copying() {
        let buf = Bytes::from_static(INVITE);
        let msg = SipMessage::parse(buf.clone(), &Limits::default()).unwrap();
        assert_eq!(msg.method(), Some(&Method::Invite));
        assert_eq!(msg.request_uri(), Some("sip:74950000001@calltrack.example"));
        assert_eq!(msg.headers().len(), 9);
        assert_eq!(msg.call_id(), Some("a84b4c76e66710@carrier.example"));
        assert_eq!(msg.body(), b"v=0\r");
        assert_eq!(msg.framing(), FramingIssue::None);
        assert_eq!(
            msg.as_bytes().as_ptr(),
            buf.as_ptr(),
            "no copy without folding"
        );
    }

    #[test]
    fn unfolds_continuation_lines_into_spaces() {
        let msg =
            parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n two\r\n\tthree\r\nl: 0\r\n\r\n");
        assert_eq!(msg.header(&HeaderName::Subject), Some("one   two  \tthree"));
        assert_eq!(msg.header(&HeaderName::ContentLength), Some("0"));
    }

    #[test]
    fn status_line_keeps_reason_phrase_bytes() {
        let msg = parse("SIP/2.0 200 Très bien\r\nl: 0\r\n\r\n".as_bytes());
        assert_eq!(msg.status(), Some(200));
        assert_eq!(msg.reason(), Some("Très bien".as_bytes()));
        let msg = parse(b"SIP/2.0 100 \r\n\r\n");
        assert_eq!(msg.reason(), Some(&b""[..]));
    }

    #[test]
    fn rejects_unreadable_start_lines() {
        let bad = |b: &[u8]| SipMessage::parse(Bytes::copy_from_slice(b), &Limits::default());
        assert_eq!(
            bad(b"SIP/2.0 4294967301 Big\r\n\r\n").err(),
            Some(ParseError::BadStatusCode)
        );
        assert_eq!(bad(b"HELLO\r\n\r\n").err(), Some(ParseError::BadStartLine));
        assert_eq!(
            bad(b"GET / HTTP/1.1\r\n\r\n").err(),
            Some(ParseError::BadStartLine)
        );
        assert_eq!(bad(b"\r\n\r\n").err(), Some(ParseError::Empty));
    }

    #[test]
    fn content_length_problems_are_recorded_not_fatal() {
        let msg = parse(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\nxx");
        assert_eq!(msg.framing(), FramingIssue::BadContentLength);
        let msg = parse(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 50\r\n\r\nxx");
        assert_eq!(msg.framing(), FramingIssue::Truncated);
        let msg = parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nxx");
        assert_eq!(msg.framing(), FramingIssue::MultipleContentLength);
        let msg = parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\n\r\nxtrailing");
        assert_eq!(msg.body(), b"x");
        assert_eq!(
            &msg.wire_bytes()[..],
            b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\n\r\nx"
        );
    }

    #[test]
    fn caps_are_enforced() {
        let limits = Limits {
            max_message_bytes: 64,
            max_headers: 2,
        };
        let long = vec![b'a'; 65];
        assert!(matches!(
            SipMessage::parse(Bytes::from(long), &limits),
            Err(ParseError::TooLarge { .. })
        ));
        let many = Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n");
        assert!(matches!(
            SipMessage::parse(many, &limits),
            Err(ParseError::TooManyHeaders { .. })
        ));
    }

    #[test]
    fn frames_a_stream_across_arbitrary_splits() {
        let limits = Limits::default();
        let two = [INVITE, INVITE].concat();
        for cut in 0..INVITE.len() {
            assert_eq!(
                frame(&two[..cut], &limits),
                Ok(Frame::Incomplete),
                "cut at {cut}"
            );
        }
        assert_eq!(frame(&two, &limits), Ok(Frame::Complete(INVITE.len())));
        assert_eq!(frame(b"\r\n\r\nINVITE", &limits), Ok(Frame::KeepAlive(4)));
        assert_eq!(
            frame(b"OPTIONS sip:a SIP/2.0\r\nl: -1\r\n\r\n", &limits),
            Err(ParseError::BadContentLength)
        );
        assert_eq!(
            frame(
                b"OPTIONS sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n",
                &limits
            ),
            Err(ParseError::BadContentLength)
        );
    }
}
