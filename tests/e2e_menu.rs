//! The voice menu (`strategy = "menu"`) end to end through the real binary in relay mode:
//! sipp places the call and answers it as the PBX; the caller's key (an RFC 4733
//! telephone-event the test sends into calltrack's caller-facing port, or a SIP INFO that
//! sipp sends) picks the scheme that rings, and the CDR's routing trail says which; silence
//! takes the default.
//!
//! Needs `sipp` (Debian package `sip-tester`); without it each test says so loudly and skips
//! (under `CI=true` that is a failure). Only loopback addresses are used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use calltrack::call::record::{CallDetailRecord, Disposition};
use calltrack::call::trail::{TrailOutcome, TrailStep};
use calltrack::media::prompt::Prompt;
use support::{Calltrack, Leg, Sipp};

const BILLBOARD: &str = "74950000001";

fn skip() -> bool {
    support::skip_without_sipp("voice menu end-to-end tests")
}

/// An even port `P` with `P..=P + 3` free on loopback: the relay's whole pool (one stream).
fn free_pool() -> u16 {
    let seed = std::process::id() as usize;
    for attempt in 0..500usize {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 104 + 26) % 4_900) as u16 * 2;
        let free = (base..=base + 3).all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no four free loopback ports in a row");
}

/// calltrack with the billboard number routed to a menu: 1 sales, 2 support, default sales
/// after one second of silence, no replays.
fn with_menu(pool: u16) -> Calltrack {
    Calltrack::start(Leg::Udp, Leg::Udp, |cfg| {
        let pbx = cfg
            .split("forward_to = \"sip:")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|uri| uri.rsplit(':').next())
            .unwrap()
            .to_owned();
        cfg.push_str(&format!(
            "\n[[routes]]\nnumber = \"{BILLBOARD}\"\nscheme = \"main\"\n\
             \n[[schemes]]\nid = \"main\"\nmedia = \"relay\"\n\
             [[schemes.steps]]\nstrategy = \"menu\"\ntimeout_secs = 1\nretries = 0\n\
             default = \"sales\"\nchoices = {{ \"1\" = \"sales\", \"2\" = \"support\" }}\n\
             \n[[schemes]]\nid = \"sales\"\n[[schemes.steps]]\n\
             [[schemes.steps.targets]]\nuri = \"sip:sales@127.0.0.1:{pbx}\"\n\
             \n[[schemes]]\nid = \"support\"\n[[schemes.steps]]\n\
             [[schemes.steps.targets]]\nuri = \"sip:support@127.0.0.1:{pbx}\"\n\
             \n[media]\nrtp_ports = \"{pool}-{}\"\nbind_ip = \"127.0.0.1\"\n",
            pool + 3
        ));
    })
}

/// Key `key` as RFC 4733 telephone-events (payload type 101): three packets of the event,
/// then three end packets, one timestamp (RFC 4733 §2.5).
fn press(socket: &UdpSocket, to: SocketAddr, key: u8, seq: u16) {
    for i in 0..6u16 {
        let mut p = vec![0x80, if i == 0 { 0x80 | 101 } else { 101 }];
        p.extend_from_slice(&(seq + i).to_be_bytes());
        p.extend_from_slice(&8000u32.to_be_bytes());
        p.extend_from_slice(&0xau32.to_be_bytes());
        let end = if i >= 3 { 0x80 } else { 0x00 };
        let duration = 160 * (i.min(3) + 1);
        p.extend_from_slice(&[key, end | 10]);
        p.extend_from_slice(&duration.to_be_bytes());
        socket.send_to(&p, to).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn greeting() -> Duration {
    Prompt::load("menu", "en").unwrap().duration()
}

/// The menu's entry in the stored routing trail and the target that answered.
fn routed(call: &(CallDetailRecord, Vec<TrailStep>)) -> (String, String) {
    let trail = &call.1;
    let menu = trail.iter().find(|s| s.outcome == TrailOutcome::Menu);
    let answered = trail.iter().find(|s| s.outcome == TrailOutcome::Answered);
    let name = |s: Option<&TrailStep>| s.map(|s| s.target.clone());
    (
        name(menu).unwrap_or_else(|| panic!("no menu entry: {trail:#?}")),
        name(answered).unwrap_or_else(|| panic!("nothing answered: {trail:#?}")),
    )
}

/// One menu call: `scenario` with `pause_ms` of talk; `during` runs while it lasts.
fn menu_call(
    scenario: &str,
    pause_ms: u64,
    during: impl FnOnce(&UdpSocket, SocketAddr),
) -> (CallDetailRecord, Vec<TrailStep>) {
    let _serial = support::serial();
    let pool = free_pool();
    let ct = with_menu(pool);
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uas = Sipp::uas("uas_rtp.xml", Leg::Udp, ct.pbx_port)
        .key("media_b", &callee.local_addr().unwrap().port().to_string())
        .spawn();
    let uac = Sipp::uac(scenario, Leg::Udp, ct.sip_port, BILLBOARD)
        .key("media_a", &caller.local_addr().unwrap().port().to_string())
        .key("info_key", "2")
        .pause_ms(pause_ms)
        .spawn();
    during(&caller, ([127, 0, 0, 1], pool).into());
    uac.wait_ok();
    uas.wait_ok();
    let stopped = ct.stop();
    let cdr = stopped.single_cdr();
    let db = rusqlite::Connection::open(&stopped.db).unwrap();
    let json: String = db
        .query_row("SELECT trail FROM cdr", [], |r| r.get(0))
        .unwrap();
    (cdr, serde_json::from_str(&json).unwrap())
}

#[test]
fn a_key_in_rtp_rings_the_chosen_scheme() {
    if skip() {
        return;
    }
    let call = menu_call("uac_menu.xml", 3_000, |caller, relay| {
        std::thread::sleep(Duration::from_millis(700));
        press(caller, relay, 2, 1);
    });
    let (menu, answered) = routed(&call);
    let cdr = call.0;
    assert_eq!(menu, "menu 2>support");
    assert!(answered.contains("support@"), "{answered}");
    assert_eq!(cdr.disposition, Disposition::Answered);
}

#[test]
fn silence_takes_the_default_branch() {
    if skip() {
        return;
    }
    let wait = greeting() + Duration::from_millis(1_000 + 2_500);
    let call = menu_call("uac_menu.xml", wait.as_millis() as u64, |_, _| {});
    let (menu, answered) = routed(&call);
    let cdr = call.0;
    assert_eq!(menu, "menu timeout>sales");
    assert!(answered.contains("sales@"), "{answered}");
    let waited =
        Duration::try_from(cdr.answered_at.unwrap().duration_since(cdr.started_at)).unwrap();
    assert!(waited >= greeting() + Duration::from_secs(1), "{waited:?}");
}

#[test]
fn a_key_in_sip_info_rings_the_chosen_scheme() {
    if skip() {
        return;
    }
    let call = menu_call("uac_menu_info.xml", 2_500, |_, _| {});
    let (menu, answered) = routed(&call);
    assert_eq!(menu, "menu 2>support");
    assert!(answered.contains("support@"), "{answered}");
}
