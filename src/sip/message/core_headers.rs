//! Typed readings of the headers calltrack acts on: Via, From/To/Contact, CSeq, parameters.
//!
//! Each parser borrows from the (already unfolded) header value and never allocates.

use thiserror::Error;

use super::method::Method;
use super::params::{Params, is_token};
use super::uri::{Host, parse_hostport};

/// A header that is missing or cannot be read; the request gets a 400.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HeaderError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Invalid(&'static str),
}

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    pub transport: &'a str,
    pub host: Host<'a>,
    pub port: Option<u16>,
    /// `host[:port]` exactly as written.
    pub sent_by: &'a str,
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    pub fn parse(value: &'a str) -> Result<Via<'a>, HeaderError> {
        const BAD: HeaderError = HeaderError::Invalid("Via");
        let (proto_by, params) = value.split_once(';').unwrap_or((value, ""));
        let mut parts = proto_by.splitn(3, '/');
        let name = parts.next().map(str::trim).ok_or(BAD)?;
        let version = parts.next().map(str::trim).ok_or(BAD)?;
        let rest = parts.next().map(str::trim_start).ok_or(BAD)?;
        if !name.eq_ignore_ascii_case("SIP") || !is_token(version) {
            return Err(BAD);
        }
        let split = rest.find(|c: char| c.is_ascii_whitespace()).ok_or(BAD)?;
        let (transport, sent_by) = (&rest[..split], rest[split..].trim());
        let (host, port) = parse_hostport(sent_by).map_err(|_| BAD)?;
        let params = Params::new(params);
        if !is_token(transport) || !params.is_well_formed() {
            return Err(BAD);
        }
        Ok(Via {
            transport,
            host,
            port,
            sent_by,
            params,
        })
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// Whether the branch carries the RFC 3261 magic cookie (§8.1.1.7).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }
}

/// `name-addr` or `addr-spec` with header parameters: From, To, Contact, Route (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name without quotes (escapes left as written).
    pub display: Option<&'a str>,
    pub uri: &'a str,
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, HeaderError> {
        let value = value.trim();
        if let Some(quoted) = value.strip_prefix('"') {
            let end = closing_quote(quoted).ok_or(HeaderError::Invalid("quoted display name"))?;
            let display = &quoted[..end];
            return Self::angle_part(Some(display), quoted[end + 1..].trim_start());
        }
        match value.find('<') {
            Some(lt) => {
                let display = value[..lt].trim();
                if !display.split_ascii_whitespace().all(is_token) {
                    return Err(HeaderError::Invalid("display name"));
                }
                let display = (!display.is_empty()).then_some(display);
                Self::angle_part(display, &value[lt..])
            }
            None => Self::addr_spec(value),
        }
    }

    /// `<uri>;params`: no whitespace just inside the brackets (RFC 4475 §3.1.2.14).
    fn angle_part(display: Option<&'a str>, rest: &'a str) -> Result<NameAddr<'a>, HeaderError> {
        const BAD: HeaderError = HeaderError::Invalid("name-addr");
        let inner = rest.strip_prefix('<').ok_or(BAD)?;
        let gt = inner.find('>').ok_or(BAD)?;
        let uri = &inner[..gt];
        if uri.is_empty() || uri.trim() != uri || !uri.contains(':') {
            return Err(BAD);
        }
        let after = inner[gt + 1..].trim_start();
        let params = match after.strip_prefix(';') {
            Some(p) => Params::new(p),
            None if after.is_empty() => Params::default(),
            None => return Err(BAD),
        };
        if !params.is_well_formed() {
            return Err(BAD);
        }
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    /// A bare URI: everything after its first `;` is a header parameter, and it may not
    /// contain `,` `?` or whitespace (RFC 3261 §20.10; RFC 4475 §3.1.2.13).
    fn addr_spec(value: &'a str) -> Result<NameAddr<'a>, HeaderError> {
        const BAD: HeaderError = HeaderError::Invalid("addr-spec");
        let (uri, params) = value.split_once(';').unwrap_or((value, ""));
        let uri = uri.trim();
        let bad_char = |c: char| c.is_ascii_whitespace() || c == ',' || c == '?' || c == '"';
        if uri.is_empty() || uri.contains(bad_char) || !uri.contains(':') {
            return Err(BAD);
        }
        let params = Params::new(params);
        if !params.is_well_formed() {
            return Err(BAD);
        }
        Ok(NameAddr {
            display: None,
            uri,
            params,
        })
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }
}

/// Position of the closing quote of a quoted string whose opening quote was already taken.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// `CSeq: 314159 INVITE` (RFC 3261 §20.16): the number must fit 32 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: Method,
    /// The method token as written.
    pub method_text: &'a str,
}

impl<'a> CSeq<'a> {
    pub fn parse(value: &'a str) -> Result<CSeq<'a>, HeaderError> {
        const BAD: HeaderError = HeaderError::Invalid("CSeq");
        let mut parts = value.split_ascii_whitespace();
        let seq = parts.next().ok_or(BAD)?;
        let method_text = parts.next().ok_or(BAD)?;
        if parts.next().is_some() {
            return Err(BAD);
        }
        let seq = parse_u32(seq).map_err(|_| BAD)?;
        let method = Method::from_token(method_text).ok_or(BAD)?;
        Ok(CSeq {
            seq,
            method,
            method_text,
        })
    }
}

/// A decimal that fits 32 bits; leading zeros allowed (RFC 4475 §3.1.1.1).
pub(crate) fn parse_u32(text: &str) -> Result<u32, ()> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > 10 {
        return Err(());
    }
    if digits.is_empty() {
        return Ok(0);
    }
    digits.parse().map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_odd_whitespace() {
        let via = Via::parse("SIP  /   2.0   /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.sent_by, "192.0.2.2");
        assert_eq!(via.branch(), Some("390skdjuw"));
        assert!(!via.has_rfc3261_branch());
        let via = Via::parse("SIP/2.0/TCP spindle.example.com:5061  ;  branch  =   z9hG4bK9ikj8")
            .unwrap();
        assert_eq!(via.port, Some(5061));
        assert_eq!(via.branch(), Some("z9hG4bK9ikj8"));
        assert!(via.has_rfc3261_branch());
        let via = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5060;received=[2001:db8::9:255];rport")
            .unwrap();
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.params.get("rport"), Some(None));
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ;  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.display, Some(r#"J Rosenberg \\\""#));
        assert_eq!(n.uri, "sip:jdrosen@example.com");
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("sip:caller@example.net;tag=134161461246").unwrap();
        assert_eq!(n.uri, "sip:caller@example.net");
        assert_eq!(n.tag(), Some("134161461246"));
        let n = NameAddr::parse("Alice<sip:a@b>").unwrap();
        assert_eq!(n.display, Some("Alice"));
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#).is_err());
    }

    #[test]
    fn cseq_limits() {
        let c = CSeq::parse("0009     INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert!(CSeq::parse("4294967295 ACK").is_ok());
        assert!(CSeq::parse("4294967296 ACK").is_err());
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }
}
