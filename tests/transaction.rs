//! The transaction layer on a virtual clock: a UAC layer and a UAS layer wired back to back
//! through a lossy in-memory link, checked against the timer schedules of RFC 3261 §17 and
//! the Accepted states of RFC 6026.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use calltrack::sip::message::{Limits, MessageBuilder, Screened, response_to, screen};
use calltrack::sip::transaction::{TimerConfig, TransactionLayer, TxError, TxEvent, TxId, TxState};
use calltrack::sip::{HeaderName, Method, Peer, SipMessage, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Uac,
    Uas,
}

/// One message that crossed (or was dropped on) the link.
#[derive(Debug, Clone)]
struct Wire {
    at: Duration,
    from: Side,
    /// `INVITE`, `ACK`, `100`, `486`... (method, or status code as text).
    what: String,
    cseq_method: String,
    dropped: bool,
}

type DropRule = Box<dyn FnMut(Side, &SipMessage) -> bool>;

/// Two layers, a clock, a link that can drop chosen messages, and what each TU saw.
struct Net {
    start: Instant,
    now: Instant,
    uac: TransactionLayer,
    uas: TransactionLayer,
    uac_peer: Peer,
    uas_peer: Peer,
    drop_rule: DropRule,
    wire: Vec<Wire>,
    uac_events: Vec<(Duration, TxEvent)>,
    uas_events: Vec<(Duration, TxEvent)>,
}

impl Net {
    fn new(transport: Transport) -> Net {
        let start = Instant::now();
        Net {
            start,
            now: start,
            uac: TransactionLayer::new(TimerConfig::default()),
            uas: TransactionLayer::new(TimerConfig::default()),
            uac_peer: Peer::new(transport, "192.0.2.1:5060".parse().unwrap()),
            uas_peer: Peer::new(transport, "192.0.2.2:5060".parse().unwrap()),
            drop_rule: Box::new(|_, _| false),
            wire: Vec::new(),
            uac_events: Vec::new(),
            uas_events: Vec::new(),
        }
    }

    fn udp() -> Net {
        Net::new(Transport::Udp)
    }

    fn drop_when(&mut self, rule: impl FnMut(Side, &SipMessage) -> bool + 'static) {
        self.drop_rule = Box::new(rule);
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Delivers every queued datagram (and what it provokes) until the link is quiet.
    fn pump(&mut self) {
        loop {
            self.collect_events();
            if let Some(t) = self.uac.poll_transmit() {
                assert_eq!(t.peer, self.uas_peer, "UAC sends to the UAS");
                self.deliver(Side::Uac, t.bytes);
            } else if let Some(t) = self.uas.poll_transmit() {
                assert_eq!(t.peer, self.uac_peer, "UAS answers the UAC");
                self.deliver(Side::Uas, t.bytes);
            } else {
                break;
            }
        }
        self.collect_events();
    }

    fn deliver(&mut self, from: Side, bytes: bytes::Bytes) {
        let msg = match screen(bytes, &Limits::default(), &[]) {
            Screened::Request(m) | Screened::Response(m) => m,
            other => panic!("test sent an unscreenable message: {other:?}"),
        };
        let dropped = (self.drop_rule)(from, &msg);
        self.wire.push(Wire {
            at: self.elapsed(),
            from,
            what: label(&msg),
            cseq_method: msg.cseq().unwrap().method_text.to_string(),
            dropped,
        });
        if dropped {
            return;
        }
        let (layer, source) = match from {
            Side::Uac => (&mut self.uas, self.uac_peer),
            Side::Uas => (&mut self.uac, self.uas_peer),
        };
        if msg.is_request() {
            layer.handle_request(self.now, msg, source);
        } else {
            layer.handle_response(self.now, msg, source);
        }
    }

    fn collect_events(&mut self) {
        let at = self.elapsed();
        while let Some(e) = self.uac.poll_event() {
            self.uac_events.push((at, e));
        }
        while let Some(e) = self.uas.poll_event() {
            self.uas_events.push((at, e));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.uac.poll_timeout(), self.uas.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires timers in order until `secs` after the start, then sets the clock there.
    fn run_until(&mut self, secs: f64) {
        let end = self.start + Duration::from_secs_f64(secs);
        while let Some(deadline) = self.next_deadline().filter(|d| *d <= end) {
            assert!(
                deadline >= self.now,
                "a deadline in the past was left unfired"
            );
            self.now = deadline;
            self.uac.handle_timeout(self.now);
            self.uas.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    /// Runs every timer out; both layers must end empty.
    fn run_out(&mut self) {
        self.run_until(600.0);
        assert!(
            self.uac.is_empty(),
            "UAC left {} transactions",
            self.uac.len()
        );
        assert!(
            self.uas.is_empty(),
            "UAS left {} transactions",
            self.uas.len()
        );
        assert_eq!(
            self.next_deadline(),
            None,
            "no timers outlive their transactions"
        );
    }

    fn send(&mut self, request: SipMessage) -> TxId {
        let tx = self
            .uac
            .send_request(self.now, request, self.uas_peer)
            .unwrap();
        self.pump();
        tx
    }

    /// The UAS TU answers server transaction `tx` with `code` (To tag `b1`).
    fn respond(&mut self, tx: TxId, code: u16) {
        let (request, peer) = self.uas.server_request(tx).unwrap();
        let response = response_to(request, code, "Reason", Some("b1"), Some(peer.addr)).finish();
        self.uas.respond(self.now, tx, response).unwrap();
        self.pump();
    }

    /// Times (s) at which `from` put `what` on the wire, for requests/responses of `cseq`.
    fn sent(&self, from: Side, what: &str, cseq: &str) -> Vec<f64> {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.what == what && w.cseq_method == cseq)
            .map(|w| w.at.as_secs_f64())
            .collect()
    }

    /// Times (s) at which the link dropped `what` from `from`.
    fn dropped(&self, from: Side, what: &str, cseq: &str) -> Vec<f64> {
        self.wire
            .iter()
            .filter(|w| w.dropped && w.from == from && w.what == what && w.cseq_method == cseq)
            .map(|w| w.at.as_secs_f64())
            .collect()
    }

    fn uas_requests(&self) -> Vec<TxId> {
        self.uas_events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Request { tx, .. } => Some(*tx),
                _ => None,
            })
            .collect()
    }

    /// The request that opened server transaction `tx` (the layer keeps it only until the
    /// final response), and its peer.
    fn uas_request(&self, tx: TxId) -> (SipMessage, Peer) {
        self.uas_events
            .iter()
            .find_map(|(_, e)| match e {
                TxEvent::Request {
                    tx: t,
                    request,
                    peer,
                } if *t == tx => Some((request.clone(), *peer)),
                _ => None,
            })
            .unwrap()
    }

    /// `(status, retransmission)` of every response the UAC TU saw for `tx`.
    fn uac_responses(&self, tx: TxId) -> Vec<(u16, bool)> {
        self.uac_events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Response {
                    tx: t,
                    response,
                    retransmission,
                } if *t == tx => Some((response.status().unwrap(), *retransmission)),
                _ => None,
            })
            .collect()
    }
}

fn label(msg: &SipMessage) -> String {
    match msg.method() {
        Some(m) => m.to_string(),
        None => msg.status().unwrap().to_string(),
    }
}

fn request(method: Method, branch: &str, cseq: u32, transport: Transport) -> SipMessage {
    let mut b = MessageBuilder::request(&method, "sip:bob@192.0.2.2");
    b.header(
        HeaderName::Via,
        &format!("SIP/2.0/{transport} 192.0.2.1:5060;branch={branch}"),
    )
    .header(HeaderName::MaxForwards, "70")
    .header(HeaderName::From, "<sip:alice@192.0.2.1>;tag=a1")
    .header(HeaderName::To, "<sip:bob@192.0.2.2>")
    .header(HeaderName::CallId, "call-1@192.0.2.1")
    .header(HeaderName::CSeq, &format!("{cseq} {method}"));
    b.finish()
}

fn invite(branch: &str) -> SipMessage {
    request(Method::Invite, branch, 1, Transport::Udp)
}

/// The TU's ACK for a 2xx: a new branch, the To tag of the 2xx (§13.2.2.4).
fn ack_for_2xx(branch: &str) -> SipMessage {
    let mut b = MessageBuilder::request(&Method::Ack, "sip:bob@192.0.2.2");
    b.header(
        HeaderName::Via,
        &format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
    )
    .header(HeaderName::MaxForwards, "70")
    .header(HeaderName::From, "<sip:alice@192.0.2.1>;tag=a1")
    .header(HeaderName::To, "<sip:bob@192.0.2.2>;tag=b1")
    .header(HeaderName::CallId, "call-1@192.0.2.1")
    .header(HeaderName::CSeq, "1 ACK");
    b.finish()
}

fn is(msg: &SipMessage, what: &str) -> bool {
    label(msg) == what
}

/// A rule dropping the first `n` messages labelled `what` sent by `side`.
fn drop_first(side: Side, what: &'static str, n: usize) -> impl FnMut(Side, &SipMessage) -> bool {
    let mut seen = 0;
    move |from, msg| {
        if from == side && is(msg, what) && seen < n {
            seen += 1;
            true
        } else {
            false
        }
    }
}

#[test]
fn invite_retransmits_on_timer_a_until_timer_b() {
    let mut net = Net::udp();
    net.drop_when(|from, _| from == Side::Uac);
    let tx = net.send(invite("z9hG4bKa"));
    assert_eq!(net.uac.state(tx), Some(TxState::Calling));
    net.run_until(40.0);
    // §17.1.1.2: A = T1, doubling without cap; B = 64*T1 = 32 s.
    let expected = [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5];
    assert_eq!(net.sent(Side::Uac, "INVITE", "INVITE"), expected);
    let timeouts: Vec<_> = net
        .uac_events
        .iter()
        .filter_map(|(at, e)| matches!(e, TxEvent::Timeout { tx: t } if *t == tx).then_some(*at))
        .collect();
    assert_eq!(timeouts, [Duration::from_secs(32)]);
    assert_eq!(net.uac.stats().retransmissions_sent, 6);
    assert_eq!(net.uac.stats().timeouts, 1);
    net.run_out();
}

#[test]
fn trying_is_sent_once_and_resent_for_a_retransmitted_invite() {
    let mut net = Net::udp();
    net.drop_when(drop_first(Side::Uas, "100", 1));
    let tx = net.send(invite("z9hG4bKb"));
    net.run_until(10.0);
    assert_eq!(net.uas_requests().len(), 1, "one INVITE reaches the TU");
    assert_eq!(net.sent(Side::Uac, "INVITE", "INVITE"), [0.0, 0.5]);
    assert_eq!(net.sent(Side::Uas, "100", "INVITE"), [0.0, 0.5]);
    assert_eq!(net.dropped(Side::Uas, "100", "INVITE"), [0.0]);
    assert_eq!(net.uas.stats().retransmissions_absorbed, 1);
    assert_eq!(net.uac.state(tx), Some(TxState::Proceeding));
    assert_eq!(net.uac_responses(tx), [(100, false)]);
    // Proceeding has no Timer B: the INVITE waits for the TU (who would CANCEL), bounded
    // only by Timer C, more than 3 minutes after the provisional (§16.6 step 11).
    assert_eq!(
        net.uac.poll_timeout(),
        Some(net.start + Duration::from_millis(500) + Duration::from_secs(181))
    );
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 486);
    net.run_out();
}

#[test]
fn non_2xx_is_acked_by_the_client_and_the_ack_absorbed_by_the_server() {
    let mut net = Net::udp();
    let tx = net.send(invite("z9hG4bKc"));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 180);
    net.respond(uas_tx, 486);
    assert_eq!(
        net.uac_responses(tx),
        [(100, false), (180, false), (486, false)]
    );
    assert_eq!(net.sent(Side::Uac, "ACK", "ACK"), [0.0]);
    assert_eq!(net.uas.state(uas_tx), Some(TxState::Confirmed));
    assert!(
        !net.uas_events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::Ack { .. }))
    );
    assert_eq!(net.uac.state(tx), Some(TxState::Completed));
    // Timer I = T4 = 5 s; Timer D = 32 s.
    net.run_until(5.0);
    assert!(net.uas.is_empty());
    net.run_until(31.9);
    assert_eq!(net.uac.len(), 1);
    net.run_until(32.0);
    assert!(net.uac.is_empty());
    assert!(
        net.sent(Side::Uas, "486", "INVITE").len() == 1,
        "no Timer G after the ACK"
    );
    net.run_out();
}

#[test]
fn timer_g_retransmits_the_final_until_timer_h() {
    let mut net = Net::udp();
    net.drop_when(|from, msg| from == Side::Uac && is(msg, "ACK"));
    let tx = net.send(invite("z9hG4bKd"));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 486);
    net.run_until(40.0);
    // §17.2.1: G = T1 doubling, capped at T2 = 4 s; H = 64*T1.
    let expected = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
    assert_eq!(net.sent(Side::Uas, "486", "INVITE"), expected);
    // The client absorbs each retransmitted final and re-sends its ACK (§17.1.1.2).
    assert_eq!(net.uac_responses(tx), [(100, false), (486, false)]);
    assert_eq!(net.sent(Side::Uac, "ACK", "ACK").len(), expected.len());
    assert_eq!(net.uas.stats().ack_timeouts, 1);
    assert!(net.uas.is_empty(), "Timer H ended the server transaction");
    net.run_out();
}

#[test]
fn a_lost_ack_is_repaired_by_the_next_final_retransmission() {
    let mut net = Net::udp();
    net.drop_when(drop_first(Side::Uac, "ACK", 1));
    net.send(invite("z9hG4bKe"));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 603);
    net.run_until(1.0);
    assert_eq!(net.sent(Side::Uas, "603", "INVITE"), [0.0, 0.5]);
    assert_eq!(net.sent(Side::Uac, "ACK", "ACK"), [0.0, 0.5]);
    assert_eq!(net.dropped(Side::Uac, "ACK", "ACK"), [0.0]);
    assert_eq!(net.uas.state(uas_tx), Some(TxState::Confirmed));
    net.run_until(10.0);
    assert_eq!(net.sent(Side::Uas, "603", "INVITE").len(), 2);
    net.run_out();
}

#[test]
fn a_2xx_is_retransmitted_until_the_ack_and_re_acked_by_send_ack() {
    let mut net = Net::udp();
    net.drop_when(drop_first(Side::Uac, "ACK", 1));
    let tx = net.send(invite("z9hG4bKf"));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 200);
    assert_eq!(net.uac.state(tx), Some(TxState::Accepted));
    assert_eq!(net.uas.state(uas_tx), Some(TxState::Accepted));
    net.uac
        .send_ack(net.now, tx, ack_for_2xx("z9hG4bKack1"), net.uas_peer)
        .unwrap();
    net.pump();
    net.run_until(2.0);
    // The first ACK is lost; the 2xx retransmission at 0.5 s is re-ACKed by the layer.
    assert_eq!(net.sent(Side::Uas, "200", "INVITE"), [0.0, 0.5]);
    assert_eq!(net.sent(Side::Uac, "ACK", "ACK"), [0.0, 0.5]);
    assert_eq!(
        net.uac_responses(tx),
        [(100, false), (200, false), (200, true)]
    );
    let acks: Vec<_> = net
        .uas_events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Ack { invite_tx, .. } => Some(*invite_tx),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [Some(uas_tx)]);
    // A retransmitted INVITE in Accepted is absorbed, not passed up (RFC 6026 §7.1).
    let absorbed = net.uas.stats().retransmissions_absorbed;
    net.uas
        .handle_request(net.now, invite("z9hG4bKf"), net.uac_peer);
    net.pump();
    assert_eq!(net.uas_requests().len(), 1);
    assert_eq!(net.uas.stats().retransmissions_absorbed, absorbed + 1);
    // Timers L and M (64*T1) end both sides without an AckTimeout.
    net.run_until(31.9);
    assert_eq!((net.uac.len(), net.uas.len()), (1, 1));
    net.run_until(32.5);
    assert!(
        !net.uas_events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::AckTimeout { .. }))
    );
    net.run_out();
}

#[test]
fn a_2xx_never_acked_ends_in_ack_timeout() {
    let mut net = Net::udp();
    let tx = net.send(invite("z9hG4bKg"));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 200);
    net.run_until(40.0);
    // §13.3.1.4: T1 doubling up to T2, for 64*T1.
    let expected = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
    assert_eq!(net.sent(Side::Uas, "200", "INVITE"), expected);
    let retransmitted = net.uac_responses(tx).iter().filter(|(_, r)| *r).count();
    assert_eq!(retransmitted, expected.len() - 1);
    let ack_timeouts: Vec<_> = net
        .uas_events
        .iter()
        .filter_map(|(at, e)| {
            matches!(e, TxEvent::AckTimeout { tx } if *tx == uas_tx).then_some(*at)
        })
        .collect();
    assert_eq!(ack_timeouts, [Duration::from_secs(32)]);
    net.run_out();
}

#[test]
fn non_invite_retransmits_on_timer_e_capped_at_t2_until_timer_f() {
    let mut net = Net::udp();
    net.drop_when(|from, _| from == Side::Uac);
    let tx = net.send(request(Method::Options, "z9hG4bKh", 1, Transport::Udp));
    net.run_until(40.0);
    let expected = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5];
    assert_eq!(net.sent(Side::Uac, "OPTIONS", "OPTIONS"), expected);
    assert!(
        net.uac_events.iter().any(
            |(at, e)| matches!(e, TxEvent::Timeout { tx: t } if *t == tx) && at.as_secs() == 32
        )
    );
    net.run_out();
}

#[test]
fn non_invite_proceeding_retransmits_at_t2_then_k_and_j_end_it() {
    let mut net = Net::udp();
    let tx = net.send(request(Method::Bye, "z9hG4bKi", 2, Transport::Udp));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 100);
    assert_eq!(net.uac.state(tx), Some(TxState::Proceeding));
    net.run_until(10.0);
    // §17.1.2.2: E (armed at T1 in Trying) fires at 0.5, then every T2 in Proceeding.
    assert_eq!(net.sent(Side::Uac, "BYE", "BYE"), [0.0, 0.5, 4.5, 8.5]);
    // §17.2.2: each retransmission in Proceeding is answered with the last provisional.
    assert_eq!(net.sent(Side::Uas, "100", "BYE"), [0.0, 0.5, 4.5, 8.5]);
    net.respond(uas_tx, 200);
    assert_eq!(
        net.uac_responses(tx),
        [
            (100, false),
            (100, false),
            (100, false),
            (100, false),
            (200, false)
        ]
    );
    // A late retransmission of the BYE is answered with the 200 by the Completed server.
    net.uas.handle_request(
        net.now,
        request(Method::Bye, "z9hG4bKi", 2, Transport::Udp),
        net.uac_peer,
    );
    net.pump();
    assert_eq!(net.sent(Side::Uas, "200", "BYE"), [10.0, 10.0]);
    assert_eq!(
        net.uac_responses(tx).len(),
        5,
        "Completed client absorbs the repeat"
    );
    // Timer K = T4 = 5 s, Timer J = 64*T1 = 32 s.
    net.run_until(14.9);
    assert_eq!(net.uac.len(), 1);
    net.run_until(15.0);
    assert!(net.uac.is_empty());
    net.run_until(41.9);
    assert_eq!(net.uas.len(), 1);
    net.run_until(42.0);
    net.run_out();
}

#[test]
fn cancel_matches_its_invite_and_gets_200_while_the_invite_gets_487() {
    let mut net = Net::udp();
    net.drop_when(drop_first(Side::Uas, "200", 1));
    let invite_tx = net.send(invite("z9hG4bKj"));
    let uas_invite = net.uas_requests()[0];
    net.run_until(2.0);
    let cancel_tx = net.send(request(Method::Cancel, "z9hG4bKj", 1, Transport::Udp));
    assert_eq!(
        net.uas.len(),
        2,
        "the CANCEL has its own server transaction"
    );
    let cancels: Vec<_> = net
        .uas_events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Cancel { invite_tx, .. } => Some(*invite_tx),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, [uas_invite]);
    assert_eq!(
        net.uas_requests().len(),
        1,
        "a matched CANCEL is not a new request"
    );
    // The 200 for the CANCEL is lost once: Timer E repeats the CANCEL, the server resends.
    net.run_until(3.0);
    assert_eq!(net.sent(Side::Uac, "CANCEL", "CANCEL"), [2.0, 2.5]);
    assert_eq!(net.sent(Side::Uas, "200", "CANCEL"), [2.0, 2.5]);
    assert_eq!(net.uac_responses(cancel_tx), [(200, false)]);
    net.respond(uas_invite, 487);
    assert_eq!(net.uac_responses(invite_tx), [(100, false), (487, false)]);
    assert_eq!(net.uas.state(uas_invite), Some(TxState::Confirmed));
    net.run_out();
}

#[test]
fn a_cancel_matching_no_invite_is_a_new_request() {
    let mut net = Net::udp();
    net.send(request(Method::Cancel, "z9hG4bKk", 1, Transport::Udp));
    let [tx] = net.uas_requests()[..] else {
        panic!("expected one Request")
    };
    net.respond(tx, 481);
    net.run_out();
}

#[test]
fn reliable_transport_sends_no_retransmissions() {
    let mut net = Net::new(Transport::Tcp);
    net.drop_when(|from, msg| from == Side::Uac && is(msg, "INVITE"));
    let lost = net.send(request(Method::Invite, "z9hG4bKl", 1, Transport::Tcp));
    net.run_until(40.0);
    assert_eq!(net.sent(Side::Uac, "INVITE", "INVITE"), [0.0]);
    assert!(
        net.uac_events.iter().any(
            |(at, e)| matches!(e, TxEvent::Timeout { tx } if *tx == lost) && at.as_secs() == 32
        )
    );
    net.run_out();

    // Non-2xx over TCP: ACK sent, D = 0 and I = 0 end both sides at once.
    let mut net = Net::new(Transport::Tcp);
    net.send(request(Method::Invite, "z9hG4bKm", 1, Transport::Tcp));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 486);
    assert_eq!(net.sent(Side::Uac, "ACK", "ACK"), [0.0]);
    assert!(net.uac.is_empty() && net.uas.is_empty());
    // Non-INVITE over TCP: J = 0 and K = 0.
    net.send(request(Method::Options, "z9hG4bKn", 2, Transport::Tcp));
    let uas_tx = net.uas_requests()[1];
    net.respond(uas_tx, 200);
    assert!(net.uac.is_empty() && net.uas.is_empty());
    // 2xx over TCP: no 2xx retransmission, still AckTimeout after 64*T1.
    net.send(request(Method::Invite, "z9hG4bKo", 3, Transport::Tcp));
    let uas_tx = net.uas_requests()[2];
    net.respond(uas_tx, 200);
    net.run_until(100.0);
    assert_eq!(net.sent(Side::Uas, "200", "INVITE").len(), 1);
    assert!(
        net.uas_events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::AckTimeout { .. }))
    );
    assert_eq!(net.uac.stats().retransmissions_sent, 0);
    assert_eq!(net.uas.stats().retransmissions_sent, 0);
    net.run_out();
}

#[test]
fn stray_responses_are_dropped_and_counted() {
    let mut net = Net::udp();
    let req = invite("z9hG4bKp");
    let stray = response_to(&req, 200, "OK", Some("x"), None).finish();
    net.uac
        .handle_response(net.now, stray.clone(), net.uas_peer);
    assert_eq!(net.uac.stats().stray_responses, 1);
    assert!(net.uac.poll_event().is_none());
    // A response whose CSeq method differs from the transaction's does not match (§17.1.3).
    let tx = net.send(request(Method::Options, "z9hG4bKq", 1, Transport::Udp));
    let wrong = request(Method::Register, "z9hG4bKq", 1, Transport::Udp);
    let wrong = response_to(&wrong, 200, "OK", None, None).finish();
    net.uac.handle_response(net.now, wrong, net.uas_peer);
    assert_eq!(net.uac.stats().stray_responses, 2);
    assert_eq!(net.uac.state(tx), Some(TxState::Trying));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 200);
    net.run_out();
    // Once the transaction is gone, a late response is stray too.
    net.uac.handle_response(net.now, stray, net.uas_peer);
    assert_eq!(net.uac.stats().stray_responses, 3);
}

/// An RFC 2543 peer: no branch at all.
fn rfc2543_message(method: &str, to_tag: &str) -> SipMessage {
    let text = format!(
        "{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060\r\n\
From: <sip:old@192.0.2.1>;tag=o1\r\nTo: <sip:bob@192.0.2.2>{to_tag}\r\nCall-ID: legacy-1\r\n\
CSeq: 5 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    SipMessage::parse(text.into(), &Limits::default()).unwrap()
}

#[test]
fn rfc2543_requests_match_by_the_fallback_rule() {
    let mut net = Net::udp();
    let now = net.now;
    net.uas
        .handle_request(now, rfc2543_message("INVITE", ""), net.uac_peer);
    net.uas
        .handle_request(now, rfc2543_message("INVITE", ""), net.uac_peer);
    net.pump();
    let [tx] = net.uas_requests()[..] else {
        panic!("the retransmission must match the first INVITE")
    };
    assert_eq!(net.uas.stats().retransmissions_absorbed, 1);
    net.drop_when(|from, _| from == Side::Uas);
    net.respond(tx, 404);
    net.uas
        .handle_request(net.now, rfc2543_message("ACK", ";tag=b1"), net.uac_peer);
    net.pump();
    assert_eq!(net.uas.state(tx), Some(TxState::Confirmed));
    assert!(
        !net.uas_events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::Ack { .. }))
    );
    net.run_out();
}

#[test]
fn bare_cookie_branch_from_rfc4475_falls_back_without_crashing() {
    // RFC 4475 §3.2.1 (badbranch.dat): `branch=z9hG4bK` alone is no RFC 3261 branch.
    let text = "OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:user@example.com\r\n\
From: sip:caller@example.org;tag=33242\r\nMax-Forwards: 3\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\n\
Accept: application/sdp\r\nCall-ID: badbranch.sadonfo23i420jv0as0derf3j3n\r\nCSeq: 8 OPTIONS\r\nl: 0\r\n\r\n";
    let msg = || match screen(text.into(), &Limits::default(), &[]) {
        Screened::Request(m) => m,
        other => panic!("{other:?}"),
    };
    let mut net = Net::udp();
    net.uas.handle_request(net.now, msg(), net.uac_peer);
    net.uas.handle_request(net.now, msg(), net.uac_peer);
    net.pump();
    let [tx] = net.uas_requests()[..] else {
        panic!("one transaction")
    };
    net.drop_when(|from, _| from == Side::Uas);
    net.respond(tx, 200);
    net.uas.handle_request(net.now, msg(), net.uac_peer);
    net.pump();
    assert_eq!(
        net.sent(Side::Uas, "200", "OPTIONS").len(),
        2,
        "answered from Completed"
    );
    // The client side refuses to start a transaction with such a branch.
    let err = net.uac.send_request(net.now, msg(), net.uas_peer);
    assert!(matches!(err, Err(TxError::MissingBranch)));
    net.run_out();
}

#[test]
fn transport_error_times_out_waiting_clients() {
    let mut net = Net::new(Transport::Tcp);
    net.drop_when(|_, _| true);
    let a = net.send(request(Method::Invite, "z9hG4bKr", 1, Transport::Tcp));
    let b = net.send(request(Method::Options, "z9hG4bKs", 2, Transport::Tcp));
    net.uac.handle_transport_error(net.now, net.uas_peer);
    net.pump();
    let timeouts: Vec<_> = net
        .uac_events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Timeout { tx } => Some(*tx),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts, [a, b]);
    assert!(net.uac.is_empty());
    net.run_out();
}

#[test]
fn tu_errors_are_typed_and_send_nothing() {
    let mut net = Net::udp();
    let tx = net.send(invite("z9hG4bKt"));
    let uas_tx = net.uas_requests()[0];
    assert!(matches!(
        net.uac.respond(net.now, tx, invite("z9hG4bKu")),
        Err(TxError::WrongRole(_))
    ));
    assert!(matches!(
        net.uac
            .send_request(net.now, invite("z9hG4bKt"), net.uas_peer),
        Err(TxError::DuplicateBranch)
    ));
    assert!(matches!(
        net.uac
            .send_ack(net.now, tx, ack_for_2xx("z9hG4bKv"), net.uas_peer),
        Err(TxError::InvalidState(_, TxState::Proceeding))
    ));
    net.respond(uas_tx, 486);
    let (req, peer) = net.uas_request(uas_tx);
    let late = response_to(&req, 200, "OK", Some("b1"), Some(peer.addr)).finish();
    assert!(matches!(
        net.uas.respond(net.now, uas_tx, late),
        Err(TxError::InvalidState(_, TxState::Confirmed))
    ));
    assert!(net.uas.poll_transmit().is_none());
    net.run_out();
    let gone = response_to(&invite("z9hG4bKw"), 200, "OK", None, None).finish();
    assert!(matches!(
        net.uas.respond(net.now, uas_tx, gone),
        Err(TxError::UnknownTransaction(_))
    ));
}

#[test]
fn forked_2xx_are_all_passed_up_and_each_re_acked() {
    let mut net = Net::udp();
    let tx = net.send(invite("z9hG4bKx"));
    let uas_tx = net.uas_requests()[0];
    net.respond(uas_tx, 200);
    let (req, peer) = net.uas_request(uas_tx);
    let fork = response_to(&req, 200, "OK", Some("b2"), Some(peer.addr)).finish();
    net.uac.handle_response(net.now, fork.clone(), net.uas_peer);
    net.pump();
    assert_eq!(
        net.uac_responses(tx),
        [(100, false), (200, false), (200, false)]
    );
    let mut ack_b2 = MessageBuilder::request(&Method::Ack, "sip:bob@192.0.2.2");
    ack_b2
        .header(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKack2",
        )
        .header(HeaderName::From, "<sip:alice@192.0.2.1>;tag=a1")
        .header(HeaderName::To, "<sip:bob@192.0.2.2>;tag=b2")
        .header(HeaderName::CallId, "call-1@192.0.2.1")
        .header(HeaderName::CSeq, "1 ACK");
    net.uac
        .send_ack(net.now, tx, ack_b2.finish(), net.uas_peer)
        .unwrap();
    net.uac
        .send_ack(net.now, tx, ack_for_2xx("z9hG4bKack1"), net.uas_peer)
        .unwrap();
    net.pump();
    let sent_before = net.uac.stats().retransmissions_sent;
    net.uac.handle_response(net.now, fork, net.uas_peer);
    net.pump();
    assert_eq!(net.uac_responses(tx).last(), Some(&(200, true)));
    assert_eq!(
        net.uac.stats().retransmissions_sent,
        sent_before + 1,
        "b2's ACK re-sent"
    );
    net.run_out();
}

// ---- every INVITE ends, even when the peer falls silent in Proceeding ----------------------

/// Events of kind Timeout the UAC TU saw for `tx`, with their times.
fn timeouts(net: &Net, tx: TxId) -> Vec<Duration> {
    net.uac_events
        .iter()
        .filter_map(|(at, e)| matches!(e, TxEvent::Timeout { tx: t } if *t == tx).then_some(*at))
        .collect()
}

#[test]
fn a_cancelled_invite_without_a_final_response_ends_64_t1_after_the_cancel() {
    let mut net = Net::udp();
    let invite_tx = net.send(invite("z9hG4bKc1"));
    assert_eq!(
        net.uac.state(invite_tx),
        Some(TxState::Proceeding),
        "100 Trying"
    );
    net.run_until(2.0);
    // The UAS falls silent: neither the CANCEL nor the INVITE gets an answer.
    net.drop_when(|from, _| from == Side::Uas);
    let cancel_tx = net.send(request(Method::Cancel, "z9hG4bKc1", 1, Transport::Udp));
    net.run_until(33.9);
    assert_eq!(net.uac.state(invite_tx), Some(TxState::Proceeding));
    net.run_until(34.1);
    // RFC 3261 §9.1: "If there is no final response for the original request in 64*T1
    // seconds ..., the client SHOULD then consider the original transaction cancelled and
    // SHOULD destroy the client transaction handling the original request."
    assert_eq!(timeouts(&net, invite_tx), [Duration::from_secs(34)]);
    assert_eq!(timeouts(&net, cancel_tx), [Duration::from_secs(34)]);
    assert!(net.uac.is_empty(), "both client transactions are destroyed");
    assert_eq!(net.uac.poll_timeout(), None);
}

#[test]
fn a_cancel_answered_without_the_487_still_ends_the_invite_64_t1_after_the_cancel() {
    let mut net = Net::udp();
    let invite_tx = net.send(invite("z9hG4bKc2"));
    net.drop_when(|from, msg| from == Side::Uas && is(msg, "487"));
    let uas_invite = net.uas_requests()[0];
    net.send(request(Method::Cancel, "z9hG4bKc2", 1, Transport::Udp));
    net.respond(uas_invite, 487);
    // A 180 after the CANCEL does not restart the wait (it would with Timer C).
    let (req, peer) = net.uas_request(uas_invite);
    let ringing = response_to(&req, 180, "Ringing", Some("b1"), Some(peer.addr)).finish();
    net.run_until(20.0);
    net.uac.handle_response(net.now, ringing, net.uas_peer);
    net.run_until(32.1);
    assert_eq!(timeouts(&net, invite_tx), [Duration::from_secs(32)]);
    assert_eq!(net.uac.state(invite_tx), None);
}

#[test]
fn timer_c_ends_an_invite_left_in_proceeding_and_each_provisional_resets_it() {
    let mut net = Net::udp();
    let tx = net.send(invite("z9hG4bKc3"));
    let uas_invite = net.uas_requests()[0];
    net.run_until(60.0);
    net.respond(uas_invite, 180);
    // Timer C restarts on the 180 (§16.7 step 2): 60 + 181 s, not 181 s.
    net.run_until(240.9);
    assert_eq!(net.uac.state(tx), Some(TxState::Proceeding));
    assert!(timeouts(&net, tx).is_empty());
    net.run_until(241.1);
    assert_eq!(timeouts(&net, tx), [Duration::from_secs(241)]);
    assert!(net.uac.is_empty());
    assert_eq!(net.uac.stats().timeouts, 1);
}

#[test]
fn abandon_forgets_a_client_transaction_without_a_word() {
    let mut net = Net::udp();
    let tx = net.send(invite("z9hG4bKc4"));
    let sent = net.wire.len();
    assert!(net.uac.abandon(tx));
    assert!(!net.uac.abandon(tx), "already gone");
    assert!(net.uac.is_empty());
    assert_eq!(net.uac.poll_timeout(), None, "its timers are skipped");
    net.run_until(300.0);
    assert_eq!(net.wire.len(), sent, "nothing more is sent");
    assert!(
        net.uac_events
            .iter()
            .all(|(_, e)| !matches!(e, TxEvent::Timeout { .. }))
    );
    let uas_invite = net.uas_requests()[0];
    assert!(
        !net.uas.abandon(uas_invite),
        "server transactions are not abandoned"
    );
}
