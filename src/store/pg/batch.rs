//! Applies one batch of store commands on PostgreSQL in one transaction, in queue order,
//! like `store::batch` on SQLite: each call's live-row commands folded into one write
//! (`store::live_fold`), the batch's CDRs in one multi-row insert, its outbox rows in
//! another, first-time callers judged across nodes ([`super::history`]).
//!
//! Supported: the call path (`CallStarted`, `CallAnswered`, `DialogsChanged`, `CallEnded`),
//! the delivery services' `OutboxSettle` and `OutboxPrune`, call patches (`PatchCall`,
//! [`super::patch`]), leads (`InsertLead`, `PatchLead`, [`super::leads`]), cost imports
//! (`ReplaceCosts`, [`super::costs`]), the admin API's blacklist edits
//! ([`super::blacklist`]), `OutboxReplay` ([`super::outbox_admin`]), `MetricaUploads`
//! ([`super::metrica_uploads`]), `SavePoolUsage` ([`super::pool_usage`]) and the recordings'
//! `RecordingSettled` and `RecordingsExpired` ([`super::recordings`], applied after the
//! batch's CDRs, so an outcome queued behind its CDR settles it), the speech service's
//! `Transcribed` ([`super::transcripts`]), `Rescored` and `SaveScoringModel`
//! ([`super::scoring`]). Every other
//! command is refused ([`supports`]): the writer drops it
//! unanswered, so a caller waiting for it gets `StoreError::NotCommitted`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use postgres::Transaction;

use super::batch_facts::{self, CalledBack};
use super::history::{self, Arrival};
use super::live::NewLive;
use super::{blacklist, cdr, live, metrica_uploads, outbox, outbox_admin, pool_usage, recordings};
use crate::call::record::{CallDetailRecord, Disposition, LiveCall, rfc3339};
use crate::call::recording::RecordingStatus;
use crate::store::StoreError;
use crate::store::batch::BatchOutcome;
use crate::store::commands::StoreCommand;
use crate::store::live_fold::{LiveFold, LivePlan, LiveStep};
use crate::store::outbox::enqueue::Enqueue;

/// What a batch needs to know beyond its commands.
#[derive(Debug, Clone, Copy)]
pub struct BatchContext<'a> {
    pub node: &'a str,
    /// The first-time-caller window (`None`: new only once, ever).
    pub unique_window: Option<Duration>,
    /// Missed calls of a caller answered within this are marked called back.
    pub callback_window: Duration,
}

/// Whether the PostgreSQL store writes this command (see the module note).
pub fn supports(cmd: &StoreCommand) -> bool {
    matches!(
        cmd,
        StoreCommand::CallStarted(_)
            | StoreCommand::CallAnswered { .. }
            | StoreCommand::DialogsChanged { .. }
            | StoreCommand::CallEnded(_)
            | StoreCommand::OutboxSettle { .. }
            | StoreCommand::OutboxPrune { .. }
            | StoreCommand::PatchCall { .. }
            | StoreCommand::InsertLead { .. }
            | StoreCommand::PatchLead { .. }
            | StoreCommand::ReplaceCosts { .. }
            | StoreCommand::BlacklistAdd { .. }
            | StoreCommand::BlacklistRemove { .. }
            | StoreCommand::OutboxReplay { .. }
            | StoreCommand::MetricaUploads { .. }
            | StoreCommand::SavePoolUsage { .. }
            | StoreCommand::RecordingSettled { .. }
            | StoreCommand::RecordingsExpired { .. }
            | StoreCommand::Transcribed { .. }
            | StoreCommand::Rescored { .. }
            | StoreCommand::SaveScoringModel { .. }
    )
}

/// The name of a command the PostgreSQL store refuses, for the operator's log.
pub fn refused_name(cmd: &StoreCommand) -> &'static str {
    match cmd {
        StoreCommand::SaveLeases { .. } => "SaveLeases (lease snapshot)",
        StoreCommand::PatchCall { .. } => "PatchCall (calls API)",
        StoreCommand::ReplaceCosts { .. } => "ReplaceCosts (cost import)",
        StoreCommand::InsertLead { .. } | StoreCommand::PatchLead { .. } => "lead",
        StoreCommand::RecordingsExpired { .. } => "RecordingsExpired (recordings janitor)",
        StoreCommand::Transcribed { .. }
        | StoreCommand::Rescored { .. }
        | StoreCommand::SaveScoringModel { .. } => "speech/scoring",
        _ => "call path command",
    }
}

/// What a committed batch tells the writer: its outcome, per command whether it changed a
/// row, and the first-time judgements of the calls it saw (to carry to their CDRs).
#[derive(Debug, Default)]
pub(in crate::store) struct Applied {
    pub(in crate::store) outcome: BatchOutcome,
    pub changed: Vec<bool>,
    pub judged: HashMap<String, bool>,
    /// CDRs that took the place of a takeover's `interrupted` one (`call.updated`, not
    /// `call.ended`).
    pub replaced: HashSet<String>,
}

/// All or nothing: on error the transaction rolls back and the batch can be retried as is.
/// `earlier` holds the judgements of calls started in earlier batches.
pub(in crate::store) fn apply(
    tx: &mut Transaction<'_>,
    batch: &[StoreCommand],
    ctx: BatchContext<'_>,
    earlier: &HashMap<String, bool>,
    events: &mut Enqueue<'_>,
) -> Result<Applied, StoreError> {
    if batch.iter().any(writes_reported_rows) {
        lock_rollup(tx)?;
    }
    let judged = judge(tx, batch, ctx, earlier)?;
    let first = |id: &str, fallback: bool| -> bool {
        judged
            .get(id)
            .or(earlier.get(id))
            .copied()
            .unwrap_or(fallback)
    };
    let mut applied = Applied::default();
    let plan = LivePlan::new(batch);
    let mut ended = Vec::new();
    let mut lives = Vec::new();
    let mut after_cdrs = Vec::new();
    for (index, cmd) in batch.iter().enumerate() {
        let done = match (plan.step(index, cmd), cmd) {
            (LiveStep::Folded, _) => true,
            (LiveStep::Write(fold), _) => {
                lives.push((index, fold));
                false
            }
            (LiveStep::None, StoreCommand::CallEnded(cdr)) => {
                ended.push((index, cdr));
                false
            }
            (
                LiveStep::None,
                StoreCommand::RecordingSettled { .. } | StoreCommand::RecordingsExpired { .. },
            ) => {
                after_cdrs.push(index);
                false
            }
            (
                LiveStep::None,
                StoreCommand::Transcribed {
                    call_id,
                    outcome,
                    at,
                    ..
                },
            ) => super::transcripts::apply(tx, call_id, outcome, *at)?,
            (LiveStep::None, StoreCommand::Rescored { call_id, score, .. }) => {
                super::scoring::set_score_if_unscored(tx, call_id, score)?
            }
            (
                LiveStep::None,
                StoreCommand::SaveScoringModel {
                    model, kept, at, ..
                },
            ) => super::scoring::save_model(tx, model, *kept, *at).map(|_| true)?,
            (LiveStep::None, StoreCommand::OutboxSettle { settled, .. }) => {
                outbox::settle(tx, settled)?;
                true
            }
            (LiveStep::None, StoreCommand::OutboxPrune { before, .. }) => {
                outbox::prune_delivered(tx, *before)? > 0
            }
            (LiveStep::None, StoreCommand::PatchCall { id, change, at, .. }) => {
                super::patch::apply(tx, id, change, *at)?
            }
            (LiveStep::None, StoreCommand::InsertLead { lead, window, .. }) => {
                super::leads::insert(tx, lead, *window)?
            }
            (LiveStep::None, StoreCommand::PatchLead { id, patch, at, .. }) => {
                super::leads::patch(tx, id, patch, *at)?
            }
            (
                LiveStep::None,
                StoreCommand::ReplaceCosts {
                    rows, imported_at, ..
                },
            ) => super::costs::replace(tx, rows, *imported_at).map(|_| true)?,
            (
                LiveStep::None,
                StoreCommand::BlacklistAdd {
                    pattern, added_at, ..
                },
            ) => blacklist::insert(tx, pattern, *added_at, ctx.node)?,
            (LiveStep::None, StoreCommand::BlacklistRemove { pattern, .. }) => {
                blacklist::remove(tx, pattern)?
            }
            (LiveStep::None, StoreCommand::OutboxReplay { replay, at, .. }) => {
                outbox_admin::replay(tx, replay, *at)? > 0
            }
            (LiveStep::None, StoreCommand::MetricaUploads { uploads, .. }) => {
                metrica_uploads::record(tx, uploads)?;
                true
            }
            (
                LiveStep::None,
                StoreCommand::SavePoolUsage {
                    samples,
                    prune_before,
                    ..
                },
            ) => {
                pool_usage::record(tx, samples, *prune_before, ctx.node)?;
                true
            }
            (LiveStep::None, _) => false,
        };
        applied.changed.push(done);
    }
    write_lives(tx, &lives, ctx.node, &first, &mut applied)?;
    let called_back = write_cdrs(tx, &ended, ctx, &first, &mut applied)?;
    for index in after_cdrs {
        applied.changed[index] = apply_recording(tx, &batch[index])?;
    }
    batch_facts::record(tx, batch, &applied, &first, called_back, events)?;
    applied.judged = judged;
    Ok(applied)
}

/// Whether a command writes CDRs or leads, whose triggers keep the report rollup.
fn writes_reported_rows(cmd: &StoreCommand) -> bool {
    matches!(
        cmd,
        StoreCommand::CallEnded(_)
            | StoreCommand::PatchCall { .. }
            | StoreCommand::InsertLead { .. }
            | StoreCommand::PatchLead { .. }
            | StoreCommand::RecordingSettled { .. }
            | StoreCommand::RecordingsExpired { .. }
            | StoreCommand::Transcribed { .. }
            | StoreCommand::Rescored { .. }
    )
}

/// `pg_advisory_xact_lock` key of the transactions that write CDRs or leads ("ct-rollu").
const ROLLUP_LOCK: i64 = 0x6374_2d72_6f6c_6c75;

/// Takes the rollup writers' lock, first thing in a transaction that writes CDRs or leads
/// (a batch, a recovery, a takeover): such transactions of every node run one at a time.
/// Their statements' triggers each upsert rollup lines in key order, but a transaction runs
/// several (the CDR insert, then the callback marks on older calls, patches, leads), so two
/// nodes' transactions could each hold a line the other's next statement needs: a deadlock
/// (`40P01`), found only after `deadlock_timeout` (1 s) and retried. Writers of the same
/// hours wait on each other's lines until commit anyway; this makes the wait one queue.
pub(super) fn lock_rollup(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ROLLUP_LOCK])?;
    Ok(())
}

/// Judges the calls this batch starts, and CDRs of calls never seen starting (a restart).
fn judge(
    tx: &mut Transaction<'_>,
    batch: &[StoreCommand],
    ctx: BatchContext<'_>,
    earlier: &HashMap<String, bool>,
) -> Result<HashMap<String, bool>, StoreError> {
    let mut seen = HashSet::new();
    let mut arrivals = Vec::new();
    for cmd in batch {
        let (id, caller, started_at) = match cmd {
            StoreCommand::CallStarted(l) => (&l.id, &l.caller, l.started_at),
            StoreCommand::CallEnded(c) => (&c.id, &c.caller, c.started_at),
            _ => continue,
        };
        if !earlier.contains_key(id.as_str()) && seen.insert(id.as_str()) {
            arrivals.push(Arrival {
                id,
                caller,
                started_at,
            });
        }
    }
    history::judge(tx, &arrivals, ctx.unique_window, ctx.node)
}

/// Writes the batch's folded live rows: the calls it started in one multi-row insert, the
/// answers and dialogs of the others (and of starts already stored) in one multi-row update.
fn write_lives(
    tx: &mut Transaction<'_>,
    lives: &[(usize, &LiveFold<'_>)],
    node: &str,
    first: &dyn Fn(&str, bool) -> bool,
    applied: &mut Applied,
) -> Result<(), StoreError> {
    let new: Vec<NewLive<'_>> = lives
        .iter()
        .filter_map(|(_, fold)| {
            fold.started.map(|started| NewLive {
                live: with_first(started, first),
                change: fold.change,
            })
        })
        .collect();
    let mut written = live::insert(tx, &new, node)?;
    let changes: Vec<_> = lives
        .iter()
        .filter(|(_, fold)| !written.contains(fold.id()))
        .map(|(_, fold)| (fold.id(), fold.change))
        .collect();
    written.extend(live::update(tx, &changes)?);
    for (index, fold) in lives {
        let done = written.contains(fold.id());
        if fold.change.answered_at.is_some() && !done {
            applied.outcome.unknown_answers += 1;
        }
        applied.changed[*index] = done;
    }
    Ok(())
}

/// A recording's outcome or expiry (see [`recordings`]); whether a CDR changed.
fn apply_recording(tx: &mut Transaction<'_>, cmd: &StoreCommand) -> Result<bool, StoreError> {
    match cmd {
        StoreCommand::RecordingSettled { id, settled, .. } => recordings::settle(tx, id, settled),
        StoreCommand::RecordingsExpired { ids, reason, .. } => {
            Ok(recordings::expire(tx, ids, *reason)? > 0)
        }
        _ => Ok(false),
    }
}

pub(super) fn with_first(live: &LiveCall, first: &dyn Fn(&str, bool) -> bool) -> LiveCall {
    LiveCall {
        first_time_caller: first(&live.id, live.first_time_caller),
        ..live.clone()
    }
}

/// Inserts the batch's CDRs together, forgets their live rows and marks the missed calls
/// each answered one called back; returns the ids so marked, by the call that marked them.
fn write_cdrs(
    tx: &mut Transaction<'_>,
    ended: &[(usize, &CallDetailRecord)],
    ctx: BatchContext<'_>,
    first: &dyn Fn(&str, bool) -> bool,
    applied: &mut Applied,
) -> Result<CalledBack, StoreError> {
    let rows = ended
        .iter()
        .map(|(_, c)| cdr::row(c, first(&c.id, c.first_time_caller), ctx.node))
        .collect::<Result<Vec<_>, _>>()?;
    let mut written = cdr::insert(tx, &rows)?;
    let ids: Vec<&str> = ended.iter().map(|(_, c)| c.id.as_str()).collect();
    live::delete(tx, &ids)?;
    let mut answered = Vec::new();
    let mut pending = Vec::new();
    for (index, c) in ended {
        // The first CDR of an id in the batch is the one written; repeats are duplicates.
        let stored = written.remove(&c.id);
        applied.changed[*index] = stored.is_some();
        match stored {
            None => {
                applied.outcome.duplicate_cdrs += 1;
                tracing::warn!(call = %c.id, "duplicate CDR ignored");
                continue;
            }
            Some(cdr::Stored::ReplacedInterrupted) => {
                tracing::warn!(
                    call = %c.id,
                    "this call was closed as interrupted by another node while this one was cut off; its own CDR replaces that one (call.updated)"
                );
                applied.replaced.insert(c.id.clone());
            }
            Some(cdr::Stored::Inserted) => {}
        }
        applied.outcome.cdrs_written += 1;
        if c.recording_status == Some(RecordingStatus::Pending) {
            pending.push(c.id.as_str());
        }
        answered.push(*c);
    }
    recordings::adopt(tx, &pending)?;
    mark_called_back(tx, &answered, ctx.callback_window)
}

/// Marks, for each answered call written, the caller's missed calls within `window` before
/// it as called back, in one statement. A missed call two of them could mark is marked by
/// the first in batch order, as one statement per call would.
const MARK_CALLED_BACK_SQL: &str = "UPDATE cdr SET called_back_at = m.at FROM ( \
     SELECT DISTINCT ON (c.id) c.id, u.at::timestamptz AS at, u.by FROM cdr AS c \
     JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
     WITH ORDINALITY AS u(by, caller, since, until, at, n) \
     ON c.caller = u.caller AND c.missed = 1 AND c.called_back_at IS NULL \
     AND c.started_at >= u.since::timestamptz AND c.started_at < u.until::timestamptz \
     ORDER BY c.id, u.n) AS m WHERE cdr.id = m.id RETURNING cdr.id, m.by";

/// Marks the missed calls the answered CDRs among `written` call back (see
/// [`MARK_CALLED_BACK_SQL`]); anonymous callers call nobody back.
fn mark_called_back(
    tx: &mut Transaction<'_>,
    written: &[&CallDetailRecord],
    window: Duration,
) -> Result<CalledBack, StoreError> {
    let window = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
    let mut columns: [Vec<String>; 5] = Default::default();
    for c in written {
        if c.disposition != Disposition::Answered || c.caller.is_empty() {
            continue;
        }
        // PostgreSQL reads jiff's `Timestamp::MIN` as a year far in the future: no call is older
        // than the epoch anyway.
        let since = c
            .started_at
            .checked_sub(window)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .max(Timestamp::UNIX_EPOCH);
        let at = c.answered_at.unwrap_or(c.started_at);
        let cells = [
            c.id.clone(),
            c.caller.clone(),
            rfc3339::format(since),
            rfc3339::format(c.started_at),
            rfc3339::format(at),
        ];
        for (column, cell) in columns.iter_mut().zip(cells) {
            column.push(cell);
        }
    }
    let mut marked = CalledBack::new();
    if columns[0].is_empty() {
        return Ok(marked);
    }
    let [by, caller, since, until, at] = &columns;
    for row in tx.query(MARK_CALLED_BACK_SQL, &[by, caller, since, until, at])? {
        let (id, by): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        marked.entry(by).or_default().push(id);
    }
    Ok(marked)
}
