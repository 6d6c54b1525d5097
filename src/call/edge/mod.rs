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
pub mod scanner;

use std::net::IpAddr;
use std::time::Instant;

use crate::config::Config;
use crate::sip::message::{Method, Rejection};
use crate::sip::{Peer, SipMessage};

use super::session::Leg;
use flood::{FloodGuard, Verdict};

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

/// The edge's own state: the flood guard.
#[derive(Debug)]
pub struct Edge {
    flood: FloodGuard,
    /// Bans last published in `calltrack_flood_banned_ips`.
    published_bans: usize,
}

impl Edge {
    pub fn new(config: &Config) -> Edge {
        Edge {
            flood: FloodGuard::new(&config.security.flood),
            published_bans: 0,
        }
    }

    pub fn reload(&mut self, config: &Config) {
        self.flood.reconfigure(&config.security.flood);
    }

    /// Before parsing: false drops the packet (a banned source, or one just banned).
    pub fn admit_packet(&mut self, now: Instant, config: &Config, peer: Peer) -> bool {
        let ip = peer.addr.ip();
        if config.security.flood.exempt_trusted && Source::of(config, ip).is_known() {
            return true;
        }
        let verdict = self.flood.check(now, ip);
        self.publish_bans();
        match verdict {
            Verdict::Pass => true,
            Verdict::Drop => {
                metrics::counter!("calltrack_flood_dropped_total").increment(1);
                false
            }
            Verdict::Banned => {
                let banned = self.flood.banned();
                tracing::warn!(%ip, limit_per_sec = self.flood.limit_per_sec(),
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
        let banned = self.flood.banned();
        if banned != self.published_bans {
            self.published_bans = banned;
            metrics::gauge!("calltrack_flood_banned_ips").set(banned as f64);
        }
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

/// In-dialog requests: the A leg talks to a carrier, the B leg to the PBX.
pub(crate) fn leg_source_ok(config: &Config, leg: Leg, peer: Peer) -> bool {
    let source = Source::of(config, peer.addr.ip());
    match leg {
        Leg::A => source.carrier,
        Leg::B => source.pbx,
    }
}

/// A B-leg target outside `[pbx] trusted` is never called.
pub fn target_allowed(config: &Config, target: &super::routing::Target) -> bool {
    config.is_trusted_pbx(target.peer.addr.ip())
}
