//! Config checks for hosts and the `forward_to` SIP URI (RFC 3261 §19.1): the SIP parser reads
//! the URI, these rules reject what calltrack could never route, so that a typo is caught by
//! `check-config` instead of at the first call.

use std::net::{IpAddr, Ipv6Addr};

use crate::sip::Transport;
use crate::sip::message::SipUri;

/// Checks a `forward_to` target with the SIP parser itself, then what calltrack can route:
/// plain `sip:` (no TLS yet), UDP or TCP, no `?headers`.
pub(super) fn check_sip_uri(uri: &str) -> Result<(), String> {
    let parsed = SipUri::parse(uri).map_err(|e| format!("{uri:?} is not a SIP URI: {e}"))?;
    if parsed.secure {
        return Err(format!(
            "{uri:?}: sips: (TLS) is not supported; use sip: with transport=tcp"
        ));
    }
    if parsed.port == Some(0) {
        return Err(format!("{uri:?}: port 0 is not a port number"));
    }
    if parsed.headers.is_some() {
        return Err(format!(
            "{uri:?}: ?headers are not allowed in a forwarding target"
        ));
    }
    if !parsed.params.is_well_formed() {
        return Err(format!("{uri:?} has a malformed ;parameter"));
    }
    match parsed.transport() {
        Some(t) if Transport::from_token(t).is_none() => Err(format!(
            "{uri:?}: transport={t} is not supported (udp or tcp)"
        )),
        _ => Ok(()),
    }
}

/// A hostname, an IPv4 address or an IPv6 address (bare or in brackets).
pub(super) fn is_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok() || is_bracketed_ipv6(host) || is_hostname(host)
}

fn is_bracketed_ipv6(host: &str) -> bool {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok())
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(host: &str) -> bool {
    !host.is_empty() && host.len() <= 253 && host.split('.').all(is_label)
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_forward_targets() {
        for uri in [
            "sip:127.0.0.1:5080",
            "sip:pbx.example.com",
            "sip:+74951234567@gw.example.net;user=phone",
            "sip:[2001:db8::1]:5060",
            "SIP:pbx.example.com",
        ] {
            assert_eq!(check_sip_uri(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn rejects_broken_uris() {
        for uri in [
            "http://example.com",
            "sip:",
            "sip::5060",
            "sip:host:0",
            "sip:host:99999",
            "sip:bad host",
            "sip:@host",
            "sip:host;;x",
            "127.0.0.1:5080",
            "sip:[::1",
            "sips:pbx.example.com:5061",
            "sip:pbx.example.com;transport=tls",
            "sip:pbx.example.com?Route=x",
        ] {
            assert!(check_sip_uri(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn hosts() {
        assert!(is_host("203.0.113.7"));
        assert!(is_host("::1"));
        assert!(is_host("[::1]"));
        assert!(is_host("sip.example.com"));
        assert!(!is_host(""));
        assert!(!is_host("-bad.example.com"));
        assert!(!is_host("a b"));
    }
}
