//! The snippet in a real browser: headless Chromium loads the demo page from the real HTTP
//! server with a real lease table and must swap the number in text, in the tel: link and in
//! content added later, leave the no-swap element alone, and heartbeat; with the pool
//! exhausted and `overflow_code = true` it shows the reserve number with the visitor's code.
//!
//! Skipped (loudly) when `/usr/bin/chromium` is missing; CI installs it. HeadlessChrome is a
//! bot to the server, so the browser is given a regular Chrome user agent.

#![allow(clippy::expect_used, clippy::panic)]

mod http_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_support::{BROWSER_UA, TestServer, agent, config_toml};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs Chromium on `url` and returns the DOM after the virtual time budget.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--user-agent={BROWSER_UA}"))
        .arg("--virtual-time-budget=5000")
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of the element with this id (the demo page keeps them on one line).
fn element<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no #{id} in\n{dom}"));
    let rest = &dom[start..];
    rest.split_once("</").map_or(rest, |(element, _)| element)
}

#[test]
fn snippet_swaps_numbers_on_the_demo_page() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium: .ci/run installs it"
        );
        eprintln!("!!! SKIPPED snippet_browser: {CHROMIUM} not found (apt-get install chromium)");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return;
    }
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let dom = dump_dom(&server.url("/demo?utm_source=google&utm_medium=cpc"));
    let leases = server.leases.snapshot();
    assert_eq!(leases.len(), 1, "one lease for one page view\n{dom}");
    let lease = &leases[0];
    let number = &lease.number;
    let (area, rest) = (&number[1..4], &number[4..]);
    let formatted = format!("+7 ({area}) {}-{}-{}", &rest[..3], &rest[3..5], &rest[5..]);

    let text = element(&dom, "phone-text");
    assert!(
        text.contains(&formatted),
        "text not swapped to {formatted}: {text}"
    );
    let link = element(&dom, "phone-link");
    assert!(
        link.contains(&format!("href=\"tel:+{number}\"")),
        "tel: href not swapped: {link}"
    );
    let local = format!("8 {area} {} {} {}", &rest[..3], &rest[3..5], &rest[5..]);
    assert!(
        link.contains(&local),
        "link text not swapped to {local}: {link}"
    );
    let late = element(&dom, "late");
    let late_expected = format!("8({area}){}-{}-{}", &rest[..3], &rest[3..5], &rest[5..]);
    assert!(
        late.contains(&late_expected),
        "late content not swapped: {late}"
    );
    let fixed = element(&dom, "phone-noswap");
    assert!(
        fixed.contains("+7 (495) 000-00-00"),
        "no-swap element changed: {fixed}"
    );
    assert!(element(&dom, "session").contains("dynamic"), "{dom}");

    let beats = server
        .gauges
        .heartbeats
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(beats >= 1, "no heartbeat reached the server");
    assert!(
        lease.last_seen > lease.granted_at,
        "lease never renewed: {lease:?}"
    );
}

/// Skips loudly without Chromium (a failure under CI).
fn no_chromium() -> bool {
    if Path::new(CHROMIUM).exists() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have chromium: .ci/run installs it"
    );
    eprintln!("!!! SKIPPED snippet_browser: {CHROMIUM} not found");
    true
}

#[test]
fn an_exhausted_pool_shows_the_reserve_number_with_the_visitors_code() {
    if no_chromium() {
        return;
    }
    let toml = config_toml("74950000100-74950000100", 1000).replace(
        "reserve_number = \"74950000099\"\n",
        "reserve_number = \"74950000099\"\noverflow_code = true\n",
    );
    let server = TestServer::start(&toml);
    let first = agent()
        .post(server.url("/v1/sites/demo/sessions"))
        .header("User-Agent", BROWSER_UA)
        .send_json(serde_json::json!({"page_url": "https://shop.example/?utm_source=x"}))
        .expect("the pool's one number");
    assert_eq!(first.status(), 201);
    let dom = dump_dom(&server.url("/demo?utm_source=google&utm_medium=cpc"));
    let codes = server.leases.codes().snapshot();
    assert_eq!(codes.len(), 1, "one code for one page view\n{dom}");
    let held = &codes[0];
    let text = element(&dom, "phone-text");
    assert!(
        text.contains("+7 (495) 000-00-99"),
        "reserve number not shown: {text}"
    );
    assert!(
        text.contains(&format!("your code: {}", held.code)),
        "code not shown beside the number: {text}"
    );
    assert!(element(&dom, "session").contains("reserve"), "{dom}");
    assert!(
        held.last_seen > held.issued_at,
        "the code was never heartbeated: {held:?}"
    );
}

#[test]
fn direct_visit_keeps_the_default_number() {
    if no_chromium() {
        return;
    }
    let server = TestServer::start(&config_toml("74950000100-74950000109", 1000));
    let dom = dump_dom(&server.url("/demo"));
    assert!(
        element(&dom, "phone-text").contains("+7 (495) 000-00-00"),
        "{dom}"
    );
    assert!(element(&dom, "session").contains("default"), "{dom}");
    assert!(server.leases.snapshot().is_empty());
}
