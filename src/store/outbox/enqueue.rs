//! Fan-out of one fact to the outbox: one row per destination whose subscription takes it,
//! written by the writer inside the transaction that writes the fact's own row.

use jiff::Timestamp;
use rusqlite::Connection;

use super::fact::{CallFact, LeadFact};
use super::{EventKind, Subscription, millis};
use crate::call::record::rfc3339;

/// The transaction's view of the outbox: the subscriptions it fans out to and the time the
/// rows are written at. Counts the rows it added (the writer rings the services if any).
pub struct Enqueue<'a> {
    pub subscriptions: &'a [Subscription],
    pub now: Timestamp,
    pub added: usize,
}

impl<'a> Enqueue<'a> {
    pub fn new(subscriptions: &'a [Subscription], now: Timestamp) -> Enqueue<'a> {
        Enqueue {
            subscriptions,
            now,
            added: 0,
        }
    }

    /// Whether anyone listens at all (skips building facts nobody takes).
    pub fn is_idle(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// Writes `kind` about `call` for every destination that takes it.
    pub fn call(
        &mut self,
        conn: &Connection,
        kind: EventKind,
        call: &CallFact,
        occurred_at: Timestamp,
    ) -> rusqlite::Result<()> {
        let mut payload = None;
        for (s, dropped) in self.call_targets(kind, call) {
            let json = match &payload {
                Some(json) => json,
                None => payload.insert(to_json(call)?),
            };
            let row = Row {
                destination: &s.destination,
                kind,
                subject: &call.id,
                occurred_at,
                payload: json,
            };
            insert(conn, &row, self.now)?;
            match dropped {
                Some(reason) => drop_last(conn, &reason, self.now)?,
                None => self.added += 1,
            }
        }
        Ok(())
    }

    /// The destinations `kind` about `call` goes to, each with the reason it is dropped
    /// (`send = "target"` and scored not target: kept as a dead letter) or `None`.
    pub(in crate::store) fn call_targets(
        &self,
        kind: EventKind,
        call: &CallFact,
    ) -> Vec<(&'a Subscription, Option<String>)> {
        let subscriptions: &'a [Subscription] = self.subscriptions;
        subscriptions
            .iter()
            .filter_map(|s| {
                let dropped = s.drops_call(kind, call);
                (dropped.is_some() || s.takes_call(kind, call)).then_some((s, dropped))
            })
            .collect()
    }

    /// Writes `lead.created` for every destination that takes it.
    pub fn lead(
        &mut self,
        conn: &Connection,
        lead: &LeadFact,
        at: Timestamp,
    ) -> rusqlite::Result<()> {
        let mut payload = None;
        for s in self.subscriptions.iter().filter(|s| s.takes_lead(lead)) {
            let json = match &payload {
                Some(json) => json,
                None => payload.insert(to_json(lead)?),
            };
            let row = Row {
                destination: &s.destination,
                kind: EventKind::LeadCreated,
                subject: &lead.id,
                occurred_at: at,
                payload: json,
            };
            insert(conn, &row, self.now)?;
            self.added += 1;
        }
        Ok(())
    }
}

struct Row<'a> {
    destination: &'a str,
    kind: EventKind,
    subject: &'a str,
    occurred_at: Timestamp,
    payload: &'a str,
}

pub(in crate::store) fn to_json(value: &impl serde::Serialize) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn insert(conn: &Connection, row: &Row<'_>, now: Timestamp) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (id, destination, event, subject, occurred_at, created_at, \
         payload, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6)",
    )?;
    stmt.execute((
        event_id(),
        row.destination,
        row.kind.as_str(),
        row.subject,
        rfc3339::format(row.occurred_at),
        millis(now),
        row.payload,
    ))?;
    Ok(())
}

/// Settles the row just inserted as a dead letter that was never sent, with `reason`.
fn drop_last(conn: &Connection, reason: &str, now: Timestamp) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE outbox SET state = 'dead', last_error = ?1, settled_at = ?2 \
         WHERE seq = last_insert_rowid()",
        (reason, millis(now)),
    )?;
    Ok(())
}

/// A new event id: `evt_` and 32 random hex digits.
pub(in crate::store) fn event_id() -> String {
    format!("evt_{:032x}", rand::random::<u128>())
}
