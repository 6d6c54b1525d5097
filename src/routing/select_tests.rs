//! Unit tests of route selection: route order and conditions, schedules across time zones,
//! holidays and DST, unhealthy and unresolved targets, gateway numbers, defaults, fallback.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::routing::{StatusMatch, Strategy};
use crate::sip::Transport;

const CONFIG: &str = r#"
[calls]
ring_timeout_secs = 45

[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
static_numbers = [
  { number = "74950000001", source = "billboard" },
  { number = "74950000002", source = "google" },
  { number = "74950000003", source = "radio" },
]
[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000104"]
[[sites.pools]]
id = "spb"
numbers = ["78120000100"]
region = "spb"

[[sites]]
id = "other"
forward_to = "sip:127.0.0.1:5070"
static_numbers = [{ number = "74950000009", source = "radio" }]

[[gateways]]
id = "pbx"
uri = "sip:127.0.0.1:5090;transport=tcp"
auth_user = "calltrack"
auth_password = "secret"
auth_realm = "pbx.example"

[[schemes]]
id = "sales"
fallback = "sip:voicemail@127.0.0.1:5099"
[[schemes.steps]]
strategy = "parallel"
ring_timeout_secs = 20
step_timeout_secs = 30
[[schemes.steps.targets]]
uri = "sip:101@127.0.0.1:5081"
[[schemes.steps.targets]]
uri = "sip:102@pbx.example.com:5082"
ring_timeout_secs = 15
[[schemes.steps]]
strategy = "round_robin"
sticky = true
[[schemes.steps.targets]]
number = "79161234567"
gateway = "pbx"
weight = 3
[[schemes.steps.targets]]
uri = "sip:127.0.0.1:5083"

[[schemes]]
id = "night"
failover_on = ["5xx", "486"]
final_statuses = [603]
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:night@127.0.0.1:5084"

[[schemes]]
id = "spb"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:spb@127.0.0.1:5085"

[[schemes]]
id = "google"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:google@127.0.0.1:5086"

[[schedules]]
id = "office"
time_zone = "Europe/Moscow"
mon = ["09:00-13:00", "14:00-18:00"]
tue = ["09:00-13:00", "14:00-18:00"]
wed = ["09:00-13:00", "14:00-18:00"]
thu = ["09:00-13:00", "14:00-18:00"]
fri = ["09:00-13:00", "14:00-18:00"]
holidays = ["2026-12-31"]

[[schedules]]
id = "berlin"
time_zone = "Europe/Berlin"
sun = ["09:00-18:00"]

[[routes]]
number = "74950000003"
scheme = "night"
[[routes]]
region = "spb"
scheme = "spb"
[[routes]]
source = "google"
scheme = "google"
[[routes]]
pool = "web"
scheme = "sales"
[[routes]]
site = "demo"
scheme = "sales"
schedule = "office"
after_hours_scheme = "night"
"#;

fn config() -> Config {
    Config::from_toml_str(CONFIG).unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A Monday, 10:00 in Moscow: the office is open.
const OPEN: &str = "2026-11-23T10:00:00+03:00";

struct Case<'a> {
    number: &'a str,
    source: Option<&'a str>,
    region: Option<&'a str>,
    at: &'a str,
}

impl Default for Case<'_> {
    fn default() -> Self {
        Case {
            number: "74950000001",
            source: None,
            region: None,
            at: OPEN,
        }
    }
}

fn plan_with(
    config: &Config,
    case: Case<'_>,
    hosts: &HostTable,
    healthy: &dyn Fn(&Peer) -> bool,
) -> Result<RoutePlan, Rejection> {
    let tracking = config.tracking_number(case.number).unwrap();
    let facts = CallFacts {
        tracking,
        source: case.source,
        region: case.region,
        at: at(case.at),
    };
    select(config, &facts, hosts, healthy)
}

fn plan(case: Case<'_>) -> RoutePlan {
    plan_with(&config(), case, &HostTable::default(), &all_up).unwrap()
}

fn uris(step: &StepPlan) -> Vec<&str> {
    step.targets.iter().map(|t| t.target.uri.as_str()).collect()
}

#[test]
fn no_matching_route_takes_the_sites_forward_to() {
    let p = plan(Case {
        number: "74950000009",
        ..Case::default()
    });
    assert_eq!(p.scheme, "forward_to");
    assert_eq!(p.reason, "site other forward_to");
    assert!(!p.after_hours);
    assert_eq!(p.steps.len(), 1);
    assert_eq!(p.steps[0].strategy, Strategy::Sequential);
    assert_eq!(uris(&p.steps[0]), ["sip:74950000009@127.0.0.1:5070"]);
    let target = &p.steps[0].targets[0];
    assert_eq!(target.label, "sip:127.0.0.1:5070");
    assert_eq!(target.ring_timeout, Duration::from_secs(45));
    assert_eq!(p.fallback, None);
    assert_eq!(p.failover, FailoverRules::default());
}

#[test]
fn the_first_matching_route_wins_in_file_order() {
    // 74950000003 matches routes[0] (number) and routes[4] (site): file order decides.
    let p = plan(Case {
        number: "74950000003",
        ..Case::default()
    });
    assert_eq!(
        (p.scheme.as_str(), p.reason.as_str()),
        ("night", "routes[0]")
    );
    // A static number's source, compared case-insensitively, before the site route.
    let p = plan(Case {
        number: "74950000002",
        source: Some("Google"),
        ..Case::default()
    });
    assert_eq!(
        (p.scheme.as_str(), p.reason.as_str()),
        ("google", "routes[2]")
    );
    // A pool number without a source takes the pool route.
    let p = plan(Case {
        number: "74950000101",
        ..Case::default()
    });
    assert_eq!(
        (p.scheme.as_str(), p.reason.as_str()),
        ("sales", "routes[3]")
    );
}

#[test]
fn region_is_the_visitors_else_the_pools() {
    let branch = |number, region| {
        let p = plan(Case {
            number,
            region,
            ..Case::default()
        });
        (p.scheme, p.reason)
    };
    // The spb pool's own region.
    assert_eq!(
        branch("78120000100", None),
        ("spb".into(), "routes[1]".into())
    );
    // A visitor from spb on a number of the web pool.
    assert_eq!(
        branch("74950000100", Some(" SPB ")),
        ("spb".into(), "routes[1]".into())
    );
    // A visitor from elsewhere on an spb pool number: the visitor's region counts.
    assert_eq!(
        branch("78120000100", Some("msk")),
        ("sales".into(), "routes[4]".into())
    );
}

#[test]
fn a_condition_without_a_value_does_not_match() {
    // routes[2] wants source google; the billboard number has source billboard.
    let p = plan(Case {
        source: Some("billboard"),
        ..Case::default()
    });
    assert_eq!(p.reason, "routes[4]");
}

#[test]
fn open_hours_take_the_scheme_closed_hours_the_after_hours_scheme() {
    let scheme_at = |when| {
        let p = plan(Case {
            at: when,
            ..Case::default()
        });
        (p.scheme, p.after_hours, p.reason)
    };
    let open = ("sales".to_owned(), false, "routes[4]".to_owned());
    let closed = (
        "night".to_owned(),
        true,
        "after hours of routes[4]".to_owned(),
    );
    assert_eq!(scheme_at(OPEN), open);
    assert_eq!(scheme_at("2026-11-23T09:00:00+03:00"), open);
    assert_eq!(
        scheme_at("2026-11-23T18:00:00+03:00"),
        closed,
        "the end is exclusive"
    );
    assert_eq!(
        scheme_at("2026-11-23T13:30:00+03:00"),
        closed,
        "lunch break"
    );
    assert_eq!(scheme_at("2026-11-23T21:00:00+03:00"), closed);
    assert_eq!(scheme_at("2026-11-28T10:00:00+03:00"), closed, "Saturday");
}

#[test]
fn schedules_are_judged_in_their_own_time_zone() {
    let scheme_at = |when| {
        plan(Case {
            at: when,
            ..Case::default()
        })
        .scheme
    };
    // 08:30 in Berlin is 10:30 in Moscow: open.
    assert_eq!(scheme_at("2026-11-23T08:30:00+01:00"), "sales");
    // 15:30 UTC lies in 14:00-18:00 but is 18:30 in Moscow: closed.
    assert_eq!(scheme_at("2026-11-23T15:30:00Z"), "night");
    // 23:30 UTC on Sunday is Monday 02:30 in Moscow: closed (Monday's hours start at 9).
    assert_eq!(scheme_at("2026-11-22T23:30:00Z"), "night");
    // 06:30 UTC on Monday is 09:30 in Moscow: open.
    assert_eq!(scheme_at("2026-11-23T06:30:00Z"), "sales");
}

#[test]
fn holidays_are_closed_all_day() {
    // 2026-12-31 is a Thursday.
    let p = plan(Case {
        at: "2026-12-31T10:00:00+03:00",
        ..Case::default()
    });
    assert_eq!((p.scheme.as_str(), p.after_hours), ("night", true));
    let p = plan(Case {
        at: "2026-12-30T10:00:00+03:00",
        ..Case::default()
    });
    assert_eq!((p.scheme.as_str(), p.after_hours), ("sales", false));
    // The holiday is a local date: 22:00 UTC on the 30th is already the 31st in Moscow.
    let p = plan(Case {
        at: "2026-12-30T22:00:00Z",
        ..Case::default()
    });
    assert!(p.after_hours);
}

#[test]
fn daylight_saving_time_moves_the_hours() {
    let config = config();
    let berlin = config.routing.schedule("berlin").unwrap();
    let open = |when| berlin.is_open(at(when));
    // Sunday 2026-03-22 is still CET (UTC+1): 07:30 UTC is 08:30, closed.
    assert!(!open("2026-03-22T07:30:00Z"));
    // Sunday 2026-03-29 the clocks went forward at 01:00 UTC: 07:30 UTC is 09:30 CEST, open.
    assert!(open("2026-03-29T07:30:00Z"));
    // ... and 16:30 UTC is 18:30 CEST, closed (it would be 17:30 in CET).
    assert!(!open("2026-03-29T16:30:00Z"));
    // October 25 the clocks went back: 16:30 UTC is 17:30 CET, open.
    assert!(open("2026-10-25T16:30:00Z"));
}

#[test]
fn steps_carry_strategy_timeouts_weights_and_gateway_credentials() {
    let hosts = HostTable::default();
    hosts.set("pbx.example.com", "127.0.0.1".parse().unwrap());
    let p = plan_with(&config(), Case::default(), &hosts, &all_up).unwrap();
    assert_eq!(p.scheme, "sales");
    let [ring_all, rotation] = &p.steps[..] else {
        panic!("two steps: {p:?}");
    };
    assert_eq!(ring_all.strategy, Strategy::Parallel);
    assert_eq!(ring_all.step_timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        uris(ring_all),
        ["sip:101@127.0.0.1:5081", "sip:102@pbx.example.com:5082"]
    );
    let timeouts: Vec<u64> = ring_all
        .targets
        .iter()
        .map(|t| t.ring_timeout.as_secs())
        .collect();
    assert_eq!(timeouts, [20, 15], "the step's, then the target's own");
    assert_eq!(rotation.strategy, Strategy::RoundRobin);
    assert!(rotation.sticky);
    assert_eq!(rotation.step_timeout, None);
    let gw = &rotation.targets[0];
    assert_eq!(gw.label, "79161234567@pbx");
    assert_eq!(
        gw.target.uri,
        "sip:79161234567@127.0.0.1:5090;transport=tcp"
    );
    assert_eq!(gw.target.peer.transport, Transport::Tcp);
    assert!(gw.target.transport_pinned);
    assert_eq!(gw.weight, 3);
    assert_eq!(
        gw.ring_timeout,
        Duration::from_secs(45),
        "[calls] ring_timeout_secs"
    );
    let auth = gw.auth.as_ref().unwrap();
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("calltrack", "secret")
    );
    assert_eq!(auth.realm.as_deref(), Some("pbx.example"));
    // A URI without a user part gets the dialled number, like forward_to.
    assert_eq!(
        rotation.targets[1].target.uri,
        "sip:74950000001@127.0.0.1:5083"
    );
    assert_eq!(rotation.targets[1].weight, 1);
    assert_eq!(rotation.targets[1].auth, None);
    let fallback = p.fallback.unwrap();
    assert_eq!(fallback.target.uri, "sip:voicemail@127.0.0.1:5099");
    assert_eq!(fallback.ring_timeout, Duration::from_secs(45));
}

#[test]
fn unresolved_hosts_are_left_out() {
    let p = plan(Case::default());
    assert_eq!(uris(&p.steps[0]), ["sip:101@127.0.0.1:5081"]);
}

#[test]
fn unhealthy_targets_and_empty_steps_are_dropped() {
    let config = config();
    let hosts = HostTable::default();
    let down = |ports: &'static [u16]| move |peer: &Peer| !ports.contains(&peer.addr.port());
    let p = plan_with(&config, Case::default(), &hosts, &down(&[5081])).unwrap();
    assert_eq!(
        p.steps.len(),
        1,
        "step 1 lost 101 (down) and 102 (unresolved)"
    );
    assert_eq!(p.steps[0].strategy, Strategy::RoundRobin);
    let p = plan_with(&config, Case::default(), &hosts, &down(&[5081, 5090])).unwrap();
    assert_eq!(uris(&p.steps[0]), ["sip:74950000001@127.0.0.1:5083"]);
    // Every step down: the fallback becomes the only step.
    let p = plan_with(&config, Case::default(), &hosts, &down(&[5081, 5083, 5090])).unwrap();
    assert_eq!(p.steps.len(), 1);
    assert_eq!(uris(&p.steps[0]), ["sip:voicemail@127.0.0.1:5099"]);
    assert_eq!(p.fallback, None);
    // Nothing left at all: 503 with Retry-After.
    let all = down(&[5081, 5083, 5090, 5099]);
    let rejection = plan_with(&config, Case::default(), &hosts, &all).unwrap_err();
    assert_eq!(
        (rejection.status, rejection.retry_after_secs),
        (503, Some(30))
    );
    // The fallback is left out like any target.
    let p = plan_with(&config, Case::default(), &hosts, &down(&[5099])).unwrap();
    assert_eq!(p.fallback, None);
}

#[test]
fn a_scheme_without_fallback_and_no_target_left_is_503() {
    let config = config();
    let night_down = |peer: &Peer| peer.addr.port() != 5084;
    let case = Case {
        number: "74950000003",
        ..Case::default()
    };
    let rejection = plan_with(&config, case, &HostTable::default(), &night_down).unwrap_err();
    assert_eq!(rejection.status, 503);
}

#[test]
fn forward_to_follows_the_target_rules() {
    let config = Config::from_toml_str(
        "[[sites]]\nid = \"a\"\nforward_to = \"sip:pbx.a.example:5070\"\n\
         static_numbers = [{ number = \"74950000001\", source = \"x\" }]\n",
    )
    .unwrap();
    let hosts = HostTable::default();
    let rejection = plan_with(&config, Case::default(), &hosts, &all_up).unwrap_err();
    assert_eq!(
        (rejection.status, rejection.retry_after_secs),
        (503, Some(30))
    );
    hosts.set("pbx.a.example", "127.0.0.2".parse().unwrap());
    let p = plan_with(&config, Case::default(), &hosts, &all_up).unwrap();
    assert_eq!(
        p.steps[0].targets[0].target.peer.addr,
        "127.0.0.2:5070".parse().unwrap()
    );
    assert_eq!(p.steps[0].targets[0].ring_timeout, Duration::from_secs(60));
    let rejection = plan_with(&config, Case::default(), &hosts, &|_: &Peer| false).unwrap_err();
    assert_eq!(rejection.status, 503);
}

#[test]
fn failover_rules_come_from_the_scheme() {
    let p = plan(Case {
        number: "74950000003",
        ..Case::default()
    });
    assert_eq!(
        p.failover.failover_statuses,
        [StatusMatch::Class(5), StatusMatch::Code(486)]
    );
    assert!(!p.failover.failover_on_timeout, "timeout is not listed");
    assert!(p.failover.fails_over(503));
    assert!(!p.failover.fails_over(408));
    assert_eq!(p.failover.final_statuses, [603]);
}
