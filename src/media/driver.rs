//! The media socket driver, the one file of `media/` that uses tokio: a named service that
//! binds each relayed stream's four UDP sockets (RTP and RTCP facing the caller and the
//! callee) when the table opens the stream, feeds every packet with its arrival time into the
//! stream's sans-IO state, sends it where the state says, and closes the sockets when the
//! table releases the stream (only then do its ports go back to the pool). Each stream is
//! served by one task of the service's own `JoinSet`: at most one per stream, so the port
//! range bounds them; all of them stop with the service. Recordings are written while calls
//! last by [`WRITERS`] writer threads (`recording_writer`), each call always on the same one:
//! a stream's task offers each piece to its writer's bounded queue and drops it, counted, when
//! the queue is full, so the relay never waits for a disk. A call's last note waits for room;
//! each outcome goes to the store, which takes the CDR out of `pending`. A prompt
//! (`MediaTable::play`) wakes its stream's task, which sends each packet when the stream's
//! player says it is due.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::recording::{Note, RecordSink};
use super::recording_writer::Writer;
use super::stream::{Side, Socket, StreamPorts};
use super::table::{MediaTable, Opened, SharedStream};
use crate::call::recording::RecordingSettled;

/// Largest datagram relayed (RTP over Ethernet stays well below).
const MAX_DATAGRAM: usize = 2048;
/// Writer threads for recordings.
pub const WRITERS: usize = 2;
/// Notes queued per writer (a WAV note is 200 ms of one call, a pcap note one packet).
const WRITER_QUEUE: usize = 2048;

/// A writer's queue: a note, or `None` to stop (files still open stay `.part`).
type WriterQueue = tokio::sync::mpsc::Sender<Option<Note>>;

/// The writers' queues, as the recorded streams offer to them.
#[derive(Debug)]
struct Writers(Vec<WriterQueue>);

impl Writers {
    fn queue(&self, id: &str) -> &WriterQueue {
        let hash = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        &self.0[hash % self.0.len()]
    }
}

impl RecordSink for Writers {
    fn offer(&self, note: Note) -> bool {
        let id = match &note {
            Note::Piece { id, .. } | Note::End { id, .. } => id.clone(),
        };
        self.queue(&id).try_send(Some(note)).is_ok()
    }
}

/// The relay's sockets and their tasks.
pub struct MediaService {
    table: Arc<MediaTable>,
    bind_ip: IpAddr,
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

/// A stream's task, while it runs.
struct Running {
    stop: CancellationToken,
    ports: StreamPorts,
    /// Wakes the task when a prompt starts.
    prompt: Arc<Notify>,
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
        let writers = Arc::new(Writers(senders));
        table.attach_sink(writers.clone());
        MediaService {
            table,
            bind_ip,
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

    /// Runs until `stop` is cancelled, then closes every stream's sockets.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut tasks: JoinSet<StreamPorts> = JoinSet::new();
        let (done, mut written) = tokio::sync::mpsc::unbounded_channel::<Written>();
        let mut writers = self.start_writers(done);
        // Ended calls' last notes, waiting for room in their writer's queue.
        let mut ends: JoinSet<()> = JoinSet::new();
        let mut running: HashMap<u16, Running> = HashMap::new();
        // Streams whose sockets are gone before the table asked (bind failure, socket error).
        let mut gone: HashSet<u16> = HashSet::new();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok(ports) = ended {
                        self.on_task_end(ports, &mut running, &mut gone);
                    }
                }
                Some(outcome) = written.recv() => self.written(outcome).await,
                Some(_) = ends.join_next(), if !ends.is_empty() => {}
            }
            while let Some(opened) = self.table.poll_opened() {
                self.open(opened, &stop, &mut tasks, &mut running, &mut gone)
                    .await;
            }
            while let Some(end) = self.table.poll_recording() {
                let writers = self.writers.clone();
                ends.spawn(async move { end_recording(&writers, end).await });
            }
            while let Some(ports) = self.table.poll_prompting() {
                if let Some(task) = running.get(&ports.caller) {
                    task.prompt.notify_one();
                }
            }
            while let Some(ports) = self.table.poll_closing() {
                match running.get(&ports.caller) {
                    Some(task) => task.stop.cancel(),
                    None => {
                        gone.remove(&ports.caller);
                        self.table.sockets_closed(ports);
                    }
                }
            }
        }
        tasks.shutdown().await;
        while ends.join_next().await.is_some() {}
        // Calls ended by the shutdown itself are written too; then the writers stop.
        while let Some(end) = self.table.poll_recording() {
            end_recording(&self.writers, end).await;
        }
        for queue in &self.writers.0 {
            let _ = queue.send(None).await;
        }
        while writers.join_next().await.is_some() {}
        while let Ok(outcome) = written.try_recv() {
            self.written(outcome).await;
        }
        tracing::debug!(streams = running.len(), "media relay stopped");
    }

    /// One blocking thread per writer, each reporting the recordings it finished to `done`.
    fn start_writers(&mut self, done: tokio::sync::mpsc::UnboundedSender<Written>) -> JoinSet<()> {
        let mut writers = JoinSet::new();
        let dir = self.table.recordings_dir();
        for mut queue in std::mem::take(&mut self.queues) {
            let (dir, done) = (dir.clone(), done.clone());
            writers.spawn_blocking(move || {
                let mut writer = Writer::new(&dir, wall_clock());
                while let Some(Some(note)) = queue.blocking_recv() {
                    if let Some(outcome) = writer.handle(note) {
                        let _ = done.send(outcome);
                    }
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

    /// A task ended: its sockets are closed. If the table asked for it (the stream is
    /// released), the ports go back; if not, they wait for the release.
    fn on_task_end(
        &self,
        ports: StreamPorts,
        running: &mut HashMap<u16, Running>,
        gone: &mut HashSet<u16>,
    ) {
        let Some(task) = running.remove(&ports.caller) else {
            return;
        };
        if task.stop.is_cancelled() {
            self.table.sockets_closed(task.ports);
        } else {
            gone.insert(ports.caller);
        }
    }

    async fn open(
        &self,
        opened: Opened,
        stop: &CancellationToken,
        tasks: &mut JoinSet<StreamPorts>,
        running: &mut HashMap<u16, Running>,
        gone: &mut HashSet<u16>,
    ) {
        let ports = opened.ports;
        match Sockets::bind(self.bind_ip, ports).await {
            Ok(sockets) => {
                let task_stop = stop.child_token();
                let prompt = Arc::new(Notify::new());
                running.insert(
                    ports.caller,
                    Running {
                        stop: task_stop.clone(),
                        ports,
                        prompt: prompt.clone(),
                    },
                );
                let wake = Wake {
                    stop: task_stop,
                    prompt,
                };
                tasks.spawn(serve(sockets, opened.stream, wake, ports));
                metrics::counter!("calltrack_media_streams_opened_total").increment(1);
            }
            Err(error) => {
                tracing::warn!(%error, rtp_port = ports.caller, "media sockets not bound; the stream gets no audio");
                metrics::counter!("calltrack_media_bind_failures_total").increment(1);
                gone.insert(ports.caller);
            }
        }
    }
}

/// One stream's four sockets, indexed like [`socket_index`].
struct Sockets([UdpSocket; 4]);

impl Sockets {
    async fn bind(ip: IpAddr, ports: StreamPorts) -> std::io::Result<Sockets> {
        let bind = |port: u16| UdpSocket::bind(SocketAddr::new(ip, port));
        let caller_rtp = bind(ports.caller).await?;
        let caller_rtcp = bind(ports.caller.saturating_add(1)).await?;
        let callee_rtp = bind(ports.callee).await?;
        let callee_rtcp = bind(ports.callee.saturating_add(1)).await?;
        Ok(Sockets([caller_rtp, caller_rtcp, callee_rtp, callee_rtcp]))
    }

    fn get(&self, socket: Socket) -> &UdpSocket {
        &self.0[socket_index(socket)]
    }
}

const SOCKETS: [Socket; 4] = [
    Socket {
        facing: Side::Caller,
        rtcp: false,
    },
    Socket {
        facing: Side::Caller,
        rtcp: true,
    },
    Socket {
        facing: Side::Callee,
        rtcp: false,
    },
    Socket {
        facing: Side::Callee,
        rtcp: true,
    },
];

fn socket_index(socket: Socket) -> usize {
    usize::from(socket.facing == Side::Callee) * 2 + usize::from(socket.rtcp)
}

/// What ends or wakes a stream's task besides its packets.
struct Wake {
    stop: CancellationToken,
    /// A prompt started (`MediaTable::play`).
    prompt: Arc<Notify>,
}

/// Relays one stream's packets until `stop`, and paces its prompt; returns its ports.
async fn serve(
    sockets: Sockets,
    stream: SharedStream,
    wake: Wake,
    ports: StreamPorts,
) -> StreamPorts {
    let mut buf = [[0u8; MAX_DATAGRAM]; 4];
    loop {
        let [b0, b1, b2, b3] = &mut buf;
        let [s0, s1, s2, s3] = &sockets.0;
        let due = lock(&stream).prompt_due();
        let until = tokio::time::Instant::from_std(due.unwrap_or_else(now));
        let (index, received) = tokio::select! {
            () = wake.stop.cancelled() => break,
            () = wake.prompt.notified() => continue,
            () = tokio::time::sleep_until(until), if due.is_some() => {
                send_prompt(&sockets, &stream).await;
                continue;
            }
            r = s0.recv_from(b0) => (0, r),
            r = s1.recv_from(b1) => (1, r),
            r = s2.recv_from(b2) => (2, r),
            r = s3.recv_from(b3) => (3, r),
        };
        let (len, source) = match received {
            Ok(got) => got,
            Err(error) => {
                tracing::debug!(%error, "media socket receive failed");
                continue;
            }
        };
        let packet = &buf[index][..len];
        let forward = lock(&stream).handle_packet(now(), SOCKETS[index], source, packet);
        if let Some(forward) = forward {
            if let Err(error) = sockets.get(forward.from).send_to(packet, forward.to).await {
                tracing::debug!(%error, to = %forward.to, "media packet not sent");
            }
        }
    }
    ports
}

fn lock(stream: &SharedStream) -> std::sync::MutexGuard<'_, super::stream::StreamRelay> {
    stream
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends the prompt packets now due, out of the caller-facing RTP socket.
async fn send_prompt(sockets: &Sockets, stream: &SharedStream) {
    let due: Vec<(Vec<u8>, SocketAddr)> = {
        let mut state = lock(stream);
        std::iter::from_fn(|| state.poll_prompt(now())).collect()
    };
    let socket = sockets.get(SOCKETS[0]);
    for (packet, to) in due {
        if let Err(error) = socket.send_to(&packet, to).await {
            tracing::debug!(%error, %to, "prompt packet not sent");
        }
    }
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

/// The relay's clock (tokio's, so a paused test clock drives it too).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
