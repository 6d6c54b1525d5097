//! What is decided: the pure pipeline that turns a new INVITE into a [`Decision`], stage by
//! stage in flow order (`inbound` > `lease_lookup` > `attribution` > routing decision >
//! `targets`), and the [`record`] a call leaves. The one place that says yes, no or how; the
//! `b2bua` engine only executes what it says.

pub mod attribution;
pub mod confidence;
pub mod history;
pub mod inbound;
pub mod last_holder;
pub mod lease_lookup;
pub mod live_dialog;
pub mod menu;
pub mod outcome;
pub mod overflow;
pub mod record;
pub mod recording;
pub mod repeat;
pub mod scoring;
pub mod targets;
pub mod trail;
pub mod transcript;
pub mod voice;
pub mod voicemail;

use std::time::Duration;

use jiff::Timestamp;

use crate::{edge, health, routing};

use crate::config::{Config, TrackingNumber};
use crate::lease::LeaseTable;
use crate::sip::dialog::LocalEndpoint;
use crate::sip::message::Rejection;
use crate::sip::{Peer, SipMessage};

use attribution::Attribution;

/// Everything the planning stages may read about a new INVITE.
pub struct CallContext<'a> {
    pub invite: &'a SipMessage,
    pub source: Peer,
    pub config: &'a Config,
    pub hosts: &'a routing::HostTable,
    /// Probed target health; a target that is down is not rung.
    pub health: &'a health::HealthTable,
    pub leases: &'a LeaseTable,
    /// Refused caller numbers (config file and admin API).
    pub blacklist: &'a edge::blacklist::Blacklist,
    /// Earlier callers: whether this one is calling for the first time.
    pub history: &'a history::CallerHistory,
    /// Our own host and ports (the Diversion header names them).
    pub local: &'a LocalEndpoint,
    /// Wall-clock time of the INVITE (leases are kept in wall-clock time).
    pub now: Timestamp,
    pub active_calls: usize,
    pub shutting_down: bool,
}

impl std::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("source", &self.source)
            .field("now", &self.now)
            .field("active_calls", &self.active_calls)
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

/// What to do with a new INVITE.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Answer the caller with this final status; no B-leg is created.
    Reject(Rejection),
    /// Admitted and attributed, but refused (nothing reachable): the record keeps what the
    /// pipeline learned (tracking number, caller, attribution).
    Refuse(Box<Refusal>),
    /// Bridge the call to the target.
    Bridge(Box<BridgePlan>),
}

/// An admitted call that is refused, with everything the pipeline knew about it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub rejection: Rejection,
    pub tracking: TrackingNumber,
    pub caller: String,
    pub attribution: Attribution,
}

/// A call that will be bridged.
#[derive(Debug, Clone)]
pub struct BridgePlan {
    pub tracking: TrackingNumber,
    pub caller: String,
    pub max_forwards: u32,
    pub attribution: Attribution,
    /// The first target of the route's first step (the CDR's destination until one answers).
    pub target: routing::Target,
    /// The whole distribution plan: scheme, steps, fallback, failover rules.
    pub route: routing::RoutePlan,
    /// The caller has not called within the uniqueness window.
    pub first_call: bool,
    /// The lease the call is attributed to, for the caller history (a repeat call from this
    /// caller to this number goes to it, see [`repeat`]); `None` when no lease is.
    pub held: Option<crate::lease::Lease>,
    /// A pool number nobody held at ring time (attributed to nobody or to its last holder,
    /// see [`last_holder`]): leak detection counts the call.
    pub unheld: bool,
    /// The attribution headers for the PBX (RFC 5806 Diversion optional).
    pub stamp: Vec<(String, String)>,
}

impl BridgePlan {
    /// This call refused after all, keeping what the plan knew.
    pub fn refused(&self, rejection: Rejection) -> Refusal {
        Refusal {
            rejection,
            tracking: self.tracking.clone(),
            caller: self.caller.clone(),
            attribution: self.attribution.clone(),
        }
    }
}

/// inbound (who, hops, capacity, which number) -> lease lookup (who held the number at ring
/// time) -> attribution (what to record and stamp) -> route selection (which scheme, where).
pub fn plan_invite(ctx: &CallContext<'_>) -> Decision {
    let inbound = match inbound::admit(ctx) {
        Ok(call) => call,
        Err(rejection) => return Decision::Reject(rejection),
    };
    let last_holder = ctx.config.site(&inbound.tracking.site);
    let last_holder = last_holder.map_or(Duration::ZERO, |site| site.last_holder);
    let ring = repeat::attributed_holder(
        inbound.tracking,
        ctx.leases,
        ctx.history,
        &inbound.caller,
        last_holder,
        ctx.now,
    );
    let (holder, unheld) = (ring.holder, ring.unheld);
    let held = match &holder {
        lease_lookup::Holder::Lease(lease) => Some(lease.clone()),
        _ => None,
    };
    let sureness = judge(ctx, &inbound, &holder);
    let mut attribution = attribution::attribute(&inbound.tracking.site, holder);
    attribution.confidence = sureness;
    let facts = routing::CallFacts {
        tracking: inbound.tracking,
        source: attribution.source.as_deref(),
        region: attribution.region.as_deref(),
        at: ctx.now,
    };
    let healthy = |peer: &Peer| ctx.health.is_up(peer);
    let refuse = |rejection| {
        Decision::Refuse(Box::new(Refusal {
            rejection,
            tracking: inbound.tracking.clone(),
            caller: inbound.caller.clone(),
            attribution: attribution.clone(),
        }))
    };
    let route = match routing::select(ctx.config, &facts, ctx.hosts, &healthy) {
        Ok(route) => route,
        Err(rejection) => return refuse(rejection),
    };
    let first = match menu::stand_in(ctx.config, inbound.tracking, &route, ctx.hosts, &healthy) {
        Some(Ok(target)) => target,
        Some(Err(rejection)) => return refuse(rejection),
        None => match route.first_target() {
            Some(first) => first.clone(),
            None => {
                return refuse(Rejection::new(500, "Server Internal Error").because("no_targets"));
            }
        },
    };
    if let Err(rejection) = targets::check(ctx.config, &first.target, &route) {
        return refuse(rejection);
    }
    let first_call = ctx.history.is_first(&inbound.caller, ctx.now);
    let stamp = stamp_for(
        ctx,
        inbound.tracking,
        &first.target,
        &attribution,
        first_call,
    );
    Decision::Bridge(Box::new(BridgePlan {
        tracking: inbound.tracking.clone(),
        caller: inbound.caller,
        max_forwards: inbound.max_forwards,
        attribution,
        target: first.target.clone(),
        route,
        first_call,
        held,
        unheld,
        stamp,
    }))
}

/// The call's confidence (see [`confidence`]): only for a pool number a lease holds.
fn judge(
    ctx: &CallContext<'_>,
    inbound: &inbound::InboundCall<'_>,
    holder: &lease_lookup::Holder,
) -> Option<confidence::Confidence> {
    let site = ctx.config.site(&inbound.tracking.site)?;
    let earlier = ctx.history.earlier_holder(&inbound.caller);
    let facts = confidence::facts_of(
        holder,
        ctx.leases,
        site.heartbeat,
        earlier.as_deref(),
        ctx.now,
    )?;
    Some(confidence::confidence(&facts))
}

/// The attribution headers for the PBX, with Diversion naming our host on the first
/// target's transport.
fn stamp_for(
    ctx: &CallContext<'_>,
    tracking: &TrackingNumber,
    target: &routing::Target,
    attribution: &Attribution,
    first_call: bool,
) -> Vec<(String, String)> {
    let host = ctx.local.host_port(target.peer.transport);
    stamp_with(ctx.config, &host, tracking, attribution, first_call)
}

/// The attribution headers for the PBX with Diversion naming `host` (also after a second
/// decision, see `overflow`).
fn stamp_with(
    config: &Config,
    host: &str,
    tracking: &TrackingNumber,
    attribution: &Attribution,
    first_call: bool,
) -> Vec<(String, String)> {
    let tracking_rules = &config.tracking;
    let rules = attribution::StampRules {
        prefix: &tracking_rules.header_prefix,
        diversion: tracking_rules.diversion,
        tracking_number: &tracking.number,
        host,
    };
    attribution::stamp(attribution, first_call, &rules)
}
