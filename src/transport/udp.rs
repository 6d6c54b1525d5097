//! UDP: one receive loop and one send loop per bound socket, and the choice of socket per destination.
//!
//! Receiving never blocks on the core: a full inbound queue drops the datagram (UDP is lossy
//! and SIP retransmits, RFC 3261 §17.1.1.2). Sending never blocks the core either: a shard
//! sends a datagram itself with a non-blocking send when nothing is queued on the socket, and
//! otherwise (or when the socket buffer is full) hands it to the socket's bounded send queue,
//! whose loop sends in order; a full queue drops it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, debug_span, warn};

use super::dispatch::Dispatch;
use super::{Inbound, TransportStats, canonical, count, incr};
use crate::sip::message::Limits;
use crate::sip::{Peer, Transport};

/// Datagrams waiting per socket for the send loop.
const SEND_QUEUE: usize = 8192;
/// Pause after a receive error so that a persistent error cannot spin the loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// The send side of every bound UDP socket.
#[derive(Debug)]
pub(crate) struct UdpRoutes {
    routes: Vec<Route>,
    stats: Arc<TransportStats>,
}

#[derive(Debug)]
struct Route {
    local: SocketAddr,
    /// Sent on at once when nothing waits in `queue` (the caller's thread does the syscall).
    socket: Option<Arc<UdpSocket>>,
    queue: mpsc::Sender<(SocketAddr, Bytes)>,
}

/// Starts the receive and send loop of every socket on `tracker`. Receive loops end on `stop`;
/// send loops end when the returned routes are dropped (after sending what is queued) or on
/// `abort`.
pub(crate) fn start(
    sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
    inbound: &Dispatch,
    limits: Limits,
    stats: &Arc<TransportStats>,
    tracker: &TaskTracker,
    stop: &CancellationToken,
    abort: &CancellationToken,
) -> UdpRoutes {
    let mut routes = Vec::with_capacity(sockets.len());
    for (local, socket) in sockets {
        let receiver = Receiver {
            socket: Arc::clone(&socket),
            inbound: inbound.clone(),
            limits,
            stats: Arc::clone(stats),
        };
        let span = debug_span!("udp_receive", %local);
        tracker.spawn(receiver.run(stop.clone()).instrument(span));
        let (queue, rx) = mpsc::channel(SEND_QUEUE);
        let span = debug_span!("udp_send", %local);
        let direct = Some(Arc::clone(&socket));
        tracker.spawn(send_loop(socket, rx, Arc::clone(stats), abort.clone()).instrument(span));
        routes.push(Route {
            local,
            socket: direct,
            queue,
        });
    }
    UdpRoutes {
        routes,
        stats: Arc::clone(stats),
    }
}

impl UdpRoutes {
    /// Sends one datagram on the socket that can reach `to`: at once when the socket takes it
    /// without waiting and nothing is queued before it, else through the socket's send queue;
    /// drops and counts when it cannot.
    pub(crate) fn send(&self, to: SocketAddr, bytes: Bytes) {
        let Some((route, dest)) = self.pick(to) else {
            if let Some(n) = count(&self.stats.dropped_no_socket) {
                warn!(%to, total = n, "no UDP socket of this address family; datagram dropped");
            }
            return;
        };
        if self.send_now(route, dest, &bytes) {
            return;
        }
        match route.queue.try_send((dest, bytes)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if let Some(n) = count(&self.stats.dropped_outbound_full) {
                    warn!(local = %route.local, total = n, "UDP send queue full; datagram dropped");
                }
            }
            Err(TrySendError::Closed(_)) => debug!(local = %route.local, "UDP send loop gone"),
        }
    }

    /// The non-blocking send on the caller's thread, tried only while the queue is empty (so a
    /// datagram never overtakes queued ones); true when the datagram is dealt with. Saves the
    /// queue hop and the send loop's wake-up per datagram; a full socket buffer falls back to
    /// the queue.
    fn send_now(&self, route: &Route, to: SocketAddr, bytes: &[u8]) -> bool {
        let Some(socket) = &route.socket else {
            return false;
        };
        if route.queue.capacity() < route.queue.max_capacity() {
            return false;
        }
        match socket.try_send_to(bytes, to) {
            Ok(_) => {
                incr(&self.stats.udp_datagrams_out);
                debug!(%to, len = bytes.len(), "UDP datagram out");
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(e) => {
                if let Some(n) = count(&self.stats.udp_errors) {
                    warn!(%to, error = %e, total = n, "UDP send failed");
                }
                true
            }
        }
    }

    /// A socket of the destination's family, preferring one whose address can reach it (the
    /// wildcard, or loopback for loopback); an IPv4 destination may fall back to a dual-stack
    /// `[::]` socket through its v4-mapped form.
    fn pick(&self, to: SocketAddr) -> Option<(&Route, SocketAddr)> {
        let family = |r: &&Route| r.local.is_ipv4() == to.is_ipv4();
        let reaches = |r: &&Route| {
            r.local.ip().is_unspecified() || r.local.ip().is_loopback() == to.ip().is_loopback()
        };
        let same = self.routes.iter().filter(family);
        if let Some(route) = same.clone().find(reaches).or_else(|| same.clone().next()) {
            return Some((route, to));
        }
        let SocketAddr::V4(v4) = to else {
            return None;
        };
        let dual = self
            .routes
            .iter()
            .find(|r| r.local.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED))?;
        Some((
            dual,
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        ))
    }
}

/// The receive loop of one socket.
struct Receiver {
    socket: Arc<UdpSocket>,
    inbound: Dispatch,
    limits: Limits,
    stats: Arc<TransportStats>,
}

impl Receiver {
    async fn run(self, stop: CancellationToken) {
        // One byte over the cap tells an oversized datagram from one exactly at the cap.
        let mut buf = vec![0u8; self.limits.max_message_bytes.saturating_add(1)];
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => break,
                r = self.socket.recv_from(&mut buf) => r,
            };
            match received {
                Ok((len, from)) => {
                    if !self.accept(&buf[..len], canonical(from)) {
                        break;
                    }
                }
                Err(e) => {
                    if let Some(n) = count(&self.stats.udp_errors) {
                        warn!(error = %e, total = n, "UDP receive error");
                    }
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            }
        }
        debug!("UDP receive loop stopped");
    }

    /// Screens one datagram and queues it; `false` once the driver is gone.
    fn accept(&self, datagram: &[u8], from: SocketAddr) -> bool {
        if datagram.len() > self.limits.max_message_bytes {
            if let Some(n) = count(&self.stats.dropped_oversized) {
                warn!(%from, total = n, max = self.limits.max_message_bytes, "oversized UDP datagram dropped");
            }
            return true;
        }
        if datagram.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            incr(&self.stats.udp_keepalives);
            return true;
        }
        let peer = Peer::new(Transport::Udp, from);
        match self
            .inbound
            .try_send(Inbound::now(peer, Bytes::copy_from_slice(datagram)))
        {
            Ok(()) => {
                incr(&self.stats.udp_datagrams_in);
                debug!(%from, len = datagram.len(), "UDP datagram in");
                true
            }
            Err(TrySendError::Full(_)) => {
                if let Some(n) = count(&self.stats.dropped_inbound_full) {
                    warn!(%from, total = n, "inbound queue full; UDP datagram dropped");
                }
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// Sends queued datagrams until the queue closes (after draining it) or `abort` fires.
async fn send_loop(
    socket: Arc<UdpSocket>,
    mut queue: mpsc::Receiver<(SocketAddr, Bytes)>,
    stats: Arc<TransportStats>,
    abort: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            () = abort.cancelled() => None,
            next = queue.recv() => next,
        };
        let Some((to, bytes)) = next else {
            break;
        };
        match socket.send_to(&bytes, to).await {
            Ok(_) => {
                incr(&stats.udp_datagrams_out);
                debug!(%to, len = bytes.len(), "UDP datagram out");
            }
            Err(e) => {
                if let Some(n) = count(&stats.udp_errors) {
                    warn!(%to, error = %e, total = n, "UDP send failed");
                }
            }
        }
    }
    debug!("UDP send loop stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_routes(locals: &[&str]) -> (UdpRoutes, Vec<mpsc::Receiver<(SocketAddr, Bytes)>>) {
        let mut rxs = Vec::new();
        let routes = locals
            .iter()
            .map(|l| {
                let (queue, rx) = mpsc::channel(1);
                rxs.push(rx);
                Route {
                    local: l.parse().unwrap(),
                    socket: None,
                    queue,
                }
            })
            .collect();
        let routes = UdpRoutes {
            routes,
            stats: Arc::default(),
        };
        (routes, rxs)
    }

    fn picked(routes: &UdpRoutes, to: &str) -> Option<(String, String)> {
        routes
            .pick(to.parse().unwrap())
            .map(|(r, dest)| (r.local.to_string(), dest.to_string()))
    }

    #[test]
    fn picks_a_socket_of_the_destination_family() {
        let (routes, _rxs) = make_routes(&["127.0.0.1:5060", "0.0.0.0:5060", "[::1]:5060"]);
        let own = |l: &str, d: &str| Some((l.to_string(), d.to_string()));
        assert_eq!(
            picked(&routes, "127.0.0.2:1"),
            own("127.0.0.1:5060", "127.0.0.2:1")
        );
        assert_eq!(
            picked(&routes, "192.0.2.1:1"),
            own("0.0.0.0:5060", "192.0.2.1:1")
        );
        assert_eq!(
            picked(&routes, "[2001:db8::1]:1"),
            own("[::1]:5060", "[2001:db8::1]:1")
        );
    }

    #[test]
    fn ipv4_falls_back_to_a_dual_stack_socket() {
        let (routes, _rxs) = make_routes(&["[::]:5060"]);
        assert_eq!(
            picked(&routes, "192.0.2.1:7"),
            Some(("[::]:5060".to_string(), "[::ffff:192.0.2.1]:7".to_string()))
        );
        let (v4_only, _rxs) = make_routes(&["0.0.0.0:5060"]);
        assert_eq!(picked(&v4_only, "[2001:db8::1]:1"), None);
    }

    #[test]
    fn a_full_send_queue_drops_and_counts() {
        let (routes, _rxs) = make_routes(&["127.0.0.1:5060"]);
        let to: SocketAddr = "127.0.0.1:1".parse().unwrap();
        routes.send(to, Bytes::from_static(b"a"));
        routes.send(to, Bytes::from_static(b"b"));
        let stats = routes.stats.snapshot();
        assert_eq!(stats.dropped_outbound_full, 1);
        routes.send("[::1]:1".parse().unwrap(), Bytes::from_static(b"c"));
        assert_eq!(routes.stats.snapshot().dropped_no_socket, 1);
    }
}
