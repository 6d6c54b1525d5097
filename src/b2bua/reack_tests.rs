//! The B-leg ACK after the call ended (issue 12): the client INVITE keeps only the recipe of
//! its ACK, rebuilt from the 2xx, and a 2xx the PBX retransmits after the BYE still gets the
//! very bytes of the first ACK (RFC 3261 §13.2.2.4, RFC 6026 §7.2), until Timer M.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{B2bua, Shared};
use crate::config::Config;
use crate::sip::dialog::LocalEndpoint;
use crate::sip::message::{HeaderName, Limits, Method, SipMessage};
use crate::sip::{Peer, Transport};

const CARRIER: &str = "127.0.0.1:40000";
const PBX: &str = "127.0.0.1:5080";
const PROXY: &str = "127.0.0.1:5090";

fn core(now: Instant) -> B2bua {
    let toml = format!(
        "[carriers]\ntrusted = [\"127.0.0.0/8\"]\n[health]\nenabled = false\n\
[[sites]]\nid = \"demo\"\nforward_to = \"sip:{PBX}\"\n\
[[sites.static_numbers]]\nnumber = \"74950000001\"\nsource = \"billboard\"\n"
    );
    let config = Arc::new(Config::from_toml_str(&toml).unwrap());
    let local = LocalEndpoint {
        udp: Some("127.0.0.1:5060".parse().unwrap()),
        tcp: None,
        advertised_host: None,
        advertised_port: None,
    };
    let wall = jiff::Timestamp::from_second(1_796_000_000).unwrap();
    B2bua::new(config, Shared::default(), local, now, wall, 5)
}

fn feed(core: &mut B2bua, now: Instant, text: &str, from: &str) -> Vec<(SocketAddr, Bytes)> {
    let peer = Peer::new(Transport::Udp, from.parse().unwrap());
    core.handle_datagram(now, Bytes::from(text.replace('\n', "\r\n")), peer);
    while core.poll_event().is_some() {}
    std::iter::from_fn(|| core.poll_transmit())
        .map(|t| (t.peer.addr, t.bytes))
        .collect()
}

/// A request sent toward the PBX: to it, or to the proxy it record-routed through.
fn to_pbx(sent: &[(SocketAddr, Bytes)], method: Method) -> Option<(SipMessage, Bytes)> {
    let hops: [SocketAddr; 2] = [PBX.parse().unwrap(), PROXY.parse().unwrap()];
    sent.iter().find_map(|(addr, bytes)| {
        let msg = SipMessage::parse(bytes.clone(), &Limits::default()).ok()?;
        (hops.contains(addr) && msg.method() == Some(&method)).then(|| (msg, bytes.clone()))
    })
}

fn to_carrier(sent: &[(SocketAddr, Bytes)], status: u16) -> SipMessage {
    let carrier: SocketAddr = CARRIER.parse().unwrap();
    let found = sent.iter().find_map(|(addr, bytes)| {
        let msg = SipMessage::parse(bytes.clone(), &Limits::default()).ok()?;
        (*addr == carrier && msg.status() == Some(status)).then_some(msg)
    });
    found.unwrap()
}

fn response(req: &SipMessage, status: &str) -> String {
    let to = req.header(&HeaderName::To).unwrap();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag=pbx1")
    };
    format!(
        "SIP/2.0 {status}\nVia: {via}\nRecord-Route: <sip:{PROXY};lr>\nFrom: {from}\n\
To: {to}\nCall-ID: {cid}\nCSeq: {cseq}\nContact: <sip:pbx@{PBX}>\nContent-Length: 0\n\n",
        via = req.header(&HeaderName::Via).unwrap(),
        from = req.header(&HeaderName::From).unwrap(),
        cid = req.call_id().unwrap(),
        cseq = req.header(&HeaderName::CSeq).unwrap(),
    )
}

fn carrier_request(method: &str, to: &str, cseq: u32, branch: &str) -> String {
    format!(
        "{method} sip:74950000001@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CARRIER};branch={branch};rport\n\
Max-Forwards: 70\nFrom: <sip:79161234567@carrier.example>;tag=c1\nTo: {to}\n\
Call-ID: a-leg-1@carrier\nCSeq: {cseq} {method}\nContact: <sip:79161234567@{CARRIER}>\n\
Content-Length: 0\n\n"
    )
}

#[test]
fn a_2xx_retransmitted_after_the_call_ended_gets_the_first_ack_byte_for_byte() {
    let t0 = Instant::now();
    let mut core = core(t0);
    let to = "<sip:74950000001@127.0.0.1>";
    let sent = feed(
        &mut core,
        t0,
        &carrier_request("INVITE", to, 10, "z9hG4bKc1"),
        CARRIER,
    );
    let (b_invite, _) = to_pbx(&sent, Method::Invite).unwrap();
    let ok = response(&b_invite, "200 OK");
    let sent = feed(&mut core, t0, &ok, PBX);
    let a_to = to_carrier(&sent, 200)
        .header(&HeaderName::To)
        .unwrap()
        .to_string();
    let sent = feed(
        &mut core,
        t0,
        &carrier_request("ACK", &a_to, 10, "z9hG4bKc2"),
        CARRIER,
    );
    let (_, first_ack) = to_pbx(&sent, Method::Ack).expect("the B-leg ACK");
    let layer = format!("{:?}", core.transactions());
    assert!(
        layer.contains("Rebuilt(AckRecipe"),
        "kept as its recipe: {layer}"
    );
    let sent = feed(
        &mut core,
        t0,
        &carrier_request("BYE", &a_to, 11, "z9hG4bKc3"),
        CARRIER,
    );
    let (b_bye, _) = to_pbx(&sent, Method::Bye).unwrap();
    feed(&mut core, t0, &response(&b_bye, "200 OK"), PBX);
    assert_eq!(core.active_calls(), 0, "the call ended");
    for secs in [1, 31] {
        let sent = feed(&mut core, t0 + Duration::from_secs(secs), &ok, PBX);
        let (_, again) = to_pbx(&sent, Method::Ack).expect("re-ACKed");
        assert_eq!(again, first_ack, "the same bytes at {secs} s");
    }
    core.handle_timeout(t0 + Duration::from_secs(33));
    let sent = feed(&mut core, t0 + Duration::from_secs(33), &ok, PBX);
    assert!(
        to_pbx(&sent, Method::Ack).is_none(),
        "forgotten after Timer M"
    );
}
