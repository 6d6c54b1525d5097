//! The relay loop's draining on loopback sockets: a socket is emptied up to the budget and
//! reported as still holding packets past it; a loop started as a thread relays packets,
//! closes a stream's sockets on request and gives its ports back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::media::sdp;

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// A stream on four fresh loopback sockets whose callee wants its RTP at `callee`.
fn served(callee: SocketAddr) -> Served {
    let sockets = std::array::from_fn(|_| UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap());
    let port = |i: usize| sockets_port(&sockets, i);
    let ports = StreamPorts {
        caller: port(0),
        callee: port(2),
    };
    let mut relay = StreamRelay::new(ports);
    let answer = format!(
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {} RTP/AVP 0\r\n",
        callee.port()
    );
    let parsed = sdp::parse(answer.as_bytes()).unwrap();
    relay.learn(Side::Callee, &parsed.media[0], parsed.connection_of(0));
    Served {
        sockets,
        stream: Arc::new(Mutex::new(relay)),
        ports,
    }
}

fn sockets_port(sockets: &[UdpSocket; 4], index: usize) -> u16 {
    sockets[index].local_addr().unwrap().port()
}

/// Lets loopback deliver what was just sent (the receiving socket's queue is filled by the
/// kernel soon after each `send_to`, not necessarily within it).
fn settle() {
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn a_socket_is_drained_up_to_the_budget_and_says_when_packets_are_left() {
    let callee = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let served = served(callee.local_addr().unwrap());
    let caller = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], served.ports.caller).into();
    for seq in 0..(BUDGET + 5) as u16 {
        caller.send_to(&rtp(seq), to).unwrap();
    }
    settle();
    let mut batch = RecvBatch::new();
    assert!(drain(&served, 0, &mut batch) == Drained::More);
    assert!(drain(&served, 0, &mut batch) == Drained::Empty);
    callee
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut got = 0;
    let mut one = [0u8; super::super::recv_batch::MAX_DATAGRAM];
    while got < BUDGET + 5 {
        let (len, _) = callee.recv_from(&mut one).unwrap();
        assert_eq!(
            &one[..len],
            rtp(got as u16).as_slice(),
            "in order, byte for byte"
        );
        got += 1;
    }
    let facts = served
        .stream
        .lock()
        .unwrap()
        .facts(Side::Caller)
        .rtp
        .packets();
    assert_eq!(facts, (BUDGET + 5) as u64);
}

#[test]
fn a_loop_relays_closes_on_request_and_gives_the_ports_back() {
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let handle = LoopHandle::spawn(0, closed_tx).unwrap();
    let callee = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    callee
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let served = served(callee.local_addr().unwrap());
    let ports = served.ports;
    assert!(handle.send(Command::Open(Box::new(served))));
    let caller = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], ports.caller).into();
    let mut one = [0u8; super::super::recv_batch::MAX_DATAGRAM];
    for seq in 0..20 {
        caller.send_to(&rtp(seq), to).unwrap();
        let (len, from) = callee.recv_from(&mut one).unwrap();
        assert_eq!(&one[..len], rtp(seq).as_slice());
        assert_eq!(
            from.port(),
            ports.callee,
            "sent from the callee-facing socket"
        );
    }
    assert!(handle.send(Command::Close(ports.caller)));
    let back = closed.blocking_recv().unwrap();
    assert_eq!(back, ports);
    assert!(
        std::net::UdpSocket::bind(("127.0.0.1", ports.caller)).is_ok(),
        "the socket is closed"
    );
    handle.stop();
    assert!(closed.blocking_recv().is_none(), "the loop is gone");
}
