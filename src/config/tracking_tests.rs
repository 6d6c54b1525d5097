//! Unit tests of the issue-3 keys: `[tracking]`, `[geo]`, the `[http]` limits and a site's
//! origins, offset, heartbeat, pool regions and display rules, each at its key path.

use std::io::Write;

use jiff::civil::time;
use jiff::tz::Offset;

use super::tests::{message_at, paths};
use super::*;

const SITE: &str = r#"
[[sites]]
id = "a"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"

[[sites.static_numbers]]
number = "74950000001"
source = "radio"

[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000109"]

[[sites.pools]]
id = "web-msk"
numbers = ["74950000200"]
region = " Moscow "
"#;

/// The test site with one `[[sites.rules]]` table holding `rule`.
fn with_rule(rule: &str) -> String {
    format!("{SITE}\n[[sites.rules]]\n{rule}\n")
}

/// The test site with `keys` added at site level.
fn with_site_keys(keys: &str) -> String {
    SITE.replacen(
        "default_number = \"74950000000\"\n",
        &format!("default_number = \"74950000000\"\n{keys}\n"),
        1,
    )
}

#[test]
fn defaults_of_the_new_keys() {
    let config = Config::from_toml_str(SITE).unwrap();
    assert_eq!(config.tracking.header_prefix, "X-CT-");
    assert!(config.tracking.diversion);
    assert_eq!(
        config.tracking.unique_window,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(config.tracking.quality_min_talk, Duration::from_secs(30));
    assert_eq!(config.geo, GeoConfig::default());
    assert_eq!(config.http.rate_limit_per_minute, 120);
    assert_eq!(config.http.max_body_bytes, 8192);
    assert_eq!(config.http.trusted_proxies.len(), 2);
    let site = config.site("a").unwrap();
    assert!(site.origins.is_empty());
    assert_eq!(site.utc_offset, Offset::UTC);
    assert_eq!(site.lease_cooldown, Duration::from_secs(60));
    assert_eq!(site.heartbeat, Duration::from_secs(30));
    assert_eq!(site.pools[1].region.as_deref(), Some("moscow"));
    assert!(site.rules.is_empty());
}

#[test]
fn unique_window_zero_is_forever() {
    let config = Config::from_toml_str("[tracking]\nunique_window_days = 0\n").unwrap();
    assert_eq!(config.tracking.unique_window, None);
}

#[test]
fn forwarded_header_bound_and_carrier_diversion() {
    let config = Config::from_toml_str("").unwrap();
    assert_eq!(config.tracking.max_forwarded_header_bytes, 1024);
    assert!(config.tracking.keep_carrier_diversion);
    let text = "[tracking]\nkeep_carrier_diversion = false\nmax_forwarded_header_bytes = 64\n";
    let config = Config::from_toml_str(text).unwrap();
    assert!(!config.tracking.keep_carrier_diversion);
    assert_eq!(config.tracking.max_forwarded_header_bytes, 64);
    for bad in [63, 65_536] {
        let text = format!("[tracking]\nmax_forwarded_header_bytes = {bad}\n");
        assert_eq!(
            message_at(&text, "tracking.max_forwarded_header_bytes"),
            format!("{bad} is out of range 64..=65535")
        );
    }
}

#[test]
fn tracking_values_out_of_range() {
    let text = "[tracking]\nunique_window_days = 5000\nquality_min_talk_secs = 7200\n";
    assert_eq!(
        paths(text),
        [
            "tracking.quality_min_talk_secs",
            "tracking.unique_window_days"
        ]
    );
}

#[test]
fn header_prefix_must_be_a_token_ending_with_dash() {
    for bad in ["", "X-CT", "X CT-", "X-CT:-", "X-\r\n-"] {
        let text = format!("[tracking]\nheader_prefix = {bad:?}\n");
        assert_eq!(paths(&text), ["tracking.header_prefix"], "{bad:?}");
    }
    let long = format!("[tracking]\nheader_prefix = \"{}-\"\n", "X".repeat(40));
    assert_eq!(paths(&long), ["tracking.header_prefix"]);
    let ok = Config::from_toml_str("[tracking]\nheader_prefix = \"X-Track_1-\"\n").unwrap();
    assert_eq!(ok.tracking.header_prefix, "X-Track_1-");
}

#[test]
fn http_limits_and_proxies() {
    let text = "[http]\nrate_limit_per_minute = 0\nmax_body_bytes = 10\ntrusted_proxies = [\"10.0.0.0/8\", \"nope\"]\n";
    assert_eq!(
        paths(text),
        [
            "http.max_body_bytes",
            "http.rate_limit_per_minute",
            "http.trusted_proxies[1]"
        ]
    );
}

#[test]
fn geo_networks_are_checked_and_lowercased() {
    let text = "[[geo.networks]]\ncidr = \"10.1.0.0/16\"\nregion = \"Moscow\"\n[[geo.networks]]\ncidr = \"10.0.0.0/33\"\nregion = \" \"\n[[geo.networks]]\n";
    assert_eq!(
        paths(text),
        [
            "geo.networks[1].cidr",
            "geo.networks[1].region",
            "geo.networks[2].cidr",
            "geo.networks[2].region"
        ]
    );
    let ok =
        Config::from_toml_str("[[geo.networks]]\ncidr = \"10.1.0.0/16\"\nregion = \"Moscow\"\n")
            .unwrap();
    assert_eq!(
        ok.geo.networks,
        [("10.1.0.0/16".parse().unwrap(), "moscow".to_owned())]
    );
}

#[test]
fn mmdb_path_must_exist() {
    let message = message_at(
        "[geo]\nmmdb_path = \"/nonexistent/x.mmdb\"\n",
        "geo.mmdb_path",
    );
    assert!(message.contains("does not exist"), "{message}");
    assert_eq!(paths("[geo]\nmmdb_path = \"\"\n"), ["geo.mmdb_path"]);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"x").unwrap();
    let text = format!("[geo]\nmmdb_path = {:?}\n", file.path().to_str().unwrap());
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.geo.mmdb_path.as_deref(), Some(file.path()));
}

#[test]
fn origins_are_bare_http_origins_normalised() {
    let text = with_site_keys(
        r#"origins = ["https://Shop.Example", "http://localhost:8080", "https://shop.example:443", "https://shop.example/", "https://shop.example/path", "ftp://shop.example", "shop.example", "https://user@shop.example"]"#,
    );
    assert_eq!(
        paths(&text),
        [
            "sites[0].origins[2]",
            "sites[0].origins[3]",
            "sites[0].origins[4]",
            "sites[0].origins[5]",
            "sites[0].origins[6]",
            "sites[0].origins[7]"
        ]
    );
    let ok = with_site_keys(r#"origins = ["https://Shop.Example", "http://localhost:8080"]"#);
    let config = Config::from_toml_str(&ok).unwrap();
    assert_eq!(
        config.sites[0].origins,
        ["https://shop.example", "http://localhost:8080"]
    );
}

#[test]
fn utc_offsets() {
    for (text, expected) in [
        ("+03:00", Offset::constant(3)),
        (
            "-05:30",
            Offset::from_seconds(-(5 * 3600 + 30 * 60)).unwrap(),
        ),
        ("+00:00", Offset::UTC),
    ] {
        let config =
            Config::from_toml_str(&with_site_keys(&format!("utc_offset = {text:?}"))).unwrap();
        assert_eq!(config.sites[0].utc_offset, expected, "{text}");
    }
    for bad in ["03:00", "+3:00", "+24:00", "+03:60", "UTC", "+03:00:00", ""] {
        let text = with_site_keys(&format!("utc_offset = {bad:?}"));
        assert_eq!(paths(&text), ["sites[0].utc_offset"], "{bad:?}");
    }
}

#[test]
fn heartbeat_must_be_below_freeze() {
    let text = with_site_keys("freeze_secs = 30\nheartbeat_secs = 30");
    let message = message_at(&text, "sites[0].heartbeat_secs");
    assert!(message.contains("less than freeze_secs (30)"), "{message}");
    assert_eq!(
        paths(&with_site_keys("heartbeat_secs = 0")),
        ["sites[0].heartbeat_secs"]
    );
    assert_eq!(
        paths(&with_site_keys("lease_cooldown_secs = 100000")),
        ["sites[0].lease_cooldown_secs"]
    );
}

#[test]
fn blank_pool_region_is_reported() {
    let text = SITE.replace("region = \" Moscow \"", "region = \"\"");
    assert_eq!(paths(&text), ["sites[0].pools[1].region"]);
}

#[test]
fn rule_actions_decode() {
    let text = format!(
        "{}\n[[sites.rules]]\nnumber = \"74950000001\"\n[[sites.rules]]\ndefault = true\n",
        with_rule(
            "utm_source = [\"google\"]\ntime_of_day = \"22:00-06:30\"\npools = [\"web-msk\", \"web\"]"
        )
    );
    let config = Config::from_toml_str(&text).unwrap();
    let rules = &config.sites[0].rules;
    assert_eq!(
        rules[0].action,
        DisplayAction::Pools(vec!["web-msk".into(), "web".into()])
    );
    assert_eq!(
        rules[0].time_of_day,
        Some((time(22, 0, 0, 0), time(6, 30, 0, 0)))
    );
    assert_eq!(rules[0].utm_source, ["google"]);
    assert_eq!(rules[1].action, DisplayAction::Number("74950000001".into()));
    assert_eq!(rules[2].action, DisplayAction::Default);
}

#[test]
fn rule_needs_exactly_one_action() {
    for rule in [
        "utm_source = [\"x\"]",
        "default = false",
        "default = true\nnumber = \"74950000001\"",
        "pools = [\"web\"]\ndefault = true",
    ] {
        let message = message_at(&with_rule(rule), "sites[0].rules[0]");
        assert!(message.starts_with("needs exactly one action"), "{message}");
    }
}

#[test]
fn rule_pools_must_exist_once_and_not_be_empty() {
    let text = with_rule("pools = [\"web\", \"nope\", \"web\"]");
    assert_eq!(
        paths(&text),
        ["sites[0].rules[0].pools[1]", "sites[0].rules[0].pools[2]"]
    );
    let message = message_at(&text, "sites[0].rules[0].pools[1]");
    assert!(message.contains("(pools: web, web-msk)"), "{message}");
    assert_eq!(paths(&with_rule("pools = []")), ["sites[0].rules[0].pools"]);
}

#[test]
fn rule_number_must_be_a_static_number_of_the_site() {
    for number in ["74950000000", "74950000100", "79990000000"] {
        let text = with_rule(&format!("number = {number:?}"));
        assert_eq!(paths(&text), ["sites[0].rules[0].number"], "{number}");
    }
}

#[test]
fn time_of_day_windows() {
    for bad in [
        "9:00-21:00",
        "09:00",
        "09:00-09:00",
        "21:00-24:00",
        "xx:00-01:00",
    ] {
        let text = with_rule(&format!("time_of_day = {bad:?}\ndefault = true"));
        assert_eq!(paths(&text), ["sites[0].rules[0].time_of_day"], "{bad:?}");
    }
}

#[test]
fn blank_patterns_are_reported() {
    let text = with_rule("utm_campaign = [\"a\", \" \"]\nregion = [\"\"]\ndefault = true");
    assert_eq!(
        paths(&text),
        [
            "sites[0].rules[0].region[0]",
            "sites[0].rules[0].utm_campaign[1]"
        ]
    );
}

#[test]
fn unknown_rule_key_is_named_by_path() {
    let message = message_at(
        &with_rule("utm_sorce = [\"x\"]\ndefault = true"),
        "sites[0].rules[0].utm_sorce",
    );
    assert!(message.starts_with("unknown key"), "{message}");
}

#[test]
fn many_new_problems_at_once() {
    let text = format!(
        r#"
[http]
rate_limit_per_minute = 0

[tracking]
header_prefix = "X-CT"
quality_min_talk_secs = 99999

[geo]
mmdb_path = "/nonexistent/City.mmdb"

[[geo.networks]]
cidr = "10.0.0.0/99"
region = "x"
{}
[[sites.rules]]
pools = ["ghost"]
time_of_day = "25:00-01:00"

[[sites.rules]]
number = "74950000999"
default = true
"#,
        with_site_keys(
            "utc_offset = \"+3\"\norigins = [\"https://a.example/x\"]\nheartbeat_secs = 5000"
        )
    );
    assert_eq!(
        paths(&text),
        [
            "geo.mmdb_path",
            "geo.networks[0].cidr",
            "http.rate_limit_per_minute",
            "sites[0].heartbeat_secs",
            "sites[0].origins[0]",
            "sites[0].rules[0].pools[0]",
            "sites[0].rules[0].time_of_day",
            "sites[0].rules[1]",
            "sites[0].utc_offset",
            "tracking.header_prefix",
            "tracking.quality_min_talk_secs",
        ]
    );
}

#[test]
fn callback_window_counted_and_site_quality_threshold() {
    let config = Config::from_toml_str(SITE).unwrap();
    assert_eq!(
        config.tracking.callback_window,
        Duration::from_secs(24 * 3600)
    );
    let site = config.site("a").unwrap();
    assert!(site.forward_to_counted);
    assert_eq!(config.quality_min_talk("a"), Duration::from_secs(30));

    let text = with_site_keys("forward_to_counted = false\nquality_min_talk_secs = 90")
        + "\n[tracking]\ncallback_window_hours = 48\n";
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(
        config.tracking.callback_window,
        Duration::from_secs(48 * 3600)
    );
    assert!(!config.site("a").unwrap().forward_to_counted);
    assert_eq!(config.quality_min_talk("a"), Duration::from_secs(90));
    assert_eq!(config.quality_min_talk("gone"), Duration::from_secs(30));

    let text = with_site_keys("quality_min_talk_secs = 7200")
        + "\n[tracking]\ncallback_window_hours = 0\n";
    assert_eq!(
        paths(&text),
        [
            "sites[0].quality_min_talk_secs",
            "tracking.callback_window_hours"
        ]
    );
}
