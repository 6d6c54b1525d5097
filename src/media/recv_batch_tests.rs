//! `recvmmsg` batches on real loopback sockets: sources (IPv4 and IPv6), order, a short batch
//! for an emptied queue, nothing waiting, and an oversize datagram.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::*;

fn pair(ip: &str) -> (UdpSocket, UdpSocket) {
    let rx = UdpSocket::bind(format!("{ip}:0")).unwrap();
    let tx = UdpSocket::bind(format!("{ip}:0")).unwrap();
    (rx, tx)
}

/// Receives until `want` datagrams came (loopback queues them soon after each send, not
/// necessarily within it), batch by batch; returns each batch's size and the datagrams.
fn take(
    batch: &mut RecvBatch,
    rx: &UdpSocket,
    want: usize,
) -> (Vec<usize>, Vec<(Vec<u8>, SocketAddr)>) {
    let (mut sizes, mut all) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(5);
    while all.len() < want && Instant::now() < deadline {
        let n = batch.recv(rx.as_fd()).unwrap();
        if n == 0 {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        sizes.push(n);
        for i in 0..n {
            match batch.get(i) {
                Received::Packet(bytes, from) => all.push((bytes.to_vec(), from)),
                _ => panic!("datagram {i} not a packet"),
            }
        }
    }
    (sizes, all)
}

#[test]
fn nothing_waiting_is_zero_not_an_error() {
    let (rx, _tx) = pair("127.0.0.1");
    let mut batch = RecvBatch::new();
    assert_eq!(batch.recv(rx.as_fd()).unwrap(), 0);
    assert!(
        matches!(batch.get(0), Received::Unaddressed),
        "nothing to read"
    );
}

#[test]
fn datagrams_come_in_order_with_their_source_and_a_short_batch_ends_the_queue() {
    let (rx, tx) = pair("127.0.0.1");
    let to = rx.local_addr().unwrap();
    let count = BATCH + 3;
    for i in 0..count {
        tx.send_to(&[i as u8; 172], to).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut batch = RecvBatch::new();
    let (sizes, all) = take(&mut batch, &rx, count);
    assert_eq!(sizes, vec![BATCH, 3], "one full batch, then a short one");
    for (i, (bytes, from)) in all.iter().enumerate() {
        assert_eq!(bytes, &vec![i as u8; 172]);
        assert_eq!(*from, tx.local_addr().unwrap());
    }
    assert_eq!(
        batch.recv(rx.as_fd()).unwrap(),
        0,
        "the short batch had emptied it"
    );
}

#[test]
fn an_ipv6_source_is_read_whole() {
    let Ok(rx) = UdpSocket::bind("[::1]:0") else {
        eprintln!("SKIP: no IPv6 loopback on this machine");
        return;
    };
    let tx = UdpSocket::bind("[::1]:0").unwrap();
    tx.send_to(b"six", rx.local_addr().unwrap()).unwrap();
    let mut batch = RecvBatch::new();
    let (_, all) = take(&mut batch, &rx, 1);
    assert_eq!(all, vec![(b"six".to_vec(), tx.local_addr().unwrap())]);
}

#[test]
fn a_datagram_longer_than_the_buffer_is_reported_oversize() {
    let (rx, tx) = pair("127.0.0.1");
    let to = rx.local_addr().unwrap();
    tx.send_to(&[1; MAX_DATAGRAM + 1], to).unwrap();
    tx.send_to(&[2; 20], to).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut batch = RecvBatch::new();
    assert_eq!(batch.recv(rx.as_fd()).unwrap(), 2);
    assert!(matches!(batch.get(0), Received::Oversize));
    assert!(matches!(batch.get(1), Received::Packet(bytes, _) if bytes == [2; 20]));
}
