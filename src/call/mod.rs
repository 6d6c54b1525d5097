//! The call pipeline: a new INVITE becomes a [`Decision`] stage by stage (pure functions, in
//! flow order), then a [`session::CallSession`] bridges the legs and [`record`] keeps the CDR.

pub mod attribution;
pub mod b2bua;
mod bridge;
pub mod distribution;
pub mod health;
pub mod history;
pub mod inbound;
pub mod lease_lookup;
pub mod outcome;
pub mod record;
pub mod routing;
mod session;

use time::OffsetDateTime;

use crate::config::{Config, TrackingNumber};
use crate::lease::LeaseTable;
use crate::sip::message::Rejection;
use crate::sip::{Peer, SipMessage};

use attribution::Attribution;

pub use b2bua::{B2bua, CallEvent, CallStats};
pub use routing::HostTable;

/// Everything the planning stages may read about a new INVITE.
#[derive(Debug)]
pub struct CallContext<'a> {
    pub invite: &'a SipMessage,
    pub source: Peer,
    pub config: &'a Config,
    pub hosts: &'a routing::HostTable,
    /// Probed target health; a target that is down is not rung.
    pub health: &'a health::HealthTable,
    pub leases: &'a LeaseTable,
    /// Wall-clock time of the INVITE (leases are kept in wall-clock time).
    pub now: OffsetDateTime,
    pub active_calls: usize,
    pub shutting_down: bool,
}

/// What to do with a new INVITE.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Answer the caller with this final status; no B-leg is created.
    Reject(Rejection),
    /// Bridge the call to the target.
    Bridge(Box<BridgePlan>),
}

/// A call that will be bridged.
#[derive(Debug, Clone)]
pub struct BridgePlan {
    pub tracking: TrackingNumber,
    pub caller: String,
    pub max_forwards: u32,
    pub attribution: Attribution,
    pub target: routing::Target,
    /// Which targets to ring, how and when to move on.
    pub route: distribution::RoutePlan,
}

/// inbound (who, hops, capacity, which number) -> lease lookup (who held the number at ring
/// time) -> attribution (what to record and stamp) -> routing (where).
pub fn plan_invite(ctx: &CallContext<'_>) -> Decision {
    let inbound = match inbound::admit(ctx) {
        Ok(call) => call,
        Err(rejection) => return Decision::Reject(rejection),
    };
    let holder = lease_lookup::holder_of(inbound.tracking, ctx.leases, ctx.now);
    let attribution = attribution::attribute(&inbound.tracking.site, holder);
    let retry_after = u32::try_from(ctx.config.health.interval.as_secs()).unwrap_or(u32::MAX);
    let target = routing::target_for(inbound.tracking, ctx.hosts)
        .and_then(|t| health::refuse_if_down(t, ctx.health, retry_after));
    match target {
        Ok(target) => Decision::Bridge(Box::new(BridgePlan {
            tracking: inbound.tracking.clone(),
            caller: inbound.caller,
            max_forwards: inbound.max_forwards,
            attribution,
            route: distribution::RoutePlan::forward_to(
                target.clone(),
                ctx.config.calls.ring_timeout,
            ),
            target,
        })),
        Err(rejection) => Decision::Reject(rejection),
    }
}
