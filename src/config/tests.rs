//! Unit tests of loading and validation: each problem must come out, at once, at its key path.

use std::net::IpAddr;

use super::*;

const SITE: &str = r#"
[[sites]]
id = "a"
forward_to = "sip:127.0.0.1:5080"
"#;

pub(super) fn problems(text: &str) -> Vec<ConfigProblem> {
    match Config::from_toml_str(text) {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

pub(super) fn paths(text: &str) -> Vec<String> {
    problems(text).into_iter().map(|p| p.path).collect()
}

pub(super) fn message_at(text: &str, path: &str) -> String {
    let all = problems(text);
    all.iter()
        .find(|p| p.path == path)
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no problem at {path}: {all:?}"))
}

#[test]
fn empty_file_is_the_documented_defaults() {
    let config = Config::from_toml_str("").unwrap();
    assert_eq!(config.sip.udp_listen, ["127.0.0.1:5060".parse().unwrap()]);
    assert_eq!(config.sip.max_message_bytes, 65_535);
    assert_eq!(config.sip.timers, TimerConfig::default());
    assert_eq!(config.store.flush_interval, Duration::from_millis(50));
    assert_eq!(config.calls.max_call_duration, Duration::from_secs(14_400));
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(config.sites.is_empty());
    assert_eq!(config.tracking_number_count(), 0);
}

#[test]
fn unknown_nested_key_is_named_by_path() {
    let message = message_at("[sip.timers]\nt1_msx = 5\n", "sip.timers.t1_msx");
    assert!(message.starts_with("unknown key"), "{message}");
    assert!(message.contains("t1_ms"), "{message}");
}

#[test]
fn unknown_key_inside_array_of_tables() {
    let text =
        format!("{SITE}\n[[sites.pools]]\nid = \"web\"\nnumbers = [\"74950000100\"]\nsize = 3\n");
    assert_eq!(paths(&text), ["sites[0].pools[0].size"]);
}

#[test]
fn wrong_type_is_named_by_path() {
    let message = message_at("[sip]\nmax_headers = \"many\"\n", "sip.max_headers");
    assert!(message.contains("invalid type"), "{message}");
}

#[test]
fn wrong_table_type_does_not_echo_internal_names() {
    let message = message_at("sip = 4\n", "sip");
    assert!(message.ends_with("expected a table"), "{message}");
}

#[test]
fn bad_array_elements_keep_their_own_indices() {
    let text = "[sip]\nudp_listen = [5, \"nonsense\", \"127.0.0.1:5060\", true]\n";
    assert_eq!(
        paths(text),
        [
            "sip.udp_listen[0]",
            "sip.udp_listen[1]",
            "sip.udp_listen[3]"
        ]
    );
}

#[test]
fn non_table_site_is_one_problem() {
    let text = "sites = [1, { id = \"b\", forward_to = \"ftp:x\" }]\n";
    assert_eq!(paths(text), ["sites[0]", "sites[1].forward_to"]);
}

#[test]
fn missing_required_keys() {
    let text =
        "[[sites]]\nname = \"x\"\n[[sites.static_numbers]]\nmedium = \"m\"\n[[sites.pools]]\n";
    assert_eq!(
        paths(text),
        [
            "sites[0].forward_to",
            "sites[0].id",
            "sites[0].pools[0].id",
            "sites[0].pools[0].numbers",
            "sites[0].static_numbers[0].number",
            "sites[0].static_numbers[0].source",
        ]
    );
}

#[test]
fn number_used_twice_across_sites_names_both_places() {
    let text = r#"
[[sites]]
id = "a"
forward_to = "sip:a.example"
[[sites.static_numbers]]
number = "74950000001"
source = "radio"

[[sites]]
id = "b"
forward_to = "sip:b.example"
default_number = "74950000001"
"#;
    let message = message_at(text, "sites[1].default_number");
    assert!(message.contains("74950000001"), "{message}");
    assert!(
        message.contains("sites[0].static_numbers[0].number"),
        "{message}"
    );
}

#[test]
fn overlapping_pool_ranges_are_reported_once() {
    let text = format!(
        "{SITE}[[sites.pools]]\nid = \"web\"\nnumbers = [\"74950000100-74950000149\", \"74950000140-74950000159\"]\n"
    );
    let all = problems(&text);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].path, "sites[0].pools[0].numbers[1]");
    assert!(
        all[0]
            .message
            .starts_with("10 of these 20 numbers are already used"),
        "{}",
        all[0].message
    );
    assert!(
        all[0].message.contains("sites[0].pools[0].numbers[0]"),
        "{}",
        all[0].message
    );
}

#[test]
fn bad_range_is_reported() {
    let text =
        format!("{SITE}[[sites.pools]]\nid = \"web\"\nnumbers = [\"74950000149-74950000100\"]\n");
    let message = message_at(&text, "sites[0].pools[0].numbers[0]");
    assert!(message.contains("first is greater than last"), "{message}");
}

#[test]
fn bad_uri_is_reported() {
    let text = "[[sites]]\nid = \"a\"\nforward_to = \"http://pbx.example\"\n";
    let message = message_at(text, "sites[0].forward_to");
    assert!(message.contains("is not a SIP URI"), "{message}");
}

#[test]
fn duplicate_ids() {
    let text = format!(
        "{SITE}{SITE}[[sites.pools]]\nid = \"p\"\nnumbers = [\"74950000100\"]\n[[sites.pools]]\nid = \"p\"\nnumbers = [\"74950000101\"]\n"
    );
    assert_eq!(paths(&text), ["sites[1].id", "sites[1].pools[1].id"]);
}

#[test]
fn many_problems_at_once_with_exact_paths() {
    let text = r#"
[sip]
udp_listen = []
tcp_listen = []
max_message_bytes = 100
colour = "blue"

[sip.timers]
t1_ms = 5000
t2_ms = 4000
t1_msx = 1

[store]
queue_capacity = "big"

[log]
format = "xml"

[[sites]]
id = "Bad Id"
forward_to = "sip:"

[[sites.static_numbers]]
number = "7495abc"
source = ""
"#;
    assert_eq!(
        paths(text),
        [
            "log.format",
            "sip",
            "sip.colour",
            "sip.max_message_bytes",
            "sip.timers.t1_ms",
            "sip.timers.t1_msx",
            "sip.udp_max_request_bytes",
            "sites[0].forward_to",
            "sites[0].id",
            "sites[0].static_numbers[0].number",
            "sites[0].static_numbers[0].source",
            "store.queue_capacity",
        ]
    );
    let err = Config::from_toml_str(text).unwrap_err();
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 12, "{shown}");
    assert!(
        shown.contains("sites[0].static_numbers[0].number: \"7495abc\" is not E.164 digits"),
        "{shown}"
    );
}

#[test]
fn syntax_error_has_line_and_column() {
    let err = Config::from_toml_str("a = 1\nb = [\n").unwrap_err();
    let ConfigError::Syntax(message) = &err else {
        panic!("expected Syntax, got {err:?}");
    };
    assert!(message.starts_with("line 2, column"), "{message}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Config::load(Some(Path::new("/nonexistent/calltrack.toml"))).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
}

#[test]
fn embedded_default_resolves_demo_numbers() {
    let config = Config::embedded_default().unwrap();
    let number = config.tracking_number("74950000001").unwrap();
    assert_eq!(number.site, "demo");
    assert_eq!(number.forward_to, "sip:127.0.0.1:5080");
    assert!(matches!(&number.kind, NumberKind::Static { source, .. } if source == "billboard"));
    let pooled = config.tracking_number("74950000149").unwrap();
    assert_eq!(
        pooled.kind,
        NumberKind::Dynamic {
            pool: "web".to_owned()
        }
    );
    assert_eq!(
        config.tracking_number("74950000000").unwrap().kind,
        NumberKind::Default
    );
    assert_eq!(
        config.tracking_number("74950000099").unwrap().kind,
        NumberKind::Reserve
    );
    assert!(config.tracking_number("74950000150").is_none());
    assert_eq!(config.tracking_number_count(), 3 + 50 + 2);
}

#[test]
fn trusted_carriers_match_bare_ips_and_mapped_ipv6() {
    let text = "[carriers]\ntrusted = [\"192.0.2.10\", \"2001:db8::/32\"]\n";
    let config = Config::from_toml_str(text).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(config.is_trusted_carrier(ip("192.0.2.10")));
    assert!(!config.is_trusted_carrier(ip("192.0.2.11")));
    assert!(config.is_trusted_carrier(ip("::ffff:192.0.2.10")));
    assert!(config.is_trusted_carrier(ip("2001:db8::5")));
    assert!(!config.is_trusted_carrier(ip("127.0.0.1")));
}

#[test]
fn bad_carrier_network_is_reported() {
    let text = "[carriers]\ntrusted = [\"10.0.0.0/33\"]\n";
    assert_eq!(paths(text), ["carriers.trusted[0]"]);
}

#[test]
fn invalid_log_level_is_reported() {
    assert_eq!(paths("[log]\nlevel = \"info,,=x=\"\n"), ["log.level"]);
}

#[test]
fn tcp_admission_defaults_and_bounds() {
    let config = Config::from_toml_str("").unwrap();
    assert_eq!(config.sip.tcp_reserved_trusted_percent, 25);
    assert_eq!(config.sip.tcp_reserved_trusted_connections(), 256);
    assert_eq!(config.sip.tcp_max_connections_per_source, 16);
    assert_eq!(config.sip.tcp_message_timeout, Duration::from_secs(10));
    let text = "[sip]\ntcp_max_connections = 10\ntcp_reserved_trusted_percent = 101\n\
tcp_max_connections_per_source = 0\ntcp_message_timeout_ms = 0\n";
    assert_eq!(
        paths(text),
        [
            "sip.tcp_max_connections_per_source",
            "sip.tcp_message_timeout_ms",
            "sip.tcp_reserved_trusted_percent",
        ]
    );
    let text = "[sip]\ntcp_max_connections = 10\ntcp_reserved_trusted_percent = 35\n";
    let config = Config::from_toml_str(text).unwrap();
    assert_eq!(
        config.sip.tcp_reserved_trusted_connections(),
        3,
        "rounded down"
    );
}

#[test]
fn the_overload_guard_keys_are_checked_with_their_paths() {
    let text = "[calls]\noverload_queue_delay_ms = 0\noverload_retry_after_secs = 3601\n";
    assert_eq!(
        paths(text),
        [
            "calls.overload_queue_delay_ms",
            "calls.overload_retry_after_secs"
        ]
    );
    let config = Config::from_toml_str(
        "[calls]\noverload_queue_delay_ms = 50\noverload_retry_after_secs = 9\n",
    )
    .unwrap();
    assert_eq!(
        config.calls.overload_queue_delay,
        std::time::Duration::from_millis(50)
    );
    assert_eq!(config.calls.overload_retry_after_secs, 9);
}
