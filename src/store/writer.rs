//! The store writer, the one SQLite writer of the daemon: one dedicated thread owns the
//! connection and is fed by a bounded queue ([`super::commands`]); commands (call events,
//! lease snapshots, blacklist edits) are written in batches, one transaction per batch, in
//! queue order, and commands that wait for an answer get it after the commit.
//!
//! Invariants:
//! - Nothing is dropped while running: a full queue makes [`StoreSender::send`] wait
//!   (backpressure) and a failing transaction is retried with backoff.
//! - [`WriterHandle::shutdown`] closes the queue, writes everything already queued, then joins.
//!   Only a batch that still fails after shutdown was requested is given up (and reported).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::StoreError;
use super::batch::{BatchOutcome, apply_tracked};
use super::commands::{Answer, StoreCommand, StoreSender};
use super::live_rows::LiveRows;
use super::outbox::Outbox;
use super::outbox::enqueue::Enqueue;
use super::status::WriteMarks;
pub use super::tuning::{WriterOptions, WriterStats};

const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(50);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Attempts a failing batch gets once shutdown has been requested.
const SHUTDOWN_ATTEMPTS: u32 = 3;

/// Owner of the writer thread; call [`WriterHandle::shutdown`] last in the shutdown tree.
/// Dropping it without shutdown detaches the thread, which then runs until every sender is gone.
#[derive(Debug)]
pub struct WriterHandle {
    close: oneshot::Sender<()>,
    thread: JoinHandle<WriterStats>,
    marks: Arc<WriteMarks>,
}

/// Opens (and migrates) the database at `path` and starts the writer thread, with no export
/// destination listening.
pub fn spawn_writer(
    path: &std::path::Path,
    opts: WriterOptions,
) -> Result<(StoreSender, WriterHandle), StoreError> {
    spawn_writer_with(path, opts, Outbox::new(Vec::new()))
}

/// [`spawn_writer`] that fills `outbox` for its subscribed destinations and rings it after
/// each commit that added events or settled some.
pub fn spawn_writer_with(
    path: &std::path::Path,
    opts: WriterOptions,
    outbox: Arc<Outbox>,
) -> Result<(StoreSender, WriterHandle), StoreError> {
    let opts = opts.normalized();
    let conn = super::open(path)?;
    let (sender, queue) = StoreSender::channel(opts.queue_capacity);
    Ok((sender, WriterHandle::start(conn, queue, opts, outbox)?))
}

impl WriterHandle {
    fn start(
        conn: Connection,
        queue: mpsc::Receiver<StoreCommand>,
        opts: WriterOptions,
        outbox: Arc<Outbox>,
    ) -> Result<Self, StoreError> {
        super::tuning::tune_writer_connection(&conn)?;
        let live_rows = LiveRows::load(&conn)?;
        let sink = SqliteSink {
            conn,
            live_rows,
            commits: 0,
        };
        Self::start_sink(sink, queue, opts, outbox)
    }

    /// Starts the writer thread over any [`Sink`] (SQLite here, PostgreSQL in `store::pg`).
    pub(super) fn start_sink<S: Sink>(
        sink: S,
        queue: mpsc::Receiver<StoreCommand>,
        opts: WriterOptions,
        outbox: Arc<Outbox>,
    ) -> Result<Self, StoreError> {
        let (close, close_rx) = oneshot::channel();
        let marks = Arc::new(WriteMarks::default());
        marks.spooled(sink.spooled());
        let writer = Writer {
            seen_commits: sink.commits(),
            sink,
            queue,
            control: Control::Running(close_rx),
            opts: opts.normalized(),
            stats: WriterStats::default(),
            outbox,
            marks: Arc::clone(&marks),
        };
        // The runtime is built (and later dropped) on the writer thread itself: dropping a
        // runtime inside the caller's async context would panic.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("cdr-writer".into())
            .spawn(move || match writer_runtime() {
                Ok(runtime) => {
                    let _ = ready_tx.send(Ok(()));
                    writer.run(&runtime)
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    WriterStats::default()
                }
            })
            .map_err(StoreError::WriterStart)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StoreError::WriterStart(e)),
            Err(_) => return Err(StoreError::WriterPanicked),
        }
        Ok(Self {
            close,
            thread,
            marks,
        })
    }

    /// What the writer publishes for `/health`: its last commit to the store, its spool.
    pub fn marks(&self) -> Arc<WriteMarks> {
        Arc::clone(&self.marks)
    }

    /// Stops accepting commands, writes every queued one, and joins the thread. Blocks: call it
    /// from a blocking context (e.g. `tokio::task::spawn_blocking`).
    pub fn shutdown(self) -> Result<WriterStats, StoreError> {
        // An error means the thread already finished (all senders gone): nothing to signal.
        let _ = self.close.send(());
        let stats = self.thread.join().map_err(|_| StoreError::WriterPanicked)?;
        match stats.lost_commands {
            0 => Ok(stats),
            lost => Err(StoreError::Unflushed { lost }),
        }
    }
}

/// Most commands a batch holds per record it may write ([`Writer::fill`]): a call's start,
/// answer and dialogs beside its CDR.
const COMMANDS_PER_RECORD: usize = 4;

/// How much a command counts towards `batch_max_records`: a live-row event (start, answer,
/// dialogs) writes no record of its own (at most one folded live-row statement, often none,
/// see `live_fold`), so it counts 0; a CDR, lead, edit or snapshot counts 1.
fn batch_weight(cmd: &StoreCommand) -> usize {
    match cmd {
        StoreCommand::CallStarted(_)
        | StoreCommand::CallAnswered { .. }
        | StoreCommand::DialogsChanged { .. } => 0,
        _ => 1,
    }
}

/// Commands after which the delivery services should look at the outbox again.
fn rings_outbox(cmd: &StoreCommand) -> bool {
    matches!(
        cmd,
        StoreCommand::OutboxReplay { .. } | StoreCommand::OutboxSettle { .. }
    )
}

/// The writer thread's own single-threaded runtime: it only waits on the queue and timers.
fn writer_runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
}

/// Whether the handle asked the writer to stop.
#[derive(Debug)]
enum Control {
    Running(oneshot::Receiver<()>),
    /// Shutdown requested: the queue is closed and being drained.
    Closing,
    /// The handle was dropped: run until every sender is gone.
    Detached,
}

/// How filling a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filled {
    /// The batch holds commands and the queue is open.
    Open,
    /// The queue is closed and drained (the batch may hold its last commands).
    Closed,
    /// No command came within the sink's idle time: the batch is empty.
    Idle,
}

/// What the wait for a batch's first command ended with.
// Transient, one per batch (see `Woke`).
#[allow(clippy::large_enum_variant)]
enum First {
    /// A command, or None once the queue is closed and drained.
    Command(Option<StoreCommand>),
    /// The sink's idle time came first.
    Idle,
}

/// What woke the writer while it waited for a command.
// Transient, one per wake-up: boxing the command would cost an allocation per CDR.
#[allow(clippy::large_enum_variant)]
enum Woke {
    Command(Option<StoreCommand>),
    Control(Result<(), oneshot::error::RecvError>),
}

/// Where a writer's batches go: one transaction per batch, all or nothing, in queue order;
/// returns what the batch changed and, per command, its [`Answer`].
pub(super) trait Sink: Send + 'static {
    fn apply(
        &mut self,
        batch: &[StoreCommand],
        opts: &WriterOptions,
        events: &mut Enqueue<'_>,
    ) -> Result<(BatchOutcome, Vec<Answer>), StoreError>;

    /// How long the writer may wait for a command before it calls [`Sink::idle`]
    /// (`None`: the sink has nothing to do between batches).
    fn idle_in(&self) -> Option<Duration> {
        None
    }

    /// Work between batches while the queue is empty (PostgreSQL: reconnect, replay the
    /// spool).
    fn idle(&mut self, _opts: &WriterOptions) {}

    /// Transactions that reached the store so far. SQLite: every batch applied; PostgreSQL:
    /// batches and replayed spool chunks, not batches put in the spool.
    fn commits(&self) -> u64;

    /// Commands waiting in the sink's spool (`None`: it has none).
    fn spooled(&self) -> Option<usize> {
        None
    }
}

/// The SQLite database file.
struct SqliteSink {
    conn: Connection,
    /// Which calls have a committed live row (spares the statements that would find none).
    live_rows: LiveRows,
    commits: u64,
}

impl Sink for SqliteSink {
    fn apply(
        &mut self,
        batch: &[StoreCommand],
        opts: &WriterOptions,
        events: &mut Enqueue<'_>,
    ) -> Result<(BatchOutcome, Vec<Answer>), StoreError> {
        let window = opts.callback_window;
        let (outcome, changed) =
            apply_tracked(&mut self.conn, batch, window, events, &mut self.live_rows)?;
        self.commits += 1;
        Ok((outcome, changed.into_iter().map(Answer::Changed).collect()))
    }

    fn commits(&self) -> u64 {
        self.commits
    }
}

struct Writer<S> {
    sink: S,
    queue: mpsc::Receiver<StoreCommand>,
    control: Control,
    opts: WriterOptions,
    stats: WriterStats,
    outbox: Arc<Outbox>,
    marks: Arc<WriteMarks>,
    /// The sink's [`Sink::commits`] when the marks were last updated.
    seen_commits: u64,
}

impl<S: Sink> Writer<S> {
    fn run(mut self, runtime: &Runtime) -> WriterStats {
        let mut batch = Vec::with_capacity(self.opts.batch_max_records);
        loop {
            let filled = runtime.block_on(self.fill(&mut batch));
            if !batch.is_empty() {
                self.write(&mut batch);
            }
            if filled == Filled::Idle {
                // Outside the runtime: the sink's idle work blocks (a synchronous
                // PostgreSQL client runs a runtime of its own).
                self.sink.idle(&self.opts);
            }
            self.publish();
            if filled == Filled::Closed {
                tracing::info!(commands = self.stats.commands, "CDR writer stopped");
                return self.stats;
            }
        }
    }

    /// Waits for one command, then collects more until the batch is full or the flush
    /// interval has passed; [`Filled::Closed`] once the queue is closed and empty. What is
    /// already queued is taken without a timer (the common case under load); the timed
    /// wait is only for a queue that ran dry.
    ///
    /// "Full" counts records, not commands (see [`batch_weight`]): a call's live-row events
    /// ride in the batch of its records, so a batch at 256 records holds about 256 calls'
    /// events (one transaction instead of four), with at most [`COMMANDS_PER_RECORD`] times
    /// `batch_max_records` commands.
    async fn fill(&mut self, batch: &mut Vec<StoreCommand>) -> Filled {
        let first = match self.first().await {
            First::Command(Some(cmd)) => cmd,
            First::Command(None) => return Filled::Closed,
            First::Idle => return Filled::Idle,
        };
        let mut records = batch_weight(&first);
        batch.push(first);
        let deadline = Instant::now() + self.opts.flush_interval;
        let max = self.opts.batch_max_records;
        while records < max && batch.len() < max.saturating_mul(COMMANDS_PER_RECORD) {
            match self.queue.try_recv() {
                Ok(cmd) => {
                    records += batch_weight(&cmd);
                    batch.push(cmd);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return Filled::Closed,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Some(cmd)) => {
                    records += batch_weight(&cmd);
                    batch.push(cmd);
                }
                Ok(None) => return Filled::Closed,
                Err(_elapsed) => break,
            }
        }
        Filled::Open
    }

    /// The first command of a batch, or [`First::Idle`] when the sink's idle time
    /// ([`Sink::idle_in`]) passed first.
    async fn first(&mut self) -> First {
        let Some(wait) = self.sink.idle_in() else {
            return First::Command(self.next().await);
        };
        // `next` is cancel-safe: a command is either returned or still queued.
        match tokio::time::timeout(wait, self.next()).await {
            Ok(cmd) => First::Command(cmd),
            Err(_elapsed) => First::Idle,
        }
    }

    /// The next command, or None once the queue is closed and drained.
    async fn next(&mut self) -> Option<StoreCommand> {
        if let Control::Running(close) = &mut self.control {
            let woke = tokio::select! {
                biased;
                signal = close => Woke::Control(signal),
                cmd = self.queue.recv() => Woke::Command(cmd),
            };
            match woke {
                Woke::Command(cmd) => return cmd,
                Woke::Control(signal) => self.on_control(signal),
            }
        }
        self.queue.recv().await
    }

    fn on_control(&mut self, signal: Result<(), oneshot::error::RecvError>) {
        if signal.is_ok() {
            tracing::info!(
                queued = self.queue.len(),
                "CDR writer draining for shutdown"
            );
            self.queue.close();
            self.control = Control::Closing;
        } else {
            self.control = Control::Detached;
        }
    }

    /// Notices a shutdown request without waiting (used between retries).
    fn poll_control(&mut self) {
        if let Control::Running(close) = &mut self.control {
            match close.try_recv() {
                Ok(()) => self.on_control(Ok(())),
                Err(oneshot::error::TryRecvError::Empty) => {}
                Err(oneshot::error::TryRecvError::Closed) => self.control = Control::Detached,
            }
        }
    }

    /// Applies the batch, retrying with backoff until it commits (or shutdown gives up), then
    /// answers the commands that wait; leaves `batch` empty.
    /// Marks a commit that reached the store since the last look, and the spool's depth.
    fn publish(&mut self) {
        let commits = self.sink.commits();
        if commits != self.seen_commits {
            self.seen_commits = commits;
            self.marks.committed(jiff::Timestamp::now());
        }
        self.marks.spooled(self.sink.spooled());
    }

    fn write(&mut self, batch: &mut Vec<StoreCommand>) {
        let mut backoff = RETRY_BACKOFF_MIN;
        let subscriptions = self.outbox.subscriptions();
        for attempt in 1.. {
            let started = std::time::Instant::now();
            let mut events = Enqueue::new(&subscriptions, jiff::Timestamp::now());
            let applied = self.sink.apply(batch, &self.opts, &mut events);
            let error = match applied {
                Ok((outcome, changed)) => {
                    if events.added > 0 || batch.iter().any(rings_outbox) {
                        self.outbox.ring();
                    }
                    let took = started.elapsed();
                    metrics::histogram!("calltrack_cdr_write_seconds").record(took.as_secs_f64());
                    crate::telemetry::metrics::cdr_queue_depth(self.queue.len());
                    self.stats.record(batch.len(), outcome, took);
                    for (cmd, answer) in batch.drain(..).zip(changed) {
                        cmd.settle(answer);
                    }
                    return;
                }
                Err(error) => error,
            };
            self.stats.failed_attempts += 1;
            tracing::error!(%error, attempt, commands = batch.len(), "CDR batch write failed, retrying");
            self.poll_control();
            if matches!(self.control, Control::Closing) && attempt >= SHUTDOWN_ATTEMPTS {
                tracing::error!(commands = batch.len(), "CDR batch abandoned at shutdown");
                self.stats.lost_commands += batch.len() as u64;
                batch.clear();
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
    use crate::store::{open, query};

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn cdr(i: usize) -> CallDetailRecord {
        let end = ts("2026-11-23T03:20:20Z");
        CallDetailRecord::from_live(&live(i), end, Disposition::Busy, 486, HangupSide::Callee)
    }

    fn live(i: usize) -> LiveCall {
        LiveCall {
            id: format!("{i:016x}"),
            call_id: format!("c{i}@carrier"),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:sales@pbx.example".into(),
            started_at: ts("2026-11-23T03:20:00Z"),
            answered_at: None,
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        }
    }

    fn opts(batch_max_records: usize) -> WriterOptions {
        WriterOptions {
            queue_capacity: 64,
            batch_max_records,
            flush_interval: Duration::ZERO,
            ..WriterOptions::default()
        }
    }

    /// Queues `n` CDRs before the thread starts, so batching is deterministic.
    fn prefilled(
        path: &std::path::Path,
        n: usize,
        batch_max: usize,
    ) -> (StoreSender, WriterHandle) {
        let (sender, queue) = StoreSender::channel(64);
        for i in 0..n {
            sender.try_send(StoreCommand::CallEnded(cdr(i))).unwrap();
        }
        assert_eq!(sender.queue_depth(), n);
        let outbox = Outbox::new(Vec::new());
        let handle =
            WriterHandle::start(open(path).unwrap(), queue, opts(batch_max), outbox).unwrap();
        (sender, handle)
    }

    #[test]
    fn queued_commands_are_written_in_bounded_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        let (_sender, handle) = prefilled(&path, 10, 4);
        let stats = handle.shutdown().unwrap();
        assert_eq!(
            (stats.commands, stats.batches, stats.largest_batch),
            (10, 3, 4)
        );
        assert_eq!(query::count(&open(&path).unwrap()).unwrap(), 10);
    }

    /// A call's live-row events ride in the batch of its CDR: they do not count as records.
    #[test]
    fn live_row_events_do_not_count_towards_the_batch_size() {
        let dir = tempfile::tempdir().unwrap();
        let (sender, queue) = StoreSender::channel(64);
        let commands = [
            StoreCommand::CallStarted(live(0)),
            StoreCommand::CallStarted(live(1)),
            StoreCommand::CallEnded(cdr(0)),
            StoreCommand::CallEnded(cdr(1)),
            StoreCommand::CallEnded(cdr(2)),
        ];
        for cmd in commands {
            sender.try_send(cmd).unwrap();
        }
        let conn = open(&dir.path().join("cdr.sqlite")).unwrap();
        let handle = WriterHandle::start(conn, queue, opts(2), Outbox::new(Vec::new())).unwrap();
        let stats = handle.shutdown().unwrap();
        assert_eq!(
            (stats.commands, stats.batches, stats.largest_batch),
            (5, 2, 4)
        );
    }

    #[test]
    fn shutdown_drains_even_while_senders_live_then_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        let (sender, handle) = prefilled(&path, 5, 100);
        let stats = handle.shutdown().unwrap();
        assert_eq!(stats.cdrs_written, 5);
        assert!(sender.is_closed());
        assert!(sender.try_send(StoreCommand::CallEnded(cdr(99))).is_err());
    }

    #[test]
    fn duplicate_call_ended_is_counted_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        let (sender, handle) = prefilled(&path, 1, 100);
        sender.try_send(StoreCommand::CallEnded(cdr(0))).unwrap();
        let stats = handle.shutdown().unwrap();
        assert_eq!((stats.cdrs_written, stats.duplicate_cdrs), (1, 1));
    }

    #[test]
    fn a_batch_that_keeps_failing_is_reported_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        open(&path)
            .unwrap()
            .execute_batch("DROP TABLE cdr")
            .unwrap();
        let (_sender, handle) = prefilled(&path, 2, 100);
        assert!(matches!(
            handle.shutdown(),
            Err(StoreError::Unflushed { lost: 2 })
        ));
    }

    /// A sink with work between batches (three idle rounds), counting what it is given.
    struct IdleSink {
        idles: Arc<std::sync::atomic::AtomicUsize>,
        applied: Arc<std::sync::atomic::AtomicUsize>,
        batches: u64,
    }

    impl Sink for IdleSink {
        fn apply(
            &mut self,
            batch: &[StoreCommand],
            _opts: &WriterOptions,
            _events: &mut Enqueue<'_>,
        ) -> Result<(BatchOutcome, Vec<Answer>), StoreError> {
            use std::sync::atomic::Ordering::SeqCst;
            self.applied.fetch_add(batch.len(), SeqCst);
            self.batches += 1;
            Ok((
                BatchOutcome::default(),
                vec![Answer::Changed(true); batch.len()],
            ))
        }

        fn commits(&self) -> u64 {
            self.batches
        }

        /// Pretends each idle round put one command in a spool.
        fn spooled(&self) -> Option<usize> {
            Some(self.idles.load(std::sync::atomic::Ordering::SeqCst))
        }

        fn idle_in(&self) -> Option<Duration> {
            let done = self.idles.load(std::sync::atomic::Ordering::SeqCst);
            (done < 3).then_some(Duration::from_millis(1))
        }

        fn idle(&mut self, _opts: &WriterOptions) {
            self.idles.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The sink's idle work runs while the queue is empty, off the writer's runtime, and
    /// stops when the sink has none; commands are written as before.
    #[test]
    fn a_sink_gets_its_idle_rounds_while_the_queue_is_empty() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let (idles, applied) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let sink = IdleSink {
            idles: Arc::clone(&idles),
            applied: Arc::clone(&applied),
            batches: 0,
        };
        let (sender, queue) = StoreSender::channel(8);
        let handle =
            WriterHandle::start_sink(sink, queue, opts(4), Outbox::new(Vec::new())).unwrap();
        let status = crate::store::status::StoreStatus::new(
            crate::store::status::BackendName::Postgres,
            "n",
            handle.marks(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while idles.load(SeqCst) < 3 {
            assert!(std::time::Instant::now() < deadline, "no idle rounds");
            std::thread::sleep(Duration::from_millis(1));
        }
        let before = status.read(jiff::Timestamp::now());
        assert_eq!(before.last_write_age, None, "idle rounds commit nothing");
        sender.try_send(StoreCommand::CallEnded(cdr(1))).unwrap();
        handle.shutdown().unwrap();
        assert_eq!((idles.load(SeqCst), applied.load(SeqCst)), (3, 1));
        let after = status.read(jiff::Timestamp::now());
        assert!(after.last_write_age.is_some(), "the batch was committed");
        assert_eq!(
            after.spooled,
            Some(3),
            "the sink's spool depth is published"
        );
    }

    #[test]
    fn try_send_hands_the_command_back_when_full() {
        let (sender, _queue) = StoreSender::channel(1);
        sender.try_send(StoreCommand::CallEnded(cdr(1))).unwrap();
        let back = sender
            .try_send(StoreCommand::CallEnded(cdr(2)))
            .unwrap_err();
        assert!(matches!(back, StoreCommand::CallEnded(c) if c == cdr(2)));
        assert_eq!(sender.queue_depth(), 1);
    }

    #[test]
    fn options_are_clamped_to_usable_values() {
        let o = WriterOptions {
            queue_capacity: 0,
            batch_max_records: 0,
            flush_interval: Duration::MAX,
            ..WriterOptions::default()
        }
        .normalized();
        assert_eq!((o.queue_capacity, o.batch_max_records), (1, 1));
        assert_eq!(o.flush_interval, super::super::tuning::FLUSH_INTERVAL_MAX);
    }

    /// Blacklist edits and lease snapshots are answered only once committed: a reader sees
    /// them as soon as the answer arrives.
    #[tokio::test]
    async fn requests_are_answered_after_their_commit() {
        use crate::store::{blacklist, leases};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.sqlite");
        let (sender, handle) = spawn_writer(&path, opts(8)).unwrap();
        let reader = open(&path).unwrap();
        let add = |pattern: &str| {
            let pattern = pattern.to_owned();
            move |done| StoreCommand::BlacklistAdd {
                pattern,
                added_at: "2026-11-23T03:20:00Z".parse().unwrap(),
                done,
            }
        };
        assert!(sender.request(add("7800*")).await.unwrap(), "new");
        assert_eq!(blacklist::load(&reader).unwrap(), ["7800*"]);
        assert!(
            !sender.request(add("7800*")).await.unwrap(),
            "already stored"
        );
        let remove = |done| StoreCommand::BlacklistRemove {
            pattern: "7800*".into(),
            done,
        };
        assert!(sender.request(remove).await.unwrap());
        assert!(blacklist::load(&reader).unwrap().is_empty());
        let save = |done| StoreCommand::SaveLeases {
            snapshot: Default::default(),
            done,
        };
        sender.request(save).await.unwrap();
        assert!(leases::load_leases(&reader).unwrap().is_empty());
        drop(sender);
        let stats = tokio::task::spawn_blocking(move || handle.shutdown())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.commands, 4);
    }
}
