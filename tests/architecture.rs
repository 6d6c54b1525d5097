//! Keeps the rules of `../shared/DESIGN.md` §3 from eroding, by reading the whole source
//! (test items cut out wherever they sit, comments and literals blanked):
//!
//! 1. `sip` depends on nothing else in the crate; `sip`, `call`, `routing`, `edge`, `health`, `simulate`,
//!    `b2bua`, `lease` (but its two services, `sweeper.rs` and `usage_sampler.rs`, and `remote/`, the Redis backend), `display`, `report`, `export`
//!    (but its service, client, builder and the Metrica status poll) and `media` (but its socket
//!    driver, `driver.rs`, and its relay loops, `relay_loop.rs`) never await, never read a clock, never
//!    draw their own randomness, never touch a socket or spawn a thread: `now` and random
//!    values are parameters.
//! 2. Only `transport`, `http`, `store`, `lease::sweeper`, `lease::usage_sampler`, `lease::remote`, `media::driver`, `media::relay_loop`, `shutdown`, `telemetry`, `app` and
//!    the `cli` commands (which run outside the daemon) use tokio or threads.
//! 3. No circles between top-level rooms, read from `crate::` and root-climbing `super::` paths.
//! 4. Forbidden arrows: `call` never names `b2bua`, `transport`, `http` or `store`; `report`
//!    (pure aggregation) never names `store`, `http`, `cli`, `app`, `b2bua` or `transport`; `config`
//!    names no runtime room (only `sip`, the protocol library).
//! 5. Production files stay at most 500 lines; every file opens with a `//!` line.
//!
//! The checkers themselves are tested at the bottom on small made-up sources, so that each
//! rule is shown to fail when broken.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "architecture/rooms.rs"]
mod rooms;
#[path = "architecture/source.rs"]
mod source;

use std::path::{Path, PathBuf};

/// Rooms that must stay sans-IO, and what may not appear in their production code.
const SANS_IO: &[&str] = &[
    "src/sip",
    "src/call",
    "src/routing",
    "src/edge",
    "src/health",
    "src/b2bua",
    "src/lease",
    "src/display",
    "src/report",
    "src/export",
    "src/media",
    "src/simulate",
    "src/speech",
];
const SANS_IO_EXEMPT: &[&str] = &[
    "src/speech/service.rs",
    "src/speech/model_watch.rs",
    "src/speech/http_engine.rs",
    "src/speech/rescore.rs",
    "src/speech/worker_thread.rs",
    "src/media/driver.rs",
    "src/media/relay_loop.rs",
    "src/lease/sweeper.rs",
    "src/lease/usage_sampler.rs",
    "src/lease/remote",
    "src/export/service.rs",
    "src/export/client.rs",
    "src/export/build.rs",
    "src/export/metrica_poll.rs",
];
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    ".await",
    "async fn",
    "std::thread",
    "Instant::now",
    "SystemTime::now",
    "now_utc()",
    "Timestamp::now",
    "Zoned::now",
    "rand::random",
    "rand::rng",
    "thread_rng",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
];

/// The only places allowed to use tokio or threads.
const ASYNC_ALLOWED: &[&str] = &[
    "src/transport",
    "src/http",
    "src/store",
    "src/export/service.rs",
    "src/export/client.rs",
    "src/export/build.rs",
    "src/export/metrica_poll.rs",
    "src/lease/sweeper.rs",
    "src/lease/usage_sampler.rs",
    "src/lease/remote",
    "src/media/driver.rs",
    "src/media/relay_loop.rs",
    "src/speech/service.rs",
    "src/speech/model_watch.rs",
    "src/speech/http_engine.rs",
    "src/speech/rescore.rs",
    "src/speech/worker_thread.rs",
    "src/shutdown",
    "src/telemetry",
    "src/app",
    "src/cli",
];

/// `(room, rooms it must never name)`.
const FORBIDDEN_ARROWS: &[(&str, &[&str])] = &[
    ("call", &["b2bua", "transport", "http", "store"]),
    (
        "report",
        &["app", "b2bua", "cli", "http", "store", "transport"],
    ),
    (
        "config",
        &[
            "app",
            "b2bua",
            "call",
            "cli",
            "display",
            "edge",
            "export",
            "health",
            "http",
            "lease",
            "report",
            "routing",
            "shutdown",
            "store",
            "telemetry",
            "transport",
        ],
    ),
];

const MAX_PRODUCTION_LINES: usize = 500;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn uses(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(at, _)| {
        let next = code[at + needle.len()..].chars().next();
        !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
            || !needle.ends_with(|c: char| c.is_alphanumeric() || c == '_')
    })
}

fn under(rel: &str, prefixes: &[&str]) -> bool {
    prefixes
        .iter()
        .any(|p| rel == *p || rel.starts_with(&format!("{p}/")))
}

fn sans_io_violations(sources: &[(String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (rel, code) in sources {
        if !under(rel, SANS_IO) || under(rel, SANS_IO_EXEMPT) {
            continue;
        }
        for needle in FORBIDDEN_IN_CORE {
            if uses(code, needle) {
                violations.push(format!("{rel}: uses `{needle}`"));
            }
        }
    }
    violations
}

fn async_violations(sources: &[(String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (rel, code) in sources {
        if under(rel, ASYNC_ALLOWED) {
            continue;
        }
        for needle in ["tokio", "std::thread", "thread::spawn"] {
            if uses(code, needle) {
                violations.push(format!("{rel}: uses `{needle}`"));
            }
        }
    }
    violations
}

fn forbidden_arrows(graph: &rooms::Graph) -> Vec<String> {
    let mut violations = Vec::new();
    for (room, banned) in FORBIDDEN_ARROWS {
        for (named, files) in graph.get(*room).into_iter().flatten() {
            if banned.contains(&named.as_str()) {
                violations.push(format!("{room} -> {named} (in {files:?})"));
            }
        }
    }
    violations
}

fn sip_reaches_out(graph: &rooms::Graph) -> Vec<String> {
    graph
        .get("sip")
        .into_iter()
        .flatten()
        .map(|(named, files)| format!("sip -> {named} (in {files:?})"))
        .collect()
}

fn assert_none(violations: Vec<String>, rule: &str) {
    assert!(violations.is_empty(), "{rule}:\n{}", violations.join("\n"));
}

#[test]
fn core_rooms_stay_sans_io() {
    let sources = source::production_sources(&root());
    assert_none(sans_io_violations(&sources), "sans-IO rule broken");
}

#[test]
fn sip_depends_on_nothing_else_in_the_crate() {
    let graph = rooms::graph(&source::production_sources(&root()));
    assert_none(sip_reaches_out(&graph), "sip reaches outside itself");
}

#[test]
fn only_the_io_rooms_use_tokio_or_threads() {
    let sources = source::production_sources(&root());
    assert_none(async_violations(&sources), "async/thread rule broken");
}

#[test]
fn no_circles_between_rooms() {
    let graph = rooms::graph(&source::production_sources(&root()));
    if let Some(cycle) = rooms::find_cycle(&graph) {
        let hops: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} -> {} (in {:?})", w[0], w[1], graph[&w[0]][&w[1]]))
            .collect();
        panic!("rooms import each other in a circle:\n{}", hops.join("\n"));
    }
}

#[test]
fn no_forbidden_arrows() {
    let graph = rooms::graph(&source::production_sources(&root()));
    assert_none(forbidden_arrows(&graph), "forbidden arrow between rooms");
}

#[test]
fn production_files_stay_small() {
    let mut files = Vec::new();
    source::rust_files(&root().join("src"), &mut files);
    let too_long: Vec<String> = files
        .iter()
        .filter(|p| !is_test_file(p))
        .filter_map(|path| {
            let lines = source::production_lines(&std::fs::read_to_string(path).unwrap());
            (lines > MAX_PRODUCTION_LINES).then(|| format!("{}: {lines} lines", rel(path)))
        })
        .collect();
    assert_none(too_long, "production files over 500 lines");
}

#[test]
fn every_source_file_says_what_it_owns() {
    let mut files = Vec::new();
    source::rust_files(&root().join("src"), &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| rel(path))
        .collect();
    assert_none(missing, "files without a //! line");
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().display().to_string()
}

// ---- the checkers fail when a rule is broken --------------------------------------------

fn made_up(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(rel, text)| (rel.to_string(), source::production_code(text)))
        .collect()
}

#[test]
fn code_after_a_test_module_is_still_production_code() {
    let sources = made_up(&[(
        "src/call/x.rs",
        "//! x\n#[cfg(test)]\nmod tests { fn t() { let _ = Instant::now(); } }\n\
         pub fn late() -> Instant { Instant::now() }\n",
    )]);
    assert_eq!(
        sans_io_violations(&sources),
        ["src/call/x.rs: uses `Instant::now`"]
    );
    let only_test = made_up(&[(
        "src/call/y.rs",
        "#[cfg(test)]\nfn t() { Instant::now(); }\n",
    )]);
    assert!(sans_io_violations(&only_test).is_empty());
}

#[test]
fn comments_and_strings_do_not_count() {
    let sources = made_up(&[(
        "src/call/x.rs",
        "//! never tokio here\nconst S: &str = \"tokio::spawn {\";\nconst C: char = '{';\n\
         /* std::thread */ pub fn f() {}\n",
    )]);
    assert!(sans_io_violations(&sources).is_empty());
    assert!(async_violations(&sources).is_empty());
}

#[test]
fn a_tokio_use_outside_the_io_rooms_is_seen() {
    let sources = made_up(&[("src/routing/x.rs", "use tokio::time::sleep;\n")]);
    assert_eq!(
        async_violations(&sources),
        ["src/routing/x.rs: uses `tokio`"]
    );
}

#[test]
fn a_circle_is_found_through_crate_groups_and_super_paths() {
    let sources = made_up(&[
        ("src/lease/mod.rs", "use crate::{config, store::Rows};\n"),
        (
            "src/store/leases.rs",
            "use super::super::lease::LeaseTable;\n",
        ),
    ]);
    let graph = rooms::graph(&sources);
    let cycle = rooms::find_cycle(&graph).unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"lease".to_string()) && cycle.contains(&"store".to_string()));
    let one_way = made_up(&[("src/lease/mod.rs", "use crate::store::Rows;\n")]);
    assert!(rooms::find_cycle(&rooms::graph(&one_way)).is_none());
}

#[test]
fn forbidden_arrows_and_sip_reaching_out_are_seen() {
    let sources = made_up(&[
        ("src/call/mod.rs", "use crate::b2bua::B2bua;\n"),
        ("src/config/x.rs", "fn f(_: crate::routing::Fault) {}\n"),
        ("src/sip/x.rs", "use crate::config::Config;\n"),
    ]);
    let graph = rooms::graph(&sources);
    assert_eq!(forbidden_arrows(&graph).len(), 2);
    assert_eq!(sip_reaches_out(&graph).len(), 1);
}

#[test]
fn test_items_do_not_count_toward_the_size_limit() {
    let text = format!(
        "//! x\nfn a() {{}}\n#[cfg(test)]\nmod tests {{\n{}}}\nfn b() {{}}\n",
        "    fn t() {}\n".repeat(600)
    );
    assert_eq!(source::production_lines(&text), 4);
}
