//! Target health: OPTIONS probing of forwarding targets (Kamailio dispatcher style), so
//! routing skips the ones that are down. [`probe_destinations`] lists what to probe,
//! [`Prober`] probes it through the B2BUA's transaction layer, [`HealthTable`] holds the
//! result for routing, the admin API and metrics.

mod probe;
mod prober;
mod table;

use std::net::SocketAddr;

use crate::config::Config;
use crate::config::TargetDest;
use crate::sip::message::{Host, SipUri};
use crate::sip::{Peer, Transport};

use crate::routing::hosts::HostTable;

pub use probe::{ProbeSender, options_request};
pub use prober::{ProbeCtx, Prober};
pub use table::{HealthState, HealthTable, ProbeResult, TargetHealth, Thresholds};

/// Every distinct destination to probe, as (peer, Request-URI), first URI per peer wins:
/// each site's `forward_to`, every gateway, and every scheme target and fallback given as a
/// URI (number targets go through their gateway, which is probed). Names not resolved yet are
/// left out until the next refresh.
pub fn probe_destinations(config: &Config, hosts: &HostTable) -> Vec<(Peer, String)> {
    let routing = &config.routing;
    let scheme_targets = routing.schemes.iter().flat_map(|scheme| {
        let steps = scheme.steps.iter().flat_map(|step| step.targets.iter());
        steps.chain(scheme.fallback.iter())
    });
    let uris = config
        .sites
        .iter()
        .map(|site| site.forward_to.as_str())
        .chain(routing.gateways.iter().map(|g| g.uri.as_str()))
        .chain(scheme_targets.filter_map(|t| match &t.dest {
            TargetDest::Uri(uri) => Some(uri.as_str()),
            TargetDest::Number { .. } => None,
        }));
    let mut out: Vec<(Peer, String)> = Vec::new();
    for uri in uris {
        if let Some(peer) = peer_of(uri, hosts) {
            if !out.iter().any(|(p, _)| *p == peer) {
                out.push((peer, uri.to_string()));
            }
        }
    }
    out
}

/// Where requests to a `sip:` URI go: its host (resolved through `hosts`), port (5060) and
/// `transport` parameter (UDP).
pub fn peer_of(uri: &str, hosts: &HostTable) -> Option<Peer> {
    let sip = SipUri::parse(uri).ok()?;
    let ip = match sip.host {
        Host::Ip(ip) => ip,
        Host::Name(name) => hosts.lookup(name)?,
    };
    let transport = sip
        .transport()
        .and_then(Transport::from_token)
        .unwrap_or(Transport::Udp);
    Some(Peer::new(
        transport,
        SocketAddr::new(ip, sip.port.unwrap_or(5060)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_each_sites_forward_to_once_per_peer() {
        let config = Config::from_toml_str(
            r#"
[[sites]]
id = "a"
forward_to = "sip:127.0.0.1:5080"
[[sites]]
id = "b"
forward_to = "sip:sales@127.0.0.1:5080"
[[sites]]
id = "c"
forward_to = "sip:pbx.example.com:5070;transport=tcp"
[[sites]]
id = "d"
forward_to = "sip:unresolved.example.com"
"#,
        )
        .unwrap();
        let hosts = HostTable::default();
        hosts.set("pbx.example.com", "192.0.2.7".parse().unwrap());
        let got = probe_destinations(&config, &hosts);
        let udp = Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap());
        let tcp = Peer::new(Transport::Tcp, "192.0.2.7:5070".parse().unwrap());
        assert_eq!(
            got,
            vec![
                (udp, "sip:127.0.0.1:5080".to_string()),
                (tcp, "sip:pbx.example.com:5070;transport=tcp".to_string()),
            ]
        );
    }

    #[test]
    fn gateways_and_scheme_uri_targets_are_probed_once_per_peer() {
        let config = Config::from_toml_str(
            r#"
[[sites]]
id = "a"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"

[[gateways]]
id = "gw"
uri = "sip:127.0.0.1:5090"

[[schemes]]
id = "sales"
fallback = "sip:vm@127.0.0.1:5095"
[[schemes.steps]]
strategy = "sequential"
[[schemes.steps.targets]]
uri = "sip:101@127.0.0.1:5080"
[[schemes.steps.targets]]
uri = "sip:102@127.0.0.1:5081"
[[schemes.steps.targets]]
number = "79161234567"
gateway = "gw"
"#,
        )
        .unwrap();
        let peers: Vec<String> = probe_destinations(&config, &HostTable::default())
            .into_iter()
            .map(|(peer, _)| peer.addr.to_string())
            .collect();
        assert_eq!(
            peers,
            [
                "127.0.0.1:5080",
                "127.0.0.1:5090",
                "127.0.0.1:5081",
                "127.0.0.1:5095"
            ]
        );
    }
}
