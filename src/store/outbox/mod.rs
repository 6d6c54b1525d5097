//! The transactional outbox: facts owed to export destinations (webhooks, GA4, Metrica,
//! Bitrix24), written by the store writer in the same transaction as the row they describe,
//! so a crash loses neither; the export room delivers them and settles each row through the
//! writer.
//!
//! - [`fact`]: what an event carries (`CallFact`, `LeadFact`) and how it is built from a
//!   live call, a CDR or a lead.
//! - [`enqueue`]: fan-out of one fact to every destination whose [`Subscription`] takes it.
//! - [`delivery`]: what a delivery service reads (due events, in per-subject order) and how
//!   it settles them (delivered, retry later, dead letter).
//! - [`metrica_uploads`]: Metrica uploads and their processing status (polled).
//! - [`admin`]: status per destination, listings and replay (CLI and admin API).
//!
//! One row per (event, destination): its `id` is the event id receivers deduplicate by
//! (stable across retries and replays), `subject` the call or lead it is about (events of one
//! subject are delivered in `seq` order).

pub mod admin;
pub mod delivery;
pub mod enqueue;
pub mod fact;
pub(super) mod from_batch;
pub mod metrica_uploads;
mod schema;
#[cfg(test)]
mod scored_tests;
mod subscription;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::Notify;

pub use crate::config::exports::EventKind;
pub use fact::{CallFact, LeadFact};
pub(super) use metrica_uploads::V12_METRICA_UPLOADS;
pub(super) use schema::V11_OUTBOX;
pub use subscription::{EventSet, Need, Subscription, subscriptions};

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "dead" => Some(DeliveryState::Dead),
            _ => None,
        }
    }
}

/// One event owed to one destination, as a delivery service reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Storage order; per subject, events are delivered in this order.
    pub seq: i64,
    /// The event id receivers deduplicate by (`webhook-id`): `evt_` and 32 hex digits.
    pub id: String,
    pub destination: String,
    pub kind: EventKind,
    /// The call or lead id.
    pub subject: String,
    /// When it happened (ringing: the call's start; ended: its end; updated: the change).
    pub occurred_at: Timestamp,
    /// When it was written to the outbox.
    pub created_at: Timestamp,
    /// Attempts so far (0 before the first).
    pub attempts: u32,
    /// The event's data as JSON: a [`CallFact`] for call events, a [`LeadFact`] for leads.
    pub payload: String,
    /// What the destination answered to the first delivered event of the same subject and
    /// asked to keep (Bitrix24's `CALL_ID` from `register`, needed by `finish`).
    pub kept: Option<String>,
}

/// What the writer needs to fill the outbox: the subscriptions of the configured
/// destinations (swapped on reload) and the bell it rings after a commit that added events.
#[derive(Debug, Default)]
pub struct Outbox {
    subscriptions: ArcSwap<Vec<Subscription>>,
    wake: Notify,
    /// Set when the outbox is on PostgreSQL: delivery services claim through it.
    postgres: std::sync::OnceLock<crate::store::pg::PgClaims>,
}

impl Outbox {
    pub fn new(subscriptions: Vec<Subscription>) -> Arc<Outbox> {
        Arc::new(Outbox {
            subscriptions: ArcSwap::from_pointee(subscriptions),
            wake: Notify::new(),
            postgres: std::sync::OnceLock::new(),
        })
    }

    /// Puts the outbox on PostgreSQL: delivery services claim rows through `claims` (shared
    /// with other nodes) instead of reading the SQLite file. Set once, at start-up.
    pub fn claim_through(&self, claims: crate::store::pg::PgClaims) {
        let _ = self.postgres.set(claims);
    }

    /// The PostgreSQL claims, when the outbox is there.
    pub fn postgres(&self) -> Option<&crate::store::pg::PgClaims> {
        self.postgres.get()
    }

    /// Replaces the subscriptions (config reload); events already written keep their rows.
    pub fn subscribe(&self, subscriptions: Vec<Subscription>) {
        self.subscriptions.store(Arc::new(subscriptions));
    }

    pub fn subscriptions(&self) -> Arc<Vec<Subscription>> {
        self.subscriptions.load_full()
    }

    /// Wakes every delivery service (called by the writer after committing new events, and
    /// after a replay).
    pub fn ring(&self) {
        self.wake.notify_waiters();
    }

    /// Resolves at the next [`Outbox::ring`].
    pub fn rung(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }
}

/// Milliseconds since the Unix epoch, the outbox's stored time.
pub(crate) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The inverse of [`millis`]; out-of-range values clamp.
pub(crate) fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}
