//! Route selection: the routing config -> a [`RoutePlan`] for one call. Pure: the wall-clock
//! time, the resolved host names and the peers' health are parameters; nothing is rung here.
//!
//! The first `[[routes]]` entry whose conditions all hold picks the scheme (its after-hours
//! scheme while its schedule is closed); no match keeps today's behaviour, the site's
//! `forward_to`. Targets whose host is unresolved or whose peer is unhealthy are left out.

use std::time::Duration;

use jiff::Timestamp;

use crate::config::{
    Config, NumberKind, RouteConfig, SchemeConfig, TargetConfig, TargetDest, TrackingNumber,
};
use crate::sip::Peer;
use crate::sip::message::Rejection;

use crate::routing::hosts::{self, HostTable};
use crate::routing::{FailoverRules, RoutePlan, StepPlan, Strategy, TargetPlan};

/// Seconds a caller is told to wait when no target can be reached at all and no health
/// probing will tell sooner (host names are resolved again every minute).
const RETRY_AFTER_SECS: u32 = 30;

/// What route selection may know about one call.
#[derive(Debug, Clone, Copy)]
pub struct CallFacts<'a> {
    pub tracking: &'a TrackingNumber,
    /// The attributed source: a static number's source or the lease's utm_source.
    pub source: Option<&'a str>,
    /// The visitor's region (from the lease); without it the number's pool region applies.
    pub region: Option<&'a str>,
    /// Wall-clock time of the call, for schedules.
    pub at: Timestamp,
}

/// A health view that has every peer up (no health checks configured).
pub fn all_up(_: &Peer) -> bool {
    true
}

/// The plan for one call; 503 with Retry-After when no target (nor fallback) is left.
pub fn select(
    config: &Config,
    call: &CallFacts<'_>,
    hosts: &HostTable,
    healthy: &dyn Fn(&Peer) -> bool,
) -> Result<RoutePlan, Rejection> {
    let env = Env {
        config,
        hosts,
        healthy,
        dialled: &call.tracking.number,
    };
    let Some(route) = matching_route(config, call) else {
        return forward_plan(call.tracking, &env);
    };
    let (scheme_id, after_hours) = scheme_of(config, route, call.at);
    let scheme = config
        .routing
        .scheme(scheme_id)
        .ok_or_else(|| Rejection::new(500, "Server Internal Error"))?;
    let reason = if after_hours {
        format!("after hours of {}", route.path)
    } else {
        route.path.clone()
    };
    scheme_plan(scheme, reason, after_hours, &env)
}

/// The plan of scheme `id` for a call to `tracking`: the branch a voice menu chose (see
/// `call::plan_branch`).
pub fn scheme_by_id(
    config: &Config,
    tracking: &TrackingNumber,
    id: &str,
    hosts: &HostTable,
    healthy: &dyn Fn(&Peer) -> bool,
) -> Result<RoutePlan, Rejection> {
    let env = Env {
        config,
        hosts,
        healthy,
        dialled: &tracking.number,
    };
    let scheme = config
        .routing
        .scheme(id)
        .ok_or_else(|| Rejection::new(500, "Server Internal Error"))?;
    scheme_plan(scheme, format!("menu branch {id}"), false, &env)
}

/// The first route whose every given condition holds.
pub fn matching_route<'c>(config: &'c Config, call: &CallFacts<'_>) -> Option<&'c RouteConfig> {
    let tracking = call.tracking;
    let pool = match &tracking.kind {
        NumberKind::Dynamic { pool } => Some(pool.as_str()),
        _ => None,
    };
    let region = call
        .region
        .map(|r| r.trim().to_lowercase())
        .or_else(|| pool_region(config, tracking, pool));
    let same = |a: &str, b: &str| a == b;
    let same_text = |a: &str, b: &str| a.eq_ignore_ascii_case(b.trim());
    config.routing.routes.iter().find(|r| {
        holds(&r.site, Some(&tracking.site), same)
            && holds(&r.number, Some(&tracking.number), same)
            && holds(&r.pool, pool, same)
            && holds(&r.source, call.source, same_text)
            && holds(&r.region, region.as_deref(), same)
    })
}

/// No condition, or a value that matches it.
fn holds(want: &Option<String>, have: Option<&str>, eq: impl Fn(&str, &str) -> bool) -> bool {
    want.as_deref()
        .is_none_or(|want| have.is_some_and(|have| eq(want, have)))
}

fn pool_region(config: &Config, tracking: &TrackingNumber, pool: Option<&str>) -> Option<String> {
    let pool = pool?;
    let site = config.site(&tracking.site)?;
    site.pools.iter().find(|p| p.id == pool)?.region.clone()
}

/// The route's scheme, or its after-hours scheme while its schedule is closed.
fn scheme_of<'r>(config: &Config, route: &'r RouteConfig, at: Timestamp) -> (&'r str, bool) {
    let Some(after) = &route.after_hours else {
        return (&route.scheme, false);
    };
    let open = config
        .routing
        .schedule(&after.schedule)
        .is_none_or(|s| s.is_open(at));
    if open {
        (&route.scheme, false)
    } else {
        (&after.scheme, true)
    }
}

/// What resolving targets needs.
struct Env<'a> {
    config: &'a Config,
    hosts: &'a HostTable,
    healthy: &'a dyn Fn(&Peer) -> bool,
    /// The tracking number: the user part of URI targets that have none.
    dialled: &'a str,
}

/// Today's behaviour: ring the site's `forward_to` once.
fn forward_plan(tracking: &TrackingNumber, env: &Env<'_>) -> Result<RoutePlan, Rejection> {
    let target = hosts::target_for(tracking, env.hosts)?;
    if !(env.healthy)(&target.peer) {
        return Err(unavailable(env.config));
    }
    let target = TargetPlan {
        label: tracking.forward_to.clone(),
        target,
        ring_timeout: env.config.calls.ring_timeout,
        weight: 1,
        auth: None,
    };
    Ok(RoutePlan {
        scheme: "forward_to".to_owned(),
        reason: format!("site {} forward_to", tracking.site),
        after_hours: false,
        steps: vec![single_step(target)],
        fallback: None,
        failover: FailoverRules::default(),
        counted: env
            .config
            .site(&tracking.site)
            .is_none_or(|site| site.forward_to_counted),
    })
}

fn single_step(target: TargetPlan) -> StepPlan {
    StepPlan {
        strategy: Strategy::Sequential,
        targets: vec![target],
        step_timeout: None,
        sticky: false,
    }
}

/// 503 when no target is left: with probing on, retry after one probe interval (when a
/// down target may be up again).
fn unavailable(config: &Config) -> Rejection {
    let health = &config.health;
    let secs = if health.enabled {
        u32::try_from(health.interval.as_secs()).unwrap_or(RETRY_AFTER_SECS)
    } else {
        RETRY_AFTER_SECS
    };
    Rejection::new(503, "Service Unavailable").retry_after(secs)
}

fn scheme_plan(
    scheme: &SchemeConfig,
    reason: String,
    after_hours: bool,
    env: &Env<'_>,
) -> Result<RoutePlan, Rejection> {
    if scheme.menu.is_some() {
        // A voice menu rings nothing itself: the branch it chooses is planned then.
        return Ok(RoutePlan {
            scheme: scheme.id.clone(),
            reason,
            after_hours,
            steps: Vec::new(),
            fallback: None,
            failover: scheme.failover.clone(),
            counted: scheme.counted,
        });
    }
    let steps: Vec<StepPlan> = scheme
        .steps
        .iter()
        .filter_map(|step| {
            let targets: Vec<TargetPlan> = step
                .targets
                .iter()
                .filter_map(|t| target_plan(t, step.ring_timeout, env))
                .collect();
            (!targets.is_empty()).then_some(StepPlan {
                strategy: step.strategy,
                targets,
                step_timeout: step.step_timeout,
                sticky: step.sticky,
            })
        })
        .collect();
    let fallback = scheme
        .fallback
        .as_ref()
        .and_then(|t| target_plan(t, None, env));
    let (steps, fallback) = match (steps.is_empty(), fallback) {
        (false, fallback) => (steps, fallback),
        (true, Some(fallback)) => (vec![single_step(fallback)], None),
        (true, None) => return Err(unavailable(env.config)),
    };
    Ok(RoutePlan {
        scheme: scheme.id.clone(),
        reason,
        after_hours,
        steps,
        fallback,
        failover: scheme.failover.clone(),
        counted: scheme.counted,
    })
}

/// The target resolved to a peer, or `None` if its host is unresolved or its peer unhealthy.
fn target_plan(t: &TargetConfig, step_ring: Option<Duration>, env: &Env<'_>) -> Option<TargetPlan> {
    let (uri, user, auth) = match &t.dest {
        TargetDest::Uri(uri) => (uri.as_str(), env.dialled, None),
        TargetDest::Number { number, gateway } => {
            let gateway = env.config.routing.gateway(gateway)?;
            (gateway.uri.as_str(), number.as_str(), gateway.auth.clone())
        }
    };
    let target = hosts::target_at(uri, user, env.hosts).ok()?;
    (env.healthy)(&target.peer).then(|| TargetPlan {
        label: t.dest.label(),
        target,
        ring_timeout: t
            .ring_timeout
            .or(step_ring)
            .unwrap_or(env.config.calls.ring_timeout),
        weight: t.weight,
        auth,
    })
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
