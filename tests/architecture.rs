//! Keeps the dependency rules of `../shared/DESIGN.md` §3 from eroding, by reading the source:
//!
//! 1. `sip` depends on nothing else in the crate; `sip`, `call`, `lease` (but `sweeper.rs`)
//!    and `display` never await, never read a clock, never draw their own randomness, never
//!    touch a socket or spawn a thread: `now` and random values are parameters.
//! 2. Only `transport`, `http`, `store`, `lease::sweeper`, `shutdown`, `telemetry`, `app` and
//!    the `cli` commands (which run outside the daemon) use tokio or threads.
//!
//! Test code (`tests.rs`, `*_tests.rs`, everything after `#[cfg(test)]`) is exempt: tests build
//! virtual clocks from `Instant::now()` and hammer tables from threads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// Rooms that must stay sans-IO, and what may not appear in their production code.
const SANS_IO: &[&str] = &["src/sip", "src/call", "src/lease", "src/display"];
const SANS_IO_EXEMPT: &[&str] = &["src/lease/sweeper.rs"];
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    ".await",
    "async fn",
    "std::thread",
    "Instant::now",
    "SystemTime::now",
    "now_utc()",
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
    "src/lease/sweeper.rs",
    "src/shutdown.rs",
    "src/telemetry",
    "src/app.rs",
    "src/cli",
    "src/ops",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(path relative to the crate, production code)` for every source file.
fn production_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name == "tests.rs" || name.ends_with("_tests.rs") {
                return None;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_string();
            Some((rel, without_comments(&code)))
        })
        .collect()
}

/// Drops `//` comments so that docs may name what the code must not do.
fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `needle` in `code`, not as the start of a longer identifier (`.await` but not `.await_ack`).
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

#[test]
fn core_rooms_stay_sans_io() {
    let mut violations = Vec::new();
    for (rel, code) in production_sources() {
        if !under(&rel, SANS_IO) || under(&rel, SANS_IO_EXEMPT) {
            continue;
        }
        for needle in FORBIDDEN_IN_CORE {
            if uses(&code, needle) {
                violations.push(format!("{rel}: uses `{needle}`"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "sans-IO rule broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn sip_depends_on_nothing_else_in_the_crate() {
    let mut violations = Vec::new();
    for (rel, code) in production_sources() {
        if !under(&rel, &["src/sip"]) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            if line.contains("crate::") && !line.contains("crate::sip") {
                violations.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "sip reaches outside itself:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_the_io_rooms_use_tokio_or_threads() {
    let mut violations = Vec::new();
    for (rel, code) in production_sources() {
        if under(&rel, ASYNC_ALLOWED) {
            continue;
        }
        for needle in ["tokio", "std::thread", "thread::spawn"] {
            if uses(&code, needle) {
                violations.push(format!("{rel}: uses `{needle}`"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "async/thread rule broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_source_file_says_what_it_owns() {
    let mut missing = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(path.strip_prefix(root()).unwrap().display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "files without a //! line:\n{}",
        missing.join("\n")
    );
}
