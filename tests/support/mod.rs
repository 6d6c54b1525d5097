//! Shared harness for end-to-end tests: a calltrack process on free loopback ports with its
//! own config and database, and sipp peers driven from scenario files in `tests/sipp/`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use calltrack::call::record::CallDetailRecord;

pub mod backends;
pub mod pg_server;
pub mod pg_store;
pub mod pool_calls;
pub mod redis_server;

/// Which transport a leg uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    Udp,
    Tcp,
}

impl Leg {
    fn sipp_flag(self) -> &'static str {
        match self {
            Leg::Udp => "u1",
            Leg::Tcp => "t1",
        }
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// End-to-end tests run one at a time: they share the machine's two cores and sipp's UI.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// True (after a loud message) when sipp is missing; under `CI` a missing sipp is a failure.
pub fn skip_without_sipp(what: &str) -> bool {
    if sipp_available() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have sipp: .ci/run installs sip-tester"
    );
    eprintln!(
        "\n*** SKIPPED: sipp not found (apt-get install sip-tester); {what} did not run ***\n"
    );
    true
}

pub fn sipp_available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Ports already handed out by [`free_port`]: a port picked for one process is never picked
/// again for another before the first binds it (sipp's SIP and media ports must differ).
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// A loopback port free for both UDP and TCP, never one this test process handed out before;
/// sipp binds its media port and the next two (RTP/RTCP), so those must be free too.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..200 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let clear = |p: u16| handed_out.iter().all(|h| h.abs_diff(p) > 2);
        if clear(port) && UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free loopback port");
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// A calltrack daemon under test.
pub struct Calltrack {
    pub sip_port: u16,
    pub http_port: u16,
    /// Where the stand-in PBX (sipp UAS) must listen.
    pub pbx_port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Calltrack {
    /// Starts calltrack with callers arriving over `caller` and the PBX reached over `pbx`;
    /// `edit` may change the generated TOML.
    pub fn start(caller: Leg, pbx: Leg, edit: impl FnOnce(&mut String)) -> Calltrack {
        let _ = caller;
        let dir = tempfile::tempdir().unwrap();
        let (sip_port, http_port, pbx_port) = (free_port(), free_port(), free_port());
        let mut toml = base_config(dir.path(), sip_port, http_port, pbx_port, pbx);
        edit(&mut toml);
        let config = dir.path().join("calltrack.toml");
        std::fs::write(&config, toml).unwrap();
        let child = spawn_daemon(dir.path());
        let ct = Calltrack {
            sip_port,
            http_port,
            pbx_port,
            dir,
            child,
        };
        ct.wait_ready();
        ct
    }

    /// Ready when an OPTIONS ping over UDP gets its 200.
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = sock.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let ping = format!(
                "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKready{n}\r\n\
From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: ready-{n}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                port = self.sip_port,
                n = Instant::now().elapsed().as_nanos()
            );
            let _ = sock.send_to(ping.as_bytes(), ("127.0.0.1", self.sip_port));
            let mut buf = [0u8; 2048];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200") {
                    return;
                }
            }
        }
        panic!("calltrack did not answer OPTIONS; log:\n{}", self.log());
    }

    /// SIGKILL, as a crash or the OOM killer would: no shutdown, no flush.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the daemon again on the same config and database (after [`Calltrack::kill9`]);
    /// the log continues in the same file.
    pub fn restart(&mut self) {
        self.child = spawn_daemon(self.dir.path());
        self.wait_ready();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calltrack.log")).unwrap_or_default()
    }

    /// The config file the daemon was started with (`serve --config`).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("calltrack.toml")
    }

    /// Sends `signal` (e.g. "HUP") to the daemon.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Waits until the log holds `needle` at least `count` times; returns the log.
    pub fn wait_for_log(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?} x{count}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("cdr.db")
    }

    /// SIGTERM, wait for a clean exit (CDRs flushed), then hand over the database.
    pub fn stop(mut self) -> Stopped {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        let log = self.log();
        assert!(
            status.is_some_and(|s| s.success()),
            "calltrack did not stop cleanly ({status:?}); log:\n{log}"
        );
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Stopped {
            db: dir.path().join("cdr.db"),
            log,
            _dir: dir,
        }
    }
}

impl Drop for Calltrack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stopped calltrack: its database and log.
pub struct Stopped {
    pub db: PathBuf,
    pub log: String,
    _dir: tempfile::TempDir,
}

impl Stopped {
    /// Every CDR, oldest first.
    pub fn cdrs(&self) -> Vec<CallDetailRecord> {
        let conn = calltrack::store::open_existing(&self.db).unwrap();
        let mut rows = calltrack::store::list_recent(&conn, 10_000).unwrap();
        rows.reverse();
        rows.into_iter().map(|r| r.cdr).collect()
    }

    pub fn single_cdr(&self) -> CallDetailRecord {
        let cdrs = self.cdrs();
        assert_eq!(
            cdrs.len(),
            1,
            "expected one CDR, got {cdrs:#?}\nlog:\n{}",
            self.log
        );
        cdrs.into_iter().next().unwrap()
    }
}

/// `calltrack serve` on `dir/calltrack.toml`, stderr appended to `dir/calltrack.log`.
fn spawn_daemon(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calltrack.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args(["serve", "--config"])
        .arg(dir.join("calltrack.toml"))
        .env("RUST_LOG", "calltrack=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn base_config(dir: &Path, sip: u16, http: u16, pbx: u16, pbx_leg: Leg) -> String {
    let transport = if pbx_leg == Leg::Tcp {
        ";transport=tcp"
    } else {
        ""
    };
    format!(
        r#"[sip]
udp_listen = ["127.0.0.1:{sip}"]
tcp_listen = ["127.0.0.1:{sip}"]

[carriers]
trusted = ["127.0.0.0/8", "::1/128"]

[http]
listen = "127.0.0.1:{http}"

[store]
path = "{db}"
flush_interval_ms = 5

# No target probing: the sipp stand-in PBX would take an OPTIONS for an unexpected call.
# tests/e2e_health.rs turns it on.
[health]
enabled = false

[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:{pbx}{transport}"
default_number = "74950000000"
reserve_number = "74950000099"

[[sites.static_numbers]]
number = "74950000001"
source = "billboard"

[[sites.static_numbers]]
number = "74950000002"
source = "radio"

[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000149"]
"#,
        db = dir.join("cdr.db").display()
    )
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One sipp run.
pub struct Sipp {
    args: Vec<String>,
    name: String,
    dir: tempfile::TempDir,
}

impl Sipp {
    fn new(scenario_name: &str, leg: Leg) -> Sipp {
        let dir = tempfile::tempdir().unwrap();
        let args = vec![
            "-sf".into(),
            scenario(scenario_name).display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-t".into(),
            leg.sipp_flag().into(),
            "-m".into(),
            "1".into(),
            "-mp".into(),
            free_port().to_string(),
            "-nostdin".into(),
            "-timeout".into(),
            "30s".into(),
            "-timeout_error".into(),
            "-trace_err".into(),
            "-error_file".into(),
            dir.path().join("errors.log").display().to_string(),
            "-trace_msg".into(),
            "-message_file".into(),
            dir.path().join("messages.log").display().to_string(),
        ];
        Sipp {
            args,
            name: scenario_name.into(),
            dir,
        }
    }

    /// A caller dialling `service` at calltrack's `port`.
    pub fn uac(scenario_name: &str, leg: Leg, port: u16, service: &str) -> Sipp {
        let mut s = Sipp::new(scenario_name, leg);
        s.args.insert(0, format!("127.0.0.1:{port}"));
        s.args.extend([
            "-s".into(),
            service.into(),
            "-p".into(),
            free_port().to_string(),
        ]);
        s
    }

    /// The stand-in PBX listening on `port`.
    pub fn uas(scenario_name: &str, leg: Leg, port: u16) -> Sipp {
        let mut s = Sipp::new(scenario_name, leg);
        s.args.extend(["-p".into(), port.to_string()]);
        s
    }

    /// Sends from another loopback address (`127.0.0.2`) instead of 127.0.0.1.
    pub fn local_ip(mut self, ip: &str) -> Sipp {
        if let Some(i) = self.args.iter().position(|a| a == "-i") {
            self.args[i + 1] = ip.to_owned();
        }
        self
    }

    /// A caller dialling `addr` (`ip:port`, e.g. a proxy in front of calltrack) instead of
    /// 127.0.0.1.
    pub fn remote(mut self, addr: &str) -> Sipp {
        self.args[0] = addr.to_owned();
        self
    }

    /// Sets the scenario keyword `[name]` (sipp `-key`).
    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.args.extend(["-key".into(), name.into(), value.into()]);
        self
    }

    /// The scenario's `<pause/>` length.
    pub fn pause_ms(mut self, ms: u64) -> Sipp {
        self.args.extend(["-d".into(), ms.to_string()]);
        self
    }

    /// Puts `bytes` into sipp's working directory as `name` (e.g. the audio an
    /// `rtp_stream` action plays, named relative to it).
    pub fn file(self, name: &str, bytes: &[u8]) -> Sipp {
        std::fs::write(self.dir.path().join(name), bytes).unwrap();
        self
    }

    /// Calls started per second (`-r`; sipp's default is 10).
    pub fn rate(mut self, cps: u32) -> Sipp {
        self.args.extend(["-r".into(), cps.to_string()]);
        self
    }

    /// How many calls the scenario runs (`-m`); a UAS serves them one after another.
    pub fn calls(mut self, n: u32) -> Sipp {
        if let Some(i) = self.args.iter().position(|a| a == "-m") {
            self.args[i + 1] = n.to_string();
        }
        self
    }

    pub fn spawn(self) -> Running {
        let child = Command::new("sipp")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Give a UAS time to bind before the caller dials.
        std::thread::sleep(Duration::from_millis(300));
        Running { child, sipp: self }
    }

    pub fn run_ok(self) -> String {
        self.spawn().wait_ok()
    }
}

/// A sipp process in flight.
pub struct Running {
    child: Child,
    sipp: Sipp,
}

impl Running {
    /// Waits for sipp to finish its one call successfully (exit 0); returns sipp's message
    /// trace (every SIP message it sent and received).
    pub fn wait_ok(mut self) -> String {
        let status = wait_timeout(&mut self.child, Duration::from_secs(40));
        if status.is_some_and(|s| s.success()) {
            return std::fs::read_to_string(self.sipp.dir.path().join("messages.log"))
                .unwrap_or_default();
        }
        let _ = self.child.kill();
        let read =
            |f: &str| std::fs::read_to_string(self.sipp.dir.path().join(f)).unwrap_or_default();
        panic!(
            "sipp {} failed ({status:?})\nerrors:\n{}\nmessages:\n{}",
            self.sipp.name,
            read("errors.log"),
            read("messages.log")
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
