//! The async I/O shell around the sans-IO core: binding, configuration, errors and counters.
//!
//! [`bind`] runs before [`run`] so that the core learns the actual local addresses (port 0
//! resolves here) for Via and Contact before any message flows. [`run`] then owns the core in
//! one task and moves bytes between it and the sockets (see `driver.rs`); `udp.rs` and
//! `tcp.rs` are the socket services it starts. Nothing here parses SIP: TCP only cuts frames
//! with [`crate::sip::message::frame`]. Who may hold an inbound TCP connection is decided in
//! `admission.rs`, with a [`SourceGate`] that the composition root supplies.
//!
//! Dual stack: on Linux a socket bound to `[::]` also receives IPv4 (as v4-mapped addresses,
//! which are reported to the core in their plain IPv4 form), so `0.0.0.0:p` and `[::]:p` cannot
//! both be bound on the same port; list `[::]:p` alone or specific addresses per family.

mod admission;
mod deadline;
mod dispatch;
pub mod driver;
mod tcp;
mod udp;
mod writer;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};

use crate::sip::message::Limits;
use crate::sip::{Peer, Transport};

pub use admission::{NobodyTrusted, SlotLimits, SourceGate, Standing, describe_metrics};
pub use driver::{Core, run, run_shards};

/// One datagram or one framed stream message on its way to the core.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub peer: Peer,
    pub bytes: Bytes,
    /// When the socket loop read it (tokio's clock, like the driver's `now`): the core learns
    /// from `now - received` how long messages wait for it, its overload signal, and measures
    /// INVITE relay latency from here.
    pub received: std::time::Instant,
}

impl Inbound {
    /// A message read just now.
    pub fn now(peer: Peer, bytes: Bytes) -> Inbound {
        Inbound {
            peer,
            bytes,
            received: tokio::time::Instant::now().into_std(),
        }
    }
}

/// Where to listen and how much to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    pub udp_listen: Vec<SocketAddr>,
    pub tcp_listen: Vec<SocketAddr>,
    /// Caps applied to every datagram and stream message.
    pub limits: Limits,
    /// Accepted TCP connections open at once; the next one is accepted and closed at once.
    pub tcp_max_connections: usize,
    /// Of `tcp_max_connections`, the slots only trusted sources (see [`SourceGate`]) may take.
    pub tcp_reserved_trusted: usize,
    /// Accepted TCP connections one untrusted source (IPv4 address, IPv6 /64) may hold.
    pub tcp_max_connections_per_source: usize,
    /// A TCP connection that receives nothing for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// A TCP connection that began a message and has not completed it this long after is
    /// closed (CR/LF keep-alives begin none).
    pub tcp_message_timeout: Duration,
    /// Capacity of the one bounded queue from all sockets to the core.
    pub inbound_queue: usize,
}

impl Default for TransportConfig {
    /// Nothing to listen on; limits suited to a single-host deployment.
    fn default() -> Self {
        TransportConfig {
            udp_listen: Vec::new(),
            tcp_listen: Vec::new(),
            limits: Limits::default(),
            tcp_max_connections: 1024,
            tcp_reserved_trusted: 256,
            tcp_max_connections_per_source: 16,
            tcp_idle_timeout: Duration::from_secs(600),
            tcp_message_timeout: Duration::from_secs(10),
            inbound_queue: 4096,
        }
    }
}

/// Why the transport could not start.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("cannot bind {transport} {addr}")]
    Bind {
        transport: Transport,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("a SIP core shard ended abnormally (see the log)")]
    ShardLost,
    #[error("cannot read the local address of the {transport} socket bound to {addr}")]
    LocalAddr {
        transport: Transport,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// The addresses actually bound, in configuration order (port 0 replaced by the real port).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalAddrs {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
}

/// Bound sockets and listeners, not yet served; hand them to [`run`].
#[derive(Debug)]
pub struct Sockets {
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    tcp: Vec<(SocketAddr, TcpListener)>,
    config: TransportConfig,
    stats: Arc<TransportStats>,
    gate: Arc<dyn SourceGate>,
}

impl Sockets {
    /// The actual bound addresses, for Via and Contact.
    pub fn local_addrs(&self) -> LocalAddrs {
        LocalAddrs {
            udp: self.udp.iter().map(|(addr, _)| *addr).collect(),
            tcp: self.tcp.iter().map(|(addr, _)| *addr).collect(),
        }
    }

    /// The counters these sockets will update, readable while the driver runs.
    pub fn stats(&self) -> Arc<TransportStats> {
        Arc::clone(&self.stats)
    }

    /// Who is trusted or banned when a TCP connection comes in ([`NobodyTrusted`] unless set).
    pub fn set_gate(&mut self, gate: Arc<dyn SourceGate>) {
        self.gate = gate;
    }

    /// How the inbound TCP slots are shared out.
    fn slot_limits(&self) -> SlotLimits {
        SlotLimits {
            max: self.config.tcp_max_connections,
            reserved_trusted: self.config.tcp_reserved_trusted,
            per_source: self.config.tcp_max_connections_per_source,
        }
    }
}

/// Kernel buffer size asked for on each UDP socket. The usual 208 KiB default overflows in
/// bursts of a few thousand calls/s (RcvbufErrors); the kernel caps the request at
/// `net.core.rmem_max` / `wmem_max`, so raising those raises what calltrack gets.
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// Best effort: a refused size leaves the kernel default and a warning.
fn size_udp_buffers(socket: &UdpSocket, local: SocketAddr) {
    let sock = socket2::SockRef::from(socket);
    let recv = sock.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let send = sock.set_send_buffer_size(UDP_BUFFER_BYTES);
    if let Err(error) = recv.and(send) {
        tracing::warn!(%local, %error, "UDP socket buffers left at the kernel default");
    }
}

/// Binds every configured UDP socket and TCP listener; the first failure names its address.
pub async fn bind(cfg: &TransportConfig) -> Result<Sockets, TransportError> {
    let mut udp = Vec::with_capacity(cfg.udp_listen.len());
    for &addr in &cfg.udp_listen {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|source| bind_error(Transport::Udp, addr, source))?;
        let local = socket
            .local_addr()
            .map_err(|source| local_error(Transport::Udp, addr, source))?;
        size_udp_buffers(&socket, local);
        udp.push((local, Arc::new(socket)));
    }
    let mut tcp = Vec::with_capacity(cfg.tcp_listen.len());
    for &addr in &cfg.tcp_listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| bind_error(Transport::Tcp, addr, source))?;
        let local = listener
            .local_addr()
            .map_err(|source| local_error(Transport::Tcp, addr, source))?;
        tcp.push((local, listener));
    }
    Ok(Sockets {
        udp,
        tcp,
        config: cfg.clone(),
        stats: Arc::default(),
        gate: Arc::new(NobodyTrusted),
    })
}

fn bind_error(transport: Transport, addr: SocketAddr, source: io::Error) -> TransportError {
    TransportError::Bind {
        transport,
        addr,
        source,
    }
}

fn local_error(transport: Transport, addr: SocketAddr, source: io::Error) -> TransportError {
    TransportError::LocalAddr {
        transport,
        addr,
        source,
    }
}

/// A peer address as the core should see it: v4-mapped IPv6 (from a dual-stack socket) as IPv4.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Adds one to a counter and says whether this occurrence deserves a log line: the 1st, 2nd,
/// 4th, 8th, ... so that a flood of the same problem logs a handful of lines, not a line each.
pub(crate) fn count(counter: &AtomicU64) -> Option<u64> {
    let n = counter.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    n.is_power_of_two().then_some(n)
}

pub(crate) fn incr(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

macro_rules! transport_stats {
    ($($(#[doc = $doc:expr])* $field:ident,)*) => {
        /// Live transport counters (monotonic unless noted), shared with the metrics endpoint.
        #[derive(Debug, Default)]
        pub struct TransportStats {
            $($(#[doc = $doc])* pub $field: AtomicU64,)*
        }

        /// A point-in-time copy of [`TransportStats`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct TransportStatsSnapshot {
            $($(#[doc = $doc])* pub $field: u64,)*
        }

        impl TransportStats {
            pub fn snapshot(&self) -> TransportStatsSnapshot {
                TransportStatsSnapshot {
                    $($field: self.$field.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

transport_stats! {
    /// UDP datagrams handed to the core.
    udp_datagrams_in,
    /// UDP datagrams sent.
    udp_datagrams_out,
    /// TCP messages framed and handed to the core.
    tcp_messages_in,
    /// TCP writes completed (messages and keep-alive pongs).
    tcp_messages_out,
    /// UDP datagrams over `limits.max_message_bytes`, dropped.
    dropped_oversized,
    /// UDP datagrams dropped because the inbound queue was full.
    dropped_inbound_full,
    /// Outbound messages dropped because a UDP send queue or TCP writer queue was full.
    dropped_outbound_full,
    /// Outbound UDP messages with no bound socket of the destination's address family.
    dropped_no_socket,
    /// UDP datagrams consisting only of CR/LF keep-alive bytes, dropped.
    udp_keepalives,
    /// UDP send and receive errors (logged, never fatal).
    udp_errors,
    /// TCP connections open right now (accepted or connected); a gauge.
    tcp_connections_open,
    /// TCP connections accepted within the limit.
    tcp_connections_accepted,
    /// TCP connections refused by admission and closed at once (every reason below).
    tcp_connections_refused,
    /// ... because the source is banned by the flood guard.
    tcp_refused_banned,
    /// ... because every slot was taken.
    tcp_refused_limit,
    /// ... because the slots left to untrusted sources were taken.
    tcp_refused_untrusted_share,
    /// ... because the untrusted source held its per-source limit.
    tcp_refused_per_source,
    /// TCP connections closed because a message was not complete within its deadline.
    tcp_message_timeouts,
    /// Outbound TCP connects that failed or timed out.
    tcp_connect_failures,
    /// TCP connections closed for a framing error or an oversized message.
    tcp_framing_errors,
    /// TCP connections closed after the idle timeout.
    tcp_idle_closed,
    /// Double-CRLF pings answered with a CRLF pong (RFC 5626 §4.4.1).
    tcp_keepalive_pongs,
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn canonical_unmaps_v4_mapped_addresses() {
        let mapped = SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
            5060,
        );
        assert_eq!(canonical(mapped), "10.0.0.1:5060".parse().unwrap());
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060);
        assert_eq!(canonical(v6), v6);
    }

    #[test]
    fn count_logs_on_powers_of_two() {
        let counter = AtomicU64::new(0);
        let logged: Vec<u64> = (0..10).filter_map(|_| count(&counter)).collect();
        assert_eq!(logged, vec![1, 2, 4, 8]);
        assert_eq!(counter.load(Ordering::Relaxed), 10);
    }

    #[tokio::test]
    async fn udp_sockets_get_large_buffers_up_to_the_kernel_cap() {
        let cfg = TransportConfig {
            udp_listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
            ..TransportConfig::default()
        };
        let sockets = bind(&cfg).await.unwrap();
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok());
        let Some(cap) = cap else { return };
        let got = socket2::SockRef::from(&*sockets.udp[0].1)
            .recv_buffer_size()
            .unwrap();
        // Linux reports twice the size it granted (bookkeeping overhead).
        assert!(got >= 2 * cap.min(UDP_BUFFER_BYTES), "got {got}, cap {cap}");
    }

    #[tokio::test]
    async fn bind_reports_actual_addresses_for_port_zero() {
        let cfg = TransportConfig {
            udp_listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
            tcp_listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
            ..TransportConfig::default()
        };
        let sockets = bind(&cfg).await.unwrap();
        let local = sockets.local_addrs();
        assert_eq!(local.udp.len(), 1);
        assert_eq!(local.tcp.len(), 1);
        assert!(local.udp.iter().chain(&local.tcp).all(|a| a.port() != 0));
    }

    #[tokio::test]
    async fn bind_error_names_the_address() {
        let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = taken.local_addr().unwrap();
        let cfg = TransportConfig {
            tcp_listen: vec![addr],
            ..TransportConfig::default()
        };
        let Err(err) = bind(&cfg).await else {
            panic!("second bind of {addr} succeeded");
        };
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
