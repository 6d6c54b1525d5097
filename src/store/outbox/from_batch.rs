//! The facts a batch of store commands yields, handed to the outbox in the batch's own
//! transaction: a started call rings, an answer, a written CDR (and the missed calls it
//! marked called back), a patched call, an inserted lead.

use std::collections::HashMap;

use jiff::Timestamp;
use rusqlite::Connection;

use super::EventKind;
use super::enqueue::Enqueue;
use super::fact::{CallFact, LeadFact};
use crate::call::record::LiveCall;
use crate::store::calls::view::{CallView, Extras};
use crate::store::commands::StoreCommand;
use crate::store::{StoreError, calls, columns};

/// One batch's fact recorder.
pub(in crate::store) struct Facts<'b, 'e, 's> {
    /// Calls started in this batch: their live rows may be skipped (they also end here).
    started: HashMap<&'b str, &'b LiveCall>,
    events: &'e mut Enqueue<'s>,
}

impl<'b, 'e, 's> Facts<'b, 'e, 's> {
    pub fn new(batch: &'b [StoreCommand], events: &'e mut Enqueue<'s>) -> Self {
        let started = match events.is_idle() {
            true => HashMap::new(),
            false => batch
                .iter()
                .filter_map(|cmd| match cmd {
                    StoreCommand::CallStarted(live) => Some((live.id.as_str(), live)),
                    _ => None,
                })
                .collect(),
        };
        Facts { started, events }
    }

    /// Records what `cmd` (applied, `changed` as it answered) tells the destinations;
    /// `called_back` are the missed calls a written CDR marked.
    pub fn record(
        &mut self,
        conn: &Connection,
        cmd: &StoreCommand,
        changed: bool,
        called_back: &[String],
    ) -> rusqlite::Result<()> {
        if self.events.is_idle() {
            return Ok(());
        }
        match cmd {
            StoreCommand::CallStarted(live) => {
                let fact = CallFact::live(live);
                self.events
                    .call(conn, EventKind::CallRinging, &fact, live.started_at)
            }
            StoreCommand::CallAnswered { id, answered_at } => self.answered(conn, id, *answered_at),
            StoreCommand::CallEnded(cdr) if changed => {
                let view = CallView::new(cdr.clone(), Extras::default());
                let fact = CallFact::from(view);
                self.events
                    .call(conn, EventKind::CallEnded, &fact, cdr.ended_at)?;
                let at = cdr.answered_at.unwrap_or(cdr.started_at);
                called_back
                    .iter()
                    .try_for_each(|id| self.updated(conn, id, at))
            }
            StoreCommand::PatchCall { id, at, .. } if changed => self.updated(conn, id, *at),
            // The recording is written: its URL reaches the destinations.
            StoreCommand::RecordingSettled { id, at, .. } if changed => self.updated(conn, id, *at),
            // The transcript was scored: `call.scored`, once (the speech job is gone after).
            StoreCommand::Transcribed { call_id, at, .. }
            | StoreCommand::Rescored { call_id, at, .. }
                if changed =>
            {
                self.scored(conn, call_id, *at)
            }
            StoreCommand::InsertLead { lead, .. } => {
                let fact = LeadFact::new(lead, changed);
                self.events.lead(conn, &fact, lead.created_at)
            }
            _ => Ok(()),
        }
    }

    fn answered(&mut self, conn: &Connection, id: &str, at: Timestamp) -> rusqlite::Result<()> {
        let live = match self.started.get(id) {
            Some(live) => Some((*live).clone()),
            None => columns::live_by_id(conn, id)?,
        };
        let Some(mut live) = live else {
            return Ok(());
        };
        live.answered_at = Some(at);
        self.events
            .call(conn, EventKind::CallAnswered, &CallFact::live(&live), at)
    }

    fn scored(&mut self, conn: &Connection, id: &str, at: Timestamp) -> rusqlite::Result<()> {
        let Some(view) = calls::call(conn, id).map_err(into_sqlite)? else {
            return Ok(());
        };
        let fact = CallFact::from(view);
        self.events.call(conn, EventKind::CallScored, &fact, at)
    }

    fn updated(&mut self, conn: &Connection, id: &str, at: Timestamp) -> rusqlite::Result<()> {
        let Some(view) = calls::call(conn, id).map_err(into_sqlite)? else {
            return Ok(());
        };
        let fact = CallFact::from(view);
        self.events.call(conn, EventKind::CallUpdated, &fact, at)
    }
}

fn into_sqlite(e: StoreError) -> rusqlite::Error {
    match e {
        StoreError::Sqlite(e) => e,
        other => rusqlite::Error::ToSqlConversionFailure(Box::new(other)),
    }
}
