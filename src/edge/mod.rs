//! Security at the SIP edge, ahead of the call pipeline: who may talk to calltrack at all.
//!
//! The model: carriers (`[carriers] trusted`) send calls in; the PBX (`[pbx] trusted`) is
//! where B legs go and answer from. Every packet first passes the per-IP [`flood`] guard
//! (before parsing, so a flood costs little); every parsed request then passes the
//! [`scanner`] drop list and the source check below, before the transaction layer creates
//! any state (an unknown source's INVITE is refused statelessly, so a spoofed source cannot
//! make calltrack retransmit 403s at a victim). New INVITEs are further admitted by `inbound::admit` (carrier ACL, [`blacklist`]).

pub mod blacklist;
pub mod flood;
pub mod overload;
pub mod scanner;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::config::{Config, FloodConfig};
use crate::sip::message::{Method, Rejection};
use crate::sip::{Peer, SipMessage};

use flood::{Bans, FloodGuard, Verdict};

/// HELP lines for the edge's metrics (called once, where the recorder is installed).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "calltrack_rejected_total",
        "New INVITEs refused, by reason (blacklist, untrusted, unknown_number, overload...)"
    );
    describe_counter!(
        "calltrack_flood_bans_total",
        "Source IPs banned by the flood guard"
    );
    describe_counter!(
        "calltrack_flood_dropped_total",
        "Packets dropped unparsed because their source is banned"
    );
    describe_gauge!("calltrack_flood_banned_ips", "Source IPs banned right now");
    describe_gauge!(
        "calltrack_overloaded",
        "1 while new INVITEs are refused because the core or the CDR store is behind"
    );
    describe_counter!(
        "calltrack_overload_refused_total",
        "New INVITEs refused with 503 before any state, by signal (queue_delay, store_backlog)"
    );
    describe_counter!(
        "calltrack_scanner_dropped_total",
        "Requests from scanner user agents dropped without an answer"
    );
    describe_counter!(
        "calltrack_untrusted_dropped_total",
        "Requests and responses from sources neither carrier nor PBX, dropped"
    );
    describe_counter!(
        "calltrack_admin_denied_total",
        "Admin API requests refused (unauthorized, disabled)"
    );
}

/// Where a packet came from, by the configured networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub carrier: bool,
    pub pbx: bool,
}

impl Source {
    pub fn of(config: &Config, ip: IpAddr) -> Source {
        Source {
            carrier: config.is_trusted_carrier(ip),
            pbx: config.is_trusted_pbx(ip),
        }
    }

    pub fn is_known(self) -> bool {
        self.carrier || self.pbx
    }
}

/// The flood guard every shard of the core consults: one rate and one ban per source, whichever
/// shard its messages land on. The lock is held for one check (tens of nanoseconds).
#[derive(Debug, Clone)]
pub struct SharedFlood(Arc<Mutex<FloodGuard>>);

impl SharedFlood {
    /// A guard keeping its bans in `bans` (the TCP accept loop reads them too).
    pub fn new(config: &FloodConfig, bans: Bans) -> SharedFlood {
        SharedFlood(Arc::new(Mutex::new(FloodGuard::with_bans(config, bans))))
    }

    /// The guard; a panic elsewhere while it was held leaves it usable (rate state only).
    fn guard(&self) -> MutexGuard<'_, FloodGuard> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for SharedFlood {
    /// Off until configured (see [`Edge::new`]).
    fn default() -> Self {
        let off = FloodConfig {
            enabled: false,
            messages_per_sec: 1,
            burst: 1,
            ban: std::time::Duration::ZERO,
            max_tracked_ips: 1,
            exempt_trusted: true,
        };
        SharedFlood::new(&off, Bans::default())
    }
}

/// The edge's own state: the (shared) flood guard.
#[derive(Debug)]
pub struct Edge {
    flood: SharedFlood,
    /// Bans last published in `calltrack_flood_banned_ips`.
    published_bans: usize,
}

impl Edge {
    /// Judges packets with `flood`, set to `config`'s limits.
    pub fn new(config: &Config, flood: SharedFlood) -> Edge {
        flood.guard().reconfigure(&config.security.flood);
        Edge {
            flood,
            published_bans: 0,
        }
    }

    pub fn reload(&mut self, config: &Config) {
        self.flood.guard().reconfigure(&config.security.flood);
    }

    /// Before parsing: false drops the packet (a banned source, or one just banned).
    pub fn admit_packet(&mut self, now: Instant, config: &Config, peer: Peer) -> bool {
        let ip = peer.addr.ip();
        if config.security.flood.exempt_trusted && Source::of(config, ip).is_known() {
            return true;
        }
        let key = flood_key(ip);
        let verdict = self.flood.guard().check(now, key);
        self.publish_bans();
        match verdict {
            Verdict::Pass => true,
            Verdict::Drop => {
                metrics::counter!("calltrack_flood_dropped_total").increment(1);
                false
            }
            Verdict::Banned => {
                let (banned, limit_per_sec) = {
                    let guard = self.flood.guard();
                    (guard.banned(), guard.limit_per_sec())
                };
                tracing::warn!(ip = %key, limit_per_sec,
                    ban_secs = config.security.flood.ban.as_secs(), banned,
                    "SIP flood: source banned");
                metrics::counter!("calltrack_flood_bans_total").increment(1);
                metrics::counter!("calltrack_flood_dropped_total").increment(1);
                false
            }
        }
    }

    /// Keeps the banned-IPs gauge current as bans come and expire.
    fn publish_bans(&mut self) {
        let banned = self.flood.guard().banned();
        if banned != self.published_bans {
            self.published_bans = banned;
            metrics::gauge!("calltrack_flood_banned_ips").set(banned as f64);
        }
    }
}

/// Whom the flood guard counts: an IPv4 address (IPv4-mapped IPv6 too), or an IPv6 /64 (one
/// host usually owns a whole /64, so rotating addresses inside it must not escape a ban).
pub fn flood_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
    }
}

/// What the edge makes of a parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// On to the transaction layer.
    Pass,
    /// No answer, no state.
    Drop,
    /// Answer statelessly with this rejection (no transaction, so no retransmissions toward
    /// a possibly spoofed source) and keep no state.
    Refuse(Rejection),
}

/// After parsing, before the transaction layer. Scanners are dropped; from a source neither
/// carrier nor PBX a new INVITE gets a stateless 403 and everything else is dropped.
pub fn admit_request(config: &Config, request: &SipMessage, peer: Peer) -> RequestVerdict {
    if scanner::is_scanner(request, &config.security.scanner_user_agents) {
        metrics::counter!("calltrack_scanner_dropped_total").increment(1);
        tracing::debug!(%peer, "scanner request dropped");
        return RequestVerdict::Drop;
    }
    if Source::of(config, peer.addr.ip()).is_known() {
        return RequestVerdict::Pass;
    }
    let out_of_dialog = request.to().ok().and_then(|to| to.tag()).is_none();
    if request.method() == Some(&Method::Invite) && out_of_dialog {
        metrics::counter!("calltrack_rejected_total", "reason" => "untrusted").increment(1);
        tracing::debug!(%peer, "INVITE from an untrusted source refused");
        return RequestVerdict::Refuse(Rejection::new(403, "Forbidden").because("untrusted"));
    }
    metrics::counter!("calltrack_untrusted_dropped_total", "kind" => "request").increment(1);
    tracing::debug!(%peer, "request from an untrusted source dropped");
    RequestVerdict::Drop
}

/// Responses are accepted only from carrier or PBX networks.
pub fn admit_response(config: &Config, peer: Peer) -> bool {
    let known = Source::of(config, peer.addr.ip()).is_known();
    if !known {
        metrics::counter!("calltrack_untrusted_dropped_total", "kind" => "response").increment(1);
        tracing::debug!(%peer, "response from an untrusted source dropped");
    }
    known
}

/// Which side of calltrack a dialog's peer is on: the A leg talks to a carrier, the B leg
/// to the PBX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Carrier,
    Pbx,
}

/// In-dialog requests must come from their dialog's side.
pub(crate) fn side_source_ok(config: &Config, side: Side, peer: Peer) -> bool {
    let source = Source::of(config, peer.addr.ip());
    match side {
        Side::Carrier => source.carrier,
        Side::Pbx => source.pbx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_keys_group_an_ipv6_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(flood_key(a), flood_key(b));
        assert_ne!(flood_key(a), flood_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(flood_key(mapped), v4);
        assert_eq!(flood_key(v4), v4);
    }
}
