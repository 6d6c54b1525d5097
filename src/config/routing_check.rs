//! Validation of `[[gateways]]` and `[[schemes]]` with their steps; targets and failover codes
//! are checked in `target_check.rs`, schedules and routes in `schedule_check.rs`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::config::dialing::{Credentials, Strategy};
use crate::sip::message::SipUri;

use super::routing::{GatewayConfig, RoutingConfig, SchemeConfig, StepConfig};
use super::routing_file::{
    GatewayFile, RouteFile, ScheduleFile, SchemeFile, StepFile, StrategyFile, TargetFile,
};
use super::sites::{required, required_id};
use super::target_check::{failover, target};
use super::validate::Problems;
use super::{SiteConfig, TrackingNumber, schedule_check, uri};

/// Most steps in one scheme.
const MAX_STEPS: usize = 16;
/// Most targets in one step (a parallel step forks this many B-legs).
const MAX_TARGETS: usize = 32;
/// Longest ring or step timeout, in seconds.
const MAX_TIMEOUT_SECS: u64 = 3600;

/// Reports a repeated id at `{section}[i].id`; blank ids are reported elsewhere.
pub(super) fn check_unique_ids<'a>(
    section: &str,
    ids: impl Iterator<Item = &'a str>,
    p: &mut Problems,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.enumerate() {
        if id.is_empty() {
            continue;
        }
        match seen.get(id) {
            Some(first) => p.push(
                format!("{section}[{i}].id"),
                format!("duplicate id {id:?} (also {section}[{first}].id)"),
            ),
            None => {
                seen.insert(id, i);
            }
        }
    }
}

fn gateways(files: Vec<GatewayFile>, p: &mut Problems) -> Vec<GatewayConfig> {
    let gateways: Vec<GatewayConfig> = files
        .into_iter()
        .enumerate()
        .map(|(i, f)| gateway(&format!("gateways[{i}]"), f, p))
        .collect();
    check_unique_ids("gateways", gateways.iter().map(|g| g.id.as_str()), p);
    gateways
}

fn gateway(path: &str, f: GatewayFile, p: &mut Problems) -> GatewayConfig {
    let id = required_id(&format!("{path}.id"), f.id, p);
    let uri_path = format!("{path}.uri");
    let uri = required(&uri_path, f.uri, p);
    if !uri.is_empty() {
        match uri::check_sip_uri(&uri) {
            Err(message) => p.push(&uri_path, message),
            Ok(()) if SipUri::parse(&uri).is_ok_and(|u| u.user.is_some()) => p.push(
                &uri_path,
                format!("{uri:?}: a gateway URI has no user part; numbers become the user"),
            ),
            Ok(()) => {}
        }
    }
    let auth = credentials(path, f.auth_user, f.auth_password, f.auth_realm, p);
    GatewayConfig { id, uri, auth }
}

fn credentials(
    path: &str,
    user: Option<String>,
    password: Option<String>,
    realm: Option<String>,
    p: &mut Problems,
) -> Option<Credentials> {
    for (key, value) in [("auth_user", &user), ("auth_password", &password)] {
        if let Some(value) = value {
            p.non_blank(&format!("{path}.{key}"), value);
        }
    }
    if let Some(realm) = &realm {
        p.non_blank(&format!("{path}.auth_realm"), realm);
    }
    match (user, password) {
        (Some(username), Some(password)) => Some(Credentials {
            username,
            password,
            realm,
        }),
        (None, None) => {
            if realm.is_some() {
                p.push(
                    format!("{path}.auth_realm"),
                    "needs auth_user and auth_password",
                );
            }
            None
        }
        (Some(_), None) => {
            p.push(format!("{path}.auth_password"), "required with auth_user");
            None
        }
        (None, Some(_)) => {
            p.push(format!("{path}.auth_user"), "required with auth_password");
            None
        }
    }
}

fn schemes(
    files: Vec<SchemeFile>,
    gateways: &[GatewayConfig],
    p: &mut Problems,
) -> Vec<SchemeConfig> {
    let known: HashSet<&str> = gateways.iter().map(|g| g.id.as_str()).collect();
    let schemes: Vec<SchemeConfig> = files
        .into_iter()
        .enumerate()
        .map(|(i, f)| scheme(&format!("schemes[{i}]"), f, &known, p))
        .collect();
    check_unique_ids("schemes", schemes.iter().map(|s| s.id.as_str()), p);
    schemes
}

fn scheme(path: &str, f: SchemeFile, gateways: &HashSet<&str>, p: &mut Problems) -> SchemeConfig {
    let id = required_id(&format!("{path}.id"), f.id, p);
    if f.steps.is_empty() {
        p.push(format!("{path}.steps"), "a scheme needs at least one step");
    }
    if f.steps.len() > MAX_STEPS {
        p.push(
            format!("{path}.steps"),
            format!("{} steps, at most {MAX_STEPS} are allowed", f.steps.len()),
        );
    }
    let (menu, steps) = super::menu::take(path, f.steps, p);
    let steps = steps
        .into_iter()
        .enumerate()
        .map(|(j, s)| step(&format!("{path}.steps[{j}]"), s, gateways, p))
        .collect();
    let fallback_file = TargetFile {
        uri: f.fallback,
        number: f.fallback_number,
        gateway: f.fallback_gateway,
        weight: None,
        ring_timeout_secs: None,
    };
    let keys = ["fallback", "fallback_number", "fallback_gateway"];
    let fallback = (fallback_file.uri.is_some()
        || fallback_file.number.is_some()
        || fallback_file.gateway.is_some())
    .then(|| target(path, keys, fallback_file, gateways, p));
    let failover = failover(path, f.failover_on, f.final_statuses, p);
    SchemeConfig {
        id,
        steps,
        fallback,
        failover,
        counted: f.counted.unwrap_or(true),
        media: f.media,
        record: f.record,
        voicemail: super::voicemail::voicemail(
            &format!("{path}.voicemail"),
            f.voicemail,
            super::voicemail::relayed(f.media, f.record),
            p,
        ),
        announce: f.announce,
        answer: f.answer,
        menu,
    }
}

fn step(path: &str, f: StepFile, gateways: &HashSet<&str>, p: &mut Problems) -> StepConfig {
    let strategy = match f.strategy {
        StrategyFile::Sequential => Strategy::Sequential,
        StrategyFile::Parallel => Strategy::Parallel,
        StrategyFile::RoundRobin => Strategy::RoundRobin,
        // Taken out by `menu::take` before the steps are checked.
        StrategyFile::Menu => Strategy::Sequential,
    };
    if f.sticky && strategy != Strategy::RoundRobin {
        p.push(
            format!("{path}.sticky"),
            "only a round_robin step can be sticky",
        );
    }
    let targets_path = format!("{path}.targets");
    if f.targets.is_empty() {
        p.push(&targets_path, "a step needs at least one target");
    }
    if f.targets.len() > MAX_TARGETS {
        let count = f.targets.len();
        p.push(
            &targets_path,
            format!("{count} targets, at most {MAX_TARGETS} are allowed"),
        );
    }
    let keys = ["uri", "number", "gateway"];
    let targets = f
        .targets
        .into_iter()
        .enumerate()
        .map(|(k, t)| target(&format!("{targets_path}[{k}]"), keys, t, gateways, p))
        .collect();
    StepConfig {
        strategy,
        ring_timeout: timeout(&format!("{path}.ring_timeout_secs"), f.ring_timeout_secs, p),
        step_timeout: timeout(&format!("{path}.step_timeout_secs"), f.step_timeout_secs, p),
        sticky: f.sticky,
        targets,
    }
}

pub(super) fn timeout(path: &str, secs: Option<u64>, p: &mut Problems) -> Option<Duration> {
    let secs = secs?;
    p.within(path, secs, 1, MAX_TIMEOUT_SECS);
    Some(Duration::from_secs(secs))
}

/// The four routing sections of the file, checked together (routes name the others).
pub(super) struct RoutingSections {
    pub gateways: Vec<GatewayFile>,
    pub schemes: Vec<SchemeFile>,
    pub schedules: Vec<ScheduleFile>,
    pub routes: Vec<RouteFile>,
}

impl RoutingSections {
    pub(super) fn check(
        self,
        sites: &[SiteConfig],
        numbers: &HashMap<String, TrackingNumber>,
        p: &mut Problems,
    ) -> RoutingConfig {
        let gateways = gateways(self.gateways, p);
        let schemes = schemes(self.schemes, &gateways, p);
        let schedules = schedule_check::schedules(self.schedules, p);
        let known = schedule_check::Known {
            sites,
            numbers,
            schemes: &schemes,
            schedules: &schedules,
        };
        let routes = schedule_check::routes(self.routes, &known, p);
        RoutingConfig {
            gateways,
            schemes,
            schedules,
            routes,
        }
    }
}
