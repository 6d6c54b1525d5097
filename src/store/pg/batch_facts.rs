//! The facts a committed PostgreSQL batch owes the export destinations (`call.ringing`,
//! `call.answered`, `call.ended` or `call.updated`, `call.scored`, `lead.created`), written
//! in the batch's transaction, as `store::outbox::from_batch` does on SQLite.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use postgres::Transaction;

use super::batch::{Applied, with_first};
use super::live;
use super::outbox::NewEvents;
use crate::call::record::{CallDetailRecord, LiveCall};
use crate::store::StoreError;
use crate::store::calls::view::{CallView, Extras};
use crate::store::commands::StoreCommand;
use crate::store::outbox::enqueue::Enqueue;
use crate::store::outbox::{CallFact, EventKind, LeadFact};

/// Missed calls marked called back, by the id of the answered call that marked them.
pub(super) type CalledBack = HashMap<String, Vec<String>>;

/// Records the facts of `batch` as applied (nothing when no destination listens).
pub(super) fn record(
    tx: &mut Transaction<'_>,
    batch: &[StoreCommand],
    applied: &Applied,
    first: &dyn Fn(&str, bool) -> bool,
    called_back: CalledBack,
    events: &mut Enqueue<'_>,
) -> Result<(), StoreError> {
    if events.is_idle() {
        return Ok(());
    }
    let mut new = NewEvents::default();
    let stored = stored_lives(tx, batch)?;
    let facts = Facts {
        batch,
        applied,
        first,
        called_back,
        stored,
    };
    facts.record(tx, events, &mut new)?;
    new.insert(tx, events.now)
}

/// The facts a committed batch owes the export destinations.
struct Facts<'a, 'f> {
    batch: &'a [StoreCommand],
    applied: &'a Applied,
    first: &'f dyn Fn(&str, bool) -> bool,
    /// Marked called back, by the answered call that marked them: `call.updated` is owed.
    called_back: CalledBack,
    /// The stored live rows of calls the batch answered but did not start.
    stored: HashMap<String, LiveCall>,
}

impl Facts<'_, '_> {
    fn record(
        &self,
        tx: &mut Transaction<'_>,
        events: &mut Enqueue<'_>,
        new: &mut NewEvents,
    ) -> Result<(), StoreError> {
        for (cmd, changed) in self.batch.iter().zip(&self.applied.changed) {
            match cmd {
                StoreCommand::CallStarted(l) => {
                    let fact = CallFact::live(&with_first(l, self.first));
                    new.call(events, EventKind::CallRinging, &fact, l.started_at)?;
                }
                StoreCommand::CallAnswered { id, answered_at } => {
                    if let Some(mut l) = self.live(id) {
                        l.answered_at = Some(*answered_at);
                        let fact = CallFact::live(&l);
                        new.call(events, EventKind::CallAnswered, &fact, *answered_at)?;
                    }
                }
                // A patch, or the recording written: its URL reaches the destinations.
                StoreCommand::PatchCall { id, at, .. }
                | StoreCommand::RecordingSettled { id, at, .. }
                    if *changed =>
                {
                    updated(tx, events, new, id, *at)?;
                }
                // The transcript was scored: `call.scored`, once (the speech job is gone after).
                StoreCommand::Transcribed { call_id, at, .. }
                | StoreCommand::Rescored { call_id, at, .. }
                    if *changed =>
                {
                    announce(tx, events, new, EventKind::CallScored, call_id, *at)?;
                }
                StoreCommand::InsertLead { lead, .. } => {
                    let fact = LeadFact::new(lead, *changed);
                    new.lead(events, &fact, lead.created_at)?;
                }
                StoreCommand::CallEnded(c) if *changed => {
                    // A call a takeover had already ended (`call.ended` sent) is updated.
                    let kind = if self.applied.replaced.contains(&c.id) {
                        EventKind::CallUpdated
                    } else {
                        EventKind::CallEnded
                    };
                    let mut c = c.clone();
                    c.first_time_caller = (self.first)(&c.id, c.first_time_caller);
                    let at = c.ended_at;
                    let callback_at = c.answered_at.unwrap_or(c.started_at);
                    let marked = self.called_back.get(&c.id);
                    let fact = CallFact::from(CallView::new(c, Extras::default()));
                    new.call(events, kind, &fact, at)?;
                    for id in marked.into_iter().flatten() {
                        updated(tx, events, new, id, callback_at)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The live call `id` as this batch started or ended it, or as stored.
    fn live(&self, id: &str) -> Option<LiveCall> {
        let started = self.batch.iter().find_map(|cmd| match cmd {
            StoreCommand::CallStarted(l) if l.id == id => Some(with_first(l, self.first)),
            _ => None,
        });
        if let Some(l) = started {
            return Some(l);
        }
        // Started in an earlier batch and ended in this one: its live row is already gone.
        let ended = self.batch.iter().find_map(|cmd| match cmd {
            StoreCommand::CallEnded(c) if c.id == id => Some(live_of(c, self.first)),
            _ => None,
        });
        ended.or_else(|| self.stored.get(id).cloned())
    }
}

/// `call.updated` for a stored call (patched, recorded, or a missed call marked called
/// back), as it reads now.
fn updated(
    tx: &mut Transaction<'_>,
    events: &mut Enqueue<'_>,
    new: &mut NewEvents,
    id: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    announce(tx, events, new, EventKind::CallUpdated, id, at)
}

/// A `kind` fact of stored call `id`, as it reads now.
fn announce(
    tx: &mut Transaction<'_>,
    events: &mut Enqueue<'_>,
    new: &mut NewEvents,
    kind: EventKind,
    id: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let Some(view) = super::calls::call(tx, id)? else {
        return Ok(());
    };
    new.call(events, kind, &CallFact::from(view), at)
}

/// The stored live rows of the calls `batch` answers without starting them, in one read
/// (their answer facts carry the whole call).
fn stored_lives(
    tx: &mut Transaction<'_>,
    batch: &[StoreCommand],
) -> Result<HashMap<String, LiveCall>, StoreError> {
    let in_batch: HashSet<&str> = batch
        .iter()
        .filter_map(|cmd| match cmd {
            StoreCommand::CallStarted(l) => Some(l.id.as_str()),
            StoreCommand::CallEnded(c) => Some(c.id.as_str()),
            _ => None,
        })
        .collect();
    let ids: Vec<&str> = batch
        .iter()
        .filter_map(|cmd| match cmd {
            StoreCommand::CallAnswered { id, .. } if !in_batch.contains(id.as_str()) => {
                Some(id.as_str())
            }
            _ => None,
        })
        .collect();
    live::by_ids(tx, &ids)
}

/// The live call a CDR closed, as it stood before the end.
fn live_of(c: &CallDetailRecord, first: &dyn Fn(&str, bool) -> bool) -> LiveCall {
    LiveCall {
        id: c.id.clone(),
        call_id: c.call_id.clone(),
        tracking_number: c.tracking_number.clone(),
        caller: c.caller.clone(),
        destination: c.destination.clone(),
        started_at: c.started_at,
        answered_at: c.answered_at,
        attribution: c.attribution.clone(),
        first_time_caller: first(&c.id, c.first_time_caller),
        scheme: c.scheme.clone(),
        answered_step: c.answered_step,
        answered_target: c.answered_target.clone(),
    }
}
