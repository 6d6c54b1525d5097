//! The client's IP address: the socket peer, or X-Forwarded-For when the peer is a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

/// The address a request came from, proxies resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(peer_of(parts)))
    }
}

/// The socket peer; unspecified when the server runs without connect info (in-memory tests).
fn peer_of(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip())
}

/// The peer, unless it is a trusted proxy: then the right-most X-Forwarded-For hop that is not
/// itself a trusted proxy (hops left of it could have been written by the client).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(client, trusted) {
            break;
        }
    }
    client
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Resolves the client of a request from its parts.
pub fn of_parts(parts: &Parts, trusted: &[IpNet]) -> IpAddr {
    resolve(peer_of(parts), &parts.headers, trusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert("x-forwarded-for", v);
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([255, 255, 255, 255]))
    }

    #[test]
    fn untrusted_peer_cannot_forge_its_address() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap_or_default()];
        assert_eq!(
            resolve(ip("10.0.0.5"), &xff("1.2.3.4"), &trusted),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn trusted_proxy_yields_the_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap_or_default()];
        let headers = xff("6.6.6.6, 1.2.3.4, 127.0.0.1");
        assert_eq!(resolve(ip("127.0.0.1"), &headers, &trusted), ip("1.2.3.4"));
        assert_eq!(
            resolve(ip("127.0.0.1"), &xff("junk"), &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(
            resolve(ip("::ffff:10.0.0.5"), &xff(""), &trusted),
            ip("10.0.0.5")
        );
    }
}
