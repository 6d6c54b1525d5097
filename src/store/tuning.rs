//! What the store writer is tuned with ([`WriterOptions`]) and what it reports when it stops
//! ([`WriterStats`]).

use std::time::Duration;

use rusqlite::Connection;

use super::batch::BatchOutcome;

/// Upper bound for [`WriterOptions::flush_interval`].
pub(super) const FLUSH_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// Page cache of the writer's connection, in KiB (SQLite's default is 2,000 KiB). A CDR
/// insert touches a leaf page of the table and of each of its indexes; with the default cache
/// most of those were read back from the OS on every batch (`pread`).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// WAL frames between automatic checkpoints (SQLite's default: 1,000, about 4 MB). A
/// checkpoint copies every page in the WAL back to the database and fsyncs it; at thousands
/// of calls per second the default ran one every few batches and took a tenth of the
/// writer's time, copying the same hot index pages again and again. 10,000 frames (about
/// 40 MB of WAL) copies each hot page once per ten times as many commits. Durability is the
/// same: a committed transaction is in the WAL file whether or not it has been checkpointed.
const WAL_AUTOCHECKPOINT_FRAMES: i64 = 10_000;

/// Tunes the writer's own connection (readers keep SQLite's defaults).
pub(super) fn tune_writer_connection(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_FRAMES)?;
    Ok(())
}

/// Tuning for [`super::spawn_writer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Commands the queue holds before `send` waits; at least 1.
    pub queue_capacity: usize,
    /// Most records (CDRs, leads, edits, snapshots) written in one transaction; at least 1.
    /// A call's live-row events (start, answer, dialogs) ride along without counting, up to
    /// four commands per record in all (see `writer::batch_weight`).
    pub batch_max_records: usize,
    /// How long the writer lingers after the first command of a batch to collect more
    /// (zero: write what is queued at once). Capped at one minute.
    pub flush_interval: Duration,
    /// An answered CDR marks its caller's missed calls this recent called back
    /// (`[tracking] callback_window_hours`).
    pub callback_window: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            batch_max_records: 256,
            flush_interval: Duration::from_millis(10),
            callback_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl WriterOptions {
    pub(super) fn normalized(self) -> Self {
        Self {
            queue_capacity: self.queue_capacity.max(1),
            batch_max_records: self.batch_max_records.max(1),
            flush_interval: self.flush_interval.min(FLUSH_INTERVAL_MAX),
            callback_window: self.callback_window,
        }
    }
}

/// What the writer did, returned by [`super::WriterHandle::shutdown`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriterStats {
    /// Commands applied (committed).
    pub commands: u64,
    /// Committed transactions.
    pub batches: u64,
    pub largest_batch: usize,
    /// CDR rows inserted.
    pub cdrs_written: u64,
    /// `CallEnded` for an id that already had a CDR.
    pub duplicate_cdrs: u64,
    /// `CallAnswered` for an id with no live row.
    pub unknown_answers: u64,
    /// Time spent applying and committing batches.
    pub commit_time_total: Duration,
    pub commit_time_max: Duration,
    /// Batch transactions that failed and were retried.
    pub failed_attempts: u64,
    /// Commands given up on at shutdown after repeated failures.
    pub lost_commands: u64,
}

impl WriterStats {
    pub(super) fn record(&mut self, commands: usize, outcome: BatchOutcome, took: Duration) {
        self.commands += commands as u64;
        self.batches += 1;
        self.largest_batch = self.largest_batch.max(commands);
        self.cdrs_written += outcome.cdrs_written;
        self.duplicate_cdrs += outcome.duplicate_cdrs;
        self.unknown_answers += outcome.unknown_answers;
        self.commit_time_total += took;
        self.commit_time_max = self.commit_time_max.max(took);
    }

    /// Mean time per committed batch.
    pub fn mean_commit_time(&self) -> Duration {
        match u32::try_from(self.batches) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.commit_time_total / n,
            Err(_) => Duration::ZERO,
        }
    }
}
