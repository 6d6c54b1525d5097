//! Target health: OPTIONS probing of forwarding targets (Kamailio dispatcher style), so
//! routing skips the ones that are down. [`probe_destinations`] lists what to probe,
//! [`Prober`] probes it through the B2BUA's transaction layer, [`HealthTable`] holds the
//! result for routing, the admin API and metrics.

mod probe;
mod prober;
mod table;

use std::net::SocketAddr;

use crate::config::Config;
use crate::sip::message::{Host, Rejection, SipUri};
use crate::sip::{Peer, Transport};

use super::routing::{HostTable, Target};

pub use probe::{ProbeSender, options_request};
pub use prober::{ProbeCtx, Prober};
pub use table::{HealthState, HealthTable, ProbeResult, TargetHealth, Thresholds};

/// Every distinct destination to probe, as (peer, Request-URI), first URI per peer wins.
/// Today: each site's `forward_to`. Scheme targets and gateways are added here as more
/// `uris` (one line each). Names not resolved yet are left out until the next refresh.
pub fn probe_destinations(config: &Config, hosts: &HostTable) -> Vec<(Peer, String)> {
    let uris = config.sites.iter().map(|site| site.forward_to.as_str());
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

/// Single-target routing: a target that probing found down is refused with 503 and a
/// Retry-After of one probe interval, before any B-leg is created.
pub fn refuse_if_down(
    target: Target,
    health: &HealthTable,
    retry_after_secs: u32,
) -> Result<Target, Rejection> {
    if health.is_up(&target.peer) {
        Ok(target)
    } else {
        Err(Rejection::new(503, "Service Unavailable").retry_after(retry_after_secs))
    }
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
    fn a_down_target_is_refused_with_retry_after() {
        let table = HealthTable::default();
        let peer = Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap());
        let target = Target {
            uri: "sip:1@127.0.0.1:5080".into(),
            peer,
            transport_pinned: false,
        };
        assert!(refuse_if_down(target.clone(), &table, 30).is_ok());
        let mut h = TargetHealth::new(
            peer,
            "sip:127.0.0.1:5080".into(),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        h.state = HealthState::Down;
        table.insert(h);
        let r = refuse_if_down(target, &table, 30).unwrap_err();
        assert_eq!((r.status, r.retry_after_secs), (503, Some(30)));
    }
}
