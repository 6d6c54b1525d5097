//! The media socket driver: a named service that binds each relayed stream's four UDP
//! sockets (RTP and RTCP facing the caller and the callee) when the table opens the stream,
//! hands them to one of its relay loops (`relay_loop`: OS threads, each serving many
//! streams from one epoll), tells the loop when a prompt starts, and has the loop close the
//! sockets when the table releases the stream (only then do its ports go back to the pool).
//! All loops stop with the service. Recordings are written while calls last by [`WRITERS`]
//! writer threads (`recording_writer`), each call always on the same one: the relay offers
//! each batch of packets to its writer's bounded queue and drops it, counted, when the queue
//! is full, so the relay never waits for a disk; a writer lays the batches out and rests
//! [`WRITER_PAUSE`] between drains of its queue, so offers seldom have to wake it. A call's last note waits for room; each outcome goes to
//! the store, which takes the CDR out of `pending`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::recording::{Batch, Note, RecordSink};
use super::recording_writer::Writer;
use super::relay_loop::{Command, LoopHandle, Served};
use super::stream::StreamPorts;
use super::table::{MediaTable, Opened};
use crate::call::recording::RecordingSettled;

/// Writer threads for recordings.
pub const WRITERS: usize = 2;
/// A writer rests this long after emptying its queue. The relay's offers then find it not
/// waiting and wake nobody: under load a writer wakes about 50 times a second, not once per
/// note. A call's end waits at most this long more for its file.
const WRITER_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
/// Notes queued per writer (a note is 200 ms of one call's packets, or 32 KiB of them).
const WRITER_QUEUE: usize = 2048;

/// A writer's queue: a note, or `None` to stop (files still open stay `.part`).
type WriterQueue = tokio::sync::mpsc::Sender<Option<Note>>;

/// Spent batches kept for the relay to fill again, at most this many (about 4 KB each): a
/// batch's buffers then never cross threads to be freed, and the relay seldom allocates.
const SPARE_BATCHES: usize = 256;

/// Batches the writers are done with, shared with the relay loops.
#[derive(Debug, Default)]
struct Spares(Mutex<Vec<Batch>>);

impl Spares {
    fn put(&self, batch: Batch) {
        let Ok(mut spares) = self.0.lock() else {
            return;
        };
        if spares.len() < SPARE_BATCHES {
            spares.push(batch);
        }
    }

    fn take(&self) -> Option<Batch> {
        self.0.lock().ok()?.pop()
    }
}

/// The writers' queues, as the recorded streams offer to them, and their spent batches.
#[derive(Debug)]
struct Writers {
    queues: Vec<WriterQueue>,
    spares: Arc<Spares>,
}

impl Writers {
    fn queue(&self, id: &str) -> &WriterQueue {
        let hash = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.queues[hash % self.queues.len()]
    }
}

impl RecordSink for Writers {
    fn offer(&self, note: Note) -> bool {
        let id = note.id().clone();
        self.queue(&id).try_send(Some(note)).is_ok()
    }

    fn spare(&self) -> Option<Batch> {
        self.spares.take()
    }
}

/// The relay's sockets and the loops that serve them.
pub struct MediaService {
    table: Arc<MediaTable>,
    bind_ip: IpAddr,
    /// Relay loops (threads) to start.
    loops: usize,
    wake: Arc<Notify>,
    /// Where written recordings are reported (their CDRs leave `pending`).
    sink: Option<Arc<dyn RecordingSink>>,
    writers: Arc<Writers>,
    queues: Vec<tokio::sync::mpsc::Receiver<Option<Note>>>,
}

/// Where the outcome of each recording's write goes: the store implements it through its
/// one writer (the media room never imports the store).
pub trait RecordingSink: Send + Sync + 'static {
    /// Call `id`'s recording ended up `settled`; resolves once queued (waiting for room).
    fn settled(
        &self,
        id: String,
        settled: RecordingSettled,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>>;
}

/// A recording's write, as it ended: the call's id and the outcome.
type Written = (String, RecordingSettled);

/// The running loops, and which one serves each open stream (by its caller-facing RTP port).
struct Loops {
    handles: Vec<LoopHandle>,
    /// Streams served by each loop.
    load: Vec<usize>,
    placed: HashMap<u16, usize>,
}

impl Loops {
    fn start(count: usize, closed: &tokio::sync::mpsc::UnboundedSender<StreamPorts>) -> Loops {
        let handles: Vec<LoopHandle> = (0..count.max(1))
            .filter_map(|index| match LoopHandle::spawn(index, closed.clone()) {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::error!(%error, "media relay loop not started");
                    None
                }
            })
            .collect();
        Loops {
            load: vec![0; handles.len()],
            handles,
            placed: HashMap::new(),
        }
    }

    /// Hands `served` to the least busy loop; false if no loop took it.
    fn open(&mut self, served: Served) -> bool {
        let port = served.ports.caller;
        let Some(at) = (0..self.handles.len()).min_by_key(|&at| self.load[at]) else {
            return false;
        };
        if !self.handles[at].send(Command::Open(Box::new(served))) {
            return false;
        }
        self.load[at] += 1;
        self.placed.insert(port, at);
        true
    }

    /// Asks the loop serving `port` to close its sockets; false if none serves it (any more).
    fn close(&mut self, port: u16) -> bool {
        match self.placed.get(&port) {
            Some(&at) if self.handles[at].send(Command::Close(port)) => true,
            _ => {
                self.closed(port);
                false
            }
        }
    }

    /// The stream on `port` has no sockets any more.
    fn closed(&mut self, port: u16) {
        if let Some(at) = self.placed.remove(&port) {
            self.load[at] = self.load[at].saturating_sub(1);
        }
    }

    fn prompt(&self, port: u16) {
        if let Some(&at) = self.placed.get(&port) {
            self.handles[at].send(Command::Prompt(port));
        }
    }

    /// Stops every loop and waits for their threads (off the runtime's workers).
    async fn stop(self) {
        let handles = self.handles;
        let joined = tokio::task::spawn_blocking(move || {
            for handle in handles {
                handle.stop();
            }
        });
        if joined.await.is_err() {
            tracing::warn!("media relay loops not joined");
        }
    }
}

impl MediaService {
    /// Attaches to `table`: from now on it queues streams for this service.
    pub fn new(table: Arc<MediaTable>, bind_ip: IpAddr) -> MediaService {
        let wake = Arc::new(Notify::new());
        let notify = wake.clone();
        table.attach(Box::new(move || notify.notify_one()));
        let (senders, queues) = (0..WRITERS)
            .map(|_| tokio::sync::mpsc::channel(WRITER_QUEUE))
            .unzip();
        let writers = Arc::new(Writers {
            queues: senders,
            spares: Arc::default(),
        });
        table.attach_sink(writers.clone());
        MediaService {
            table,
            bind_ip,
            loops: 1,
            wake,
            sink: None,
            writers,
            queues,
        }
    }

    /// Reports each written (or failed) recording to `sink` (the store), so its CDR says so.
    pub fn with_sink(mut self, sink: Arc<dyn RecordingSink>) -> MediaService {
        self.sink = Some(sink);
        self
    }

    /// Serves the streams from `loops` relay threads (at least one; default one).
    pub fn with_loops(mut self, loops: usize) -> MediaService {
        self.loops = loops.max(1);
        self
    }

    /// Runs until `stop` is cancelled, then closes every stream's sockets.
    pub async fn run(mut self, stop: CancellationToken) {
        let (done, mut written) = tokio::sync::mpsc::unbounded_channel::<Written>();
        let mut writers = self.start_writers(done);
        let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel::<StreamPorts>();
        let mut loops = Loops::start(self.loops, &closed_tx);
        drop(closed_tx);
        // Ended calls' last notes, waiting for room in their writer's queue.
        let mut ends: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                Some(ports) = closed.recv() => {
                    loops.closed(ports.caller);
                    self.table.sockets_closed(ports);
                }
                Some(outcome) = written.recv() => self.written(outcome).await,
                Some(_) = ends.join_next(), if !ends.is_empty() => {}
            }
            while let Some(opened) = self.table.poll_opened() {
                self.open(opened, &mut loops);
            }
            while let Some(end) = self.table.poll_recording() {
                let writers = self.writers.clone();
                ends.spawn(async move { end_recording(&writers, end).await });
            }
            while let Some(ports) = self.table.poll_prompting() {
                loops.prompt(ports.caller);
            }
            while let Some(ports) = self.table.poll_closing() {
                if !loops.close(ports.caller) {
                    self.table.sockets_closed(ports);
                }
            }
        }
        let streams = loops.placed.len();
        loops.stop().await;
        while ends.join_next().await.is_some() {}
        // Calls ended by the shutdown itself are written too; then the writers stop.
        while let Some(end) = self.table.poll_recording() {
            end_recording(&self.writers, end).await;
        }
        for queue in &self.writers.queues {
            let _ = queue.send(None).await;
        }
        while writers.join_next().await.is_some() {}
        while let Ok(outcome) = written.try_recv() {
            self.written(outcome).await;
        }
        tracing::debug!(streams, "media relay stopped");
    }

    /// One blocking thread per writer, each reporting the recordings it finished to `done`.
    fn start_writers(&mut self, done: tokio::sync::mpsc::UnboundedSender<Written>) -> JoinSet<()> {
        let mut writers = JoinSet::new();
        let dir = self.table.recordings_dir();
        for mut queue in std::mem::take(&mut self.queues) {
            let (dir, done) = (dir.clone(), done.clone());
            let spares = self.writers.spares.clone();
            writers.spawn_blocking(move || {
                let mut writer = Writer::new(&dir, wall_clock());
                while let Some(Some(note)) = queue.blocking_recv() {
                    let go_on = drain(&mut writer, note, &mut queue, &done, &spares);
                    if !go_on {
                        break;
                    }
                    std::thread::sleep(WRITER_PAUSE);
                }
                if writer.calls() > 0 {
                    tracing::warn!(
                        calls = writer.calls(),
                        "recordings left unfinished at shutdown"
                    );
                }
            });
        }
        writers
    }

    /// Binds a new stream's sockets and hands them to a loop; a stream whose sockets cannot
    /// be bound gets no audio, and its ports go back when the table releases it.
    fn open(&self, opened: Opened, loops: &mut Loops) {
        let ports = opened.ports;
        let sockets = match bind(self.bind_ip, ports) {
            Ok(sockets) => sockets,
            Err(error) => {
                tracing::warn!(%error, rtp_port = ports.caller, "media sockets not bound; the stream gets no audio");
                metrics::counter!("calltrack_media_bind_failures_total").increment(1);
                return;
            }
        };
        let served = Served {
            sockets,
            stream: opened.stream,
            ports,
        };
        if loops.open(served) {
            metrics::counter!("calltrack_media_streams_opened_total").increment(1);
        } else {
            tracing::warn!(
                rtp_port = ports.caller,
                "no media relay loop running; the stream gets no audio"
            );
        }
    }
}

/// One stream's four sockets, in the order of [`Served::sockets`] (non-blocking).
fn bind(ip: IpAddr, ports: StreamPorts) -> std::io::Result<[UdpSocket; 4]> {
    let bind = |port: u16| UdpSocket::bind(SocketAddr::new(ip, port));
    Ok([
        bind(ports.caller)?,
        bind(ports.caller.saturating_add(1))?,
        bind(ports.callee)?,
        bind(ports.callee.saturating_add(1))?,
    ])
}

/// Handles `first` and every note queued behind it; `false` once told to stop.
fn drain<F: Fn(Instant) -> std::time::Duration>(
    writer: &mut Writer<F>,
    first: Note,
    queue: &mut tokio::sync::mpsc::Receiver<Option<Note>>,
    done: &tokio::sync::mpsc::UnboundedSender<Written>,
    spares: &Spares,
) -> bool {
    let mut next = Some(first);
    while let Some(note) = next.take() {
        if let Some(outcome) = writer.handle_keeping(note, &mut |batch| spares.put(batch)) {
            let _ = done.send(outcome);
        }
        match queue.try_recv() {
            Ok(Some(note)) => next = Some(note),
            Ok(None) | Err(TryRecvError::Disconnected) => return false,
            Err(TryRecvError::Empty) => {}
        }
    }
    true
}

/// Hands a call's last note to its writer, waiting for room (it must not be lost).
async fn end_recording(writers: &Writers, end: Note) {
    let Note::End { id, .. } = &end else {
        return;
    };
    let queue = writers.queue(id).clone();
    if queue.send(Some(end)).await.is_err() {
        tracing::warn!("recording writer gone: the CDR stays pending until restart");
    }
}

/// A packet's arrival as time since the Unix epoch: the wall clock now, less how long ago.
fn wall_clock() -> impl Fn(Instant) -> std::time::Duration {
    let (at, wall) = (now(), SystemTime::now());
    let epoch = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    move |t| match t.checked_duration_since(at) {
        Some(after) => epoch + after,
        None => epoch.saturating_sub(at.saturating_duration_since(t)),
    }
}

impl MediaService {
    /// A write ended: counted, and its CDR told (waiting for room in the store's queue).
    async fn written(&self, (id, settled): Written) {
        match &settled {
            RecordingSettled::Recorded { .. } => {
                metrics::counter!("calltrack_media_recordings_total", "result" => "written")
                    .increment(1);
            }
            RecordingSettled::Failed(reason) => {
                metrics::counter!("calltrack_media_recordings_total", "result" => "failed")
                    .increment(1);
                metrics::counter!("calltrack_recordings_failed_total", "reason" => reason.as_str())
                    .increment(1);
            }
        }
        if let Some(sink) = &self.sink {
            if !sink.settled(id, settled).await {
                tracing::warn!("store closed: a recording's CDR stays pending until restart");
            }
        }
    }
}

/// The relay's clock: the relay loops read packets' arrival on the same one.
fn now() -> Instant {
    Instant::now()
}
