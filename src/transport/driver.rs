//! The async loops around the sans-IO core, one per shard: each feeds its core bytes, time and
//! transport errors, and drains its transmits and events (DESIGN.md §4.1).
//!
//! One task owns each core, so it needs no locks; the socket loops hand every message to the
//! shard that owns its Call-ID (`dispatch.rs`), and every shard sends through the same
//! sockets. No protocol decision lives here: a loop only routes each [`Transmit`] by its
//! transport and hands events on. It never waits for the event consumer (the CDR store):
//! events the channel cannot take at once queue here in order, and the core bounds that
//! backlog by refusing new calls while the store is behind.
//! Time is read from tokio's clock (`tokio::time::Instant::now().into_std()`) so that a paused
//! clock in tests drives the core's timers too.

use std::collections::VecDeque;
use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::{Instant as TokioInstant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::dispatch::{Dispatch, Lane};
use super::tcp::{Tcp, TcpParts, Undeliverable};
use super::udp::{self, UdpRoutes};
use super::{Inbound, Sockets, TransportError};
use crate::sip::{Peer, Transmit, Transport};

/// Inbound messages one turn of a shard's loop takes at most (timers and shutdown are looked
/// at between turns).
const INBOUND_BATCH: usize = 16;
/// Where the pinned timer of an idle core points (it is not polled while nothing is armed).
const IDLE_TIMER: Duration = Duration::from_secs(3600);
/// At stop, how long connections and UDP send loops get to write out what is queued.
const STOP_FLUSH: Duration = Duration::from_secs(1);

/// The sans-IO core the driver runs: bytes and time in, transmits and events out.
pub trait Core: Send + 'static {
    type Event: Send + 'static;
    /// One datagram or one framed stream message (the driver never parses SIP; for TCP it only
    /// cuts frames with `crate::sip::message::frame`); `inbound.received` tells how long it
    /// waited for the core.
    fn handle_inbound(&mut self, now: Instant, inbound: Inbound);
    fn handle_timeout(&mut self, now: Instant);
    /// A message to `peer` could not be delivered (TCP connect failed/refused, connection gone).
    fn handle_transport_error(&mut self, now: Instant, peer: Peer);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn poll_timeout(&self) -> Option<Instant>;
    /// Shutdown began: from now on the core refuses new work (e.g. 503 to new INVITEs).
    fn begin_shutdown(&mut self, now: Instant);
    /// Nothing left in flight: the driver may stop once shutting down.
    fn is_idle(&self) -> bool;
}

/// Serves `sockets` around `core` until `shutdown` fires and the core is idle or `grace` has
/// passed; then stops accepting, closes every socket and gives the core back.
///
/// Events go to `events` in order and are never dropped while its receiver lives; the loop
/// never waits for it (see [`EventSink`]). If the receiver is gone they are discarded with a
/// warning.
pub async fn run<C: Core>(
    core: C,
    sockets: Sockets,
    events: mpsc::Sender<C::Event>,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<C, TransportError> {
    let mut cores = run_shards(vec![core], sockets, events, shutdown, grace).await?;
    cores.pop().ok_or(TransportError::ShardLost)
}

/// [`run`] with one core per shard, each in its own task (so on its own worker thread when
/// the runtime has several): every inbound message goes to the shard owning its Call-ID, and
/// every shard sends through the same sockets. Returns the cores in their order once all
/// have stopped; a shard that panicked is [`TransportError::ShardLost`].
pub async fn run_shards<C: Core>(
    cores: Vec<C>,
    sockets: Sockets,
    events: mpsc::Sender<C::Event>,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<Vec<C>, TransportError> {
    let (io, lanes) = Io::start(sockets, cores.len());
    let shards: Vec<_> = cores
        .into_iter()
        .zip(lanes)
        .map(|(core, lane)| {
            let shard = Shard {
                out: Arc::clone(&io.out),
                events: events.clone(),
                shutdown: shutdown.clone(),
                grace,
            };
            tokio::spawn(shard.serve(core, lane))
        })
        .collect();
    drop(events);
    let mut cores = Vec::with_capacity(shards.len());
    let mut lanes = Vec::with_capacity(shards.len());
    let mut lost = false;
    for shard in shards {
        match shard.await {
            Ok((core, lane)) => {
                cores.push(core);
                lanes.push(lane);
            }
            Err(error) => {
                tracing::error!(%error, "a SIP core shard ended abnormally");
                lost = true;
            }
        }
    }
    io.stop().await;
    drop(lanes);
    if lost {
        return Err(TransportError::ShardLost);
    }
    Ok(cores)
}

/// What one shard's loop shares with the others.
struct Shard<E> {
    out: Arc<Out>,
    events: mpsc::Sender<E>,
    shutdown: CancellationToken,
    grace: Duration,
}

impl<E: Send + 'static> Shard<E> {
    /// The loop of one shard: feeds its core, drains its outputs, until shutdown is done.
    async fn serve<C: Core<Event = E>>(self, mut core: C, mut lane: Lane) -> (C, Lane) {
        let Shard {
            out,
            events,
            shutdown,
            grace,
        } = self;
        let mut sink = EventSink::new(events);
        let mut deadline: Option<TokioInstant> = None;
        // Pinned once and reset only when the core's next deadline changes: a timer entry
        // registered afresh on every turn was a visible share of the loop's cost.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep_until(TokioInstant::now() + IDLE_TIMER);
        tokio::pin!(timer);
        let mut armed: Option<TokioInstant> = None;
        loop {
            let next = core.poll_timeout().map(TokioInstant::from_std);
            if next != armed {
                if let Some(at) = next {
                    timer.as_mut().reset(at);
                }
                armed = next;
            }
            let waiting = sink.waiting().then(|| sink.events.clone());
            tokio::select! {
                biased;
                () = &mut cancelled, if deadline.is_none() => {
                    info!(?grace, "shutdown: refusing new work, waiting for work in flight");
                    deadline = Some(TokioInstant::now() + grace);
                    core.begin_shutdown(now());
                }
                () = sleep_until_some(deadline) => {
                    warn!(?grace, "shutdown: grace period over with work still in flight");
                    break;
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    core.handle_timeout(now());
                }
                Some(peer) = lane.errors.recv() => core.handle_transport_error(now(), peer),
                Some(inbound) = lane.inbound.recv() => {
                    core.handle_inbound(now(), inbound);
                    take_queued(&mut core, &mut lane, &out, &mut sink);
                }
                room = room_in(waiting) => match room {
                    Ok(permit) => sink.hand_on(permit),
                    Err(_) => sink.close(),
                },
            }
            out.flush(&mut core);
            sink.drain(&mut core);
            if deadline.is_some() && core.is_idle() {
                info!("shutdown: core idle");
                break;
            }
        }
        sink.finish().await;
        (core, lane)
    }
}

fn now() -> Instant {
    TokioInstant::now().into_std()
}

/// After one inbound message, the ones already queued behind it (up to [`INBOUND_BATCH`]) are
/// handled in the same turn, each flushed as it is done: a busy shard pays for one `select!`
/// per batch instead of per message.
fn take_queued<C: Core>(core: &mut C, lane: &mut Lane, out: &Out, sink: &mut EventSink<C::Event>) {
    out.flush(core);
    sink.drain(core);
    for _ in 1..INBOUND_BATCH {
        let Ok(inbound) = lane.inbound.try_recv() else {
            return;
        };
        core.handle_inbound(now(), inbound);
        out.flush(core);
        sink.drain(core);
    }
}

/// Waits for room in `events` (never, when nothing waits for it).
async fn room_in<E>(
    events: Option<mpsc::Sender<E>>,
) -> Result<mpsc::OwnedPermit<E>, mpsc::error::SendError<()>> {
    match events {
        Some(events) => events.reserve_owned().await,
        None => pending().await,
    }
}

async fn sleep_until_some(at: Option<TokioInstant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => pending().await,
    }
}

/// The socket services; the shards' lanes are handed out at start.
struct Io {
    out: Arc<Out>,
    tracker: TaskTracker,
    /// Stops receiving and accepting.
    stop: CancellationToken,
    /// Ends every connection and send loop at once.
    abort: CancellationToken,
}

/// The sending side every shard shares.
struct Out {
    udp: UdpRoutes,
    tcp: Arc<Tcp>,
}

impl Io {
    fn start(sockets: Sockets, shards: usize) -> (Io, Vec<Lane>) {
        let slots = sockets.slot_limits();
        let Sockets {
            udp,
            tcp,
            config,
            stats,
            gate,
        } = sockets;
        let (dispatch, lanes) = Dispatch::new(shards, config.inbound_queue);
        let tracker = TaskTracker::new();
        let stop = CancellationToken::new();
        let abort = CancellationToken::new();
        let udp = udp::start(
            udp,
            &dispatch,
            config.limits,
            &stats,
            &tracker,
            &stop,
            &abort,
        );
        let tcp_side = Tcp::new(TcpParts {
            limits: config.limits,
            idle_timeout: config.tcp_idle_timeout,
            message_timeout: config.tcp_message_timeout,
            gate,
            dispatch,
            stats,
            tracker: tracker.clone(),
            abort: abort.clone(),
        });
        tcp_side.listen(tcp, slots, &stop);
        let out = Arc::new(Out { udp, tcp: tcp_side });
        let io = Io {
            out,
            tracker,
            stop,
            abort,
        };
        (io, lanes)
    }

    /// Closes listeners and sockets, lets queued writes go out for a moment, then ends
    /// everything and waits for every task. The shards have stopped: `out` is the last
    /// handle on the send loops.
    async fn stop(self) {
        self.stop.cancel();
        self.out.tcp.close_all();
        let Io {
            out,
            tracker,
            abort,
            ..
        } = self;
        drop(out);
        tracker.close();
        if tokio::time::timeout(STOP_FLUSH, tracker.wait())
            .await
            .is_err()
        {
            debug!("stop: queued writes not done; aborting connections");
            abort.cancel();
            tracker.wait().await;
        }
        debug!("transport stopped");
    }
}

impl Out {
    /// Routes every pending transmit; a message no connection can take is reported back to
    /// the core at once, which may produce more transmits.
    fn flush<C: Core>(&self, core: &mut C) {
        loop {
            let mut undeliverable = Vec::new();
            while let Some(transmit) = core.poll_transmit() {
                if let Err(Undeliverable) = self.send(transmit.peer, transmit.bytes) {
                    undeliverable.push(transmit.peer);
                }
            }
            if undeliverable.is_empty() {
                return;
            }
            let now = now();
            for peer in undeliverable {
                core.handle_transport_error(now, peer);
            }
        }
    }

    fn send(&self, peer: Peer, bytes: Bytes) -> Result<(), Undeliverable> {
        match peer.transport {
            Transport::Udp => {
                self.udp.send(peer.addr, bytes);
                Ok(())
            }
            Transport::Tcp => self.tcp.send(peer.addr, bytes),
        }
    }
}

/// Hands core events on without ever making the loop wait: what the channel cannot take now
/// waits in `pending`, in order, and goes out as room appears. A waiting loop would stop
/// reading sockets, and the retransmissions that follow are how a busy SIP server collapses.
struct EventSink<E> {
    events: mpsc::Sender<E>,
    pending: VecDeque<E>,
    open: bool,
}

impl<E: Send> EventSink<E> {
    fn new(events: mpsc::Sender<E>) -> Self {
        EventSink {
            events,
            pending: VecDeque::new(),
            open: true,
        }
    }

    /// Takes every event the core has and sends what the channel takes now.
    fn drain<C: Core<Event = E>>(&mut self, core: &mut C) {
        while let Some(event) = core.poll_event() {
            if self.open {
                self.pending.push_back(event);
            }
        }
        self.push();
    }

    /// Events wait for room in the channel.
    fn waiting(&self) -> bool {
        self.open && !self.pending.is_empty()
    }

    /// Room appeared: the oldest waiting event takes it, the rest follow while there is room.
    fn hand_on(&mut self, permit: mpsc::OwnedPermit<E>) {
        if let Some(event) = self.pending.pop_front() {
            permit.send(event);
        }
        self.push();
    }

    /// Sends waiting events, oldest first, while the channel has room.
    fn push(&mut self) {
        while let Some(event) = self.pending.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => {
                    self.pending.push_front(event);
                    return;
                }
                Err(TrySendError::Closed(_)) => return self.close(),
            }
        }
    }

    fn close(&mut self) {
        if self.open {
            warn!("event receiver gone; discarding core events from now on");
        }
        self.open = false;
        self.pending.clear();
    }

    /// At stop, the loop is done: what still waits is sent, waiting for room as needed.
    async fn finish(mut self) {
        while let Some(event) = self.pending.pop_front() {
            if self.open && self.events.send(event).await.is_err() {
                self.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::transport::{TransportConfig, bind};

    /// After shutdown begins, fires `ticks` timers 10 ms apart with one event each and three
    /// more events on the last; idle once all have fired.
    struct TickCore {
        ticks: u32,
        fired: u32,
        /// `fired`, readable while the driver owns the core.
        seen: Arc<AtomicU32>,
        next: Option<Instant>,
        events: VecDeque<u32>,
    }

    impl Core for TickCore {
        type Event = u32;
        fn handle_inbound(&mut self, _: Instant, _: Inbound) {}
        fn handle_timeout(&mut self, now: Instant) {
            self.fired += 1;
            self.seen.store(self.fired, Ordering::Relaxed);
            self.events.push_back(self.fired);
            if self.fired < self.ticks {
                self.next = Some(now + Duration::from_millis(10));
            } else {
                self.next = None;
                self.events.extend([100, 101, 102]);
            }
        }
        fn handle_transport_error(&mut self, _: Instant, _: Peer) {}
        fn poll_transmit(&mut self) -> Option<Transmit> {
            None
        }
        fn poll_event(&mut self) -> Option<u32> {
            self.events.pop_front()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.next
        }
        fn begin_shutdown(&mut self, now: Instant) {
            self.next = Some(now);
        }
        fn is_idle(&self) -> bool {
            self.fired == self.ticks
        }
    }

    type Driver = tokio::task::JoinHandle<Result<TickCore, TransportError>>;

    /// A driver around a `TickCore` of `ticks`, shut down from the start, whose events go
    /// through a channel with room for one; the counter of fired timers beside it.
    async fn ticking(ticks: u32) -> (Driver, mpsc::Receiver<u32>, Arc<AtomicU32>) {
        let sockets = bind(&TransportConfig::default()).await.unwrap();
        let seen = Arc::new(AtomicU32::new(0));
        let core = TickCore {
            ticks,
            fired: 0,
            seen: Arc::clone(&seen),
            next: None,
            events: VecDeque::new(),
        };
        let (events, rx) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let driver = tokio::spawn(run(
            core,
            sockets,
            events,
            shutdown,
            Duration::from_secs(30),
        ));
        (driver, rx, seen)
    }

    #[tokio::test]
    async fn fires_timers_and_delivers_every_event_with_backpressure() {
        // Room for one event and a slow reader: nothing may be dropped.
        let (driver, mut rx, _) = ticking(3).await;
        let mut seen = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            seen.push(event);
            tokio::task::yield_now().await;
        }
        assert_eq!(seen, vec![1, 2, 3, 100, 101, 102]);
        let core = tokio::time::timeout(Duration::from_secs(5), driver)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(core.fired, 3);
    }

    /// The loop never waits for the event consumer: with room for one event and nobody
    /// reading, every timer still fires; the events then all arrive, in order.
    #[tokio::test]
    async fn a_slow_event_consumer_never_stalls_the_loop() {
        let (driver, mut rx, seen) = ticking(50).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.load(Ordering::Relaxed) < 50 {
            assert!(
                Instant::now() < deadline,
                "the loop stalled on a full event channel"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut got = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            got.push(event);
        }
        let expected: Vec<u32> = (1..=50).chain([100, 101, 102]).collect();
        assert_eq!(got, expected);
        assert!(driver.await.unwrap().is_ok());
    }
}
