//! SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), IPv6 references included (RFC 5118).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use thiserror::Error;

use super::params::Params;

/// Why a URI was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UriError {
    /// A well-formed URI whose scheme calltrack cannot route (answer 416, RFC 3261 §8.2.2.1).
    #[error("unsupported URI scheme `{0}`")]
    UnsupportedScheme(String),
    #[error("malformed URI: {0}")]
    Malformed(&'static str),
}

/// A parsed URI borrowed from the message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    /// `tel:` number with its parameters (RFC 3966).
    Tel {
        number: &'a str,
        params: Params<'a>,
    },
}

impl<'a> Uri<'a> {
    pub fn parse(text: &'a str) -> Result<Uri<'a>, UriError> {
        let (scheme, rest) = text
            .split_once(':')
            .ok_or(UriError::Malformed("no scheme"))?;
        if !is_scheme(scheme) {
            return Err(UriError::Malformed("bad scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_parts(scheme.eq_ignore_ascii_case("sips"), rest).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            parse_tel(rest)
        } else {
            Err(UriError::UnsupportedScheme(scheme.to_string()))
        }
    }

    /// The user part of a SIP URI or the number of a tel URI.
    pub fn user(&self) -> Option<&'a str> {
        match self {
            Uri::Sip(sip) => sip.user,
            Uri::Tel { number, .. } => Some(number),
        }
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

fn parse_tel(rest: &str) -> Result<Uri<'_>, UriError> {
    let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
    let valid = |b: u8| b.is_ascii_hexdigit() || b"+-.()*#".contains(&b);
    if number.is_empty() || !number.bytes().all(valid) {
        return Err(UriError::Malformed("bad tel number"));
    }
    Ok(Uri::Tel {
        number,
        params: Params::new(params),
    })
}

/// The host part of a SIP URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A domain name, as written.
    Name(&'a str),
    Ip(IpAddr),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// `sip:user:password@host:port;params?headers` (RFC 3261 §19.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    pub secure: bool,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: Host<'a>,
    pub port: Option<u16>,
    pub params: Params<'a>,
    /// The `?hname=hvalue&...` part, without the `?`.
    pub headers: Option<&'a str>,
}

impl<'a> SipUri<'a> {
    pub fn parse(text: &'a str) -> Result<SipUri<'a>, UriError> {
        match Uri::parse(text)? {
            Uri::Sip(sip) => Ok(sip),
            Uri::Tel { .. } => Err(UriError::UnsupportedScheme("tel".into())),
        }
    }

    fn parse_parts(secure: bool, rest: &'a str) -> Result<SipUri<'a>, UriError> {
        if rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(UriError::Malformed("whitespace in URI"));
        }
        // '@' may not appear unescaped in parameters or headers, while the user part may
        // hold '?' and ';' (RFC 3261 §25.1 `user-unreserved`): the last '@' ends the userinfo.
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (hostpart, headers) = match hostpart.split_once('?') {
            Some((h, hdrs)) => (h, Some(hdrs)),
            None => (hostpart, None),
        };
        let (user, password) = split_userinfo(userinfo)?;
        let (hostport, params) = hostpart.split_once(';').unwrap_or((hostpart, ""));
        let (host, port) = parse_hostport(hostport)?;
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params: Params::new(params),
            headers,
        })
    }

    /// The `transport=` parameter, if any.
    pub fn transport(&self) -> Option<&'a str> {
        self.params.get("transport").flatten()
    }

    /// Whether this URI asks for loose routing (`;lr`, RFC 3261 §16.12).
    pub fn is_loose_route(&self) -> bool {
        self.params.get("lr").is_some()
    }
}

fn split_userinfo(userinfo: Option<&str>) -> Result<(Option<&str>, Option<&str>), UriError> {
    let Some(info) = userinfo else {
        return Ok((None, None));
    };
    if info.is_empty() {
        return Err(UriError::Malformed("empty user part"));
    }
    // The user part may itself contain ';' parameters (RFC 4475 §3.1.1.9); a password follows
    // the first ':'.
    Ok(match info.split_once(':') {
        Some((user, password)) => (Some(user), Some(password)),
        None => (Some(info), None),
    })
}

/// `host [":" port]`, host being a name, an IPv4 address or a bracketed IPv6 reference.
pub fn parse_hostport(hostport: &str) -> Result<(Host<'_>, Option<u16>), UriError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (inner, after) = v6
            .split_once(']')
            .ok_or(UriError::Malformed("unclosed ["))?;
        let ip: Ipv6Addr = inner
            .parse()
            .map_err(|_| UriError::Malformed("bad IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or(UriError::Malformed("junk after ]"))?,
            ),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match hostport.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (hostport, None),
        };
        (parse_host_name(name)?, port)
    };
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

fn parse_host_name(name: &str) -> Result<Host<'_>, UriError> {
    if name.is_empty() {
        return Err(UriError::Malformed("empty host"));
    }
    if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if !name.bytes().all(valid) {
        return Err(UriError::Malformed("bad host name"));
    }
    Ok(Host::Name(name))
}

fn parse_port(port: &str) -> Result<u16, UriError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::Malformed("bad port"));
    }
    port.parse()
        .map_err(|_| UriError::Malformed("port out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sip_uri_parts() {
        let uri =
            SipUri::parse("sip:74950000001:pw@[2001:db8::10]:5070;transport=tcp;lr?x=y").unwrap();
        assert_eq!(uri.user, Some("74950000001"));
        assert_eq!(uri.password, Some("pw"));
        assert_eq!(uri.host, Host::Ip("2001:db8::10".parse().unwrap()));
        assert_eq!(uri.port, Some(5070));
        assert_eq!(uri.transport(), Some("tcp"));
        assert!(uri.is_loose_route());
        assert_eq!(uri.headers, Some("x=y"));
    }

    #[test]
    fn rfc5118_ipv6_forms() {
        assert!(SipUri::parse("sip:[2001:db8::10]").is_ok());
        assert!(
            SipUri::parse("sip:2001:db8::10").is_err(),
            "IPv6 without brackets"
        );
        let ambiguous = SipUri::parse("sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(ambiguous.port, None);
        assert!(SipUri::parse("sip:[2001:db8:::192.0.2.1]").is_err());
        assert!(SipUri::parse("sip:[2001:db8::192.0.2.1]").is_ok());
        assert!(SipUri::parse("sip:[::ffff:192.0.2.2]").is_ok());
    }

    #[test]
    fn user_part_may_hold_semicolons() {
        let uri = SipUri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(uri.user, Some("user;par=u%40example.net"));
        assert_eq!(uri.host, Host::Name("example.com"));
    }

    #[test]
    fn schemes_are_told_apart() {
        assert!(matches!(
            Uri::parse("tel:+1-201-555-0123"),
            Ok(Uri::Tel { .. })
        ));
        assert_eq!(
            Uri::parse("soap.beep://192.0.2.103:3002"),
            Err(UriError::UnsupportedScheme("soap.beep".into()))
        );
        assert!(matches!(
            Uri::parse("<sip:a@b>"),
            Err(UriError::Malformed(_))
        ));
        assert!(matches!(
            Uri::parse("sip:a@b; lr"),
            Err(UriError::Malformed(_))
        ));
    }
}
