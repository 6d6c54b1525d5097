//! Unit tests of the compact records (`record`, `absorb`, `leg`): each kind absorbs its
//! retransmissions with the right bytes, and is forgotten when its interval ends on the
//! virtual clock (Timers L, J, M, K).

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::sip::dialog::{Dialog, LocalEndpoint};
use crate::sip::message::{HeaderName, MessageBuilder, response_to};
use crate::sip::peer::Transport;

const UAC: &str = "192.0.2.1:5060";
const UAS: &str = "192.0.2.2:5060";

fn peer(addr: &str) -> Peer {
    Peer::new(Transport::Udp, addr.parse().unwrap())
}

fn request(method: Method, branch: &str, cseq: u32) -> SipMessage {
    let mut b = MessageBuilder::request(&method, "sip:bob@192.0.2.2");
    b.header(
        HeaderName::Via,
        &format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport"),
    )
    .header(HeaderName::MaxForwards, "70")
    .header(HeaderName::From, "\"Alice\" <sip:alice@192.0.2.1>;tag=a1")
    .header(HeaderName::To, "<sip:bob@192.0.2.2>")
    .header(HeaderName::CallId, "rec-1@192.0.2.1")
    .header(HeaderName::CSeq, &format!("{cseq} {method}"));
    b.finish()
}

fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

fn transmits(layer: &mut TransactionLayer) -> Vec<Bytes> {
    std::iter::from_fn(|| layer.poll_transmit())
        .map(|t| t.bytes)
        .collect()
}

/// Fires every timer up to `until`.
fn run_until(layer: &mut TransactionLayer, until: Instant) {
    while let Some(due) = layer.poll_timeout().filter(|d| *d <= until) {
        layer.handle_timeout(due);
    }
    layer.handle_timeout(until);
}

/// Whether `tx` rests in a record (and no longer among the live transactions).
fn is_record(layer: &TransactionLayer, tx: TxId) -> bool {
    !layer.txs.contains_key(&tx) && layer.records.by_id(tx).is_some()
}

/// A server INVITE answered 200 at `t0` and ACKed: (layer, tx, the INVITE).
fn accepted_server_invite(t0: Instant) -> (TransactionLayer, TxId, SipMessage) {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let invite = request(Method::Invite, "z9hG4bKinv1", 1);
    layer.handle_request(t0, invite.clone(), peer(UAC));
    let Some(TxEvent::Request { tx, .. }) = layer.poll_event() else {
        panic!("a Request")
    };
    let ok = response_to(&invite, 200, "OK", Some("b1"), Some(peer(UAC).addr)).finish();
    layer.respond(t0, tx, ok).unwrap();
    let ack = response_free_ack(request(Method::Ack, "z9hG4bKack1", 1));
    layer.handle_request(t0 + Duration::from_millis(100), ack, peer(UAC));
    transmits(&mut layer);
    events(&mut layer);
    (layer, tx, invite)
}

/// An ACK with the To tag of our 2xx.
fn response_free_ack(ack: SipMessage) -> SipMessage {
    let text = String::from_utf8_lossy(&ack.wire_bytes())
        .replace("To: <sip:bob@192.0.2.2>", "To: <sip:bob@192.0.2.2>;tag=b1");
    SipMessage::parse(Bytes::from(text), &crate::sip::message::Limits::default()).unwrap()
}

#[test]
fn a_retransmitted_invite_after_the_2xx_and_ack_is_absorbed_until_timer_l() {
    let t0 = Instant::now();
    let (mut layer, tx, invite) = accepted_server_invite(t0);
    assert!(is_record(&layer, tx));
    assert_eq!(layer.state(tx), Some(TxState::Accepted));
    assert_eq!(layer.out.timers.len(), 0, "a record keeps no timer");
    assert_eq!(layer.records.len(), 1);
    let absorbed = layer.stats().retransmissions_absorbed;
    layer.handle_request(t0 + Duration::from_secs(10), invite.clone(), peer(UAC));
    assert!(transmits(&mut layer).is_empty() && events(&mut layer).is_empty());
    assert_eq!(layer.stats().retransmissions_absorbed, absorbed + 1);
    // A retransmitted ACK still reaches the TU, tied to its INVITE.
    let ack = response_free_ack(request(Method::Ack, "z9hG4bKack1", 1));
    layer.handle_request(t0 + Duration::from_secs(11), ack, peer(UAC));
    let acks = events(&mut layer);
    assert!(matches!(acks[..], [TxEvent::Ack { invite_tx: Some(id), .. }] if id == tx));
    // Timer L: 64*T1 after the 2xx.
    assert_eq!(layer.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    run_until(&mut layer, t0 + Duration::from_millis(31_999));
    assert_eq!(layer.len(), 1);
    run_until(&mut layer, t0 + Duration::from_secs(32));
    assert!(layer.is_empty() && layer.server_keys.is_empty() && layer.ack_keys.is_empty());
    assert_eq!(layer.records.index_len(), 0, "its index entries go with it");
    assert_eq!(layer.out.peers.len(), 0, "and its peer");
    assert!(events(&mut layer).is_empty(), "no AckTimeout: it was ACKed");
    layer.handle_request(t0 + Duration::from_secs(33), invite, peer(UAC));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Request { .. }]));
}

#[test]
fn a_retransmitted_bye_after_its_200_gets_the_same_bytes_until_timer_j() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let bye = request(Method::Bye, "z9hG4bKbye1", 2);
    layer.handle_request(t0, bye.clone(), peer(UAC));
    let Some(TxEvent::Request { tx, .. }) = layer.poll_event() else {
        panic!("a Request")
    };
    let ok = response_to(&bye, 200, "OK", Some("b1"), Some(peer(UAC).addr)).finish();
    layer.respond(t0, tx, ok).unwrap();
    let first = transmits(&mut layer);
    assert!(is_record(&layer, tx));
    assert_eq!(layer.state(tx), Some(TxState::Completed));
    for secs in [1, 31] {
        layer.handle_request(t0 + Duration::from_secs(secs), bye.clone(), peer(UAC));
        assert_eq!(transmits(&mut layer), first, "the 200 again at {secs} s");
        assert!(events(&mut layer).is_empty());
    }
    run_until(&mut layer, t0 + Duration::from_millis(31_999));
    assert_eq!(layer.len(), 1);
    run_until(&mut layer, t0 + Duration::from_secs(32));
    assert!(layer.is_empty() && layer.server_keys.is_empty());
    assert_eq!((layer.records.index_len(), layer.out.peers.len()), (0, 0));
    layer.handle_request(t0 + Duration::from_secs(33), bye, peer(UAC));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Request { .. }]));
}

/// The 2xx a UAS sends for `invite`, with a Contact and a Record-Route.
fn ok_for(invite: &SipMessage, tag: &str) -> SipMessage {
    let mut ok = response_to(invite, 200, "OK", Some(tag), None);
    ok.header(HeaderName::RecordRoute, "<sip:192.0.2.9;lr>")
        .header(HeaderName::Contact, "<sip:bob@192.0.2.2:5060>");
    let ok = ok.finish();
    SipMessage::parse(ok.wire_bytes(), &crate::sip::message::Limits::default()).unwrap()
}

/// The ACK for `ok` as the B2BUA builds it (`b2bua::bridge::ack_for`, RFC 3261 §13.2.2.4).
fn ack_for(ok: &SipMessage, branch: &str) -> SipMessage {
    let mut dialog = Dialog {
        call_id: "rec-1@192.0.2.1".into(),
        local_tag: "a1".into(),
        remote_tag: ok.to().unwrap().tag().map(str::to_string),
        local_uri: "\"Alice\" <sip:alice@192.0.2.1>".into(),
        remote_uri: "<sip:bob@192.0.2.2>".into(),
        local_seq: 1,
        remote_seq: None,
        remote_target: "sip:bob@192.0.2.2:5060".into(),
        route_set: vec!["<sip:192.0.2.9;lr>".into()],
        peer: peer(UAS),
        transport: Transport::Udp,
    };
    let local = LocalEndpoint {
        udp: Some(UAC.parse().unwrap()),
        tcp: None,
        advertised_host: None,
        advertised_port: None,
    };
    dialog.request(&Method::Ack, &local, branch).finish()
}

#[test]
fn a_retransmitted_2xx_after_the_ack_gets_the_same_ack_bytes_until_timer_m() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let invite = request(Method::Invite, "z9hG4bKout1", 1);
    let tx = layer.send_request(t0, invite.clone(), peer(UAS)).unwrap();
    let ok = ok_for(&invite, "b1");
    layer.handle_response(t0, ok.clone(), peer(UAS));
    assert_eq!(layer.state(tx), Some(TxState::Accepted));
    assert!(is_record(&layer, tx));
    let ack = ack_for(&ok, "z9hG4bKack1");
    layer
        .send_ack(t0 + Duration::from_millis(50), tx, ack.clone(), peer(UAS))
        .unwrap();
    transmits(&mut layer);
    events(&mut layer);
    let at = layer.records.by_id(tx).expect("a record");
    let record = layer.records.client_invite_mut(at).unwrap();
    assert!(
        format!("{record:?}").contains("Rebuilt"),
        "kept as a recipe"
    );
    for secs in [1, 31] {
        let later = t0 + Duration::from_secs(secs);
        layer.handle_response(later, ok.clone(), peer(UAS));
        assert_eq!(transmits(&mut layer), [ack.wire_bytes()], "at {secs} s");
        let passed_up = events(&mut layer);
        assert!(matches!(
            passed_up[..],
            [TxEvent::Response {
                retransmission: true,
                ..
            }]
        ));
    }
    run_until(&mut layer, t0 + Duration::from_millis(31_999));
    assert_eq!(layer.len(), 1);
    run_until(&mut layer, t0 + Duration::from_secs(32));
    assert!(layer.is_empty() && layer.client_keys.is_empty());
    assert_eq!((layer.records.index_len(), layer.out.peers.len()), (0, 0));
    let stray = layer.stats().stray_responses;
    layer.handle_response(t0 + Duration::from_secs(33), ok, peer(UAS));
    assert_eq!(layer.stats().stray_responses, stray + 1);
}

/// An ACK unlike its 2xx (another target, a body) is rebuilt from literal bytes; one for a
/// 2xx the layer never saw is kept as its bytes; both are re-sent byte for byte.
#[test]
fn an_ack_unlike_its_2xx_is_still_re_sent_byte_for_byte() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let invite = request(Method::Invite, "z9hG4bKout2", 1);
    let tx = layer.send_request(t0, invite.clone(), peer(UAS)).unwrap();
    let ok = ok_for(&invite, "b1");
    layer.handle_response(t0, ok.clone(), peer(UAS));
    let mut b = MessageBuilder::request(&Method::Ack, "sip:elsewhere@192.0.2.3");
    b.header(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa2",
    )
    .header(HeaderName::To, "<sip:bob@192.0.2.2>;tag=b1")
    .header(HeaderName::CSeq, "1 ACK");
    let ack = b.body(Some("application/sdp"), b"v=0\r\n");
    layer.send_ack(t0, tx, ack.clone(), peer(UAS)).unwrap();
    transmits(&mut layer);
    layer.handle_response(t0 + Duration::from_secs(1), ok.clone(), peer(UAS));
    assert_eq!(transmits(&mut layer), [ack.wire_bytes()]);
    let unseen = ack_for(&ok_for(&invite, "b9"), "z9hG4bKa3");
    layer.send_ack(t0, tx, unseen.clone(), peer(UAS)).unwrap();
    transmits(&mut layer);
    layer.handle_response(
        t0 + Duration::from_secs(2),
        ok_for(&invite, "b9"),
        peer(UAS),
    );
    assert_eq!(transmits(&mut layer), [unseen.wire_bytes()]);
    // The TU's ACK for the first leg again, elsewhere: it replaces the kept one.
    let elsewhere = Peer::new(Transport::Udp, "192.0.2.3:5060".parse().unwrap());
    layer.send_ack(t0, tx, ack.clone(), elsewhere).unwrap();
    transmits(&mut layer);
    assert_eq!(layer.out.peers.len(), 2);
    layer.handle_response(t0 + Duration::from_secs(3), ok, peer(UAS));
    let again: Vec<_> = std::iter::from_fn(|| layer.poll_transmit()).collect();
    assert!(matches!(&again[..], [t] if t.peer == elsewhere && t.bytes == ack.wire_bytes()));
    run_until(&mut layer, t0 + Duration::from_secs(32));
    assert_eq!(
        (layer.len(), layer.out.peers.len()),
        (0, 0),
        "every peer released"
    );
}

#[test]
fn a_retransmitted_200_to_our_bye_is_absorbed_until_timer_k() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let bye = request(Method::Bye, "z9hG4bKbye2", 2);
    let tx = layer.send_request(t0, bye.clone(), peer(UAS)).unwrap();
    let ok = response_to(&bye, 200, "OK", Some("b1"), None).finish();
    layer.handle_response(t0, ok.clone(), peer(UAS));
    transmits(&mut layer);
    assert!(matches!(events(&mut layer)[..], [TxEvent::Response { .. }]));
    assert!(is_record(&layer, tx));
    let absorbed = layer.stats().retransmissions_absorbed;
    layer.handle_response(t0 + Duration::from_secs(4), ok.clone(), peer(UAS));
    assert!(transmits(&mut layer).is_empty() && events(&mut layer).is_empty());
    assert_eq!(layer.stats().retransmissions_absorbed, absorbed + 1);
    run_until(&mut layer, t0 + Duration::from_millis(4_999));
    assert_eq!(layer.len(), 1);
    run_until(&mut layer, t0 + Duration::from_secs(5));
    assert!(layer.is_empty() && layer.client_keys.is_empty());
    assert!(!layer.abandon(tx), "nothing left to abandon");
}

/// Hundreds of records across several queue chunks, the oldest expiring meanwhile: each
/// retransmission is answered by its own transaction's record, none is lost or confused.
#[test]
fn each_of_many_server_records_answers_for_its_own_transaction() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let bye = |i: usize| request(Method::Bye, &format!("z9hG4bKmany{i}"), 2);
    let mut sent = Vec::new();
    for i in 0..600 {
        let at = t0 + Duration::from_millis(i as u64 * 10);
        layer.handle_request(at, bye(i), peer(UAC));
        let Some(TxEvent::Request { tx, .. }) = layer.poll_event() else {
            panic!("a Request")
        };
        let tag = format!("t{i}");
        let ok = response_to(&bye(i), 200, "OK", Some(&tag), Some(peer(UAC).addr)).finish();
        layer.respond(at, tx, ok).unwrap();
        sent.push((tx, transmits(&mut layer)));
    }
    // Timer J ran out for the first 300 (32 s after each).
    let later = t0 + Duration::from_millis(32_000 + 299 * 10);
    run_until(&mut layer, later);
    assert_eq!((layer.len(), layer.records.len()), (300, 300));
    for (i, (tx, first)) in sent.iter().enumerate().rev() {
        layer.handle_request(later, bye(i), peer(UAC));
        if i < 300 {
            assert_eq!(layer.state(*tx), None, "{i} expired");
            assert!(matches!(events(&mut layer)[..], [TxEvent::Request { .. }]));
            transmits(&mut layer);
        } else {
            assert_eq!(layer.state(*tx), Some(TxState::Completed), "{i}");
            assert_eq!(&transmits(&mut layer), first, "{i} gets its own 200");
            assert!(events(&mut layer).is_empty());
        }
    }
}

/// The same for client INVITE records: the TU's ACK reaches its own record by id, each
/// retransmitted 2xx is re-ACKed with that ACK and reported for its own transaction, and an
/// abandoned record takes nothing else with it.
#[test]
fn each_of_many_client_invite_records_re_acks_its_own_2xx() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut calls = Vec::new();
    for i in 0..600 {
        let invite = request(Method::Invite, &format!("z9hG4bKcmany{i}"), 1);
        let tx = layer.send_request(t0, invite.clone(), peer(UAS)).unwrap();
        let ok = ok_for(&invite, &format!("b{i}"));
        layer.handle_response(t0, ok.clone(), peer(UAS));
        calls.push((tx, ok));
    }
    transmits(&mut layer);
    events(&mut layer);
    let mut acks = Vec::new();
    for (i, (tx, ok)) in calls.iter().enumerate().rev() {
        let ack = ack_for(ok, &format!("z9hG4bKcack{i}"));
        layer.send_ack(t0, *tx, ack.clone(), peer(UAS)).unwrap();
        assert_eq!(transmits(&mut layer), [ack.wire_bytes()]);
        acks.push(ack);
    }
    acks.reverse();
    assert!(layer.abandon(calls[300].0));
    let later = t0 + Duration::from_secs(5);
    for (i, (tx, ok)) in calls.iter().enumerate() {
        let stray = layer.stats().stray_responses;
        layer.handle_response(later, ok.clone(), peer(UAS));
        if i == 300 {
            assert_eq!(layer.stats().stray_responses, stray + 1, "abandoned");
            continue;
        }
        assert_eq!(transmits(&mut layer), [acks[i].wire_bytes()], "{i}");
        let reported = events(&mut layer);
        assert!(
            matches!(reported[..], [TxEvent::Response { tx: id, retransmission: true, .. }] if id == *tx),
            "{i}: {reported:?}"
        );
    }
    assert_eq!(layer.len(), 599);
    assert_eq!(layer.out.peers.len(), 1, "one peer for all the ACKs");
    run_until(&mut layer, t0 + Duration::from_secs(32));
    assert_eq!((layer.len(), layer.records.index_len()), (0, 0));
    assert_eq!(layer.out.peers.len(), 0, "released with the last record");
}
