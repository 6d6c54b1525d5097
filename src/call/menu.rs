//! A voice menu's decisions (`strategy = "menu"`): at the INVITE the call is planned with the
//! menu's scheme (it rings nothing) and stamped and recorded with the default branch's first
//! target; once the caller chose, [`plan_branch`] is the second decision: the chosen
//! scheme's plan. Pure like the rest of `call`: the engine asks, this answers.

use crate::config::{Config, TrackingNumber};
use crate::health::HealthTable;
use crate::routing::{self, HostTable, RoutePlan, TargetPlan};
use crate::sip::Peer;
use crate::sip::message::Rejection;

/// The menu of the scheme `route` took, if it is a menu scheme.
pub fn menu_of<'c>(
    config: &'c Config,
    route: &RoutePlan,
) -> Option<&'c crate::config::menu::MenuConfig> {
    config.routing.scheme(&route.scheme)?.menu.as_ref()
}

/// For a menu route: the default branch's first target, which the call is stamped and
/// recorded with until a branch is chosen; `None` for any other route.
pub(super) fn stand_in(
    config: &Config,
    tracking: &TrackingNumber,
    route: &RoutePlan,
    hosts: &HostTable,
    healthy: &dyn Fn(&Peer) -> bool,
) -> Option<Result<TargetPlan, Rejection>> {
    let menu = menu_of(config, route)?;
    let plan = routing::select::scheme_by_id(config, tracking, &menu.default, hosts, healthy);
    Some(plan.and_then(|p| {
        p.first_target()
            .cloned()
            .ok_or_else(|| Rejection::new(500, "Server Internal Error").because("no_targets"))
    }))
}

/// The second decision of a menu call: the plan of the scheme the caller chose.
pub fn plan_branch(
    config: &Config,
    tracking: &TrackingNumber,
    branch: &str,
    hosts: &HostTable,
    health: &HealthTable,
) -> Result<RoutePlan, Rejection> {
    let healthy = |peer: &Peer| health.is_up(peer);
    let plan = routing::select::scheme_by_id(config, tracking, branch, hosts, &healthy)?;
    let Some(first) = plan.first_target() else {
        return Err(Rejection::new(500, "Server Internal Error").because("no_targets"));
    };
    super::targets::check(config, &first.target, &plan)?;
    Ok(plan)
}
