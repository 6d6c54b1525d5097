//! A calltrack process for fault tests: started from a config file (optionally inside a network
//! namespace), killed with SIGKILL or stopped with SIGTERM, restarted on the same database, and
//! measured (RSS, open file descriptors) through /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Ports and paths of one calltrack set-up; the config survives restarts.
pub struct Setup {
    pub dir: PathBuf,
    pub sip_ip: String,
    pub sip_port: u16,
    pub http_port: u16,
    pub pbx_ip: String,
    pub pbx_port: u16,
    /// Extra TOML appended to the generated config (e.g. a `[calls]` table).
    pub extra: String,
}

impl Setup {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("calltrack.toml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("cdr.db")
    }

    pub fn write_config(&self) {
        let toml = format!(
            r#"[sip]
udp_listen = ["{ip}:{sip}"]
tcp_listen = ["{ip}:{sip}"]

[carriers]
trusted = ["127.0.0.0/8", "10.0.0.0/8"]

# The stand-in PBX may sit in a test namespace (10.x); sipp's scenarios do not answer OPTIONS
# probes, so probing is off here (tests/e2e_health.rs covers it).
[pbx]
trusted = ["127.0.0.0/8", "10.0.0.0/8"]

[health]
enabled = false

[http]
listen = "127.0.0.1:{http}"

[store]
path = "{db}"
flush_interval_ms = 5

[log]
level = "info"
{extra}

[[sites]]
id = "demo"
forward_to = "sip:{pbx_ip}:{pbx}"
default_number = "74950000000"
reserve_number = "74950000099"

[[sites.static_numbers]]
number = "74950000001"
source = "billboard"

[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000149"]
"#,
            ip = self.sip_ip,
            sip = self.sip_port,
            http = self.http_port,
            db = self.db_path().display(),
            extra = self.extra,
            pbx_ip = self.pbx_ip,
            pbx = self.pbx_port,
        );
        std::fs::write(self.config_path(), toml).unwrap();
    }
}

/// One calltrack process.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts calltrack on `setup`'s config, inside `netns` when given; returns once it logged
    /// that it listens. `generation` names the log file (one per start).
    pub fn start(setup: &Setup, netns: Option<&str>, generation: u32) -> Daemon {
        let log = setup.dir.join(format!("calltrack-{generation}.log"));
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_calltrack")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_calltrack")),
        };
        let child = cmd
            .args(["serve", "--config"])
            .arg(setup.config_path())
            .env("RUST_LOG", "calltrack=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, log };
        daemon.wait_listening();
        daemon
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.log().contains("calltrack listening") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("calltrack did not start; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The calltrack process id (under `ip netns exec` the process execs in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and a clean exit (CDRs flushed).
    pub fn stop(mut self) -> String {
        let pid = self.pid().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = self.log();
                assert!(
                    status.success(),
                    "calltrack exited with {status}; log:\n{log}"
                );
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("calltrack did not stop within 40 s; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PRAGMA integrity_check` of a database file: "ok" when it is sound.
pub fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}
