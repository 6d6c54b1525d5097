//! End to end with a record-routing proxy in front of calltrack, as a carrier's SBC would be
//! (issue 18, finding 6): the 180 and the 200 carry the INVITE's Record-Route back (RFC 3261
//! §12.1.1), so the caller's ACK, re-INVITE and BYE come back through the proxy, and with
//! `[carriers] trusted` listing only the proxy the call still ends on both legs with the
//! right CDR (hangup side caller, talk time as talked).
//!
//! Two proxies: a real Kamailio (Debian package `kamailio`; CI installs it, elsewhere the test
//! skips loudly without it) with a caller on 127.0.0.2, and a sipp caller that is its own
//! proxy on 127.0.0.3 (needs only sipp). The PBX (sipp) is on 127.0.0.1; `[pbx] trusted` is
//! that one address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide};
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";
const PROXY_IP: &str = "127.0.0.3";
const CALLER_IP: &str = "127.0.0.2";
const KAMAILIO: &str = "/usr/sbin/kamailio";

/// Only the proxy is a carrier; only the stand-in PBX is the PBX side.
fn trust_only_the_proxy(toml: &mut String) {
    *toml = toml.replace(
        "trusted = [\"127.0.0.0/8\", \"::1/128\"]",
        &format!("trusted = [\"{PROXY_IP}/32\"]\n\n[pbx]\ntrusted = [\"127.0.0.1/32\"]"),
    );
    assert!(toml.contains("[pbx]"), "the base config changed: {toml}");
}

/// The call went through, the caller hung up after the re-INVITE, and talk time is what the
/// scenario talked (300 ms before the re-INVITE plus the pause), not the PBX's or a timer's.
fn assert_caller_hung_up(cdr: &CallDetailRecord) {
    assert_eq!(cdr.disposition, Disposition::Answered);
    assert_eq!(cdr.hangup_side, HangupSide::Caller, "{cdr:#?}");
    assert_eq!(cdr.sip_status, 200);
    assert!(
        (1..=4).contains(&cdr.talk_secs),
        "talked {} s, expected about 1.5 s",
        cdr.talk_secs
    );
}

#[test]
fn sipp_caller_as_its_own_proxy_gets_record_route_back_and_ends_the_call() {
    if support::skip_without_sipp("the record-route end-to-end test") {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, trust_only_the_proxy);
    let uas = Sipp::uas("uas_reinvite.xml", Leg::Udp, ct.pbx_port).spawn();
    let rr = format!("Record-Route: <sip:{PROXY_IP}:5999;lr>");
    Sipp::uac("uac_record_route.xml", Leg::Udp, ct.sip_port, BILLBOARD)
        .local_ip(PROXY_IP)
        .key("rr", &rr)
        .pause_ms(1200)
        .run_ok();
    uas.wait_ok();
    assert_caller_hung_up(&ct.stop().single_cdr());
}

#[test]
fn behind_kamailio_reinvite_and_bye_come_through_the_proxy_and_end_both_legs() {
    if skip_without_kamailio() || support::skip_without_sipp("the Kamailio end-to-end test") {
        return;
    }
    let _serial = support::serial();
    let ct = Calltrack::start(Leg::Udp, Leg::Udp, trust_only_the_proxy);
    let proxy_port = support::free_port();
    let proxy = Kamailio::start(ct.dir.path(), proxy_port, ct.sip_port);
    let uas = Sipp::uas("uas_reinvite.xml", Leg::Udp, ct.pbx_port).spawn();
    let caller = Sipp::uac("uac_record_route.xml", Leg::Udp, proxy_port, BILLBOARD)
        .remote(&format!("{PROXY_IP}:{proxy_port}"))
        .local_ip(CALLER_IP)
        .key("rr", "Subject: via the carrier's proxy")
        .pause_ms(1200)
        .spawn();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        caller.wait_ok();
        uas.wait_ok();
    }));
    if let Err(panic) = result {
        eprintln!("kamailio log:\n{}", proxy.log());
        std::panic::resume_unwind(panic);
    }
    assert_caller_hung_up(&ct.stop().single_cdr());
}

/// True (after a loud message) when Kamailio is missing; under `CI` that is a failure.
fn skip_without_kamailio() -> bool {
    if Path::new(KAMAILIO).exists() {
        return false;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have kamailio: .ci/run installs it"
    );
    eprintln!(
        "\n*** SKIPPED: {KAMAILIO} not found (apt-get install kamailio); the record-routing proxy test did not run ***\n"
    );
    true
}

/// A Kamailio record-routing proxy on `127.0.0.3:port` relaying to calltrack
/// (`tests/kamailio/record_route.cfg`).
struct Kamailio {
    child: Child,
    dir: std::path::PathBuf,
}

impl Kamailio {
    fn start(dir: &Path, port: u16, calltrack_port: u16) -> Kamailio {
        let template =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kamailio/record_route.cfg");
        let cfg = std::fs::read_to_string(template)
            .unwrap()
            .replace("@LISTEN@", &format!("{PROXY_IP}:{port}"))
            .replace("@CALLTRACK@", &format!("127.0.0.1:{calltrack_port}"));
        let dir = dir.join("kamailio");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kamailio.cfg");
        std::fs::write(&path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new(KAMAILIO)
            .arg("-f")
            .arg(&path)
            .args(["-DD", "-E", "-m", "32", "-M", "4", "-Y"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let proxy = Kamailio { child, dir };
        proxy.wait_ready(port);
        proxy
    }

    /// Ready when an OPTIONS sent to the proxy comes back answered (by calltrack, through it).
    fn wait_ready(&self, port: u16) {
        let sock = UdpSocket::bind((PROXY_IP, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let local = sock.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut n = 0;
        while Instant::now() < deadline {
            n += 1;
            let ping = format!(
                "OPTIONS sip:{PROXY_IP}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKkam{n}\r\n\
From: <sip:probe@{PROXY_IP}>;tag=p\r\nTo: <sip:{PROXY_IP}:{port}>\r\nCall-ID: kam-{n}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = sock.send_to(ping.as_bytes(), (PROXY_IP, port));
            let mut buf = [0u8; 2048];
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                if buf[..len].starts_with(b"SIP/2.0 200") {
                    return;
                }
            }
        }
        panic!("kamailio did not relay OPTIONS; log:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    /// SIGTERM: Kamailio's main process stops its children (SIGKILL would orphan them).
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
