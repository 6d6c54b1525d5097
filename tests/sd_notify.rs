//! The sd_notify protocol as systemd sees it, against the real binary: a unix datagram socket
//! stands in for `$NOTIFY_SOCKET`. calltrack must send READY=1 once listening, WATCHDOG=1
//! regularly while `$WATCHDOG_USEC` is set, RELOADING=1 (with MONOTONIC_USEC) then READY=1
//! around a SIGHUP reload, and STOPPING=1 on SIGTERM before it exits cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(unix)]

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Notifications {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Notifications {
    /// Waits for a datagram containing `needle`; returns it.
    fn expect(&mut self, needle: &str, child: &mut Child, log: &std::path::Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(text.clone());
                if text.contains(needle) {
                    return text;
                }
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "calltrack exited; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        panic!(
            "no {needle:?} notification; got {:?}\nlog:\n{}",
            self.seen,
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ready_watchdog_reloading_and_stopping_reach_the_notify_socket() {
    let _serial = support::serial();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let (sip, http, pbx) = (
        support::free_port(),
        support::free_port(),
        support::free_port(),
    );
    let config = dir.path().join("calltrack.toml");
    std::fs::write(
        &config,
        format!(
            r#"[sip]
udp_listen = ["127.0.0.1:{sip}"]
tcp_listen = []

[http]
listen = "127.0.0.1:{http}"

[store]
path = "{db}"

[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:{pbx}"
default_number = "74950000000"
"#,
            db = dir.path().join("cdr.db").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("calltrack.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "4000000")
        .env_remove("WATCHDOG_PID")
        .env("RUST_LOG", "calltrack=info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut notes = Notifications {
        socket,
        seen: Vec::new(),
    };

    notes.expect("READY=1", &mut child, &log);
    notes.expect("WATCHDOG=1", &mut child, &log);
    notes.expect("WATCHDOG=1", &mut child, &log);

    kill(&child, "HUP");
    let reloading = notes.expect("RELOADING=1", &mut child, &log);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    notes.expect("READY=1", &mut child, &log);

    kill(&child, "TERM");
    notes.expect("STOPPING=1", &mut child, &log);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("systemd watchdog enabled"), "{text}");
    assert!(text.contains("config reloaded"), "{text}");
    assert!(!text.contains("withholding the watchdog ping"), "{text}");
}
