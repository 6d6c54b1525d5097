//! Where a call goes: the forwarding target of the dialled tracking number, as the B-leg's
//! Request-URI and the peer it is sent to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use dashmap::DashMap;

use crate::config::{Config, TrackingNumber};
use crate::sip::message::{Host, Rejection, SipUri};
use crate::sip::{Peer, Transport};

/// Host names of forwarding targets and their addresses, kept fresh by the resolver service
/// (DNS A/AAAA). The sans-IO core only reads it; it never resolves anything itself.
#[derive(Debug, Clone, Default)]
pub struct HostTable(Arc<DashMap<String, IpAddr>>);

impl HostTable {
    pub fn lookup(&self, host: &str) -> Option<IpAddr> {
        if host.eq_ignore_ascii_case("localhost") {
            return Some(IpAddr::from([127, 0, 0, 1]));
        }
        self.0.get(&host.to_ascii_lowercase()).map(|ip| *ip)
    }

    pub fn set(&self, host: &str, ip: IpAddr) {
        self.0.insert(host.to_ascii_lowercase(), ip);
    }

    /// Every forwarding-target host name in `config` (sites' `forward_to`, gateways, scheme
    /// targets) with the port to resolve it for.
    pub fn names_in(config: &Config) -> Vec<(String, u16)> {
        let mut names: Vec<(String, u16)> = config
            .sites
            .iter()
            .filter_map(|site| {
                let uri = SipUri::parse(&site.forward_to).ok()?;
                match uri.host {
                    Host::Name(name) => Some((name.to_ascii_lowercase(), uri.port.unwrap_or(5060))),
                    Host::Ip(_) => None,
                }
            })
            .chain(config.routing.host_names())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The B-leg destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Request-URI (and To URI) of the B-leg INVITE.
    pub uri: String,
    pub peer: Peer,
    /// The URI names its transport; otherwise calltrack may move a large request to TCP.
    pub transport_pinned: bool,
}

/// Resolves the tracking number's forwarding target. A target without a user part gets the
/// tracking number as user, so the PBX sees which number was dialled.
/// A host name that has not been resolved (yet) answers 503: the caller may retry.
pub fn target_for(tracking: &TrackingNumber, hosts: &HostTable) -> Result<Target, Rejection> {
    target_at(&tracking.forward_to, &tracking.number, hosts)
}

/// Resolves any target URI like [`target_for`]: a URI without a user part gets `user`.
pub fn target_at(forward: &str, user: &str, hosts: &HostTable) -> Result<Target, Rejection> {
    let sip = SipUri::parse(forward)
        .map_err(|_| Rejection::new(500, "Server Internal Error").because("bad_target"))?;
    let ip = match sip.host {
        Host::Ip(ip) => ip,
        Host::Name(name) => hosts.lookup(name).ok_or_else(|| {
            Rejection::new(503, "Service Unavailable")
                .retry_after(30)
                .because("unresolved_target")
        })?,
    };
    let transport = sip
        .transport()
        .and_then(Transport::from_token)
        .unwrap_or(Transport::Udp);
    let peer = Peer::new(transport, SocketAddr::new(ip, sip.port.unwrap_or(5060)));
    let uri = match sip.user {
        Some(_) => forward.to_string(),
        None => with_user(forward, user),
    };
    Ok(Target {
        uri,
        peer,
        transport_pinned: sip.transport().is_some(),
    })
}

/// `sip:host;params` + `user` -> `sip:user@host;params`.
fn with_user(uri: &str, user: &str) -> String {
    match uri.split_once(':') {
        Some((scheme, rest)) => format!("{scheme}:{user}@{rest}"),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NumberKind;

    fn number(forward_to: &str) -> TrackingNumber {
        TrackingNumber {
            number: "74950000001".into(),
            site: "demo".into(),
            forward_to: forward_to.into(),
            kind: NumberKind::Default,
        }
    }

    #[test]
    fn target_gets_the_tracking_number_as_user() {
        let hosts = HostTable::default();
        let t = target_for(&number("sip:127.0.0.1:5080"), &hosts).unwrap();
        assert_eq!(t.uri, "sip:74950000001@127.0.0.1:5080");
        assert_eq!(t.peer.addr, "127.0.0.1:5080".parse().unwrap());
        assert!(!t.transport_pinned);
        let t = target_for(&number("sip:sales@127.0.0.1:5090;transport=tcp"), &hosts).unwrap();
        assert_eq!(t.uri, "sip:sales@127.0.0.1:5090;transport=tcp");
        assert_eq!(t.peer.transport, Transport::Tcp);
        assert!(t.transport_pinned);
    }

    #[test]
    fn host_names_come_from_the_resolved_table() {
        let hosts = HostTable::default();
        let pbx = number("sip:PBX.example.com:5070");
        assert_eq!(target_for(&pbx, &hosts).unwrap_err().status, 503);
        hosts.set("pbx.example.com", "192.0.2.5".parse().unwrap());
        let t = target_for(&pbx, &hosts).unwrap();
        assert_eq!(t.peer.addr, "192.0.2.5:5070".parse().unwrap());
        assert_eq!(t.uri, "sip:74950000001@PBX.example.com:5070");
    }
}
