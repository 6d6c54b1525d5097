//! The plan's targets, checked before anything rings: a plan with none left is refused
//! (`no_targets`), and so is one that would send a B-leg outside `[pbx] trusted`
//! (`untrusted_target`): calltrack is never an open relay toward an arbitrary host.

use crate::config::Config;
use crate::routing::{RoutePlan, Target};
use crate::sip::Peer;
use crate::sip::message::Rejection;

/// The refusal a route plan earns, if any.
pub fn check(config: &Config, first: &Target, route: &RoutePlan) -> Result<(), Rejection> {
    let menu = crate::call::menu::menu_of(config, route).is_some();
    if !route.has_targets() && !menu {
        return Err(Rejection::new(500, "Server Internal Error").because("no_targets"));
    }
    if let Some(outside) = untrusted_peer(config, first, route) {
        tracing::warn!(target = %outside, "forwarding target outside [pbx] trusted: call refused");
        return Err(Rejection::new(500, "Server Internal Error").because("untrusted_target"));
    }
    Ok(())
}

/// The first peer of the plan (first target, every step's targets, the fallback) outside
/// `[pbx] trusted`, if any.
fn untrusted_peer(config: &Config, first: &Target, route: &RoutePlan) -> Option<Peer> {
    let steps = route.steps.iter().flat_map(|step| step.targets.iter());
    std::iter::once(first)
        .chain(steps.chain(route.fallback.iter()).map(|t| &t.target))
        .map(|target| target.peer)
        .find(|peer| !config.is_trusted_pbx(peer.addr.ip()))
}
