//! Light syntax checks for hosts and the `forward_to` SIP URI (RFC 3261 §19.1), config-side only.
//!
//! The SIP layer owns real URI parsing; this only rejects values that could never work, so that
//! a typo is caught by `check-config` instead of at the first call.

use std::net::{IpAddr, Ipv6Addr};

/// Checks `sip:[user@]host[:port][;params]` (or `sips:`), phrased for the config reader.
pub(super) fn check_sip_uri(uri: &str) -> Result<(), String> {
    let rest = strip_scheme(uri).ok_or_else(|| format!("{uri:?} must start with sip: or sips:"))?;
    let (address, params) = rest.split_once(';').unwrap_or((rest, ""));
    if !params.is_empty() && params.split(';').any(str::is_empty) {
        return Err(format!("{uri:?} has an empty ;parameter"));
    }
    let hostport = match address.rsplit_once('@') {
        Some(("", _)) => return Err(format!("{uri:?} has an empty user part before '@'")),
        Some((_, hostport)) => hostport,
        None => address,
    };
    check_hostport(hostport).map_err(|e| format!("{uri:?}: {e}"))
}

/// A hostname, an IPv4 address or an IPv6 address (bare or in brackets).
pub(super) fn is_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok() || is_bracketed_ipv6(host) || is_hostname(host)
}

fn strip_scheme(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once(':')?;
    let known = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    known.then_some(rest)
}

fn check_hostport(hostport: &str) -> Result<(), String> {
    if hostport.is_empty() {
        return Err("host is missing".to_owned());
    }
    let (host, port) = split_port(hostport);
    if !(is_bracketed_ipv6(host) || host.parse::<std::net::Ipv4Addr>().is_ok() || is_hostname(host))
    {
        return Err(format!("{host:?} is not a host name or IP address"));
    }
    match port {
        Some(port) if port.parse::<u16>().map_or(true, |p| p == 0) => {
            Err(format!("{port:?} is not a port number"))
        }
        _ => Ok(()),
    }
}

/// Splits "host:port"; an IPv6 host keeps its brackets.
fn split_port(hostport: &str) -> (&str, Option<&str>) {
    if let Some(end) = hostport.find(']') {
        let (host, rest) = hostport.split_at(end + 1);
        return (host, rest.strip_prefix(':'));
    }
    match hostport.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    }
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
            "sips:pbx.example.com:5061;transport=tls",
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
