//! Loopback tests of the transport driver around an echo core: UDP, TCP framing, connection reuse and limits, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::sip::message::Limits;
use calltrack::sip::{Peer, Transmit, Transport};
use calltrack::transport::{
    Core, LocalAddrs, TransportConfig, TransportError, TransportStats, bind, run,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Bound for every wait on the network; tests finish far sooner.
const WAIT: Duration = Duration::from_secs(5);

/// What the echo core saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Received(Peer, Bytes),
    TransportError(Peer),
}

/// How the echo core behaves once shutdown begins.
#[derive(Debug, Clone, Copy)]
enum Drain {
    /// Idle this long after `begin_shutdown` (a timer the driver must fire).
    After(Duration),
    Never,
}

/// Echoes every message back to its peer. A message `SEND <addr>\n<payload>` instead makes the
/// core send `<payload>` over TCP to `<addr>`: a core-initiated request.
struct EchoCore {
    transmits: VecDeque<Transmit>,
    events: VecDeque<Seen>,
    drain: Drain,
    shutdown_at: Option<Instant>,
    now: Option<Instant>,
}

impl EchoCore {
    fn new(drain: Drain) -> EchoCore {
        EchoCore {
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            drain,
            shutdown_at: None,
            now: None,
        }
    }

    fn idle_at(&self) -> Option<Instant> {
        match self.drain {
            Drain::After(busy) => self.shutdown_at.map(|at| at + busy),
            Drain::Never => None,
        }
    }

    fn control(bytes: &Bytes) -> Option<Transmit> {
        let rest = bytes.strip_prefix(b"SEND ")?;
        let newline = rest.iter().position(|&b| b == b'\n')?;
        let addr = std::str::from_utf8(&rest[..newline]).ok()?.parse().ok()?;
        let payload = bytes.slice(bytes.len() - rest.len() + newline + 1..);
        Some(Transmit {
            peer: Peer::new(Transport::Tcp, addr),
            bytes: payload,
        })
    }
}

impl Core for EchoCore {
    type Event = Seen;

    fn handle_datagram(&mut self, now: Instant, bytes: Bytes, peer: Peer) {
        self.now = Some(now);
        self.events.push_back(Seen::Received(peer, bytes.clone()));
        let transmit = EchoCore::control(&bytes).unwrap_or(Transmit { peer, bytes });
        self.transmits.push_back(transmit);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
    }

    fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        self.now = Some(now);
        self.events.push_back(Seen::TransportError(peer));
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<Seen> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.idle_at().filter(|_| !self.is_idle())
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.now = Some(now);
        self.shutdown_at = Some(now);
    }

    fn is_idle(&self) -> bool {
        match (self.idle_at(), self.now) {
            (Some(idle_at), Some(now)) => now >= idle_at,
            _ => false,
        }
    }
}

/// A running driver on loopback.
struct Harness {
    local: LocalAddrs,
    stats: Arc<TransportStats>,
    events: mpsc::Receiver<Seen>,
    shutdown: CancellationToken,
    driver: JoinHandle<Result<EchoCore, TransportError>>,
}

fn loopback_config() -> TransportConfig {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    TransportConfig {
        udp_listen: vec![any],
        tcp_listen: vec![any],
        limits: Limits::default(),
        tcp_max_connections: 16,
        tcp_idle_timeout: Duration::from_secs(30),
        inbound_queue: 64,
    }
}

async fn start(cfg: TransportConfig, drain: Drain, grace: Duration) -> Harness {
    let sockets = bind(&cfg).await.unwrap();
    let local = sockets.local_addrs();
    let stats = sockets.stats();
    let (events_tx, events) = mpsc::channel(1024);
    let shutdown = CancellationToken::new();
    let driver = tokio::spawn(run(
        EchoCore::new(drain),
        sockets,
        events_tx,
        shutdown.clone(),
        grace,
    ));
    Harness {
        local,
        stats,
        events,
        shutdown,
        driver,
    }
}

impl Harness {
    async fn default() -> Harness {
        start(loopback_config(), Drain::After(Duration::ZERO), WAIT).await
    }

    fn udp(&self) -> SocketAddr {
        self.local.udp[0]
    }

    fn tcp(&self) -> SocketAddr {
        self.local.tcp[0]
    }

    async fn next_event(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no event in time")
            .expect("driver gone")
    }

    async fn stop(self) -> EchoCore {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.driver)
            .await
            .expect("driver did not stop")
            .unwrap()
            .unwrap()
    }
}

fn message(n: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{n}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 5\r\n\r\nbody{}",
        n % 10
    )
    .into_bytes()
}

async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .expect("no reply in time")
        .unwrap();
    buf
}

/// Waits for the server to close the connection (EOF or reset).
async fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(WAIT, stream.read(&mut buf))
        .await
        .expect("connection not closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
}

async fn tcp_round_trip(stream: &mut TcpStream, n: u32) {
    stream.write_all(&message(n)).await.unwrap();
    assert_eq!(read_exactly(stream, message(n).len()).await, message(n));
}

async fn control(h: &Harness, to: SocketAddr, payload: &[u8]) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut datagram = format!("SEND {to}\n").into_bytes();
    datagram.extend_from_slice(payload);
    socket.send_to(&datagram, h.udp()).await.unwrap();
}

#[tokio::test]
async fn udp_round_trip() {
    let mut h = Harness::default().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&message(1), h.udp()).await.unwrap();
    let mut buf = vec![0; 2048];
    let (len, from) = tokio::time::timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("no echo")
        .unwrap();
    assert_eq!(&buf[..len], message(1).as_slice());
    assert_eq!(from, h.udp());
    let peer = Peer::new(Transport::Udp, client.local_addr().unwrap());
    assert_eq!(
        h.next_event().await,
        Seen::Received(peer, Bytes::from(message(1)))
    );
    let stats = h.stats.clone();
    h.stop().await;
    let stats = stats.snapshot();
    assert_eq!((stats.udp_datagrams_in, stats.udp_datagrams_out), (1, 1));
}

#[tokio::test]
async fn udp_oversized_datagram_is_dropped_and_counted() {
    let mut cfg = loopback_config();
    cfg.limits.max_message_bytes = 200;
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(&[b'x'; 201], h.udp()).await.unwrap();
    client.send_to(&message(2), h.udp()).await.unwrap();
    let mut buf = vec![0; 2048];
    let (len, _) = tokio::time::timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("no echo")
        .unwrap();
    assert_eq!(&buf[..len], message(2).as_slice());
    assert_eq!(h.stats.snapshot().dropped_oversized, 1);
    h.stop().await;
}

#[tokio::test]
async fn tcp_frames_tiny_chunks_and_coalesced_messages() {
    let mut h = Harness::default().await;
    let mut client = TcpStream::connect(h.tcp()).await.unwrap();
    client.set_nodelay(true).unwrap();
    for chunk in message(1).chunks(3) {
        client.write_all(chunk).await.unwrap();
        tokio::task::yield_now().await;
    }
    client
        .write_all(&[message(2), message(3)].concat())
        .await
        .unwrap();
    let expected = [message(1), message(2), message(3)].concat();
    assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
    let peer = Peer::new(Transport::Tcp, client.local_addr().unwrap());
    for n in 1..=3 {
        let frame = Bytes::from(message(n));
        assert_eq!(h.next_event().await, Seen::Received(peer, frame));
    }
    let stats = h.stats.clone();
    h.stop().await;
    assert_eq!(stats.snapshot().tcp_messages_in, 3);
    assert_eq!(stats.snapshot().tcp_connections_open, 0);
}

#[tokio::test]
async fn tcp_double_crlf_ping_gets_one_crlf_pong() {
    let h = Harness::default().await;
    let mut client = TcpStream::connect(h.tcp()).await.unwrap();
    client.set_nodelay(true).unwrap();
    client.write_all(b"\r\n").await.unwrap();
    tokio::task::yield_now().await;
    client.write_all(b"\r\n").await.unwrap();
    assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");
    // The pong was the only reply: the next bytes are the echo of a real message.
    tcp_round_trip(&mut client, 4).await;
    assert_eq!(h.stats.snapshot().tcp_keepalive_pongs, 1);
    h.stop().await;
}

#[tokio::test]
async fn tcp_framing_error_or_oversized_message_closes_the_connection() {
    let mut cfg = loopback_config();
    cfg.limits.max_message_bytes = 512;
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    let mut bad_length = TcpStream::connect(h.tcp()).await.unwrap();
    bad_length
        .write_all(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n")
        .await
        .unwrap();
    assert_closed(&mut bad_length).await;
    let mut oversized = TcpStream::connect(h.tcp()).await.unwrap();
    oversized.write_all(&[b'x'; 1024]).await.unwrap();
    assert_closed(&mut oversized).await;
    assert_eq!(h.stats.snapshot().tcp_framing_errors, 2);
    h.stop().await;
}

#[tokio::test]
async fn tcp_idle_connection_is_closed() {
    let mut cfg = loopback_config();
    cfg.tcp_idle_timeout = Duration::from_millis(100);
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    let mut client = TcpStream::connect(h.tcp()).await.unwrap();
    assert_closed(&mut client).await;
    assert_eq!(h.stats.snapshot().tcp_idle_closed, 1);
    h.stop().await;
}

#[tokio::test]
async fn tcp_connection_limit_refuses_the_next_one() {
    let mut cfg = loopback_config();
    cfg.tcp_max_connections = 2;
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    let mut first = TcpStream::connect(h.tcp()).await.unwrap();
    let mut second = TcpStream::connect(h.tcp()).await.unwrap();
    tcp_round_trip(&mut first, 1).await;
    tcp_round_trip(&mut second, 2).await;
    let mut third = TcpStream::connect(h.tcp()).await.unwrap();
    assert_closed(&mut third).await;
    assert_eq!(h.stats.snapshot().tcp_connections_refused, 1);
    tcp_round_trip(&mut second, 3).await;

    // Closing one frees its slot (once the server has seen the close).
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut again = TcpStream::connect(h.tcp()).await.unwrap();
        again.write_all(&message(5)).await.unwrap();
        let mut buf = vec![0; message(5).len()];
        if let Ok(Ok(_)) = tokio::time::timeout(WAIT, again.read_exact(&mut buf)).await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.stop().await;
}

#[tokio::test]
async fn outbound_tcp_to_a_closed_port_reports_a_transport_error() {
    let mut h = Harness::default().await;
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    control(&h, closed, &message(1)).await;
    assert!(matches!(h.next_event().await, Seen::Received(..)));
    assert_eq!(
        h.next_event().await,
        Seen::TransportError(Peer::new(Transport::Tcp, closed))
    );
    assert_eq!(h.stats.snapshot().tcp_connect_failures, 1);
    h.stop().await;
}

#[tokio::test]
async fn core_initiated_transmit_reuses_the_connection_the_peer_opened() {
    let h = Harness::default().await;
    let mut client = TcpStream::connect(h.tcp()).await.unwrap();
    tcp_round_trip(&mut client, 1).await;
    control(&h, client.local_addr().unwrap(), &message(2)).await;
    assert_eq!(
        read_exactly(&mut client, message(2).len()).await,
        message(2)
    );
    let stats = h.stats.snapshot();
    assert_eq!(stats.tcp_connections_accepted, 1);
    assert_eq!(stats.tcp_connections_open, 1);
    assert_eq!(stats.tcp_connect_failures, 0);
    h.stop().await;
}

#[tokio::test]
async fn outbound_tcp_connects_once_and_carries_the_replies() {
    let mut h = Harness::default().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let remote = listener.local_addr().unwrap();
    control(&h, remote, &message(1)).await;
    control(&h, remote, &message(2)).await;
    let (mut stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("driver never connected")
        .unwrap();
    let both = [message(1), message(2)].concat();
    assert_eq!(read_exactly(&mut stream, both.len()).await, both);

    // The remote answers on that connection; the core sees it from `remote` and its echo
    // comes back on the same connection.
    stream.write_all(&message(3)).await.unwrap();
    assert_eq!(
        read_exactly(&mut stream, message(3).len()).await,
        message(3)
    );
    let from_remote = Seen::Received(Peer::new(Transport::Tcp, remote), Bytes::from(message(3)));
    let mut seen = Vec::new();
    while !seen.contains(&from_remote) {
        seen.push(h.next_event().await);
    }
    let second = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(second.is_err(), "driver opened a second connection");
    h.stop().await;
}

#[tokio::test]
async fn shutdown_waits_until_the_core_is_idle() {
    let busy = Duration::from_millis(300);
    let h = start(
        loopback_config(),
        Drain::After(busy),
        Duration::from_secs(30),
    )
    .await;
    let tcp = h.tcp();
    let began = Instant::now();
    let core = h.stop().await;
    assert!(began.elapsed() >= busy);
    assert!(core.is_idle());
    assert!(
        TcpStream::connect(tcp).await.is_err(),
        "listener still open after run returned"
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let grace = Duration::from_millis(300);
    let h = start(loopback_config(), Drain::Never, grace).await;
    let began = Instant::now();
    let core = h.stop().await;
    assert!(began.elapsed() >= grace);
    assert!(!core.is_idle());
}

#[tokio::test]
async fn ipv6_loopback_round_trips() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let any: SocketAddr = "[::1]:0".parse().unwrap();
    let cfg = TransportConfig {
        udp_listen: vec![any],
        tcp_listen: vec![any],
        ..loopback_config()
    };
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    assert!(h.udp().is_ipv6() && h.udp().port() != 0);
    let client = UdpSocket::bind(any).await.unwrap();
    client.send_to(&message(1), h.udp()).await.unwrap();
    let mut buf = vec![0; 2048];
    let (len, _) = tokio::time::timeout(WAIT, client.recv_from(&mut buf))
        .await
        .expect("no echo")
        .unwrap();
    assert_eq!(&buf[..len], message(1).as_slice());
    let mut stream = TcpStream::connect(h.tcp()).await.unwrap();
    tcp_round_trip(&mut stream, 2).await;
    h.stop().await;
}
