//! The node-local mirror of the Redis leases: change events (from the scripts' answers and
//! from pub/sub) applied to the [`LeaseTable`]'s own maps, which `holder_of` reads without IO.
//!
//! Every event carries the number's version (`ver`, bumped by every script that changes the
//! number); an event is applied only when newer than what the mirror holds, so the answer a
//! node gets from its own script and the same change arriving over pub/sub apply once, in
//! either order. A full read after (re)subscribing is applied by force: after a Redis restart
//! versions start again from zero.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

use super::super::entries::Held;
use super::super::{Lease, LeaseTable, Visit};

/// One number's state as a script reports it (see `scripts.rs` for the keys).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Event {
    /// The number.
    pub n: String,
    /// Its version.
    pub v: u64,
    /// Calls ringing or in progress on it.
    #[serde(default)]
    pub c: u32,
    /// The session holding it.
    pub s: Option<String>,
    /// The holder's visitor id.
    pub vi: Option<String>,
    /// The holder's visit as JSON.
    pub vs: Option<String>,
    /// Granted, last seen and expiry of the holder's lease, in ms since the epoch.
    pub g: Option<i64>,
    pub l: Option<i64>,
    pub e: Option<i64>,
    /// When a free number was released, in ms since the epoch.
    pub r: Option<f64>,
}

/// How an event meets the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Apply {
    /// Only when newer than the mirror's version of the number.
    IfNewer,
    /// Whatever the mirror holds (a full read after subscribing).
    Force,
}

impl LeaseTable {
    /// Applies one event. Events about numbers this node does not have in its config are
    /// ignored. Callers serialise applies (`Remote::apply`).
    pub(super) fn apply_event(&self, ev: &Event, how: Apply) {
        let Some((pool, slot, old)) = self.swap_number_state(ev, how) else {
            return;
        };
        if let Some(old) = old.filter(|o| Some(&**o) != ev.s.as_deref()) {
            self.sessions
                .remove_if(&old, |_, h| h.pool == pool && h.slot == slot);
        }
        self.mirror_free_set(pool, slot, ev);
        if let Some(session) = ev.s.as_deref() {
            self.sessions
                .insert(Arc::from(session), held_of(ev, pool, slot));
        }
    }

    /// The number's new holder, calls and version; its (pool, slot, previous holder), or
    /// `None` when the event is not applied.
    fn swap_number_state(&self, ev: &Event, how: Apply) -> Option<(u32, u32, Option<Arc<str>>)> {
        {
            let mut state = self.numbers.get_mut(ev.n.as_str())?;
            if how == Apply::IfNewer && ev.v <= state.version {
                return None;
            }
            state.version = ev.v;
            state.calls = ev.c;
            let old = std::mem::replace(&mut state.holder, ev.s.as_deref().map(Arc::from));
            Some((state.pool, state.slot, old))
        }
    }

    /// The pool's local free set follows Redis, so pool stats and ring context stay right.
    fn mirror_free_set(&self, pool: u32, slot: u32, ev: &Event) {
        let mut alloc = self.pool(pool).lock();
        match ev.r {
            Some(ms) if ev.s.is_none() && ev.c == 0 => {
                alloc.take(slot);
                alloc.put(slot, from_ms(ms as i64));
            }
            _ => drop(alloc.take(slot)),
        }
    }

    /// The lease an event names, built from the event itself (not from the mirror, which
    /// may already hold a newer state of the number).
    pub(super) fn lease_of_event(&self, ev: &Event) -> Option<Lease> {
        let session = ev.s.as_deref()?;
        let (pool, slot) = self.numbers.get(ev.n.as_str()).map(|n| (n.pool, n.slot))?;
        Some(self.to_lease(session, &held_of(ev, pool, slot)))
    }
}

fn held_of(ev: &Event, pool: u32, slot: u32) -> Held {
    let visit: Visit = ev
        .vs
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    Held {
        pool,
        slot,
        visitor_id: ev.vi.as_deref().map(Arc::from),
        visit: Arc::new(visit),
        granted_at: from_ms(ev.g.unwrap_or(0)),
        last_seen: from_ms(ev.l.unwrap_or(0)),
        expires_at: from_ms(ev.e.unwrap_or(0)),
        heartbeats: 0,
        released_at: None,
    }
}

/// Milliseconds since the epoch as a timestamp (out of range: the epoch).
pub(super) fn from_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A timestamp as milliseconds since the epoch, the scripts' unit.
pub(super) fn to_ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}
