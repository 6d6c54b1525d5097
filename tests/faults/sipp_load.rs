//! sipp driven at a rate for fault tests: many calls, a statistics file (`-trace_stat`) read
//! while it runs and at the end, optionally inside a network namespace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// sipp's cumulative counters from the last line of its statistics file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SippStats {
    pub created: u64,
    pub successful: u64,
    pub failed: u64,
    pub retransmissions: u64,
}

/// A sipp process (UAC or UAS) with its own working directory.
pub struct SippProc {
    child: Child,
    dir: tempfile::TempDir,
    name: String,
}

/// What a sipp run needs: scenario, local address, and the extra arguments.
pub struct SippCmd {
    netns: Option<String>,
    args: Vec<String>,
    name: String,
}

impl SippCmd {
    /// A caller dialling `service` at `target` from `local_ip` (scenario: a file, see
    /// [`crate::support::scenario`]).
    pub fn uac(scenario_file: PathBuf, target: &str, service: &str, local_ip: &str) -> SippCmd {
        let mut cmd = SippCmd::base(scenario_file, local_ip);
        cmd.args.insert(0, target.to_owned());
        cmd.args.extend(["-s".into(), service.into()]);
        cmd
    }

    /// A stand-in PBX on `local_ip:port`.
    pub fn uas(scenario_file: PathBuf, local_ip: &str, port: u16) -> SippCmd {
        let mut cmd = SippCmd::base(scenario_file, local_ip);
        cmd.args.extend(["-p".into(), port.to_string()]);
        cmd
    }

    fn base(scenario_file: PathBuf, local_ip: &str) -> SippCmd {
        let args = [
            "-sf",
            &scenario_file.display().to_string(),
            "-i",
            local_ip,
            "-t",
            "u1",
            "-nostdin",
            "-trace_stat",
            "-stf",
            "stat.csv",
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            "errors.log",
        ]
        .map(str::to_owned)
        .to_vec();
        SippCmd {
            netns: None,
            args,
            name: scenario_file.display().to_string(),
        }
    }

    pub fn in_netns(mut self, ns: &str) -> SippCmd {
        self.netns = Some(ns.to_owned());
        self
    }

    /// A flag without a value (e.g. `-trace_logs`).
    pub fn flag(mut self, flag: &str) -> SippCmd {
        self.args.push(flag.to_owned());
        self
    }

    pub fn arg(mut self, flag: &str, value: impl ToString) -> SippCmd {
        self.args.extend([flag.to_owned(), value.to_string()]);
        self
    }

    pub fn spawn(self) -> SippProc {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "sipp"]);
                c
            }
            None => Command::new("sipp"),
        };
        let child = cmd
            .args(&self.args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        SippProc {
            child,
            dir,
            name: self.name,
        }
    }
}

impl SippProc {
    /// The counters of the newest line of the statistics file (written every second).
    pub fn stats(&self) -> SippStats {
        read_stats(&self.dir.path().join("stat.csv")).unwrap_or_default()
    }

    /// True while sipp runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits up to `limit` for sipp to finish; the final counters. sipp still running at the
    /// limit is killed and the test fails.
    pub fn wait(&mut self, limit: Duration) -> SippStats {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return self.stats();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!(
            "sipp {} still running after {limit:?}; stats {:?}\nerrors:\n{}",
            self.name,
            self.stats(),
            self.errors()
        );
    }

    /// What the scenario's `<log>` actions wrote (run with `-trace_logs -log_file logs.log`).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs.log")).unwrap_or_default()
    }

    /// The start of sipp's error log (the first failures), for failure messages.
    pub fn errors(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("errors.log")).unwrap_or_default();
        text.chars().take(4000).collect()
    }
}

impl Drop for SippProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `TotalCallCreated`, `SuccessfulCall(C)`, `FailedCall(C)` and `Retransmissions(C)`
/// from the last complete line of a sipp statistics file.
pub fn read_stats(path: &Path) -> Option<SippStats> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines
        .rfind(|l| l.split(';').count() >= head.len() - 1)?
        .split(';')
        .collect();
    let col = |name: &str| -> u64 {
        head.iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Some(SippStats {
        created: col("TotalCallCreated"),
        successful: col("SuccessfulCall(C)"),
        failed: col("FailedCall(C)"),
        retransmissions: col("Retransmissions(C)"),
    })
}
