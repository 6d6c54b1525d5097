//! Unit tests of the routing sections: a valid file loads into the expected types, and each
//! problem comes out, all at once, at its key path.

use std::time::Duration;

use super::tests::{message_at, paths};
use super::*;
use crate::config::dialing::{FailoverRules, StatusMatch, Strategy};

const SITE: &str = r#"
[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
static_numbers = [{ number = "74950000001", source = "billboard" }]
[[sites.pools]]
id = "web"
numbers = ["74950000100"]

[[sites]]
id = "other"
forward_to = "sip:127.0.0.1:5080"
static_numbers = [{ number = "74950000009", source = "radio" }]
"#;

const VALID: &str = r#"
[[gateways]]
id = "pbx"
uri = "sip:gw.example:5070;transport=tcp"
auth_user = "u"
auth_password = "p"

[[schemes]]
id = "sales"
fallback_number = "+79160000000"
fallback_gateway = "pbx"
[[schemes.steps]]
strategy = "round_robin"
sticky = true
ring_timeout_secs = 20
[[schemes.steps.targets]]
uri = "sip:101@pbx.example"
weight = 2
[[schemes.steps.targets]]
number = "101"
gateway = "pbx"
ring_timeout_secs = 10

[[schedules]]
id = "office"
time_zone = "Europe/Moscow"
mon = ["14:00-18:00", "09:00-13:00"]
sun = ["00:00-24:00"]
holidays = ["2026-12-31"]

[[routes]]
site = "demo"
pool = "web"
region = " SPB "
source = "google"
scheme = "sales"
schedule = "office"
after_hours_scheme = "sales"
"#;

fn with_site(text: &str) -> String {
    format!("{SITE}{text}")
}

#[test]
fn a_valid_routing_config_loads() {
    let config = Config::from_toml_str(&with_site(VALID)).unwrap();
    let routing = &config.routing;
    let gateway = routing.gateway("pbx").unwrap();
    assert_eq!(gateway.auth.as_ref().unwrap().username, "u");
    assert_eq!(gateway.auth.as_ref().unwrap().realm, None);
    let scheme = routing.scheme("sales").unwrap();
    assert_eq!(scheme.failover, FailoverRules::default());
    let step = &scheme.steps[0];
    assert_eq!(step.strategy, Strategy::RoundRobin);
    assert!(step.sticky);
    assert_eq!(step.ring_timeout, Some(Duration::from_secs(20)));
    assert_eq!(step.targets[0].weight, 2);
    assert_eq!(step.targets[1].dest.label(), "101@pbx");
    assert_eq!(step.targets[1].ring_timeout, Some(Duration::from_secs(10)));
    let fallback = scheme.fallback.as_ref().unwrap();
    assert_eq!(fallback.dest.label(), "+79160000000@pbx");
    let office = routing.schedule("office").unwrap();
    assert_eq!(office.week[0], [(540, 780), (840, 1080)], "sorted");
    assert_eq!(office.week[6], [(0, 1440)]);
    assert!(office.week[1].is_empty());
    let route = &routing.routes[0];
    assert_eq!(route.path, "routes[0]");
    assert_eq!(route.region.as_deref(), Some("spb"));
    let after = route.after_hours.as_ref().unwrap();
    assert_eq!(
        (after.schedule.as_str(), after.scheme.as_str()),
        ("office", "sales")
    );
    // Host names to resolve: the gateway and the URI target.
    let mut names = routing.host_names();
    names.sort();
    assert_eq!(
        names,
        [
            ("gw.example".to_owned(), 5070),
            ("pbx.example".to_owned(), 5060)
        ]
    );
}

#[test]
fn no_routing_sections_is_no_routing() {
    let config = Config::from_toml_str(SITE).unwrap();
    assert_eq!(config.routing, RoutingConfig::default());
}

#[test]
fn gateway_problems() {
    let text = r#"
[[gateways]]
id = "Bad Id"
uri = "sip:user@gw.example"
auth_user = "u"
[[gateways]]
id = "gw"
uri = "http://x"
auth_password = "p"
auth_realm = ""
[[gateways]]
id = "gw"
auth_realm = "r"
"#;
    assert_eq!(
        paths(text),
        [
            "gateways[0].auth_password",
            "gateways[0].id",
            "gateways[0].uri",
            "gateways[1].auth_realm",
            "gateways[1].auth_user",
            "gateways[1].uri",
            "gateways[2].auth_realm",
            "gateways[2].id",
            "gateways[2].uri",
        ]
    );
    assert!(message_at(text, "gateways[0].uri").contains("no user part"));
    assert!(message_at(text, "gateways[2].id").contains("duplicate id \"gw\""));
    assert!(message_at(text, "gateways[2].uri").contains("missing"));
}

#[test]
fn scheme_and_step_problems() {
    let text = r#"
[[schemes]]
id = "a"
[[schemes]]
id = "a"
fallback = "sip:vm@127.0.0.1"
fallback_number = "123"
[[schemes.steps]]
[[schemes.steps]]
strategy = "parallel"
sticky = true
ring_timeout_secs = 0
step_timeout_secs = 99999
[[schemes.steps.targets]]
uri = "sip:1@127.0.0.1"
number = "1"
gateway = "g"
[[schemes.steps.targets]]
[[schemes.steps.targets]]
number = "12a"
gateway = "nope"
weight = 0
ring_timeout_secs = 0
[[schemes.steps.targets]]
number = "12"
[[schemes.steps.targets]]
gateway = "nope"
[[schemes.steps.targets]]
uri = "sip:bad host"
"#;
    let t = "schemes[1].steps[1].targets";
    assert_eq!(
        paths(text),
        [
            "schemes[0].steps".to_owned(),
            "schemes[1]".to_owned(),
            "schemes[1].id".to_owned(),
            "schemes[1].steps[0].targets".to_owned(),
            "schemes[1].steps[1].ring_timeout_secs".to_owned(),
            "schemes[1].steps[1].step_timeout_secs".to_owned(),
            "schemes[1].steps[1].sticky".to_owned(),
            format!("{t}[0]"),
            format!("{t}[1]"),
            format!("{t}[2].gateway"),
            format!("{t}[2].number"),
            format!("{t}[2].ring_timeout_secs"),
            format!("{t}[2].weight"),
            format!("{t}[3].gateway"),
            format!("{t}[4].number"),
            format!("{t}[5].uri"),
        ]
    );
    assert!(message_at(text, "schemes[1]").contains("either fallback or fallback_number"));
    assert!(message_at(text, &format!("{t}[0]")).contains("not both"));
    assert!(message_at(text, &format!("{t}[2].gateway")).contains("unknown gateway \"nope\""));
    assert!(message_at(text, "schemes[1].steps[1].sticky").contains("round_robin"));
}

#[test]
fn unknown_strategy_is_named_by_path() {
    let text = "[[schemes]]\nid = \"a\"\n[[schemes.steps]]\nstrategy = \"random\"\n\
                [[schemes.steps.targets]]\nuri = \"sip:127.0.0.1\"\n";
    let message = message_at(text, "schemes[0].steps[0].strategy");
    assert!(message.contains("round_robin"), "{message}");
}

#[test]
fn failover_codes() {
    let text = r#"
[[schemes]]
id = "a"
failover_on = ["timeout", "5XX", "404", "200", "2xx", "busy"]
final_statuses = [486, 180, "603"]
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:127.0.0.1"
"#;
    assert_eq!(
        paths(text),
        [
            "schemes[0].failover_on[3]",
            "schemes[0].failover_on[4]",
            "schemes[0].failover_on[5]",
            "schemes[0].final_statuses[1]",
            "schemes[0].final_statuses[2]",
        ]
    );
    let valid = text
        .replace(", \"200\", \"2xx\", \"busy\"", "")
        .replace(", 180, \"603\"", "");
    let config = Config::from_toml_str(&valid).unwrap();
    let rules = &config.routing.schemes[0].failover;
    assert!(rules.failover_on_timeout);
    assert_eq!(
        rules.failover_statuses,
        [StatusMatch::Class(5), StatusMatch::Code(404)]
    );
    assert_eq!(rules.final_statuses, [486]);
}

#[test]
fn schedule_problems() {
    let text = r#"
[[schedules]]
id = "a"
time_zone = "Mars/Olympus"
mon = ["09:00-13:00", "12:00-18:00", "18:00-17:00", "9-17", "24:00-24:00", "10:60-11:00"]
tue = ["09:00-09:00", "22:00-02:00"]
holidays = ["2026-02-30", "31.12.2026"]
[[schedules]]
mon = ["00:00-24:00", "23:00-24:01"]
"#;
    assert_eq!(
        paths(text),
        [
            "schedules[0].holidays[0]",
            "schedules[0].holidays[1]",
            "schedules[0].mon[1]",
            "schedules[0].mon[2]",
            "schedules[0].mon[3]",
            "schedules[0].mon[4]",
            "schedules[0].mon[5]",
            "schedules[0].time_zone",
            "schedules[0].tue[0]",
            "schedules[0].tue[1]",
            "schedules[1].id",
            "schedules[1].mon[1]",
            "schedules[1].time_zone",
        ]
    );
    assert!(message_at(text, "schedules[0].mon[1]").contains("overlaps schedules[0].mon[0]"));
    assert!(message_at(text, "schedules[0].tue[1]").contains("midnight"));
    assert!(message_at(text, "schedules[0].time_zone").contains("IANA"));
}

#[test]
fn route_problems() {
    let text = with_site(
        r#"
[[schemes]]
id = "s"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:127.0.0.1"
[[schedules]]
id = "office"
time_zone = "UTC"

[[routes]]
site = "nope"
number = "74950000077"
pool = "nope"
source = " "
region = ""
[[routes]]
site = "other"
number = "74950000001"
pool = "web"
scheme = "s"
schedule = "office"
[[routes]]
scheme = "x"
schedule = "y"
after_hours_scheme = "z"
[[routes]]
scheme = "s"
after_hours_scheme = "s"
"#,
    );
    assert_eq!(
        paths(&text),
        [
            "routes[0].number",
            "routes[0].pool",
            "routes[0].region",
            "routes[0].scheme",
            "routes[0].site",
            "routes[0].source",
            "routes[1].after_hours_scheme",
            "routes[1].number",
            "routes[1].pool",
            "routes[2].after_hours_scheme",
            "routes[2].schedule",
            "routes[2].scheme",
            "routes[3].schedule",
        ]
    );
    assert!(message_at(&text, "routes[1].number").contains("belongs to site \"demo\""));
    assert!(message_at(&text, "routes[2].after_hours_scheme").contains("unknown scheme \"z\""));
    assert!(message_at(&text, "routes[2].schedule").contains("unknown schedule \"y\""));
}

#[test]
fn a_scheme_counts_unless_it_says_not() {
    let support = "\n[[schemes]]\nid = \"support\"\ncounted = false\n[[schemes.steps]]\n\
                   [[schemes.steps.targets]]\nuri = \"sip:support@127.0.0.1:5070\"\n";
    let config = Config::from_toml_str(&with_site(&format!("{VALID}{support}"))).unwrap();
    assert!(!config.routing.scheme("support").unwrap().counted);
    assert!(config.routing.scheme("sales").unwrap().counted, "default");
}
