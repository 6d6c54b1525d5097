//! The outbox on PostgreSQL: a batch's events inserted together in the batch's transaction,
//! and the claim several nodes' delivery services share. A claim takes due rows with
//! `FOR UPDATE SKIP LOCKED` and stamps them `claimed_by`/`claimed_until` in one statement,
//! so no two claimers hold one row; a claim whose node died expires and is taken over.
//! Per-subject order holds across nodes: a row is due only when no earlier row of its
//! subject is pending (claimed or not).

use std::time::Duration;

use jiff::Timestamp;
use postgres::GenericClient;

use super::cells::time_text;
use crate::call::record::rfc3339;
use crate::store::StoreError;
use crate::store::outbox::delivery::{Settled, Settlement};
use crate::store::outbox::enqueue::{Enqueue, to_json};
use crate::store::outbox::fact::{CallFact, LeadFact};
use crate::store::outbox::{EventKind, OutboxEvent, from_millis, millis};

/// One event row to insert; `dead` holds the reason of a row dropped as a dead letter.
#[derive(Debug)]
struct NewRow {
    id: String,
    destination: String,
    event: &'static str,
    subject: String,
    occurred_at: String,
    payload: String,
    dead: Option<String>,
}

/// The outbox rows one batch writes, inserted together before its commit.
#[derive(Debug, Default)]
pub struct NewEvents {
    rows: Vec<NewRow>,
}

impl NewEvents {
    /// Adds `kind` about `call` for every destination that takes it.
    pub fn call(
        &mut self,
        events: &mut Enqueue<'_>,
        kind: EventKind,
        call: &CallFact,
        occurred_at: Timestamp,
    ) -> Result<(), StoreError> {
        let targets = events.call_targets(kind, call);
        if targets.is_empty() {
            return Ok(());
        }
        let payload = to_json(call).map_err(|e| StoreError::PgValue(e.to_string()))?;
        for (subscription, dead) in targets {
            if dead.is_none() {
                events.added += 1;
            }
            self.rows.push(NewRow {
                id: call_event_id(
                    &subscription.destination,
                    kind,
                    &event_key(kind, call, occurred_at),
                ),
                destination: subscription.destination.clone(),
                event: kind.as_str(),
                subject: call.id.clone(),
                occurred_at: rfc3339::format(occurred_at),
                payload: payload.clone(),
                dead,
            });
        }
        Ok(())
    }

    /// Adds `lead.created` for every destination that takes `lead`.
    pub fn lead(
        &mut self,
        events: &mut Enqueue<'_>,
        lead: &LeadFact,
        occurred_at: Timestamp,
    ) -> Result<(), StoreError> {
        let kind = EventKind::LeadCreated;
        let mut payload = None;
        for s in events.subscriptions.iter().filter(|s| s.takes_lead(lead)) {
            let json = match &payload {
                Some(json) => json,
                None => {
                    payload.insert(to_json(lead).map_err(|e| StoreError::PgValue(e.to_string()))?)
                }
            };
            self.rows.push(NewRow {
                id: call_event_id(&s.destination, kind, &lead.id),
                destination: s.destination.clone(),
                event: kind.as_str(),
                subject: lead.id.clone(),
                occurred_at: rfc3339::format(occurred_at),
                payload: json.clone(),
                dead: None,
            });
            events.added += 1;
        }
        Ok(())
    }

    /// Inserts every row in one statement, written at `now`.
    pub fn insert(self, client: &mut impl GenericClient, now: Timestamp) -> Result<(), StoreError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let pick = |f: fn(&NewRow) -> Option<&str>| -> Vec<Option<&str>> {
            self.rows.iter().map(f).collect()
        };
        let ids = pick(|r| Some(&r.id));
        let destinations = pick(|r| Some(&r.destination));
        let kinds = pick(|r| Some(r.event));
        let subjects = pick(|r| Some(&r.subject));
        let occurred = pick(|r| Some(&r.occurred_at));
        let payloads = pick(|r| Some(&r.payload));
        let dead = pick(|r| r.dead.as_deref());
        client.execute(
            "INSERT INTO outbox (id, destination, event, subject, occurred_at, created_at, \
             payload, next_attempt_at, state, last_error, settled_at) \
             SELECT i, d, e, s, o::timestamptz, $8::bigint, p::json, $8::bigint, \
             CASE WHEN x IS NULL THEN 'pending' ELSE 'dead' END, x, \
             CASE WHEN x IS NULL THEN NULL ELSE $8::bigint END \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[]) WITH ORDINALITY AS t(i, d, e, s, o, p, x, n) ORDER BY n \
             ON CONFLICT (id) DO NOTHING",
            &[
                &ids,
                &destinations,
                &kinds,
                &subjects,
                &occurred,
                &payloads,
                &dead,
                &millis(now),
            ],
        )?;
        Ok(())
    }
}

/// What tells one event of a call from another of the same kind: the call for events a call
/// has once; for `call.updated`, of which a call may have many (each patch), the call and
/// the update's time (to the nanosecond), still the same when a batch is written twice.
fn event_key(kind: EventKind, call: &CallFact, occurred_at: Timestamp) -> String {
    match kind {
        EventKind::CallUpdated => format!("{}@{}", call.id, occurred_at.as_nanosecond()),
        _ => call.id.clone(),
    }
}

/// The id of the one `kind` event about call `subject` for `destination`: the same every
/// time it is derived, so a batch written twice (the spool replayed after a crash between
/// PostgreSQL's commit and the spool's delete) inserts it once (`ON CONFLICT DO NOTHING`).
/// Same shape as the SQLite store's random ids (`evt_` and 32 hex digits).
pub fn call_event_id(destination: &str, kind: EventKind, subject: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [destination, kind.as_str(), subject] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut id = String::with_capacity(36);
    id.push_str("evt_");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// Claims up to `limit` events of `destination` due at `now` for `node`, for `lease`
/// (after which another node may take them over); oldest first.
pub fn claim(
    client: &mut impl GenericClient,
    destination: &str,
    node: &str,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> Result<Vec<OutboxEvent>, StoreError> {
    let until = millis(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "UPDATE outbox o SET claimed_by = $3, claimed_until = $5 WHERE o.seq IN (\
         SELECT c.seq FROM outbox c WHERE c.destination = $1 AND c.state = 'pending' \
         AND c.next_attempt_at <= $2 AND (c.claimed_until IS NULL OR c.claimed_until <= $2) \
         AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.destination = c.destination \
          AND e.subject = c.subject AND e.state = 'pending' AND e.seq < c.seq) \
         ORDER BY c.seq LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING o.seq, o.id, o.destination, o.event, o.subject, {}, o.created_at, \
         o.attempts, o.payload::text, (SELECT k.kept FROM outbox k \
          WHERE k.destination = o.destination AND k.subject = o.subject \
          AND k.kept IS NOT NULL ORDER BY k.seq LIMIT 1)",
        time_text("o.occurred_at")
    );
    let rows = client.query(&sql, &[&destination, &millis(now), &node, &limit, &until])?;
    let mut events = rows.iter().map(event).collect::<Result<Vec<_>, _>>()?;
    events.sort_by_key(|e| e.seq);
    Ok(events)
}

fn event(row: &postgres::Row) -> Result<OutboxEvent, StoreError> {
    let kind: String = row.try_get(3)?;
    let occurred: String = row.try_get(5)?;
    let bad = |what: &str| StoreError::PgValue(format!("outbox {what}"));
    let attempts: i64 = row.try_get(7)?;
    Ok(OutboxEvent {
        seq: row.try_get(0)?,
        id: row.try_get(1)?,
        destination: row.try_get(2)?,
        kind: EventKind::parse(&kind).ok_or_else(|| bad(&kind))?,
        subject: row.try_get(4)?,
        occurred_at: rfc3339::parse(&occurred).map_err(|_| bad(&occurred))?,
        created_at: from_millis(row.try_get(6)?),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        payload: row.try_get(8)?,
        kept: row.try_get(9)?,
    })
}

/// Stores how attempts ended and lifts their claims; a row no longer pending is left as is.
pub fn settle(client: &mut impl GenericClient, settled: &[Settled]) -> Result<(), StoreError> {
    for s in settled {
        let tried = i64::from(s.attempted);
        let at = millis(s.at);
        match &s.outcome {
            Settlement::Delivered { kept } => client.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + $2, \
                 settled_at = $3, kept = $4, last_error = NULL, claimed_by = NULL, \
                 claimed_until = NULL WHERE seq = $1 AND state = 'pending'",
                &[&s.seq, &tried, &at, kept],
            )?,
            Settlement::Retry { at: next, error } => client.execute(
                "UPDATE outbox SET attempts = attempts + $2, next_attempt_at = $3, \
                 last_error = $4, claimed_by = NULL, claimed_until = NULL \
                 WHERE seq = $1 AND state = 'pending'",
                &[&s.seq, &tried, &millis(*next), error],
            )?,
            Settlement::Dead { error } => client.execute(
                "UPDATE outbox SET state = 'dead', attempts = attempts + $2, settled_at = $3, \
                 last_error = $4, claimed_by = NULL, claimed_until = NULL \
                 WHERE seq = $1 AND state = 'pending'",
                &[&s.seq, &tried, &at, error],
            )?,
        };
    }
    Ok(())
}

/// Deletes delivered events settled before `before`; returns how many.
pub fn prune_delivered(
    client: &mut impl GenericClient,
    before: Timestamp,
) -> Result<u64, StoreError> {
    Ok(client.execute(
        "DELETE FROM outbox WHERE state = 'delivered' AND settled_at < $1",
        &[&millis(before)],
    )?)
}
