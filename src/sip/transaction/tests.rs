//! Unit tests of the layer's internals: cancelled timers, exact deadlines, junk input.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::sip::message::response_to;
use crate::sip::message::{HeaderName, Limits, MessageBuilder};
use crate::sip::peer::Transport;

fn peer() -> Peer {
    Peer::new(Transport::Udp, "192.0.2.1:5060".parse().unwrap())
}

fn invite(n: u32) -> SipMessage {
    let mut b = MessageBuilder::request(&Method::Invite, "sip:bob@192.0.2.2");
    b.header(
        HeaderName::Via,
        &format!("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{n}"),
    )
    .header(HeaderName::From, "<sip:a@192.0.2.1>;tag=a")
    .header(HeaderName::To, "<sip:bob@192.0.2.2>")
    .header(HeaderName::CallId, &format!("c{n}"))
    .header(HeaderName::CSeq, "1 INVITE");
    b.finish()
}

fn ack(n: u32) -> SipMessage {
    let mut b = MessageBuilder::request(&Method::Ack, "sip:bob@192.0.2.2");
    b.header(
        HeaderName::Via,
        &format!("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{n}"),
    )
    .header(HeaderName::From, "<sip:a@192.0.2.1>;tag=a")
    .header(HeaderName::To, "<sip:bob@192.0.2.2>;tag=b")
    .header(HeaderName::CallId, &format!("c{n}"))
    .header(HeaderName::CSeq, "1 ACK");
    b.finish()
}

fn drain(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    while layer.poll_transmit().is_some() {}
    std::iter::from_fn(|| layer.poll_event()).collect()
}

#[test]
fn cancelled_timers_do_not_pile_up() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let mut now = Instant::now();
    for n in 0..2_000 {
        layer.handle_request(now, invite(n), peer());
        let [TxEvent::Request { tx, request, .. }] = &drain(&mut layer)[..] else {
            panic!("one Request per INVITE")
        };
        let busy = response_to(request, 486, "Busy Here", Some("b"), None).finish();
        layer.respond(now, *tx, busy).unwrap();
        // The ACK cancels G and H; they stay queued only until pruned.
        layer.handle_request(now, ack(n), peer());
        assert!(drain(&mut layer).is_empty(), "non-2xx ACK is absorbed");
        assert!(layer.out.timers.len() <= 64 + 4 * layer.len() + 4);
        now += Duration::from_millis(10);
        layer.handle_timeout(now);
    }
    while let Some(deadline) = layer.poll_timeout() {
        now = deadline;
        layer.handle_timeout(now);
    }
    assert!(layer.is_empty());
    assert_eq!(layer.out.timers.len(), 0);
    assert!(layer.server_keys.is_empty() && layer.ack_keys.is_empty());
}

#[test]
fn poll_timeout_skips_cancelled_timers() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    layer.handle_request(now, invite(1), peer());
    let [TxEvent::Request { tx, request, .. }] = &drain(&mut layer)[..] else {
        panic!()
    };
    let busy = response_to(request, 486, "Busy Here", Some("b"), None).finish();
    layer.respond(now, *tx, busy).unwrap();
    assert_eq!(layer.poll_timeout(), Some(now + Duration::from_millis(500)));
    layer.handle_request(now, ack(1), peer());
    assert_eq!(
        layer.poll_timeout(),
        Some(now + Duration::from_secs(5)),
        "Timer I only"
    );
}

#[test]
fn junk_from_the_network_never_panics() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    let junk: &[&[u8]] = &[
        b"OPTIONS sip:a@b SIP/2.0\r\n\r\n",
        b"ACK sip:a@b SIP/2.0\r\nVia: garbage\r\n\r\n",
        b"CANCEL sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: x\r\n\r\n",
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n",
    ];
    for bytes in junk {
        let msg = SipMessage::parse(Bytes::from_static(bytes), &Limits::default()).unwrap();
        layer.handle_request(now, msg.clone(), peer());
        layer.handle_response(now, msg, peer());
    }
    layer.handle_timeout(now + Duration::from_secs(100));
    assert!(layer.is_empty());
    // Responses fed to handle_request and requests fed to handle_response are refused too.
    assert_eq!(layer.stats().dropped_requests, 6);
    assert_eq!(layer.stats().stray_responses, 6);
}

#[test]
fn a_transaction_with_a_final_response_keeps_only_its_remnant() {
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    for (n, code) in [(1, 200), (2, 486)] {
        layer.handle_request(now, invite(n), peer());
        let [TxEvent::Request { tx, request, .. }] = &drain(&mut layer)[..] else {
            panic!("one Request per INVITE")
        };
        assert!(
            layer.server_request(*tx).is_some(),
            "the TU answers from it"
        );
        let last = response_to(request, code, "Final", Some("b"), None).finish();
        layer.respond(now, *tx, last).unwrap();
        assert!(
            layer.server_request(*tx).is_none(),
            "dropped with the final"
        );
    }
    drain(&mut layer);
    // The 486's dialog key is unindexed at once; the 2xx's stays for its ACK (RFC 6026 §7.1).
    assert_eq!(layer.ack_keys.len(), 1);
    layer.handle_request(now, ack(2), peer());
    assert!(
        drain(&mut layer).is_empty(),
        "non-2xx ACK absorbed in Completed"
    );
    let mut late = now;
    while let Some(due) = layer.poll_timeout() {
        late = due;
        layer.handle_timeout(due);
        drain(&mut layer);
    }
    assert!(layer.is_empty() && layer.ack_keys.is_empty() && layer.server_keys.is_empty());
    assert_eq!(
        late,
        now + Duration::from_secs(32),
        "Timer L is the last to fire"
    );
}

/// A BYE's 200 is kept as a recipe (`answer.rs`); a retransmitted BYE in Completed (Timer J)
/// still gets the very bytes sent first (§17.2.2), and a TU response with headers of its own
/// is re-sent as it was.
#[test]
fn a_retransmitted_bye_gets_the_same_bytes_as_the_first_answer() {
    let bye = |n: u32| {
        let mut b = MessageBuilder::request(&Method::Bye, "sip:bob@192.0.2.2");
        b.header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKbye{n};rport"),
        )
        .header(HeaderName::From, "<sip:a@192.0.2.1>;tag=a")
        .header(HeaderName::To, "<sip:bob@192.0.2.2>;tag=b")
        .header(HeaderName::CallId, &format!("c{n}"))
        .header(HeaderName::CSeq, "2 BYE");
        b.finish()
    };
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let now = Instant::now();
    for (n, extra) in [(1, false), (2, true)] {
        layer.handle_request(now, bye(n), peer());
        let tx = match layer.poll_event() {
            Some(TxEvent::Request { tx, .. }) => tx,
            other => panic!("a Request, got {other:?}"),
        };
        let mut ok = response_to(&bye(n), 200, "OK", Some("b"), Some(peer().addr));
        if extra {
            ok.header(HeaderName::Server, "calltrack");
        }
        layer.respond(now, tx, ok.finish()).unwrap();
        let first = layer.poll_transmit().unwrap().bytes;
        let later = now + Duration::from_secs(20);
        layer.handle_request(later, bye(n), peer());
        let again = layer.poll_transmit().expect("the 200 again").bytes;
        assert_eq!(again, first, "response {n}");
        assert!(layer.poll_transmit().is_none() && layer.poll_event().is_none());
    }
    assert_eq!(layer.stats().retransmissions_sent, 2);
}
