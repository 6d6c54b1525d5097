#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Config files as an operator meets them: the embedded default, the commented example, a broken
//! file, and the `check-config` command of the built binary.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::Duration;

use calltrack::config::{Config, ConfigError, DisplayAction, NumberKind};

/// Six problems: unknown key, wrong type, bad number, bad URI, duplicate number, bad range.
const BROKEN: &str = r#"
[sip.timers]
t1_msx = 500

[calls]
ring_timeout_secs = "sixty"

[[sites]]
id = "a"
forward_to = "tel:+74950000000"
default_number = "74950000001"

[[sites.static_numbers]]
number = "7495abc"
source = "radio"

[[sites.pools]]
id = "web"
numbers = ["74950000001", "74950000200-74950000100"]
"#;

const BROKEN_PATHS: [&str; 6] = [
    "calls.ring_timeout_secs",
    "sip.timers.t1_msx",
    "sites[0].forward_to",
    "sites[0].pools[0].numbers[0]",
    "sites[0].pools[0].numbers[1]",
    "sites[0].static_numbers[0].number",
];

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml")
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn calltrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn embedded_default_is_valid_and_has_the_demo_site() {
    let config = Config::load(None).unwrap();
    assert_eq!(config, Config::embedded_default().unwrap());
    assert_eq!(config.sites.len(), 1);
    let demo = &config.sites[0];
    assert_eq!(demo.id, "demo");
    assert_eq!(demo.forward_to, "sip:127.0.0.1:5080");
    assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.store.path, Path::new("./data/calltrack.db"));
    assert!(config.is_trusted_carrier("127.0.0.1".parse().unwrap()));
    assert!(config.is_trusted_carrier("::1".parse().unwrap()));
    for (number, source) in [
        ("74950000001", "billboard"),
        ("74950000002", "radio"),
        ("74950000003", "print"),
    ] {
        let found = config.tracking_number(number).unwrap();
        assert!(matches!(&found.kind, NumberKind::Static { source: s, .. } if s == source));
    }
    assert_eq!(
        demo.origins,
        ["http://127.0.0.1:8080", "http://localhost:8080"]
    );
    let web = DisplayAction::Pools(vec!["web".into()]);
    assert!(demo.rules.iter().all(|rule| rule.action == web));
    assert_eq!(demo.rules[0].utm_source, ["google"]);
    assert_eq!(demo.pools[0].numbers.len(), 50);
    assert_eq!(
        config.tracking_number("74950000100").unwrap().kind,
        NumberKind::Dynamic { pool: "web".into() }
    );
}

#[test]
fn example_is_valid() {
    let config = Config::load(Some(&example_path())).unwrap();
    assert_eq!(config.sites.len(), 2);
    let shop = config.tracking_number("74951110120").unwrap();
    assert_eq!(shop.site, "acme-shop");
    let service = config.tracking_number("78125550001").unwrap();
    assert_eq!(
        service.forward_to,
        "sip:service.acme.example:5061;transport=tcp"
    );
    assert!(config.is_trusted_carrier("::ffff:198.51.100.20".parse().unwrap()));
    assert_eq!(config.sip.advertised_host.as_deref(), Some("203.0.113.7"));
    assert_eq!(config.tracking.header_prefix, "X-CT-");
    assert_eq!(
        config.tracking.unique_window,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(config.http.trusted_proxies.len(), 2);
    assert_eq!(config.geo.mmdb_path, None);
    assert_eq!(config.geo.networks[1].1, "saint petersburg");
    let shop = config.site("acme-shop").unwrap();
    assert_eq!(shop.utc_offset, jiff::tz::Offset::constant(3));
    assert_eq!(shop.heartbeat, Duration::from_secs(30));
    assert_eq!(shop.pools[2].region.as_deref(), Some("moscow"));
    assert_eq!(shop.rules.len(), 4);
    assert_eq!(shop.rules[0].action, DisplayAction::Default);
    assert_eq!(
        shop.rules[1].action,
        DisplayAction::Pools(vec!["web-msk".into(), "paid-search".into()])
    );
    assert_eq!(
        shop.rules[2].action,
        DisplayAction::Number("74951110001".into())
    );
    assert!(config.site("nope").is_none());
}

/// The example leaves `geo.mmdb_path` commented out because the file must exist; with an
/// existing file it loads, with a missing one it is reported.
#[test]
fn example_mmdb_path_must_exist() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let commented = "# mmdb_path = \"/var/lib/calltrack/GeoLite2-City.mmdb\"";
    assert!(text.contains(commented));
    let db = tempfile::NamedTempFile::new().unwrap();
    let with_db = text.replace(
        commented,
        &format!("mmdb_path = {:?}", db.path().to_str().unwrap()),
    );
    let config = Config::from_toml_str(&with_db).unwrap();
    assert_eq!(config.geo.mmdb_path.as_deref(), Some(db.path()));
    let missing = text.replace(commented, "mmdb_path = \"/nonexistent/City.mmdb\"");
    let err = Config::from_toml_str(&missing).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("geo.mmdb_path: \"/nonexistent/City.mmdb\" does not exist"),
        "{err}"
    );
}

/// Every key of the schema appears in the example, so the example documents all of them.
#[test]
fn example_sets_every_key() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut keys = BTreeSet::new();
    collect_keys("", &toml::Value::Table(table), &mut keys);
    let expected: BTreeSet<String> = [
        "sip.udp_listen",
        "sip.tcp_listen",
        "sip.advertised_host",
        "sip.advertised_port",
        "sip.max_message_bytes",
        "sip.max_headers",
        "sip.udp_max_request_bytes",
        "sip.tcp_max_connections",
        "sip.tcp_reserved_trusted_percent",
        "sip.tcp_max_connections_per_source",
        "sip.tcp_idle_timeout_secs",
        "sip.tcp_message_timeout_ms",
        "sip.user_agent",
        "sip.timers.t1_ms",
        "sip.timers.t2_ms",
        "sip.timers.t4_ms",
        "carriers.trusted",
        "http.listen",
        "http.rate_limit_per_minute",
        "http.max_body_bytes",
        "http.trusted_proxies",
        "tracking.header_prefix",
        "tracking.diversion",
        "tracking.keep_carrier_diversion",
        "tracking.max_forwarded_header_bytes",
        "tracking.leak_calls",
        "tracking.leak_window_hours",
        "tracking.lease_history_days",
        "tracking.unique_window_days",
        "tracking.quality_min_talk_secs",
        "tracking.callback_window_hours",
        // geo.mmdb_path is documented commented out: the file must exist.
        "geo.networks.cidr",
        "geo.networks.region",
        "store.path",
        "store.queue_capacity",
        "store.batch_max_records",
        "store.flush_interval_ms",
        "calls.ring_timeout_secs",
        "calls.max_call_secs",
        "calls.max_concurrent_calls",
        "calls.shutdown_grace_secs",
        "calls.overload_queue_delay_ms",
        "calls.overload_retry_after_secs",
        "log.level",
        "log.format",
        "health.enabled",
        "health.interval_secs",
        "health.failures_to_down",
        "health.successes_to_up",
        "health.alive_codes",
        "sites.id",
        "sites.name",
        "sites.forward_to",
        "sites.forward_to_counted",
        "sites.quality_min_talk_secs",
        "sites.default_number",
        "sites.reserve_number",
        "sites.overflow_code",
        "sites.freeze_secs",
        "sites.origins",
        "sites.utc_offset",
        "sites.lease_cooldown_secs",
        "sites.adapt_freeze",
        "sites.last_holder_secs",
        "sites.heartbeat_secs",
        "sites.static_numbers.number",
        "sites.static_numbers.source",
        "sites.static_numbers.medium",
        "sites.static_numbers.campaign",
        "sites.pools.id",
        "sites.pools.numbers",
        "sites.pools.region",
        "sites.rules.utm_source",
        "sites.rules.utm_medium",
        "sites.rules.utm_campaign",
        "sites.rules.utm_term",
        "sites.rules.utm_content",
        "sites.rules.referrer_host",
        "sites.rules.landing_path",
        "sites.rules.region",
        "sites.rules.time_of_day",
        "sites.rules.pools",
        "sites.rules.number",
        "sites.rules.default",
        "http.admin_token",
        "http.viewer_tokens",
        "http.session_ttl_hours",
        "http.secure_cookies",
        "store.pool_usage_retention_days",
        "store.backend",
        "store.pool_size",
        "store.connect_timeout_ms",
        "node.heartbeat_ms",
        "node.dead_after_ms",
        "store.spool_path",
        "pbx.trusted",
        "blacklist.numbers",
        "blacklist.status",
        "security.scanner_user_agents",
        "security.flood.enabled",
        "security.flood.messages_per_sec",
        "security.flood.burst",
        "security.flood.ban_secs",
        "security.flood.max_tracked_ips",
        "security.flood.exempt_trusted",
        "gateways.id",
        "gateways.uri",
        "gateways.auth_user",
        "gateways.auth_password",
        "gateways.auth_realm",
        "schemes.id",
        "schemes.fallback",
        "schemes.fallback_number",
        "schemes.fallback_gateway",
        "schemes.failover_on",
        "schemes.final_statuses",
        "schemes.counted",
        "schemes.steps.strategy",
        "schemes.steps.ring_timeout_secs",
        "schemes.steps.step_timeout_secs",
        "schemes.steps.sticky",
        "schemes.steps.targets.uri",
        "schemes.steps.targets.number",
        "schemes.steps.targets.gateway",
        "schemes.steps.targets.weight",
        "schemes.steps.targets.ring_timeout_secs",
        "schedules.id",
        "schedules.time_zone",
        "schedules.mon",
        "schedules.tue",
        "schedules.wed",
        "schedules.thu",
        "schedules.fri",
        "schedules.sat",
        "schedules.sun",
        "schedules.holidays",
        "routes.site",
        "routes.number",
        "routes.pool",
        "routes.source",
        "routes.region",
        "routes.scheme",
        "routes.schedule",
        "routes.after_hours_scheme",
        "reports.currency",
        "sites.time_zone",
        "exports.max_attempts",
        "exports.max_age_hours",
        "exports.retry_min_ms",
        "exports.retry_max_secs",
        "exports.concurrency",
        "exports.timeout_secs",
        "exports.keep_delivered_days",
        "exports.webhooks.id",
        "exports.webhooks.url",
        "exports.webhooks.events",
        "exports.webhooks.sites",
        "exports.webhooks.secret",
        "exports.ga4.id",
        "exports.ga4.measurement_id",
        "exports.ga4.api_secret",
        "exports.ga4.event_name",
        "exports.ga4.send",
        "exports.ga4.value_from",
        "exports.ga4.value",
        "exports.ga4.sites",
        "exports.ga4.endpoint",
        "exports.metrica.id",
        "exports.metrica.counter_id",
        "exports.metrica.oauth_token",
        "exports.metrica.every_secs",
        "exports.metrica.send",
        "exports.metrica.sites",
        "exports.metrica.call_tracker_url",
        "exports.metrica.endpoint",
        "exports.bitrix24.id",
        "exports.bitrix24.webhook_url",
        "exports.bitrix24.user_id",
        "exports.bitrix24.create_crm",
        "exports.bitrix24.show_card",
        // A table keyed by calltrack source: the example's two entries.
        "exports.bitrix24.crm_sources.google",
        "exports.bitrix24.crm_sources.billboard",
        "exports.bitrix24.sites",
        "media.rtp_ports",
        "media.bind_ip",
        "media.advertised_ip",
        "media.one_way_audio_secs",
        "media.on_no_ports",
        "sites.media",
        "sites.static_numbers.media",
        "schemes.media",
        "media.recordings_dir",
        "media.retention_days",
        "media.max_disk_gb",
        "media.retention_check_secs",
        "speech.engine",
        "speech.workers",
        "speech.redact",
        "speech.max_attempts",
        "speech.retry_secs",
        "speech.poll_secs",
        "speech.min_labels",
        "speech.target_threshold",
        "speech.train_hour_utc",
        "speech.http.url",
        "speech.http.model",
        "speech.http.api_key",
        "speech.http.language",
        "speech.http.timeout_secs",
        "speech.tags.name",
        "speech.tags.phrases",
        "speech.tags.party",
        "speech.pocketsphinx.library",
        "speech.pocketsphinx.model_dir",
        "sites.record",
        "sites.static_numbers.record",
        "schemes.record",
        "sites.announce",
        "sites.answer",
        "sites.static_numbers.announce",
        "sites.static_numbers.answer",
        "schemes.announce",
        "schemes.answer",
        "schemes.steps.prompt",
        "schemes.steps.timeout_secs",
        "schemes.steps.retries",
        "schemes.steps.default",
        // A table keyed by DTMF key: the example's two choices.
        "schemes.steps.choices.1",
        "schemes.steps.choices.2",
        "media.prompt_language",
        "media.relay_threads",
        "sites.voicemail.max_secs",
        "sites.voicemail.prompt",
        "sites.voicemail.beep",
        "schemes.voicemail.max_secs",
        "schemes.voicemail.prompt",
        "schemes.voicemail.beep",
        "voice.code_first_digit_secs",
        "voice.code_inter_digit_secs",
        "leases.backend",
        "leases.url",
        "leases.key_prefix",
        "leases.connect_timeout_ms",
        "leases.command_timeout_ms",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys, expected);
}

/// Leaf key paths, with arrays of tables flattened (`sites.pools.id`).
fn collect_keys(prefix: &str, value: &toml::Value, keys: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, child) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                collect_keys(&path, child, keys);
            }
        }
        toml::Value::Array(items)
            if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
        {
            items
                .iter()
                .for_each(|item| collect_keys(prefix, item, keys));
        }
        _ => {
            keys.insert(prefix.to_owned());
        }
    }
}

#[test]
fn broken_file_reports_every_problem_at_once() {
    let file = write_temp(BROKEN);
    let err = Config::load(Some(file.path())).unwrap_err();
    let ConfigError::Invalid(problems) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, BROKEN_PATHS);
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), BROKEN_PATHS.len(), "{shown}");
    assert!(shown.contains("sites[0].pools[0].numbers[0]: number 74950000001 is already used at sites[0].default_number"), "{shown}");
}

#[test]
fn check_config_exits_2_and_prints_every_problem() {
    let file = write_temp(BROKEN);
    let output = calltrack(&["check-config", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for path in BROKEN_PATHS {
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with(&format!("{path}: "))),
            "{path} missing in:\n{stderr}"
        );
    }
    assert!(output.stdout.is_empty());
}

#[test]
fn check_config_accepts_the_example() {
    let output = calltrack(&["check-config", example_path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim(), "ok: 2 sites, 96 tracking numbers");
}

#[test]
fn check_config_without_file_checks_the_embedded_default() {
    let output = calltrack(&["check-config"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        "ok: 1 sites, 55 tracking numbers"
    );
}

#[test]
fn check_config_reports_syntax_and_missing_files() {
    let file = write_temp("[sip\n");
    let output = calltrack(&["check-config", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("line 1, column")
    );
    let output = calltrack(&["check-config", "/nonexistent/calltrack.toml"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn serve_refuses_an_invalid_config_with_exit_2() {
    let file = write_temp(BROKEN);
    let output = calltrack(&["serve", "--config", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("sip.timers.t1_msx: unknown key"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2_and_version_exits_0() {
    assert_eq!(calltrack(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(calltrack(&[]).status.code(), Some(2));
    let version = calltrack(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("calltrack ")
    );
}

/// `--config FILE` from another directory: relative paths are the config file's, for `cdr
/// list` (which says which database it opened) and `check-config` (geo.mmdb_path) alike.
#[test]
fn relative_paths_are_taken_from_the_config_files_directory() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let file = home.path().join("calltrack.toml");
    std::fs::write(
        &file,
        "[store]\npath = \"./data/ct.db\"\n\n[geo]\nmmdb_path = \"geo/City.mmdb\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join("geo")).unwrap();
    std::fs::write(home.path().join("geo/City.mmdb"), b"").unwrap();
    let db = home.path().join("data/ct.db");
    drop(calltrack::store::open(&db).unwrap());

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_calltrack"))
            .arg("--config")
            .arg(&file)
            .args(args)
            .current_dir(elsewhere.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let listed = run(&["cdr", "list"]);
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert_eq!(listed.status.code(), Some(0), "{stderr}");
    let db = std::fs::canonicalize(&db).unwrap();
    let home_dir = std::fs::canonicalize(home.path()).unwrap();
    let opened = stderr
        .lines()
        .find_map(|l| l.strip_prefix("database: "))
        .unwrap_or_else(|| panic!("no database line: {stderr}"));
    assert_eq!(std::fs::canonicalize(opened).unwrap(), db, "{stderr}");
    assert!(Path::new(opened).is_absolute(), "{opened}");
    assert!(!elsewhere.path().join("data").exists());

    let checked = run(&["check-config"]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let config = Config::load(Some(&file)).unwrap();
    assert_eq!(
        std::fs::canonicalize(config.geo.mmdb_path.unwrap()).unwrap(),
        home_dir.join("geo/City.mmdb")
    );
}

/// An integer beyond TOML's 64-bit range (in a table, in an array) is one keyed problem;
/// every other problem of the file is still reported.
#[test]
fn out_of_range_integers_are_keyed_problems_beside_the_others() {
    let text = format!(
        "{BROKEN}\n[sip]\nudp_max_request_bytes = 99999999999999999999\n\n\
         [health]\nalive_codes = [200, -99999999999999999999]\n"
    );
    let file = write_temp(&text);
    let output = calltrack(&["check-config", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for path in BROKEN_PATHS
        .into_iter()
        .chain(["sip.udp_max_request_bytes", "health.alive_codes[1]"])
    {
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with(&format!("{path}: "))),
            "{path} missing in:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("sip.udp_max_request_bytes: integer 99999999999999999999 is out of range"),
        "{stderr}"
    );
    assert!(!stderr.contains("syntax"), "{stderr}");
}

/// The demo config probes nothing (sipp answers no OPTIONS, so the demo PBX would go down
/// and the README's call would get 503); the example and a config without `[health]`
/// probe, as production should.
#[test]
fn embedded_default_sends_no_probes_and_production_configs_do() {
    assert!(!Config::embedded_default().unwrap().health.enabled);
    assert!(Config::load(Some(&example_path())).unwrap().health.enabled);
    assert!(Config::from_toml_str("").unwrap().health.enabled);
}

/// A duration within 64 bits but so long that `now + duration` would overflow is refused
/// with its key path instead of crashing the first call.
#[test]
fn absurd_timer_and_call_durations_are_keyed_problems() {
    let text = "[sip.timers]\nt1_ms = 9223372036854775807\nt2_ms = 9223372036854775807\n\n\
                [calls]\nmax_call_secs = 9223372036854775807\n";
    let err = Config::from_toml_str(text).unwrap_err();
    let shown = err.to_string();
    for path in [
        "sip.timers.t1_ms",
        "sip.timers.t2_ms",
        "calls.max_call_secs",
    ] {
        assert!(
            shown.lines().any(|l| l.starts_with(&format!("{path}: "))),
            "{path} missing in:\n{shown}"
        );
    }
}

/// `[media] on_no_ports` takes "direct" or "refuse"; anything else is named by its key path.
#[test]
fn on_no_ports_is_direct_or_refuse() {
    for (value, refuse) in [("direct", false), ("refuse", true)] {
        let text = format!("[media]\non_no_ports = \"{value}\"\n");
        let config = Config::from_toml_str(&text).unwrap();
        assert_eq!(
            config.media.on_no_ports == calltrack::config::OnNoPorts::Refuse,
            refuse
        );
    }
    let default = Config::from_toml_str("").unwrap();
    assert_eq!(
        default.media.on_no_ports,
        calltrack::config::OnNoPorts::Direct
    );
    let err = Config::from_toml_str("[media]\non_no_ports = \"drop\"\n").unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.lines().any(|l| l.starts_with("media.on_no_ports")),
        "{shown}"
    );
}

/// `overflow_code = true` needs a reserve number to show and a pool to run dry; each missing
/// one is named by its key path.
#[test]
fn overflow_code_needs_a_reserve_number_and_a_pool() {
    let site = |extra: &str| {
        format!(
            "[[sites]]\nid = \"s\"\nforward_to = \"sip:pbx@127.0.0.1\"\noverflow_code = true\n{extra}"
        )
    };
    let err = Config::from_toml_str(&site("")).unwrap_err().to_string();
    let keyed: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("sites[0].overflow_code"))
        .collect();
    assert_eq!(keyed.len(), 2, "{err}");
    assert!(err.contains("reserve_number"), "{err}");
    assert!(err.contains("pool"), "{err}");
    let ok = site(
        "reserve_number = \"74950000099\"\n[[sites.pools]]\nid = \"web\"\nnumbers = [\"74950000100-74950000101\"]\n",
    );
    let config = Config::from_toml_str(&ok).unwrap();
    assert!(config.sites[0].overflow_code);
    let off = Config::from_toml_str(&site("").replace("overflow_code = true\n", "")).unwrap();
    assert!(!off.sites[0].overflow_code);
}

/// `[store] spool_path` defaults to a file beside `store.path`; the store file itself is a
/// keyed problem.
#[test]
fn the_postgres_spool_lives_beside_the_store_unless_set() {
    let config = Config::from_toml_str("[store]\npath = \"/srv/ct/calls.db\"\n").unwrap();
    assert_eq!(config.store.spool_path, Path::new("/srv/ct/calls.spool.db"));
    let text = "[store]\npath = \"/srv/ct/calls.db\"\nspool_path = \"/srv/ct/calls.db\"\n";
    let shown = Config::from_toml_str(text).unwrap_err().to_string();
    assert!(
        shown.lines().any(|l| l.starts_with("store.spool_path: ")),
        "{shown}"
    );
}
