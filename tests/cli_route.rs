//! `calltrack route`, the dry run of the routing config, through the built binary: open and
//! after hours, a branch by region (the visitor's and the pool's), gateway numbers, unresolved
//! hosts, exit codes for unknown numbers, bad times and unreachable targets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output};

const CONFIG: &str = r#"
[calls]
ring_timeout_secs = 40

[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
static_numbers = [
  { number = "74950000001", source = "billboard" },
  { number = "74950000005", source = "dead" },
]
[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000109"]
[[sites.pools]]
id = "spb"
numbers = ["78120000100"]
region = "spb"

[[gateways]]
id = "pbx"
uri = "sip:127.0.0.1:5090;transport=tcp"
auth_user = "calltrack"
auth_password = "secret"

[[schemes]]
id = "sales"
fallback = "sip:voicemail@127.0.0.1:5099"
[[schemes.steps]]
strategy = "parallel"
step_timeout_secs = 30
ring_timeout_secs = 20
[[schemes.steps.targets]]
uri = "sip:101@127.0.0.1:5081"
[[schemes.steps.targets]]
uri = "sip:102@unresolvable.invalid:5082"
[[schemes.steps]]
strategy = "round_robin"
sticky = true
[[schemes.steps.targets]]
number = "79161234567"
gateway = "pbx"
weight = 2

[[schemes]]
id = "night"
failover_on = ["5xx"]
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:night@127.0.0.1:5084"

[[schemes]]
id = "spb"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:spb@127.0.0.1:5085"

[[schemes]]
id = "dead"
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:dead@unresolvable.invalid"

[[schedules]]
id = "office"
time_zone = "Europe/Moscow"
mon = ["09:00-18:00"]

[[routes]]
region = "spb"
scheme = "spb"
[[routes]]
source = "dead"
scheme = "dead"
[[routes]]
site = "demo"
scheme = "sales"
schedule = "office"
after_hours_scheme = "night"
"#;

fn route(args: &[&str]) -> Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(CONFIG.as_bytes()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .arg("--config")
        .arg(file.path())
        .arg("route")
        .args(args)
        .output()
        .unwrap()
}

fn stdout_ok(args: &[&str]) -> String {
    let out = route(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
    stdout
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} line in\n{text}"))
}

const CALLER: [&str; 2] = ["--caller", "79160000000"];

#[test]
fn open_hours_print_the_scheme_steps_targets_and_fallback() {
    let out = stdout_ok(&[
        "--number",
        "74950000001",
        CALLER[0],
        CALLER[1],
        "--at",
        "2026-11-23T10:00:00+03:00",
    ]);
    assert_eq!(line(&out, "scheme:"), "scheme:    sales");
    assert_eq!(line(&out, "why:"), "why:       routes[2]");
    assert!(line(&out, "hours:").contains("open hours (schedule office is open)"));
    assert_eq!(
        line(&out, "step 1:"),
        "step 1:    parallel, step timeout 30s"
    );
    assert!(out.contains("  - sip:101@127.0.0.1:5081  (UDP 127.0.0.1:5081)  ring 20s  weight 1\n"));
    assert!(line(&out, "step 2:").starts_with("step 2:    round_robin, sticky"));
    assert!(out.contains(
        "  - 79161234567@pbx  ->  sip:79161234567@127.0.0.1:5090;transport=tcp  \
         (TCP 127.0.0.1:5090)  ring 40s  weight 2  digest user calltrack\n"
    ));
    assert!(!out.contains("secret"), "the password is never printed");
    assert!(line(&out, "fallback:").contains("sip:voicemail@127.0.0.1:5099"));
    assert_eq!(
        line(&out, "failover:"),
        "failover:  on timeout, 408, 480, 486, 487, 5xx"
    );
    assert!(line(&out, "final:").starts_with("final:     486, 600, 603"));
    assert!(line(&out, "left out").contains("sip:102@unresolvable.invalid:5082"));
}

#[test]
fn after_hours_take_the_night_scheme() {
    let out = stdout_ok(&[
        "--number",
        "74950000001",
        CALLER[0],
        CALLER[1],
        "--at",
        "2026-11-23T21:00:00+03:00",
    ]);
    assert_eq!(line(&out, "scheme:"), "scheme:    night");
    assert_eq!(line(&out, "why:"), "why:       after hours of routes[2]");
    assert!(line(&out, "hours:").contains("after hours (schedule office is closed)"));
    assert!(out.contains("sip:night@127.0.0.1:5084"));
    assert_eq!(line(&out, "failover:"), "failover:  on 5xx");
    assert_eq!(line(&out, "fallback:"), "fallback:  none");
    // The same wall-clock instant written in UTC is judged in Moscow time too.
    let utc = stdout_ok(&[
        "--number",
        "74950000001",
        CALLER[0],
        CALLER[1],
        "--at",
        "2026-11-23T18:00:00Z",
    ]);
    assert_eq!(line(&utc, "scheme:"), "scheme:    night");
}

#[test]
fn a_branch_is_picked_by_the_visitors_or_the_pools_region() {
    let at = "2026-11-23T10:00:00+03:00";
    let visitor = stdout_ok(&[
        "--number",
        "74950000100",
        CALLER[0],
        CALLER[1],
        "--at",
        at,
        "--region",
        "SPB",
    ]);
    assert_eq!(line(&visitor, "scheme:"), "scheme:    spb");
    assert_eq!(line(&visitor, "why:"), "why:       routes[0]");
    assert!(line(&visitor, "region:").contains("the visitor's"));
    let pool = stdout_ok(&["--number", "78120000100", CALLER[0], CALLER[1], "--at", at]);
    assert_eq!(line(&pool, "scheme:"), "scheme:    spb");
    assert_eq!(line(&pool, "region:"), "region:    spb (the pool's)");
    let elsewhere = stdout_ok(&["--number", "74950000100", CALLER[0], CALLER[1], "--at", at]);
    assert_eq!(line(&elsewhere, "scheme:"), "scheme:    sales");
}

#[test]
fn source_option_and_static_source_pick_routes() {
    let at = "2026-11-23T10:00:00+03:00";
    let out = route(&[
        "--number",
        "74950000100",
        CALLER[0],
        CALLER[1],
        "--at",
        at,
        "--source",
        "dead",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "every target unresolved: the call would be rejected"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("503 Service Unavailable (Retry-After: 30)"),
        "{stderr}"
    );
    let out = route(&["--number", "74950000005", CALLER[0], CALLER[1], "--at", at]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the static number's own source is dead"
    );
}

#[test]
fn unknown_number_and_bad_time_exit_2() {
    let out = route(&["--number", "74959999999", CALLER[0], CALLER[1]]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("74959999999 is not a tracking number of any site"),
        "{stderr}"
    );
    let out = route(&[
        "--number",
        "74950000001",
        CALLER[0],
        CALLER[1],
        "--at",
        "tomorrow",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("RFC 3339"));
}

#[test]
fn without_at_the_current_time_is_used() {
    let out = stdout_ok(&[
        "--number",
        "74950000100",
        CALLER[0],
        CALLER[1],
        "--region",
        "spb",
    ]);
    assert_eq!(line(&out, "scheme:"), "scheme:    spb");
    assert!(line(&out, "call:").contains("from 79160000000 at 20"));
}
