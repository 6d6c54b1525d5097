//! `calltrack route`: a dry run of the routing config. Prints which scheme, steps and targets
//! a call to a tracking number would take at a given time, without ringing anything.

use std::fmt::Write as _;
use std::net::ToSocketAddrs;

use clap::Args;
use jiff::Timestamp;
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::Offset;

use crate::config::{Config, NumberKind, TrackingNumber};
use crate::routing::HostTable;
use crate::routing::{
    CallFacts, FailoverRules, RoutePlan, StatusMatch, StepPlan, Strategy, TargetPlan, all_up,
    select,
};

/// `calltrack route --number N --caller C [--at TIME] [--region R] [--source S]`
#[derive(Debug, Args)]
#[command(
    after_help = "Host names in targets are resolved with the system resolver (as the \
    daemon does); a target whose host does not resolve is left out and listed. Every peer is \
    taken as healthy. Nothing is rung."
)]
pub struct RouteArgs {
    /// The dialled tracking number (E.164 digits, no '+').
    #[arg(long, value_name = "N")]
    pub number: String,
    /// The caller's number (round-robin stickiness follows it).
    #[arg(long, value_name = "C")]
    pub caller: String,
    /// When the call arrives, RFC 3339 (2026-11-23T21:00:00+03:00); default: now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<At>,
    /// The visitor's region (as a lease would carry it); default: the number's pool region.
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// The attributed source (the visitor's utm_source); default: a static number's source.
    #[arg(long, value_name = "S")]
    pub source: Option<String>,
}

/// `--at`: the instant, and the offset it was written with (the output repeats it).
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub instant: Timestamp,
    pub offset: Offset,
}

fn parse_time(text: &str) -> Result<At, String> {
    let bad = |e| format!("{text:?} is not an RFC 3339 time (2026-11-23T21:00:00+03:00): {e}");
    let instant: Timestamp = text.parse().map_err(bad)?;
    let offset = match Pieces::parse(text).map_err(bad)?.offset() {
        Some(PiecesOffset::Numeric(numeric)) => numeric.offset(),
        _ => Offset::UTC,
    };
    Ok(At { instant, offset })
}

/// RFC 3339 in the offset `--at` was written with (`Z` for UTC).
fn written(at: Timestamp, offset: Offset) -> String {
    if offset == Offset::UTC {
        at.to_string()
    } else {
        at.display_with_offset(offset).to_string()
    }
}

/// Why the dry run has no plan to print.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("{0} is not a tracking number of any site in this config")]
    UnknownNumber(String),
    #[error("the call would be rejected: {status} {reason}{retry}")]
    Rejected {
        status: u16,
        reason: &'static str,
        retry: String,
    },
}

impl RouteError {
    /// Unknown numbers are a usage error; a rejected call is the dry run's answer.
    pub fn is_usage(&self) -> bool {
        matches!(self, RouteError::UnknownNumber(_))
    }
}

/// Selects the route like the daemon would and describes it.
pub fn run(args: &RouteArgs, config: &Config) -> Result<String, RouteError> {
    let tracking = config
        .tracking_number(&args.number)
        .ok_or_else(|| RouteError::UnknownNumber(args.number.clone()))?;
    let at = args.at.map_or_else(Timestamp::now, |at| at.instant);
    let hosts = resolve(config);
    let facts = CallFacts {
        tracking,
        source: args.source.as_deref().or_else(|| static_source(tracking)),
        region: args.region.as_deref(),
        at,
    };
    let plan = select(config, &facts, &hosts, &all_up).map_err(|r| RouteError::Rejected {
        status: r.status,
        reason: r.reason,
        retry: r
            .retry_after_secs
            .map(|s| format!(" (Retry-After: {s}); a host name did not resolve"))
            .unwrap_or_default(),
    })?;
    let mut out = header(args, config, &facts);
    describe(&mut out, config, &facts, &plan);
    Ok(out)
}

fn static_source(tracking: &TrackingNumber) -> Option<&str> {
    match &tracking.kind {
        NumberKind::Static { source, .. } => Some(source),
        _ => None,
    }
}

/// Every host name of the config, resolved now with the system resolver.
fn resolve(config: &Config) -> HostTable {
    let hosts = HostTable::default();
    for (name, port) in HostTable::names_in(config) {
        let addr = (name.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next());
        if let Some(addr) = addr {
            hosts.set(&name, addr.ip());
        }
    }
    hosts
}

fn header(args: &RouteArgs, config: &Config, facts: &CallFacts<'_>) -> String {
    let t = facts.tracking;
    let kind = match &t.kind {
        NumberKind::Static { source, .. } => format!("static number, source {source}"),
        NumberKind::Dynamic { pool } => format!("pool {pool}"),
        NumberKind::Default => "default number".to_owned(),
        NumberKind::Reserve => "reserve number".to_owned(),
    };
    let at = written(facts.at, args.at.map_or(Offset::UTC, |at| at.offset));
    let mut out = format!("call:      {} from {} at {at}\n", t.number, args.caller);
    let _ = writeln!(out, "number:    site {}, {kind}", t.site);
    let source = facts.source.unwrap_or("-");
    let region = match (facts.region, pool_region(config, t)) {
        (Some(region), _) => format!("{region} (the visitor's)"),
        (None, Some(region)) => format!("{region} (the pool's)"),
        (None, None) => "-".to_owned(),
    };
    let _ = writeln!(out, "source:    {source}\nregion:    {region}");
    out
}

fn pool_region<'c>(config: &'c Config, t: &TrackingNumber) -> Option<&'c str> {
    let NumberKind::Dynamic { pool } = &t.kind else {
        return None;
    };
    let site = config.site(&t.site)?;
    site.pools.iter().find(|p| p.id == *pool)?.region.as_deref()
}

fn describe(out: &mut String, config: &Config, facts: &CallFacts<'_>, plan: &RoutePlan) {
    let _ = writeln!(out, "scheme:    {}", plan.scheme);
    let _ = writeln!(out, "why:       {}", plan.reason);
    let hours = match crate::routing::select::matching_route(config, facts)
        .and_then(|r| r.after_hours.as_ref())
    {
        Some(after) if plan.after_hours => {
            format!("after hours (schedule {} is closed)", after.schedule)
        }
        Some(after) => format!("open hours (schedule {} is open)", after.schedule),
        None => "no schedule".to_owned(),
    };
    let _ = writeln!(out, "hours:     {hours}");
    for (i, step) in plan.steps.iter().enumerate() {
        step_lines(out, i + 1, step);
    }
    match &plan.fallback {
        Some(target) => {
            let _ = writeln!(out, "fallback:  {}", target_line(target));
        }
        None => out.push_str("fallback:  none\n"),
    }
    failover_lines(out, &plan.failover);
    let left_out = left_out(config, plan);
    if !left_out.is_empty() {
        let _ = writeln!(
            out,
            "left out (host name did not resolve): {}",
            left_out.join(", ")
        );
    }
}

fn step_lines(out: &mut String, n: usize, step: &StepPlan) {
    let mut line = format!("step {n}:    {}", step.strategy.as_str());
    if let Some(timeout) = step.step_timeout {
        let _ = write!(line, ", step timeout {}s", timeout.as_secs());
    }
    if step.sticky && step.strategy == Strategy::RoundRobin {
        line.push_str(", sticky (a repeat caller goes first to whoever answered them last)");
    }
    let _ = writeln!(out, "{line}");
    for target in &step.targets {
        let _ = writeln!(out, "  - {}", target_line(target));
    }
}

fn target_line(t: &TargetPlan) -> String {
    let mut line = if t.label == t.target.uri {
        t.label.clone()
    } else {
        format!("{}  ->  {}", t.label, t.target.uri)
    };
    let peer = t.target.peer;
    let _ = write!(
        line,
        "  ({} {})  ring {}s  weight {}",
        peer.transport.as_str(),
        peer.addr,
        t.ring_timeout.as_secs(),
        t.weight
    );
    if let Some(auth) = &t.auth {
        let _ = write!(line, "  digest user {}", auth.username);
    }
    line
}

fn failover_lines(out: &mut String, rules: &FailoverRules) {
    let mut on: Vec<String> = Vec::new();
    if rules.failover_on_timeout {
        on.push("timeout".to_owned());
    }
    on.extend(rules.failover_statuses.iter().map(|m| match m {
        StatusMatch::Code(code) => code.to_string(),
        StatusMatch::Class(class) => format!("{class}xx"),
    }));
    let finals: Vec<String> = rules.final_statuses.iter().map(u16::to_string).collect();
    let _ = writeln!(out, "failover:  on {}", or_none(&on));
    let _ = writeln!(
        out,
        "final:     {} from the last target end the call",
        or_none(&finals)
    );
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// Targets of the chosen scheme that are not in the plan (their host did not resolve).
fn left_out(config: &Config, plan: &RoutePlan) -> Vec<String> {
    let Some(scheme) = config.routing.scheme(&plan.scheme) else {
        return Vec::new();
    };
    let planned: Vec<&str> = plan
        .steps
        .iter()
        .flat_map(|s| &s.targets)
        .chain(&plan.fallback)
        .map(|t| t.label.as_str())
        .collect();
    scheme
        .steps
        .iter()
        .flat_map(|s| &s.targets)
        .chain(&scheme.fallback)
        .map(|t| t.dest.label())
        .filter(|label| !planned.contains(&label.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--at` is printed back the way it was written, as the `time` crate's RFC 3339
    /// formatter did: the same offset, `Z` for UTC.
    #[test]
    fn at_is_printed_in_its_own_offset() {
        let shown = |text: &str| {
            let at = parse_time(text).expect("valid --at");
            written(at.instant, at.offset)
        };
        assert_eq!(
            shown("2026-11-23T21:00:00+03:00"),
            "2026-11-23T21:00:00+03:00"
        );
        assert_eq!(
            shown("2026-11-23T21:00:00.5-05:30"),
            "2026-11-23T21:00:00.5-05:30"
        );
        assert_eq!(shown("2026-11-23T18:00:00Z"), "2026-11-23T18:00:00Z");
        assert_eq!(shown("2026-11-23T18:00:00+00:00"), "2026-11-23T18:00:00Z");
        assert!(parse_time("2026-11-23 21:00").is_err());
        let at = parse_time("2026-11-23T21:00:00+03:00").expect("valid --at");
        assert_eq!(at.instant, "2026-11-23T18:00:00Z".parse().expect("utc"));
    }
}
