//! What the one SQLite writer is asked to do, and the sending side of its bounded queue.
//!
//! Call events are fire-and-forget (the pipeline never waits for SQLite). Commands that carry a
//! [`Reply`] (lease snapshots, blacklist edits, leads) are answered only after the transaction that
//! holds them has committed; a command given up at shutdown drops its reply unanswered.

use jiff::Timestamp;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::leads::{LeadPatch, NewLead, UniqueWindow};
use super::outbox::admin::Replay;
use super::outbox::delivery::Settled;
use crate::call::live_dialog::CallDialogs;
use crate::call::record::{CallDetailRecord, LiveCall};
use crate::lease::{LeaseSnapshot, PoolUsageSample};

/// Answered by the writer once the command's transaction has committed.
pub type Reply<T> = oneshot::Sender<T>;

/// Whether a stored lead is first-time: judged in the transaction that wrote it, or not yet,
/// for a lead the PostgreSQL writer kept in its spool while the server was unreachable (it
/// is judged when the spool is replayed, against every lead and call stored by then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstTime {
    Judged(bool),
    Pending,
}

/// What the writer does with one command of a written batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Committed; whether it changed a row.
    Changed(bool),
    /// Kept in a spool, written when the store returns.
    Spooled,
    /// Not written: dropped unanswered, so its caller gets [`StoreError::NotCommitted`].
    Refused,
}

/// One change to the store.
// One `CallStarted` and one `CallEnded` per call: boxing the record would add an allocation
// per call for no saving (see `CallEvent`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum StoreCommand {
    /// Inserts a `live_calls` row (recovered as `interrupted` if the process dies).
    CallStarted(LiveCall),
    /// Sets `answered_at` on the live row.
    CallAnswered { id: String, answered_at: Timestamp },
    /// Inserts the CDR (ignored if one with this id exists) and deletes the live row.
    CallEnded(CallDetailRecord),
    /// Stores both legs' dialogs on the live row (crash recovery hangs them up).
    DialogsChanged { id: String, dialogs: CallDialogs },
    /// Replaces the saved lease table with this snapshot (sent by the lease sweeper).
    SaveLeases {
        snapshot: LeaseSnapshot,
        done: Reply<()>,
    },
    /// Stores a blacklist pattern added through the admin API; answers whether it was new.
    BlacklistAdd {
        pattern: String,
        added_at: Timestamp,
        done: Reply<bool>,
    },
    /// Removes a stored blacklist pattern; answers whether it was stored.
    BlacklistRemove { pattern: String, done: Reply<bool> },
    /// Changes a CDR's tags, note or deal and sets its `updated_at`; answers whether a CDR
    /// with this id exists.
    PatchCall {
        id: String,
        change: super::calls::CallChange,
        at: Timestamp,
        done: Reply<bool>,
    },
    /// Stores pool usage samples and prunes those before `prune_before` (usage sampler).
    SavePoolUsage {
        samples: Vec<PoolUsageSample>,
        prune_before: Timestamp,
        done: Reply<()>,
    },
    /// Replaces the costs of every `(day, site)` the rows name (a checked import).
    ReplaceCosts {
        rows: Vec<super::costs::CostRow>,
        imported_at: Timestamp,
        done: Reply<bool>,
    },
    /// Stores a lead from the snippet API; answers whether it is first-time (judged in the
    /// same transaction against earlier leads and calls within `window`).
    InsertLead {
        lead: Box<NewLead>,
        window: UniqueWindow,
        done: Reply<FirstTime>,
    },
    /// Changes a lead's tags, note or deal; answers whether the lead exists.
    PatchLead {
        id: String,
        patch: LeadPatch,
        at: Timestamp,
        done: Reply<bool>,
    },
    /// Stores how delivery attempts of outbox events ended (an export delivery service).
    OutboxSettle {
        settled: Vec<Settled>,
        done: Reply<()>,
    },
    /// Records Metrica uploads and their last status (the Metrica status poll).
    MetricaUploads {
        uploads: Vec<super::outbox::metrica_uploads::UploadRecord>,
        done: Reply<()>,
    },
    /// Puts outbox events back to pending (`calltrack outbox replay`, admin API); answers
    /// whether any matched.
    OutboxReplay {
        replay: Replay,
        at: Timestamp,
        done: Reply<bool>,
    },
    /// Deletes delivered outbox events settled before `before` (`keep_delivered_days`).
    OutboxPrune { before: Timestamp, done: Reply<()> },
    /// A pending recording was written (or not): the CDR gets its file or its reason, once
    /// (see `store::recordings`).
    /// A CDR that changes is announced as `call.updated` at `at`.
    RecordingSettled {
        id: String,
        settled: crate::call::recording::RecordingSettled,
        at: Timestamp,
    },
    /// The recordings janitor is about to remove these calls' files: their CDRs become
    /// `expired` for `reason` before any file goes.
    RecordingsExpired {
        ids: Vec<String>,
        reason: crate::call::recording::RecordingReason,
        done: Reply<()>,
    },
    /// How a transcription attempt of a call's recording ended (the speech service).
    Transcribed {
        call_id: String,
        outcome: super::transcripts::SpeechOutcome,
        at: Timestamp,
        done: Reply<()>,
    },
    /// A call transcribed while no model applied, scored after one was kept: stored only if
    /// the call is still unscored (then `call.scored` is owed, exactly once).
    Rescored {
        call_id: String,
        score: crate::call::scoring::Score,
        at: Timestamp,
        done: Reply<()>,
    },
    /// A training of the call scorer (the nightly job): the model, and whether it becomes
    /// the current one.
    SaveScoringModel {
        model: Box<crate::call::scoring::ScoringModel>,
        kept: bool,
        at: Timestamp,
        done: Reply<()>,
    },
}

impl StoreCommand {
    /// Answers the caller as `answer` says; a caller that stopped waiting is no error.
    pub(super) fn settle(self, answer: Answer) {
        match answer {
            Answer::Changed(changed) => self.answer(changed),
            Answer::Spooled => self.answer_spooled(),
            Answer::Refused => {}
        }
    }

    /// Answers a command kept in a spool: a lead is not judged yet; the spool keeps nothing
    /// else that answers with a row's state, and those are answered as changed.
    fn answer_spooled(self) {
        match self {
            Self::InsertLead { done, .. } => {
                let _ = done.send(FirstTime::Pending);
            }
            other => other.answer(true),
        }
    }

    /// Answers the caller after the commit; `changed` is whether the command changed a row.
    pub(super) fn answer(self, changed: bool) {
        match self {
            Self::InsertLead { done, .. } => {
                let _ = done.send(FirstTime::Judged(changed));
            }
            Self::SaveLeases { done, .. }
            | Self::SavePoolUsage { done, .. }
            | Self::OutboxSettle { done, .. }
            | Self::MetricaUploads { done, .. }
            | Self::OutboxPrune { done, .. }
            | Self::RecordingsExpired { done, .. }
            | Self::Transcribed { done, .. }
            | Self::Rescored { done, .. }
            | Self::SaveScoringModel { done, .. } => {
                let _ = done.send(());
            }
            Self::BlacklistAdd { done, .. }
            | Self::BlacklistRemove { done, .. }
            | Self::PatchCall { done, .. }
            | Self::ReplaceCosts { done, .. }
            | Self::PatchLead { done, .. }
            | Self::OutboxReplay { done, .. } => {
                let _ = done.send(changed);
            }
            Self::CallStarted(_)
            | Self::CallAnswered { .. }
            | Self::CallEnded(_)
            | Self::DialogsChanged { .. }
            | Self::RecordingSettled { .. } => {}
        }
    }
}

/// The sending side of the writer queue; clone one per producer.
#[derive(Debug, Clone)]
pub struct StoreSender {
    tx: mpsc::Sender<StoreCommand>,
}

impl StoreSender {
    pub(super) fn channel(capacity: usize) -> (Self, mpsc::Receiver<StoreCommand>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx }, rx)
    }

    /// Queues a command, waiting while the queue is full; fails only once the writer stopped.
    pub async fn send(&self, cmd: StoreCommand) -> Result<(), StoreError> {
        self.tx
            .send(cmd)
            .await
            .map_err(|_| StoreError::WriterClosed)
    }

    /// Queues a command without waiting; hands it back if the queue is full or closed.
    #[expect(
        clippy::result_large_err,
        reason = "handing the command back is the point; a ~200-byte move is cheap"
    )]
    pub fn try_send(&self, cmd: StoreCommand) -> Result<(), StoreCommand> {
        self.tx.try_send(cmd).map_err(|e| match e {
            TrySendError::Full(cmd) | TrySendError::Closed(cmd) => cmd,
        })
    }

    /// Queues the command `make` builds (waiting for room) and waits until it is committed.
    pub async fn request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> StoreCommand,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(make(done)).await?;
        answer.await.map_err(|_| StoreError::NotCommitted)
    }

    /// Like [`StoreSender::request`], but a full queue is [`StoreError::Busy`] at once
    /// (for callers that answer overload instead of waiting, like the admin API).
    pub async fn try_request<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> StoreCommand,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        match self.tx.try_send(make(done)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Busy),
            Err(TrySendError::Closed(_)) => return Err(StoreError::WriterClosed),
        }
        answer.await.map_err(|_| StoreError::NotCommitted)
    }

    /// Commands queued and not yet taken by the writer: the writer's backlog.
    ///
    /// Cheap and safe from any thread or task (a clone of the sender reads the channel's
    /// semaphore: two atomic loads, no lock, no await), so the core can read it per INVITE.
    /// Commands the writer has taken into the batch it is writing are no longer counted;
    /// queues in front of this one (the app's event forwarder) are not counted either.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Commands the queue holds before [`StoreSender::send`] waits (`store.queue_capacity`).
    pub fn queue_capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// High-water flag for overload control: whether the backlog has reached `percent` of the
    /// queue's capacity (at least one command). A core that refuses new calls (503 with
    /// Retry-After) while this holds keeps the queue from filling, and so never waits in
    /// [`StoreSender::send`]; live calls' events still go in. As cheap as
    /// [`StoreSender::queue_depth`].
    pub fn is_backlogged(&self, percent: u8) -> bool {
        let capacity = self.queue_capacity();
        let mark = (capacity * usize::from(percent.min(100)) / 100).max(1);
        self.queue_depth() >= mark
    }

    /// True once the writer has stopped accepting commands.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(done: Reply<bool>) -> StoreCommand {
        StoreCommand::BlacklistAdd {
            pattern: "7800*".into(),
            added_at: Timestamp::UNIX_EPOCH,
            done,
        }
    }

    #[tokio::test]
    async fn a_request_waits_for_the_answer_after_commit() {
        let (sender, mut queue) = StoreSender::channel(4);
        let writer = tokio::spawn(async move {
            let cmd = queue.recv().await.unwrap();
            cmd.answer(true);
        });
        assert!(sender.request(add).await.unwrap());
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn try_request_on_a_full_queue_is_busy_not_a_wait() {
        let (sender, _queue) = StoreSender::channel(1);
        let (done, _answer) = oneshot::channel();
        sender.try_send(add(done)).unwrap();
        assert!(matches!(
            sender.try_request(add).await,
            Err(StoreError::Busy)
        ));
    }

    #[test]
    fn the_backlog_flag_rises_at_its_share_of_the_queue() {
        let (sender, _queue) = StoreSender::channel(4);
        assert_eq!((sender.queue_depth(), sender.queue_capacity()), (0, 4));
        assert!(!sender.is_backlogged(50) && !sender.is_backlogged(0));
        for _ in 0..2 {
            let (done, _answer) = oneshot::channel();
            sender.try_send(add(done)).unwrap();
        }
        assert_eq!(sender.queue_depth(), 2);
        assert!(sender.is_backlogged(50));
        assert!(!sender.is_backlogged(75));
        assert!(sender.is_backlogged(0), "0 %: any backlog at all");
    }

    #[tokio::test]
    async fn a_command_dropped_unanswered_is_not_committed() {
        let (sender, mut queue) = StoreSender::channel(1);
        let writer = tokio::spawn(async move { drop(queue.recv().await) });
        assert!(matches!(
            sender.request(add).await,
            Err(StoreError::NotCommitted)
        ));
        writer.await.unwrap();
    }
}
