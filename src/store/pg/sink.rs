//! The writer's PostgreSQL sink: batches go to PostgreSQL while it answers and to the local
//! spool while it does not (and while the spool holds anything, so order holds); the spool
//! is replayed oldest first, in chunks between batches, once PostgreSQL answers again.
//! The writer thread never waits for PostgreSQL to come back: the SIP core keeps its queue.
//!
//! A batch PostgreSQL refuses with a SQL error (not a lost connection) is written again one
//! command per transaction; a command still refused is kept in the spool file's `rejected`
//! table and logged as an error: not retried forever, not spooled silently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::Client;

use super::batch::{self, Applied, BatchContext};
use super::spool::{self, Failure, Reconnect, SpoolFile, SpoolRecord, metrics};
use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::batch::BatchOutcome;
use crate::store::commands::{Answer, StoreCommand};
use crate::store::outbox::Outbox;
use crate::store::outbox::enqueue::Enqueue;
use crate::store::writer::{Sink, WriterOptions};

/// Longest the writer replays the spool before it looks at its queue again.
const REPLAY_SLICE: Duration = Duration::from_millis(250);
/// Spooled commands replayed per transaction, per `batch_max_records`.
const REPLAY_CHUNK_FACTOR: usize = 4;

/// The writer's PostgreSQL connection (while it has one), its spool, and what it carries
/// between batches.
pub(super) struct PgSink {
    pub config: PostgresConfig,
    pub client: Option<Client>,
    pub node: String,
    pub unique_window: Option<Duration>,
    /// First-time judgements of calls in progress, taken to their CDRs.
    pub judged: HashMap<String, bool>,
    pub spool: SpoolFile,
    pub reconnect: Reconnect,
    /// Rung after a replayed chunk added events.
    pub outbox: Arc<Outbox>,
    /// Spooling since PostgreSQL went away (the INFO when the spool drains).
    pub outage: bool,
    /// Transactions committed to PostgreSQL (`Sink::commits`).
    pub commits: u64,
}

type Written = (BatchOutcome, Vec<Answer>);

impl Sink for PgSink {
    fn apply(
        &mut self,
        batch: &[StoreCommand],
        opts: &WriterOptions,
        events: &mut Enqueue<'_>,
    ) -> Result<Written, StoreError> {
        for cmd in batch.iter().filter(|cmd| !batch::supports(cmd)) {
            let command = batch::refused_name(cmd);
            tracing::error!(
                command,
                "the PostgreSQL store does not write this yet; refused (not committed)"
            );
        }
        let now = Instant::now();
        self.catch_up(now, opts, REPLAY_SLICE);
        if self.spool.is_empty() && self.client.is_some() {
            match self.commit(batch, opts, events) {
                Ok(applied) => {
                    return Ok((applied.outcome, answers_committed(batch, applied.changed)));
                }
                Err(e) => match spool::classify(&e) {
                    Failure::Connection => self.lost(now, &e),
                    Failure::Transient => return Err(e),
                    Failure::Refused => return self.one_by_one(now, batch, opts, events, &e),
                },
            }
        }
        self.spool_commands(batch)?;
        Ok((BatchOutcome::default(), answers_spooled(batch).collect()))
    }

    fn idle_in(&self) -> Option<Duration> {
        match (self.spool.is_empty(), &self.client) {
            (true, _) => None,
            (false, Some(_)) => Some(Duration::ZERO),
            (false, None) => Some(self.reconnect.wait(Instant::now())),
        }
    }

    fn idle(&mut self, opts: &WriterOptions) {
        self.catch_up(Instant::now(), opts, REPLAY_SLICE);
    }

    fn commits(&self) -> u64 {
        self.commits
    }

    fn spooled(&self) -> Option<usize> {
        Some(usize::try_from(self.spool.depth()).unwrap_or(usize::MAX))
    }
}

impl PgSink {
    /// One batch in one PostgreSQL transaction.
    fn commit(
        &mut self,
        batch: &[StoreCommand],
        opts: &WriterOptions,
        events: &mut Enqueue<'_>,
    ) -> Result<Applied, StoreError> {
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| StoreError::PgConnect("not connected".into()))?;
        let ctx = BatchContext {
            node: &self.node,
            unique_window: self.unique_window,
            callback_window: opts.callback_window,
        };
        let mut tx = client.transaction()?;
        let mut applied = batch::apply(&mut tx, batch, ctx, &self.judged, events)?;
        tx.commit()?;
        self.commits += 1;
        self.judged.extend(applied.judged.drain());
        for cmd in batch {
            if let StoreCommand::CallEnded(cdr) = cmd {
                self.judged.remove(&cdr.id);
            }
        }
        Ok(applied)
    }

    /// PostgreSQL went away at `now`: spool from here on and try again later.
    fn lost(&mut self, now: Instant, error: &StoreError) {
        self.client = None;
        self.reconnect.failed(now);
        if !self.outage {
            self.outage = true;
            tracing::warn!(
                %error,
                spool = %self.spool.path().display(),
                "PostgreSQL is unreachable: spooling store commands to the local file until it returns"
            );
        }
    }

    fn spool_commands(&mut self, commands: &[StoreCommand]) -> Result<(), StoreError> {
        for cmd in commands
            .iter()
            .filter(|c| batch::supports(c) && !spool::record::keeps(c))
        {
            tracing::warn!(
                command = batch::refused_name(cmd),
                "PostgreSQL is unreachable and the spool does not keep this; refused (not committed)"
            );
        }
        let records: Vec<SpoolRecord> = commands.iter().filter_map(SpoolRecord::of).collect();
        if let Some(claims) = self.outbox.postgres() {
            claims.hold(true);
        }
        self.spool.append(&records)?;
        metrics::spooled(records.len(), self.spool.depth());
        Ok(())
    }

    /// Reconnects if due, then replays the spool for at most `slice`.
    fn catch_up(&mut self, now: Instant, opts: &WriterOptions, slice: Duration) {
        if self.client.is_none() && !self.reconnect.due(now) {
            return;
        }
        if self.client.is_none() {
            match super::connect(&self.config) {
                Ok(client) => {
                    self.client = Some(client);
                    self.reconnect.succeeded();
                    tracing::info!(
                        spooled = self.spool.depth(),
                        "PostgreSQL answers again: replaying the spool"
                    );
                }
                Err(e) => {
                    self.reconnect.failed(now);
                    tracing::debug!(error = %e, "PostgreSQL still unreachable");
                    return;
                }
            }
        }
        if let Err(e) = self.replay(opts, slice) {
            // The spool file failed (not PostgreSQL): back off like an outage rather than
            // spin on it between batches.
            tracing::error!(error = %e, "the spool could not be replayed; trying again later");
            self.lost(now, &e);
        }
        if self.outage && self.client.is_some() && self.spool.is_empty() {
            self.outage = false;
            if let Some(claims) = self.outbox.postgres() {
                claims.hold(false);
            }
            self.outbox.ring();
            tracing::info!("the spool is drained: writing to PostgreSQL directly again");
        }
    }

    /// Start-up: replays the whole spool before anything else touches PostgreSQL (recovery
    /// must find the live rows and CDRs of the calls spooled before a crash).
    pub(super) fn drain(&mut self, opts: &WriterOptions) -> Result<(), StoreError> {
        let depth = self.spool.depth();
        if depth == 0 {
            return Ok(());
        }
        tracing::info!(spooled = depth, spool = %self.spool.path().display(), "replaying the spool left by the last run");
        let started = Instant::now();
        self.replay(opts, Duration::MAX)?;
        if self.client.is_none() {
            return Err(StoreError::PgConnect(format!(
                "PostgreSQL went away while the spool was replayed at start-up ({} commands left)",
                self.spool.depth()
            )));
        }
        tracing::info!(
            commands = depth,
            took_ms = started.elapsed().as_millis() as u64,
            "the spool is drained"
        );
        Ok(())
    }

    /// Replays the oldest spooled commands, chunk by chunk, for at most `slice`.
    pub(super) fn replay(
        &mut self,
        opts: &WriterOptions,
        slice: Duration,
    ) -> Result<(), StoreError> {
        let started = Instant::now();
        let limit = opts
            .batch_max_records
            .saturating_mul(REPLAY_CHUNK_FACTOR)
            .max(1);
        while self.client.is_some() && !self.spool.is_empty() && started.elapsed() < slice {
            let chunk = self.spool.oldest(limit)?;
            let Some(&(last, _)) = chunk.last() else {
                break;
            };
            let (seqs, commands): (Vec<i64>, Vec<StoreCommand>) = chunk
                .into_iter()
                .map(|(s, r)| (s, r.into_command()))
                .unzip();
            let subscriptions = self.outbox.subscriptions();
            let mut events = Enqueue::new(&subscriptions, jiff::Timestamp::now());
            match self.commit(&commands, opts, &mut events) {
                Ok(_) => {
                    self.spool.delete_through(last)?;
                    metrics::replayed(commands.len(), self.spool.depth());
                }
                Err(e) => match spool::classify(&e) {
                    Failure::Refused => self.replay_one_by_one(&seqs, &commands, opts)?,
                    Failure::Connection | Failure::Transient => {
                        self.lost(Instant::now(), &e);
                        return Ok(());
                    }
                },
            }
            if events.added > 0 {
                self.outbox.ring();
            }
        }
        Ok(())
    }

    /// A refused chunk again, one command per transaction: the ones still refused go to
    /// `rejected`.
    fn replay_one_by_one(
        &mut self,
        seqs: &[i64],
        commands: &[StoreCommand],
        opts: &WriterOptions,
    ) -> Result<(), StoreError> {
        let subscriptions = self.outbox.subscriptions();
        for (&seq, cmd) in seqs.iter().zip(commands) {
            let mut events = Enqueue::new(&subscriptions, jiff::Timestamp::now());
            match self.commit(std::slice::from_ref(cmd), opts, &mut events) {
                Ok(_) => {
                    self.spool.delete_through(seq)?;
                    if events.added > 0 {
                        self.outbox.ring();
                    }
                }
                Err(e) => match spool::classify(&e) {
                    Failure::Refused => {
                        refused(&e);
                        self.spool.reject(seq, &e.to_string())?;
                    }
                    _ => {
                        self.lost(Instant::now(), &e);
                        return Ok(());
                    }
                },
            }
            metrics::replayed(1, self.spool.depth());
        }
        Ok(())
    }

    /// A batch PostgreSQL refused, again one command per transaction: the ones still refused
    /// are kept as rejected; if the connection goes meanwhile, the rest is spooled.
    fn one_by_one(
        &mut self,
        now: Instant,
        batch: &[StoreCommand],
        opts: &WriterOptions,
        events: &mut Enqueue<'_>,
        error: &StoreError,
    ) -> Result<Written, StoreError> {
        tracing::warn!(%error, commands = batch.len(), "PostgreSQL refused a batch; writing it one command at a time");
        let mut outcome = BatchOutcome::default();
        let mut answers = Vec::with_capacity(batch.len());
        for (i, cmd) in batch.iter().enumerate() {
            let one = std::slice::from_ref(cmd);
            match self.commit(one, opts, events) {
                Ok(applied) => {
                    outcome.cdrs_written += applied.outcome.cdrs_written;
                    outcome.duplicate_cdrs += applied.outcome.duplicate_cdrs;
                    outcome.unknown_answers += applied.outcome.unknown_answers;
                    answers.extend(answers_committed(one, applied.changed));
                }
                Err(e) if spool::classify(&e) == Failure::Refused => {
                    refused(&e);
                    if let Some(record) = SpoolRecord::of(cmd) {
                        self.spool.keep_rejected(&record, &e.to_string())?;
                    }
                    answers.push(Answer::Refused);
                }
                Err(e) => {
                    self.lost(now, &e);
                    self.spool_commands(&batch[i..])?;
                    answers.extend(answers_spooled(&batch[i..]));
                    break;
                }
            }
        }
        Ok((outcome, answers))
    }
}

/// The answers of a committed batch: what PostgreSQL does not write yet is refused.
fn answers_committed(batch: &[StoreCommand], changed: Vec<bool>) -> Vec<Answer> {
    batch
        .iter()
        .zip(changed)
        .map(|(cmd, changed)| match batch::supports(cmd) {
            true => Answer::Changed(changed),
            false => Answer::Refused,
        })
        .collect()
}

/// The answers of spooled commands: what the spool does not keep was not written.
fn answers_spooled(batch: &[StoreCommand]) -> impl Iterator<Item = Answer> + '_ {
    batch.iter().map(|cmd| match spool::record::keeps(cmd) {
        true => Answer::Spooled,
        false => Answer::Refused,
    })
}

fn refused(error: &StoreError) {
    metrics::rejected(1);
    tracing::error!(
        %error,
        "PostgreSQL refused a store command; kept in the spool file's `rejected` table"
    );
}
