//! TCP: listeners under admission control (`admission.rs`), one reader and one writer task per
//! connection, and the connection table that sends responses and new requests over existing
//! connections.
//!
//! Invariants:
//! - The table holds the only strong sender of each connection's writer queue. Removing the
//!   entry (when the connection closes) or clearing the table (at stop) lets the writer drain
//!   its queue and end, which ends the reader; the reader ending drops the [`Registration`],
//!   which removes the entry. Either side ending closes both.
//! - Table entries are keyed by the remote address (canonical form) and carry an id, so that a
//!   closing connection never removes a newer one to the same address.
//! - Framing follows RFC 3261 §18.3 through [`frame`]; a framing error or an oversized message
//!   closes the connection because the stream cannot be resynchronised, and so does a message
//!   not complete within its deadline (`deadline.rs`).
//! - An inbound connection holds an admission [`Slot`] for its whole life; a refused one is
//!   closed before anything is read from it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, debug_span, warn};

use super::admission::{Refusal, Slot, SlotLimits, Slots, SourceGate};
use super::deadline::MessageDeadline;
use super::dispatch::Dispatch;
use super::writer::Writer;
use super::{Inbound, TransportStats, canonical, count, incr};
use crate::sip::message::{Frame, Limits, frame};
use crate::sip::{Peer, Transport};

/// Messages waiting per connection for its writer.
const WRITER_QUEUE: usize = 256;
/// How long an outbound connect may take before the core hears of a transport error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Spare room made in the read buffer before each read.
const READ_CHUNK: usize = 4096;
/// Pause after an accept error (e.g. out of file descriptors) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// RFC 5626 §4.4.1: a double-CRLF ping is answered with a single-CRLF pong.
const PING: &[u8] = b"\r\n\r\n";
const PONG: &[u8] = b"\r\n";

/// A message the driver could not hand to any connection (the writer queue is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undeliverable;

/// The TCP side of the transport, shared by the driver, accept loops and connection tasks.
#[derive(Debug)]
pub(crate) struct Tcp {
    table: DashMap<SocketAddr, Conn>,
    next_id: AtomicU64,
    limits: Limits,
    idle_timeout: Duration,
    message_timeout: Duration,
    gate: Arc<dyn SourceGate>,
    /// The shards' inbound queues and error channels.
    dispatch: Dispatch,
    pub(super) stats: Arc<TransportStats>,
    tracker: TaskTracker,
    /// Hard stop for every connection and connect attempt.
    abort: CancellationToken,
}

#[derive(Debug)]
struct Conn {
    id: u64,
    queue: mpsc::Sender<Bytes>,
}

/// What the driver needs to build the TCP side.
pub(crate) struct TcpParts {
    pub limits: Limits,
    pub idle_timeout: Duration,
    pub message_timeout: Duration,
    pub gate: Arc<dyn SourceGate>,
    pub dispatch: Dispatch,
    pub stats: Arc<TransportStats>,
    pub tracker: TaskTracker,
    pub abort: CancellationToken,
}

impl Tcp {
    pub(crate) fn new(parts: TcpParts) -> Arc<Tcp> {
        Arc::new(Tcp {
            table: DashMap::new(),
            next_id: AtomicU64::new(0),
            limits: parts.limits,
            idle_timeout: parts.idle_timeout,
            message_timeout: parts.message_timeout,
            gate: parts.gate,
            dispatch: parts.dispatch,
            stats: parts.stats,
            tracker: parts.tracker,
            abort: parts.abort,
        })
    }

    /// Starts one accept loop per listener, all sharing one set of admission slots.
    pub(crate) fn listen(
        self: &Arc<Self>,
        listeners: Vec<(SocketAddr, TcpListener)>,
        limits: SlotLimits,
        stop: &CancellationToken,
    ) {
        let slots = Slots::new(limits);
        for (local, listener) in listeners {
            let span = debug_span!("tcp_accept", %local);
            let accept = Arc::clone(self).accept_loop(listener, Arc::clone(&slots), stop.clone());
            self.tracker.spawn(accept.instrument(span));
        }
    }

    /// Sends over the connection to `addr`, connecting first when there is none. Never waits:
    /// the message goes to the writer queue, or to a connect task that reports failure to the
    /// core through the error channel.
    pub(crate) fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        bytes: Bytes,
    ) -> Result<(), Undeliverable> {
        let addr = canonical(addr);
        let bytes = match self.send_existing(addr, bytes) {
            Existing::Queued => return Ok(()),
            Existing::Full => return Err(Undeliverable),
            Existing::Absent(bytes) => bytes,
        };
        let (registration, queue) = self.register(addr, None, Some(bytes));
        let span = debug_span!("tcp_connection", peer = %addr, outbound = true);
        let task = Arc::clone(self).connect_then_serve(registration, queue);
        self.tracker.spawn(task.instrument(span));
        Ok(())
    }

    /// Ends every connection once its writer queue is written out: used at stop.
    pub(crate) fn close_all(&self) {
        self.table.clear();
    }

    fn send_existing(&self, addr: SocketAddr, bytes: Bytes) -> Existing {
        let Some(conn) = self.table.get(&addr) else {
            return Existing::Absent(bytes);
        };
        match conn.queue.try_send(bytes) {
            Ok(()) => Existing::Queued,
            Err(TrySendError::Full(_)) => {
                if let Some(n) = count(&self.stats.dropped_outbound_full) {
                    warn!(peer = %addr, total = n, "TCP writer queue full; message not sent");
                }
                Existing::Full
            }
            // The connection is closing and its entry about to go: replace it.
            Err(TrySendError::Closed(bytes)) => Existing::Absent(bytes),
        }
    }

    /// Puts a connection in the table (replacing any entry for `addr`) with `first` queued.
    fn register(
        self: &Arc<Self>,
        addr: SocketAddr,
        slot: Option<Slot>,
        first: Option<Bytes>,
    ) -> (Registration, mpsc::Receiver<Bytes>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, rx) = mpsc::channel(WRITER_QUEUE);
        if let Some(bytes) = first {
            // A fresh queue has room for one message.
            let _ = queue.try_send(bytes);
        }
        let pong = queue.downgrade();
        self.table.insert(addr, Conn { id, queue });
        let registration = Registration {
            tcp: Arc::clone(self),
            addr,
            id,
            pong,
            token: self.abort.child_token(),
            established: false,
            _slot: slot,
        };
        (registration, rx)
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        slots: Arc<Slots>,
        stop: CancellationToken,
    ) {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, from)) => self.admit(stream, canonical(from), &slots),
                Err(e) => {
                    warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
        debug!("TCP listener closed");
    }

    /// Gives the connection a slot, or closes it at once (nothing read) when the gate and the
    /// slots refuse it.
    fn admit(self: &Arc<Self>, stream: TcpStream, from: SocketAddr, slots: &Arc<Slots>) {
        let now = tokio::time::Instant::now().into_std();
        let slot = match slots.take(self.gate.judge(now, from.ip())) {
            Ok(slot) => slot,
            Err(refusal) => {
                // Counted before the close, so a peer that sees the close sees the count.
                self.refused(from, refusal);
                drop(stream);
                return;
            }
        };
        incr(&self.stats.tcp_connections_accepted);
        let (registration, queue) = self.register(from, Some(slot), None);
        let span = debug_span!("tcp_connection", peer = %from, outbound = false);
        let task = Arc::clone(self).serve(registration, stream, queue);
        self.tracker.spawn(task.instrument(span));
    }

    /// Counts a refused connection; logs the 1st, 2nd, 4th, 8th, ... refusal.
    fn refused(&self, from: SocketAddr, refusal: Refusal) {
        let reason = refusal.reason();
        metrics::counter!("calltrack_tcp_connections_refused_total", "reason" => reason)
            .increment(1);
        incr(match refusal {
            Refusal::Banned => &self.stats.tcp_refused_banned,
            Refusal::Limit => &self.stats.tcp_refused_limit,
            Refusal::UntrustedShare => &self.stats.tcp_refused_untrusted_share,
            Refusal::PerSource => &self.stats.tcp_refused_per_source,
        });
        if let Some(n) = count(&self.stats.tcp_connections_refused) {
            warn!(peer = %from, reason, total = n, "TCP connection refused; closed at once");
        }
    }

    async fn connect_then_serve(
        self: Arc<Self>,
        registration: Registration,
        queue: mpsc::Receiver<Bytes>,
    ) {
        let addr = registration.addr;
        let attempt = tokio::select! {
            () = registration.token.cancelled() => return,
            r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)) => r,
        };
        let error = match attempt {
            Ok(Ok(stream)) => {
                debug!("TCP connected");
                return self.serve(registration, stream, queue).await;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
        };
        if let Some(n) = count(&self.stats.tcp_connect_failures) {
            warn!(%error, total = n, "TCP connect failed");
        }
        // Out of the table first, so that a retry by the core connects afresh.
        drop(registration);
        self.report(addr).await;
    }

    /// Tells the core that a message to `addr` could not be delivered.
    pub(super) async fn report(&self, addr: SocketAddr) {
        let peer = Peer::new(Transport::Tcp, addr);
        tokio::select! {
            () = self.abort.cancelled() => {}
            () = self.dispatch.report(peer) => {}
        }
    }

    /// Runs an established connection: the writer in its own task, the reader in this one.
    async fn serve(
        self: Arc<Self>,
        mut registration: Registration,
        stream: TcpStream,
        queue: mpsc::Receiver<Bytes>,
    ) {
        registration.established = true;
        incr(&self.stats.tcp_connections_open);
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "TCP_NODELAY not set");
        }
        let (read, write) = stream.into_split();
        let writer = Writer {
            tcp: Arc::clone(&self),
            addr: registration.addr,
            token: registration.token.clone(),
        };
        self.tracker
            .spawn(writer.run(write, queue).in_current_span());
        self.read_loop(&registration, read).await;
    }

    async fn read_loop(&self, registration: &Registration, mut read: OwnedReadHalf) {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut deadline = MessageDeadline::new(self.message_timeout);
        loop {
            if !self.cut_frames(registration, &mut buf, &mut deadline).await {
                return;
            }
            let now = tokio::time::Instant::now();
            deadline.pending(now, &buf);
            if deadline.expired(now) {
                // A peer whose bytes are always ready never lets the read time out.
                self.message_overdue(buf.len());
                return;
            }
            buf.reserve(READ_CHUNK);
            let wait = deadline.wait(now, self.idle_timeout);
            let read = tokio::select! {
                () = registration.token.cancelled() => return,
                r = tokio::time::timeout(wait, read.read_buf(&mut buf)) => r,
            };
            match read {
                Ok(Ok(0)) => {
                    debug!("TCP connection closed by peer");
                    return;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    debug!(error = %e, "TCP read failed");
                    return;
                }
                Err(_) if deadline.expired(tokio::time::Instant::now()) => {
                    self.message_overdue(buf.len());
                    return;
                }
                Err(_) => {
                    incr(&self.stats.tcp_idle_closed);
                    debug!("TCP connection idle; closing");
                    return;
                }
            }
        }
    }

    /// A message begun and not completed within `sip.tcp_message_timeout_ms`.
    fn message_overdue(&self, pending: usize) {
        metrics::counter!("calltrack_tcp_message_timeouts_total").increment(1);
        if let Some(n) = count(&self.stats.tcp_message_timeouts) {
            warn!(pending, timeout = ?self.message_timeout, total = n,
                "TCP message not complete in time; closing connection");
        }
    }

    /// Hands every complete message in `buf` to the core and answers keep-alives;
    /// `false` when the connection must close.
    async fn cut_frames(
        &self,
        registration: &Registration,
        buf: &mut BytesMut,
        deadline: &mut MessageDeadline,
    ) -> bool {
        loop {
            match frame(buf, &self.limits) {
                Ok(Frame::Incomplete) => return true,
                Ok(Frame::Complete(len)) => {
                    deadline.completed();
                    let message = buf.split_to(len).freeze();
                    if !self.deliver(registration, message).await {
                        return false;
                    }
                }
                Ok(Frame::KeepAlive(len)) => {
                    if len == buf.len() && len < PING.len() && PING.starts_with(buf) {
                        return true; // possibly the first half of a ping
                    }
                    let run = buf.split_to(len);
                    self.pong(registration, pings(&run));
                }
                Err(e) => {
                    if let Some(n) = count(&self.stats.tcp_framing_errors) {
                        warn!(error = %e, total = n, "TCP framing error; closing connection");
                    }
                    return false;
                }
            }
        }
    }

    async fn deliver(&self, registration: &Registration, message: Bytes) -> bool {
        debug!(len = message.len(), "TCP message in");
        let peer = Peer::new(Transport::Tcp, registration.addr);
        // Waiting here is TCP flow control: a busy core slows the sender down.
        let sent = tokio::select! {
            () = registration.token.cancelled() => false,
            r = self.dispatch.send(Inbound::now(peer, message)) => r.is_ok(),
        };
        if sent {
            incr(&self.stats.tcp_messages_in);
        }
        sent
    }

    fn pong(&self, registration: &Registration, pings: usize) {
        let Some(queue) = registration.pong.upgrade() else {
            return;
        };
        for _ in 0..pings {
            if queue.try_send(Bytes::from_static(PONG)).is_ok() {
                incr(&self.stats.tcp_keepalive_pongs);
            }
        }
    }
}

enum Existing {
    Queued,
    Full,
    Absent(Bytes),
}

/// How many double-CRLF pings a run of CR/LF bytes holds.
fn pings(run: &[u8]) -> usize {
    let (mut at, mut found) = (0, 0);
    while let Some(window) = run.get(at..at + PING.len()) {
        if window == PING {
            found += 1;
            at += PING.len();
        } else {
            at += 1;
        }
    }
    found
}

/// A connection's place in the table; dropping it closes the connection and frees its slot.
#[derive(Debug)]
struct Registration {
    tcp: Arc<Tcp>,
    addr: SocketAddr,
    id: u64,
    /// For keep-alive pongs; weak so that the table alone keeps the writer queue open.
    pong: mpsc::WeakSender<Bytes>,
    token: CancellationToken,
    established: bool,
    /// Inbound connections only.
    _slot: Option<Slot>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.token.cancel();
        self.tcp
            .table
            .remove_if(&self.addr, |_, conn| conn.id == self.id);
        if self.established {
            self.tcp
                .stats
                .tcp_connections_open
                .fetch_sub(1, Ordering::Relaxed);
            debug!("TCP connection closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_double_crlf_pings() {
        assert_eq!(pings(b"\r\n"), 0);
        assert_eq!(pings(b"\r\n\r\n"), 1);
        assert_eq!(pings(b"\r\n\r\n\r\n"), 1);
        assert_eq!(pings(b"\r\n\r\n\r\n\r\n"), 2);
        assert_eq!(pings(b"\n\r\n\r\n"), 1);
    }
}
