//! Loopback tests of the transport driver around an echo core: UDP, TCP framing, connection
//! reuse, admission (trusted reserve, per-source limit, bans, message deadline), shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use calltrack::sip::message::Limits;
use calltrack::sip::{Peer, Transmit, Transport};
use calltrack::transport::{
    Core, Inbound, LocalAddrs, SourceGate, Standing, TransportConfig, TransportError,
    TransportStats, bind, run,
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

    fn handle_inbound(&mut self, now: Instant, inbound: Inbound) {
        let Inbound { peer, bytes, .. } = inbound;
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
        tcp_reserved_trusted: 0,
        tcp_max_connections_per_source: 16,
        tcp_idle_timeout: Duration::from_secs(30),
        tcp_message_timeout: Duration::from_secs(10),
        inbound_queue: 64,
    }
}

async fn start(cfg: TransportConfig, drain: Drain, grace: Duration) -> Harness {
    start_gated(cfg, drain, grace, None).await
}

async fn start_gated(
    cfg: TransportConfig,
    drain: Drain,
    grace: Duration,
    gate: Option<Arc<dyn SourceGate>>,
) -> Harness {
    let mut sockets = bind(&cfg).await.unwrap();
    if let Some(gate) = gate {
        sockets.set_gate(gate);
    }
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

/// 127.0.0.1 is trusted, 127.0.0.3 banned, every other address an untrusted source of its own.
#[derive(Debug)]
struct LoopbackGate;

impl SourceGate for LoopbackGate {
    fn judge(&self, _now: Instant, ip: IpAddr) -> Standing {
        match ip.to_string().as_str() {
            "127.0.0.1" => Standing::Trusted,
            "127.0.0.3" => Standing::Banned,
            _ => Standing::Untrusted { key: ip },
        }
    }
}

async fn start_loopback_gate(cfg: TransportConfig) -> Harness {
    let gate: Arc<dyn SourceGate> = Arc::new(LoopbackGate);
    start_gated(cfg, Drain::After(Duration::ZERO), WAIT, Some(gate)).await
}

/// A TCP connection to `to` from the loopback address `ip`.
async fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(to).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Whether the server keeps `stream` (it echoes a message) or closed it at once.
async fn kept(stream: &mut TcpStream, n: u32) -> bool {
    if stream.write_all(&message(n)).await.is_err() {
        return false;
    }
    let mut buf = vec![0; message(n).len()];
    match tokio::time::timeout(WAIT, stream.read_exact(&mut buf)).await {
        Ok(Ok(_)) => buf == message(n),
        Ok(Err(_)) => false,
        Err(_) => panic!("connection neither served nor closed"),
    }
}

#[tokio::test]
async fn tcp_untrusted_sources_cannot_take_the_trusted_reserve_or_more_than_their_share() {
    let mut cfg = loopback_config();
    cfg.tcp_max_connections = 8;
    cfg.tcp_reserved_trusted = 2;
    cfg.tcp_max_connections_per_source = 3;
    let h = start_loopback_gate(cfg).await;
    let mut held = Vec::new();
    for (ip, n) in [("127.0.0.2", 10), ("127.0.0.4", 20)] {
        for i in 0..4 {
            let mut stream = connect_from(ip, h.tcp()).await;
            // Three per source are served; the fourth is over the per-source limit.
            assert_eq!(kept(&mut stream, n + i).await, i < 3, "{ip} connection {i}");
            held.push(stream);
        }
    }
    // Six untrusted connections fill the unreserved share: a fresh source gets no slot.
    let mut fresh = connect_from("127.0.0.5", h.tcp()).await;
    assert!(!kept(&mut fresh, 30).await);
    // The carrier still gets the two reserved slots, and then the limit holds for it too.
    let mut carrier_1 = connect_from("127.0.0.1", h.tcp()).await;
    let mut carrier_2 = connect_from("127.0.0.1", h.tcp()).await;
    assert!(kept(&mut carrier_1, 40).await);
    assert!(kept(&mut carrier_2, 41).await);
    let mut carrier_3 = connect_from("127.0.0.1", h.tcp()).await;
    assert!(!kept(&mut carrier_3, 42).await);
    let stats = h.stats.snapshot();
    assert_eq!(stats.tcp_refused_per_source, 2);
    assert_eq!(stats.tcp_refused_untrusted_share, 1);
    assert_eq!(stats.tcp_refused_limit, 1);
    assert_eq!(stats.tcp_connections_refused, 4);
    assert_eq!(stats.tcp_connections_accepted, 8);
    h.stop().await;
}

#[tokio::test]
async fn tcp_banned_source_is_closed_before_anything_is_read() {
    let mut h = start_loopback_gate(loopback_config()).await;
    let mut banned = connect_from("127.0.0.3", h.tcp()).await;
    let _ = banned.write_all(&message(1)).await;
    assert_closed(&mut banned).await;
    assert_eq!(h.stats.snapshot().tcp_refused_banned, 1);
    // Nothing reached the core: the next event is the carrier's message.
    let mut carrier = connect_from("127.0.0.1", h.tcp()).await;
    tcp_round_trip(&mut carrier, 2).await;
    let Seen::Received(peer, _) = h.next_event().await else {
        panic!("expected a message");
    };
    assert_eq!(peer.addr, carrier.local_addr().unwrap());
    h.stop().await;
}

#[tokio::test]
async fn tcp_message_trickled_past_its_deadline_closes_the_connection() {
    let mut cfg = loopback_config();
    cfg.tcp_message_timeout = Duration::from_millis(500);
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    let stream = TcpStream::connect(h.tcp()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut read, mut write) = stream.into_split();
    let started = tokio::time::Instant::now();
    // One byte every 100 ms: never idle, but the message would take 13 s.
    let trickle = tokio::spawn(async move {
        for byte in message(1) {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(WAIT, read.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "got {closed:?}");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "closed after {took:?}");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    trickle.abort();
    let stats = h.stats.snapshot();
    assert_eq!(stats.tcp_message_timeouts, 1);
    assert_eq!(stats.tcp_idle_closed, 0);
    h.stop().await;
}

#[tokio::test]
async fn tcp_keep_alives_between_messages_start_no_message_deadline() {
    let mut cfg = loopback_config();
    cfg.tcp_message_timeout = Duration::from_millis(300);
    let h = start(cfg, Drain::After(Duration::ZERO), WAIT).await;
    let mut client = TcpStream::connect(h.tcp()).await.unwrap();
    client.set_nodelay(true).unwrap();
    // RFC 5626 §4.4.1 pings for three times the deadline, each answered with a pong.
    for _ in 0..9 {
        client.write_all(b"\r\n\r\n").await.unwrap();
        assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A message sent slowly but within the deadline is served.
    let text = message(7);
    let (head, tail) = text.split_at(20);
    client.write_all(head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    client.write_all(tail).await.unwrap();
    assert_eq!(read_exactly(&mut client, text.len()).await, text);
    assert_eq!(h.stats.snapshot().tcp_message_timeouts, 0);
    h.stop().await;
}

#[tokio::test]
async fn outbound_tcp_takes_no_inbound_slot() {
    let mut cfg = loopback_config();
    cfg.tcp_max_connections = 2;
    cfg.tcp_max_connections_per_source = 2;
    let h = start_loopback_gate(cfg).await;
    // An untrusted host holds every inbound slot.
    let mut hoard = Vec::new();
    for n in 0..2 {
        let mut stream = connect_from("127.0.0.2", h.tcp()).await;
        assert!(kept(&mut stream, n).await);
        hoard.push(stream);
    }
    // calltrack still reaches the PBX: its own connection needs no slot.
    let pbx = TcpListener::bind("127.0.0.1:0").await.unwrap();
    control(&h, pbx.local_addr().unwrap(), &message(5)).await;
    let (mut stream, _) = tokio::time::timeout(WAIT, pbx.accept())
        .await
        .expect("driver never connected")
        .unwrap();
    assert_eq!(
        read_exactly(&mut stream, message(5).len()).await,
        message(5)
    );
    h.stop().await;
}
