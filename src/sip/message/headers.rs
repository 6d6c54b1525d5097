//! Header names (long and compact forms, RFC 3261 §7.3.3) and list splitting (§7.3.1).

/// The headers calltrack reads or writes, by canonical name; everything else is `Other` and is
/// forwarded untouched. Names compare case-insensitively (RFC 3261 §7.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Accept,
    Allow,
    CallId,
    Contact,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Event,
    Expires,
    From,
    MaxForwards,
    MinSe,
    ProxyRequire,
    RAck,
    Reason,
    RecordRoute,
    ReferTo,
    Require,
    RetryAfter,
    Route,
    RSeq,
    Server,
    SessionExpires,
    Subject,
    Supported,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    /// Any other header: its name is read from the buffer.
    Other,
}

/// Long names, paired with their variant, in the canonical spelling calltrack writes.
const LONG: &[(&str, HeaderName)] = &[
    ("Accept", HeaderName::Accept),
    ("Allow", HeaderName::Allow),
    ("Call-ID", HeaderName::CallId),
    ("Contact", HeaderName::Contact),
    ("Content-Encoding", HeaderName::ContentEncoding),
    ("Content-Length", HeaderName::ContentLength),
    ("Content-Type", HeaderName::ContentType),
    ("CSeq", HeaderName::CSeq),
    ("Event", HeaderName::Event),
    ("Expires", HeaderName::Expires),
    ("From", HeaderName::From),
    ("Max-Forwards", HeaderName::MaxForwards),
    ("Min-SE", HeaderName::MinSe),
    ("Proxy-Require", HeaderName::ProxyRequire),
    ("RAck", HeaderName::RAck),
    ("Reason", HeaderName::Reason),
    ("Record-Route", HeaderName::RecordRoute),
    ("Refer-To", HeaderName::ReferTo),
    ("Require", HeaderName::Require),
    ("Retry-After", HeaderName::RetryAfter),
    ("Route", HeaderName::Route),
    ("RSeq", HeaderName::RSeq),
    ("Server", HeaderName::Server),
    ("Session-Expires", HeaderName::SessionExpires),
    ("Subject", HeaderName::Subject),
    ("Supported", HeaderName::Supported),
    ("To", HeaderName::To),
    ("Unsupported", HeaderName::Unsupported),
    ("User-Agent", HeaderName::UserAgent),
    ("Via", HeaderName::Via),
    ("Warning", HeaderName::Warning),
];

/// Compact forms (RFC 3261 §7.3.3, RFC 3515, RFC 3265, RFC 4028).
fn compact(letter: u8) -> Option<HeaderName> {
    Some(match letter.to_ascii_lowercase() {
        b'i' => HeaderName::CallId,
        b'm' => HeaderName::Contact,
        b'e' => HeaderName::ContentEncoding,
        b'l' => HeaderName::ContentLength,
        b'c' => HeaderName::ContentType,
        b'f' => HeaderName::From,
        b's' => HeaderName::Subject,
        b'k' => HeaderName::Supported,
        b't' => HeaderName::To,
        b'v' => HeaderName::Via,
        b'o' => HeaderName::Event,
        b'r' => HeaderName::ReferTo,
        b'x' => HeaderName::SessionExpires,
        _ => return None,
    })
}

impl HeaderName {
    /// Classifies a raw header name (long or compact form, any case). Dispatches on the
    /// length first: on the hot path most names are compared against one or two candidates.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if let [letter] = name {
            return compact(*letter).unwrap_or(HeaderName::Other);
        }
        let candidates: &[(&str, HeaderName)] = match name.len() {
            2 => &[("To", HeaderName::To)],
            3 => &[("Via", HeaderName::Via)],
            4 => &[
                ("From", HeaderName::From),
                ("CSeq", HeaderName::CSeq),
                ("RSeq", HeaderName::RSeq),
                ("RAck", HeaderName::RAck),
            ],
            5 => &[
                ("Route", HeaderName::Route),
                ("Allow", HeaderName::Allow),
                ("Event", HeaderName::Event),
            ],
            6 => &[
                ("Accept", HeaderName::Accept),
                ("Reason", HeaderName::Reason),
                ("Server", HeaderName::Server),
                ("Min-SE", HeaderName::MinSe),
            ],
            7 => &[
                ("Call-ID", HeaderName::CallId),
                ("Contact", HeaderName::Contact),
                ("Require", HeaderName::Require),
                ("Expires", HeaderName::Expires),
                ("Subject", HeaderName::Subject),
                ("Warning", HeaderName::Warning),
            ],
            8 => &[("Refer-To", HeaderName::ReferTo)],
            9 => &[("Supported", HeaderName::Supported)],
            10 => &[("User-Agent", HeaderName::UserAgent)],
            11 => &[
                ("Retry-After", HeaderName::RetryAfter),
                ("Unsupported", HeaderName::Unsupported),
            ],
            12 => &[
                ("Max-Forwards", HeaderName::MaxForwards),
                ("Content-Type", HeaderName::ContentType),
                ("Record-Route", HeaderName::RecordRoute),
            ],
            13 => &[("Proxy-Require", HeaderName::ProxyRequire)],
            14 => &[("Content-Length", HeaderName::ContentLength)],
            15 => &[("Session-Expires", HeaderName::SessionExpires)],
            16 => &[("Content-Encoding", HeaderName::ContentEncoding)],
            _ => &[],
        };
        candidates
            .iter()
            .find(|(long, _)| long.as_bytes().eq_ignore_ascii_case(name))
            .map_or(HeaderName::Other, |(_, header)| *header)
    }

    /// The canonical long form, as calltrack writes it. `Other` has no name of its own.
    pub fn canonical(self) -> &'static str {
        LONG.iter()
            .find(|(_, header)| *header == self)
            .map_or("", |(long, _)| long)
    }

    /// Headers whose value is a comma-separated list (RFC 3261 §7.3.1), which may be split.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::Allow
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ProxyRequire
                | HeaderName::RecordRoute
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }
}

/// Splits a list header value at top-level commas: commas inside quoted strings (with `\`
/// escapes) and inside `<...>` do not split. Empty elements are kept, so that a caller can
/// see `,,` as the error it is; surrounding whitespace is trimmed.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let cut = top_level_comma(text);
        match cut {
            Some(i) => {
                rest = text.get(i + 1..);
                text.get(..i).map(str::trim)
            }
            None => {
                rest = None;
                Some(text.trim())
            }
        }
    })
}

/// Index of the first comma outside quotes and angle brackets.
fn top_level_comma(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut angle = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms_map_to_the_same_header() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"V"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"vIA"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"q"), HeaderName::Other);
    }

    #[test]
    fn canonical_names_round_trip() {
        for (long, header) in LONG {
            assert_eq!(header.canonical(), *long);
            assert_eq!(HeaderName::from_bytes(long.as_bytes()), *header);
        }
    }

    #[test]
    fn split_respects_quotes_and_brackets() {
        let parts: Vec<_> =
            split_list(r#""Bell, A" <sip:a@x;p=1,2>;q=1 , <sip:b@y>,sip:c@z"#).collect();
        assert_eq!(
            parts,
            [r#""Bell, A" <sip:a@x;p=1,2>;q=1"#, "<sip:b@y>", "sip:c@z"]
        );
        let parts: Vec<_> = split_list(r#""a \" , b" <sip:x>"#).collect();
        assert_eq!(parts.len(), 1);
        let parts: Vec<_> = split_list("a,,b").collect();
        assert_eq!(parts, ["a", "", "b"]);
    }
}
