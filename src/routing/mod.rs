//! Distribution schemes at call time: which targets a call rings, in which order, and when it
//! moves on. `select` turns the routing config into a [`RoutePlan`] for one call (pure); the
//! dialer walks the plan as the B-legs answer (sans-IO).
//!
//! The types here are the contract between route selection (config -> plan) and the dialer
//! (plan -> B-legs): selection never sends anything, the dialer never reads the config.

pub mod dialer;
mod fault;
pub mod hosts;
pub mod rotation;
pub mod select;

use std::time::Duration;

pub use crate::config::dialing::{Credentials, FailoverRules, StatusMatch, Strategy};
pub use fault::Fault;
pub use hosts::{HostTable, Target};
pub use select::{CallFacts, all_up, select};

/// Everything the dialer needs to ring one call: the chosen scheme, resolved to peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The scheme's id, or `"forward_to"` when the call takes the site's `forward_to`.
    pub scheme: String,
    /// Why this scheme: the matching route's key path (e.g. `routes[2]`), `after hours of
    /// routes[2]`, or `site demo forward_to`. For logs and `calltrack route`.
    pub reason: String,
    /// The schedule said "closed" and the route's after-hours scheme was taken.
    pub after_hours: bool,
    /// Steps in order; never empty (unhealthy targets are already left out; a step whose
    /// every target is unhealthy is dropped).
    pub steps: Vec<StepPlan>,
    /// Rung once every step has failed (voicemail, an operator queue...), unless the last
    /// failure's status is in `failover.final_statuses`.
    pub fallback: Option<TargetPlan>,
    pub failover: FailoverRules,
    /// Calls taking this plan count towards quality calls (`[[schemes]] counted`, or the
    /// site's `forward_to_counted`); a support line does not.
    pub counted: bool,
}

impl RoutePlan {
    /// At least one target to ring (a step target or the fallback).
    pub fn has_targets(&self) -> bool {
        self.fallback.is_some() || self.steps.iter().any(|s| !s.targets.is_empty())
    }

    /// The first target of the first step (rung first unless round robin rotates).
    pub fn first_target(&self) -> Option<&TargetPlan> {
        self.steps.first().and_then(|step| step.targets.first())
    }
}

/// One step: a group of targets rung with one strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    pub strategy: Strategy,
    /// In config order. For `RoundRobin` the dialer rotates the start (and honours weights
    /// and stickiness); for `Sequential` it hunts in this order.
    pub targets: Vec<TargetPlan>,
    /// The whole step gives up after this long (`None`: only per-target timeouts apply).
    pub step_timeout: Option<Duration>,
    /// Round robin only: a repeat caller is offered first to the target that answered them
    /// last time.
    pub sticky: bool,
}

/// One destination of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPlan {
    /// How the target is named in config and in the CDR (`answered_target`): the URI as
    /// written, or `number@gateway`.
    pub label: String,
    pub target: Target,
    /// This target rings at most this long before the dialer moves on.
    pub ring_timeout: Duration,
    /// Round-robin weight, at least 1.
    pub weight: u32,
    /// Digest credentials when the target (or its gateway) challenges us (401/407).
    pub auth: Option<Credentials>,
}
