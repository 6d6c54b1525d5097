//! Security at the SIP edge, ahead of the call pipeline: who may talk to calltrack at all.
//!
//! The model: carriers (`[carriers] trusted`) send calls in; the PBX (`[pbx] trusted`) is
//! where B legs go and answer from. Every packet first passes the per-IP [`flood`] guard
//! (before parsing, so a flood costs little); every parsed request then passes the
//! [`scanner`] drop list and the source check below, before the transaction layer creates
//! any state. New INVITEs are further admitted by `inbound::admit` (carrier ACL, [`blacklist`]).

pub mod blacklist;
pub mod flood;
pub mod scanner;

use std::net::IpAddr;
use std::time::Instant;

use crate::config::Config;
use crate::sip::message::Method;
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
}

impl Edge {
    pub fn new(config: &Config) -> Edge {
        Edge {
            flood: FloodGuard::new(&config.security.flood),
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
        match self.flood.check(now, ip) {
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
                metrics::gauge!("calltrack_flood_banned_ips").set(banned as f64);
                false
            }
        }
    }
}

/// After parsing, before the transaction layer: false drops the request without an answer.
/// Scanners are dropped; sources neither carrier nor PBX may only send new INVITEs (which
/// `inbound::admit` answers 403) and ACKs (which absorb that 403).
pub fn admit_request(config: &Config, request: &SipMessage, peer: Peer) -> bool {
    if scanner::is_scanner(request, &config.security.scanner_user_agents) {
        metrics::counter!("calltrack_scanner_dropped_total").increment(1);
        tracing::debug!(%peer, "scanner request dropped");
        return false;
    }
    if Source::of(config, peer.addr.ip()).is_known() {
        return true;
    }
    let out_of_dialog = request.to().ok().and_then(|to| to.tag()).is_none();
    let allowed = match request.method() {
        Some(Method::Invite) => out_of_dialog,
        Some(Method::Ack) => true,
        _ => false,
    };
    if !allowed {
        metrics::counter!("calltrack_untrusted_dropped_total", "kind" => "request").increment(1);
        tracing::debug!(%peer, "request from an untrusted source dropped");
    }
    allowed
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
