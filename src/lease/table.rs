//! The shared lease table: session -> lease, number -> state, and each pool's allocation
//! behind its own small mutex.
//!
//! Invariant: a number is held by at most one lease. Only code holding the pool's mutex
//! changes a number's holder or moves it in or out of the pool's free set, and a number is
//! in the free set only while no lease holds it and no call is ringing or in progress on it.
//!
//! Lock order, never taken the other way round: a pool's mutex, then a `sessions` shard,
//! then a `numbers` shard. Readers (`session`, `holder_of`, `snapshot`) take one shard at a
//! time and never a pool's mutex.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use jiff::Timestamp;

use super::entries::{Held, NumberState, Pool};
use super::pool::Allocation;
use super::{GrantRequest, Lease, LeaseError, OverflowCodes};

/// The thread-safe table of every pool's leases; share it as `Arc<LeaseTable>`.
#[derive(Debug)]
pub struct LeaseTable {
    pub(super) pools: Vec<Pool>,
    /// site id -> pool id -> index into `pools`; fixed at construction.
    pub(super) by_name: HashMap<String, HashMap<String, u32>>,
    pub(super) sessions: DashMap<Arc<str>, Held>,
    /// Every pool number; the key set is fixed at construction.
    pub(super) numbers: DashMap<Arc<str>, NumberState>,
    /// Codes shown with the reserve number once a site's pools are exhausted.
    pub(super) codes: OverflowCodes,
    /// Numbers quarantined since the start (leak detection).
    pub(super) quarantined_total: AtomicU64,
    /// Ended leases waiting for the sweeper ([`super::history`]).
    pub(super) history: super::history::HistoryQueue,
    /// Set once when the table lives on Redis ([`super::remote`]): the maps above are then
    /// the node's mirror of it.
    pub(super) remote: std::sync::OnceLock<super::remote::Remote>,
}

/// What renews a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    Grant,
    Heartbeat,
    Release,
}

impl LeaseTable {
    /// Leases a number to a visitor, in this order:
    /// 1. a lease with this `session_id` in this pool still held -> that lease, renewed;
    /// 2. the visitor (`visitor_id`) holds a lease in this pool still held -> THAT lease,
    ///    renewed: the returned `session_id` is the original one, not `req.session_id`;
    /// 3. the visitor's last number in this pool is free -> that number (even while it is
    ///    cooling down: the calls it may still get are this visitor's anyway);
    /// 4. the number free longest, past its cool-down (LRU).
    ///
    /// A number with a call ringing or in progress is never handed out. When none is left
    /// the answer is [`LeaseError::Exhausted`]; it is not counted here (the caller may try
    /// the next pool): the one place that shows the reserve number counts it, with
    /// [`LeaseTable::count_exhausted`].
    pub fn grant(&self, req: GrantRequest, now: Timestamp) -> Result<Lease, LeaseError> {
        if let Some(remote) = self.remote() {
            return self.remote_grant(remote, req, now);
        }
        let index = self
            .pool_index(&req.site, &req.pool)
            .ok_or(LeaseError::UnknownPool)?;
        if let Some(lease) = self.reuse_session(&req.session_id, index, now) {
            return Ok(lease);
        }
        let pool = self.pool(index);
        let mut alloc = pool.lock();
        let known = req
            .visitor_id
            .as_deref()
            .and_then(|v| alloc.visitor(v).cloned());
        if let Some(lease) = known
            .as_ref()
            .and_then(|k| self.renew(&k.session, Some(index), now, Renewal::Grant))
        {
            return Ok(lease);
        }
        let taken = known
            .and_then(|k| alloc.take(k.slot))
            .or_else(|| alloc.take_lru(now, pool.cooldown));
        let Some(taken) = taken else {
            return Err(LeaseError::Exhausted);
        };
        let session: Arc<str> = req.session_id.into();
        let visitor: Option<Arc<str>> = req.visitor_id.map(Into::into);
        let held = Held {
            pool: index,
            slot: taken.slot,
            visitor_id: visitor.clone(),
            visit: Arc::new(req.visit),
            granted_at: now,
            last_seen: now,
            expires_at: now.saturating_add(pool.freeze()).unwrap_or(Timestamp::MAX),
            heartbeats: 0,
            released_at: None,
        };
        let lease = self.to_lease(&session, &held);
        match self.sessions.entry(session.clone()) {
            // Only a concurrent grant reusing this session id gets here: the first one wins.
            Entry::Occupied(existing) => {
                alloc.untake(taken);
                return Ok(self.to_lease(existing.key(), existing.get()));
            }
            Entry::Vacant(vacant) => drop(vacant.insert(held)),
        }
        self.set_holder(index, taken.slot, Some(session.clone()));
        if let Some(visitor) = visitor {
            alloc.remember(visitor, taken.slot, session, now);
        }
        pool.granted_total.fetch_add(1, Ordering::Relaxed);
        Ok(lease)
    }

    /// The snippet is still on the page: `last_seen = now`, `expires_at = now + freeze`.
    /// `None` when the lease is unknown or already over (the snippet then asks anew).
    pub fn heartbeat(&self, session_id: &str, now: Timestamp) -> Option<Lease> {
        if let Some(remote) = self.remote() {
            return self.remote_touch(remote, session_id, now, false);
        }
        self.renew(session_id, None, now, Renewal::Heartbeat)
    }

    /// The page was left: the freeze starts now (the same update as a last heartbeat).
    pub fn release(&self, session_id: &str, now: Timestamp) -> Option<Lease> {
        if let Some(remote) = self.remote() {
            return self.remote_touch(remote, session_id, now, true);
        }
        self.renew(session_id, None, now, Renewal::Release)
    }

    /// The lease named `session_id` as stored, over or not (until the sweeper ends it).
    pub fn session(&self, session_id: &str) -> Option<Lease> {
        let held = self.sessions.get(session_id)?;
        Some(self.to_lease(session_id, &held))
    }

    /// The lease holding `number` at ring time: live, in its freeze, or with a call in
    /// progress on the number even though its freeze ran out. On Redis this reads the node's
    /// mirror, and a stale mirror answers `None` (see [`super::remote`]).
    pub fn holder_of(&self, number: &str, now: Timestamp) -> Option<Lease> {
        if self.backend_up() == Some(false) {
            return None;
        }
        let (holder, calls) = {
            let state = self.numbers.get(number)?;
            (state.holder.clone()?, state.calls)
        };
        let held = self.sessions.get(&holder)?;
        (held.expires_at > now || calls > 0).then(|| self.to_lease(&holder, &held))
    }

    /// A call to `number` starts ringing: it is not reissued (nor its lease ended) until
    /// [`LeaseTable::call_ended`]. Numbers outside every pool are ignored.
    pub fn call_started(&self, number: &str) {
        if let Some(remote) = self.remote() {
            return self.remote_mark(remote, super::remote::Mark::Started(number.to_owned()));
        }
        let Some(index) = self.numbers.get(number).map(|n| n.pool) else {
            return;
        };
        let mut alloc = self.pool(index).lock();
        if let Some(mut state) = self.numbers.get_mut(number) {
            state.calls = state.calls.saturating_add(1);
            if state.holder.is_none() {
                alloc.take(state.slot);
            }
        }
    }

    /// A call to `number` ended; a free number rests for the cool-down from `now`.
    pub fn call_ended(&self, number: &str, now: Timestamp) {
        if let Some(remote) = self.remote() {
            return self.remote_mark(remote, super::remote::Mark::Ended(number.to_owned(), now));
        }
        let Some(index) = self.numbers.get(number).map(|n| n.pool) else {
            return;
        };
        let mut alloc = self.pool(index).lock();
        if let Some(mut state) = self.numbers.get_mut(number) {
            state.calls = state.calls.saturating_sub(1);
            state.last_call_end = state.last_call_end.max(Some(now));
            if state.calls == 0 && state.holder.is_none() && !state.leak.quarantined() {
                alloc.put(state.slot, now);
            }
        }
    }

    /// Ends every lease whose `expires_at <= now` and that has no call in progress; each
    /// number goes back to the free list as released at `expires_at` (or at the end of its
    /// last call, if later). Returns how many leases ended.
    pub fn expire(&self, now: Timestamp) -> usize {
        if let Some(remote) = self.remote() {
            return self.remote_expire(remote, now);
        }
        let mut due: Vec<(u32, Arc<str>)> = self
            .sessions
            .iter()
            .filter(|e| e.expires_at <= now)
            .map(|e| (e.pool, e.key().clone()))
            .collect();
        due.sort_unstable_by_key(|(pool, _)| *pool);
        let mut ended = 0;
        for group in due.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(index, _)) = group.first() else {
                continue;
            };
            let mut alloc = self.pool(index).lock();
            for (_, id) in group {
                let removed = self
                    .sessions
                    .remove_if(id, |_, h| h.expires_at <= now && !self.in_call(h));
                if let Some((id, held)) = removed {
                    self.note_ended(&id, &held, held.expires_at, false);
                    self.free_number(&mut alloc, &id, &held, held.expires_at);
                    ended += 1;
                }
            }
        }
        ended
    }

    /// The reserve number (or the default, without one) was shown because every candidate
    /// pool was exhausted: one exhaustion of `pool`, the first candidate. The only counter
    /// of `exhausted_total` (`calltrack_pool_exhausted_total`, `pool status`).
    pub fn count_exhausted(&self, site: &str, pool: &str) {
        if let Some(index) = self.pool_index(site, pool) {
            self.pool(index)
                .exhausted_total
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The sites' overflow codes (`lease/codes.rs`); the sweeper expires and saves them with
    /// the leases.
    pub fn codes(&self) -> &OverflowCodes {
        &self.codes
    }

    /// Grant step 1: an existing `session_id` in this pool still held is renewed; any other
    /// lease with that id (over, or in another pool) is ended so the id can be granted anew.
    fn reuse_session(&self, session_id: &str, index: u32, now: Timestamp) -> Option<Lease> {
        let pool = self.sessions.get(session_id)?.pool;
        if pool == index {
            if let Some(lease) = self.renew(session_id, Some(index), now, Renewal::Grant) {
                return Some(lease);
            }
        }
        self.end(session_id, now);
        None
    }

    /// Renews the lease if it is still held at `now` (and in pool `index`, if given).
    fn renew(
        &self,
        session_id: &str,
        index: Option<u32>,
        now: Timestamp,
        why: Renewal,
    ) -> Option<Lease> {
        let mut held = self.sessions.get_mut(session_id)?;
        let in_pool = index.is_none_or(|i| i == held.pool);
        if !in_pool || !(held.expires_at > now || self.in_call(&held)) {
            return None;
        }
        held.heartbeats = held
            .heartbeats
            .saturating_add(u32::from(why == Renewal::Heartbeat));
        held.released_at = (why == Renewal::Release).then_some(now);
        held.last_seen = now;
        held.expires_at = now
            .saturating_add(self.pool(held.pool).freeze())
            .unwrap_or(Timestamp::MAX);
        Some(self.to_lease(session_id, &held))
    }

    /// Ends a lease at once, whatever its state; its number is released at `now` at latest.
    fn end(&self, session_id: &str, now: Timestamp) {
        let Some(index) = self.sessions.get(session_id).map(|h| h.pool) else {
            return;
        };
        let mut alloc = self.pool(index).lock();
        if let Some((id, held)) = self.sessions.remove(session_id) {
            let released_at = held.expires_at.min(now);
            self.note_ended(&id, &held, released_at, held.expires_at > now);
            self.free_number(&mut alloc, &id, &held, released_at);
        }
    }

    /// The lease `id` is gone: its number loses its holder and, unless a call is on it,
    /// goes back to the free set. Call with the pool's mutex held.
    fn free_number(&self, alloc: &mut Allocation, id: &str, held: &Held, at: Timestamp) {
        let number = self.number(held.pool, held.slot);
        let Some(mut state) = self.numbers.get_mut(number) else {
            return;
        };
        if state.holder.as_deref() == Some(id) {
            state.holder = None;
        }
        let key = held.visitor_id.clone().unwrap_or_else(|| Arc::from(id));
        super::ring::remember_holder(&mut state.recent, key, at);
        state.last = Some((self.to_lease(id, held), at));
        if state.calls == 0 && state.holder.is_none() && !state.leak.quarantined() {
            alloc.put(held.slot, state.last_call_end.max(Some(at)).unwrap_or(at));
        }
    }

    pub(super) fn set_holder(&self, index: u32, slot: u32, holder: Option<Arc<str>>) {
        if let Some(mut state) = self.numbers.get_mut(self.number(index, slot)) {
            state.holder = holder;
        }
    }

    fn in_call(&self, held: &Held) -> bool {
        let number = self.number(held.pool, held.slot);
        self.numbers.get(number).is_some_and(|n| n.calls > 0)
    }

    pub(super) fn to_lease(&self, session_id: &str, held: &Held) -> Lease {
        let pool = self.pool(held.pool);
        Lease {
            session_id: session_id.to_owned(),
            site: pool.site.clone(),
            pool: pool.id.clone(),
            number: self.number(held.pool, held.slot).to_owned(),
            visitor_id: held.visitor_id.as_deref().map(str::to_owned),
            visit: held.visit.clone(),
            granted_at: held.granted_at,
            last_seen: held.last_seen,
            expires_at: held.expires_at,
        }
    }

    pub(super) fn pool_index(&self, site: &str, pool: &str) -> Option<u32> {
        self.by_name.get(site)?.get(pool).copied()
    }

    /// Indexes stored in `Held` and `NumberState` always name an existing pool and slot.
    pub(super) fn pool(&self, index: u32) -> &Pool {
        &self.pools[index as usize]
    }

    fn number(&self, index: u32, slot: u32) -> &str {
        &self.pool(index).numbers[slot as usize]
    }
}
