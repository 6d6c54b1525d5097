//! Whole-table views and bulk loads of [`LeaseTable`]: per-pool stats, the snapshot saved by
//! the sweeper, and restoring that snapshot after a restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;

use super::entries::{Held, Pool};
use super::{Lease, LeaseTable, PoolStats};

impl LeaseTable {
    /// Occupancy of every pool at `now`, in configured order.
    pub fn stats(&self, now: Timestamp) -> Vec<PoolStats> {
        self.pools
            .iter()
            .map(|pool| self.pool_stats(pool, now))
            .collect()
    }

    fn pool_stats(&self, pool: &Pool, now: Timestamp) -> PoolStats {
        let alloc = pool.lock();
        let (cooling, free) = alloc.free_counts(now, pool.cooldown);
        let (mut leased, mut ringing, mut quarantined) = (0, 0, 0);
        for state in pool.numbers.iter().filter_map(|n| self.numbers.get(n)) {
            leased += usize::from(state.holder.is_some());
            ringing += usize::from(state.calls > 0);
            quarantined += usize::from(state.leak.quarantined());
        }
        PoolStats {
            site: pool.site.clone(),
            pool: pool.id.clone(),
            size: pool.numbers.len(),
            leased,
            ringing,
            cooling,
            free,
            quarantined,
            granted_total: pool.granted_total.load(Ordering::Relaxed),
            exhausted_total: pool.exhausted_total.load(Ordering::Relaxed),
        }
    }

    /// How many leases are stored (including expired ones the sweeper has not ended yet).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every stored lease, for persistence.
    pub fn snapshot(&self) -> Vec<Lease> {
        self.sessions
            .iter()
            .map(|e| self.to_lease(e.key(), e.value()))
            .collect()
    }

    /// Puts persisted leases back after a restart. Leases already over at `now`, of unknown
    /// pools or numbers, or whose number or session id is taken already are dropped.
    pub fn restore(&self, leases: Vec<Lease>, now: Timestamp) {
        for lease in leases.into_iter().filter(|l| l.expires_at > now) {
            self.restore_one(lease);
        }
    }

    fn restore_one(&self, lease: Lease) {
        let Some(index) = self.pool_index(&lease.site, &lease.pool) else {
            return;
        };
        let Some(slot) = self
            .numbers
            .get(lease.number.as_str())
            .filter(|n| n.pool == index)
            .map(|n| n.slot)
        else {
            return;
        };
        let mut alloc = self.pool(index).lock();
        if self.sessions.contains_key(lease.session_id.as_str()) || alloc.take(slot).is_none() {
            return;
        }
        let session: Arc<str> = lease.session_id.into();
        let visitor_id: Option<Arc<str>> = lease.visitor_id.map(Into::into);
        if let Some(visitor) = &visitor_id {
            alloc.remember(visitor.clone(), slot, session.clone(), lease.granted_at);
        }
        let held = Held {
            pool: index,
            slot,
            visitor_id,
            visit: lease.visit,
            granted_at: lease.granted_at,
            last_seen: lease.last_seen,
            expires_at: lease.expires_at,
            heartbeats: 0,
            released_at: None,
        };
        self.sessions.insert(session.clone(), held);
        self.set_holder(index, slot, Some(session));
    }
}
