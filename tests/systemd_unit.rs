//! The shipped systemd unit: `systemd-analyze security --offline=yes` must rate it at most 2.0
//! (and `systemd-analyze verify` must accept it, with the binary path pointed at the build).
//! Where systemd-analyze is missing the tests say so LOUDLY and skip (`.ci/run` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Highest acceptable overall exposure (systemd-analyze prints one decimal).
const MAX_EXPOSURE: f64 = 2.0;

fn unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/calltrack.service")
}

fn analyze(args: &[&str]) -> Option<Output> {
    match Command::new("systemd-analyze").args(args).output() {
        Ok(output) => Some(output),
        Err(error) => {
            eprintln!(
                "\n*** SKIPPED: systemd-analyze not runnable ({error}); the systemd unit was NOT checked ***\n"
            );
            None
        }
    }
}

/// The number in "→ Overall exposure level for calltrack.service: 1.4 OK".
fn overall_exposure(stdout: &str) -> Option<f64> {
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let after = line.rsplit_once(": ")?.1;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn exposure_level_is_at_most_two() {
    let unit = unit();
    let unit = unit.to_str().unwrap();
    let Some(output) = analyze(&["security", "--offline=yes", unit]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stdout.is_empty() && stderr.contains("offline") {
        eprintln!(
            "\n*** SKIPPED: this systemd-analyze has no --offline (needs systemd >= 250): {stderr} ***\n"
        );
        return;
    }
    let exposure = overall_exposure(&stdout)
        .unwrap_or_else(|| panic!("no overall exposure in:\n{stdout}\n{stderr}"));
    eprintln!("systemd-analyze security: overall exposure {exposure}");
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} > {MAX_EXPOSURE}:\n{stdout}"
    );
    // The same limit through systemd-analyze's own gate (exit status).
    let gated = analyze(&["security", "--offline=yes", "--threshold=20", unit]).unwrap();
    assert!(gated.status.success(), "--threshold=20 failed");
}

#[test]
fn exposure_parser_reads_the_summary_line() {
    let sample = "✗ UMask= ... 0.1\n\n→ Overall exposure level for calltrack.service: 1.4 OK 🙂\n";
    assert_eq!(overall_exposure(sample), Some(1.4));
    assert_eq!(overall_exposure("nothing here"), None);
}

#[test]
fn unit_verifies_offline() {
    let text = std::fs::read_to_string(unit()).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=calltrack",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
        "ExecReload=",
    ] {
        assert!(text.contains(key), "unit lacks {key:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("calltrack.service");
    let binary = env!("CARGO_BIN_EXE_calltrack");
    std::fs::write(&copy, text.replace("/usr/local/bin/calltrack", binary)).unwrap();
    let Some(output) = analyze(&["verify", copy.to_str().unwrap()]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    // verify also reports on unrelated system units; only lines about ours count.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("calltrack.service"))
        .collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze verify complained:\n{stderr}"
    );
}
