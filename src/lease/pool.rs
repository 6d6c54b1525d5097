//! One pool's allocation policy: free numbers ordered by release time (LRU, with a cool-down)
//! and a bounded memory of which number each returning visitor had.
//!
//! Numbers are `slot`s, indexes into the pool's number list. A slot is in the free set only
//! while no lease holds it and no call is ringing or in progress on it; the table keeps that
//! invariant and this file only orders what it is given.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

/// How many returning visitors a pool remembers at most.
const VISITOR_CAP: usize = 50_000;
/// A remembered visitor is forgotten this long after its last grant, once the cap is reached.
const VISITOR_TTL: SignedDuration = SignedDuration::from_hours(24);

/// What a pool remembers about a visitor: the number it had last and the lease that had it.
#[derive(Debug, Clone)]
pub(super) struct Visitor {
    pub slot: u32,
    pub session: Arc<str>,
    pub granted_at: Timestamp,
}

/// A slot just taken from the free set, and since when it had been free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Taken {
    pub slot: u32,
    pub released_at: Timestamp,
}

/// The mutable half of a pool, kept behind the pool's mutex.
#[derive(Debug)]
pub(super) struct Allocation {
    /// Free slots by (released_at, slot): the first entry has been free longest.
    free: BTreeSet<(Timestamp, u32)>,
    /// `free_since[slot]` is the key of that slot in `free`, if it is there.
    free_since: Vec<Option<Timestamp>>,
    /// Keyed by the same `Arc` the lease keeps, so a visitor id is stored once.
    visitors: HashMap<Arc<str>, Visitor>,
}

impl Allocation {
    /// Every slot free since the epoch, so the first grants follow the configured order.
    pub fn new(size: u32) -> Allocation {
        let since = Timestamp::UNIX_EPOCH;
        Allocation {
            free: (0..size).map(|slot| (since, slot)).collect(),
            free_since: vec![Some(since); size as usize],
            visitors: HashMap::new(),
        }
    }

    /// Takes the slot free longest, unless even that one is still cooling down.
    pub fn take_lru(&mut self, now: Timestamp, cooldown: SignedDuration) -> Option<Taken> {
        let &(released_at, slot) = self.free.first()?;
        if released_at
            .saturating_add(cooldown)
            .unwrap_or(Timestamp::MAX)
            > now
        {
            return None;
        }
        self.take(slot)
    }

    /// Takes `slot` out of the free set; `None` when it was not free.
    pub fn take(&mut self, slot: u32) -> Option<Taken> {
        let released_at = self.free_since.get_mut(slot as usize)?.take()?;
        self.free.remove(&(released_at, slot));
        Some(Taken { slot, released_at })
    }

    /// Undoes a take: the slot goes back exactly where it was in the LRU order.
    pub fn untake(&mut self, taken: Taken) {
        self.put(taken.slot, taken.released_at);
    }

    /// Puts `slot` back as free since `released_at`; a no-op when it is free already.
    pub fn put(&mut self, slot: u32, released_at: Timestamp) {
        if let Some(since @ None) = self.free_since.get_mut(slot as usize) {
            *since = Some(released_at);
            self.free.insert((released_at, slot));
        }
    }

    /// (cooling, free): free slots still in their cool-down, and those ready to be granted.
    pub fn free_counts(&self, now: Timestamp, cooldown: SignedDuration) -> (usize, usize) {
        let ready_before = now.saturating_sub(cooldown).unwrap_or(Timestamp::MIN);
        let cooling = self
            .free
            .range((ready_before, u32::MAX)..)
            .filter(|(t, _)| *t > ready_before)
            .count();
        (cooling, self.free.len() - cooling)
    }

    /// The visitor's last number and the lease that had it, if remembered.
    pub fn visitor(&self, visitor_id: &str) -> Option<&Visitor> {
        self.visitors.get(visitor_id)
    }

    /// Remembers that `visitor_id` was just granted `slot` under lease `session`.
    pub fn remember(&mut self, visitor_id: Arc<str>, slot: u32, session: Arc<str>, now: Timestamp) {
        let visitor = Visitor {
            slot,
            session,
            granted_at: now,
        };
        // Removed and inserted anew (not updated in place) so the key is the lease's `Arc`.
        let known = self.visitors.remove(&visitor_id).is_some();
        if !known && self.visitors.len() >= VISITOR_CAP {
            self.forget_old(now);
        }
        self.visitors.insert(visitor_id, visitor);
    }

    /// Drops visitors older than a day; if that is not enough, the oldest quarter.
    fn forget_old(&mut self, now: Timestamp) {
        let horizon = now.saturating_sub(VISITOR_TTL).unwrap_or(Timestamp::MIN);
        self.visitors.retain(|_, v| v.granted_at > horizon);
        if self.visitors.len() < VISITOR_CAP {
            return;
        }
        let mut times: Vec<Timestamp> = self.visitors.values().map(|v| v.granted_at).collect();
        let quarter = times.len() / 4;
        let (_, &mut cutoff, _) = times.select_nth_unstable(quarter);
        self.visitors.retain(|_, v| v.granted_at > cutoff);
    }

    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.visitors.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::constant(1772366400, 0) /* 2026-03-01T12:00:00Z */;
    const COOL: SignedDuration = SignedDuration::from_secs(60);

    #[test]
    fn first_grants_follow_configured_order() {
        let mut a = Allocation::new(3);
        let slot = |a: &mut Allocation| a.take_lru(T0, COOL).map(|t| t.slot);
        assert_eq!(slot(&mut a), Some(0));
        assert_eq!(slot(&mut a), Some(1));
        assert_eq!(slot(&mut a), Some(2));
        assert_eq!(slot(&mut a), None);
    }

    #[test]
    fn free_longest_goes_first_and_cooling_is_skipped() {
        let mut a = Allocation::new(2);
        assert!(a.take(0).is_some() && a.take(1).is_some());
        a.put(1, T0);
        a.put(0, T0 + SignedDuration::from_secs(10));
        assert_eq!(
            a.free_counts(T0 + SignedDuration::from_secs(30), COOL),
            (2, 0)
        );
        assert_eq!(a.take_lru(T0 + SignedDuration::from_secs(59), COOL), None);
        let taken = a.take_lru(T0 + SignedDuration::from_secs(60), COOL);
        assert_eq!(taken.map(|t| t.slot), Some(1));
        assert_eq!(
            a.free_counts(T0 + SignedDuration::from_secs(60), COOL),
            (1, 0)
        );
        assert_eq!(
            a.free_counts(T0 + SignedDuration::from_secs(70), COOL),
            (0, 1)
        );
    }

    #[test]
    fn take_and_put_are_idempotent() {
        let mut a = Allocation::new(1);
        let taken = a.take(0).unwrap();
        assert!(a.take(0).is_none());
        assert!(a.take(7).is_none());
        a.untake(taken);
        assert_eq!(a.take(0), Some(taken));
        a.put(0, T0);
        a.put(0, T0 + SignedDuration::from_hours(1));
        assert_eq!(
            a.free_counts(T0 + SignedDuration::from_secs(61), COOL),
            (0, 1)
        );
    }

    #[test]
    fn visitor_memory_is_bounded() {
        let mut a = Allocation::new(1);
        for i in 0..VISITOR_CAP + 10 {
            let t = T0 + SignedDuration::from_secs(i as i64);
            a.remember(format!("v{i}").into(), 0, Arc::from("s"), t);
        }
        assert!(a.remembered() <= VISITOR_CAP);
        assert!(a.visitor(&format!("v{}", VISITOR_CAP + 9)).is_some());
        assert!(a.visitor("v0").is_none());
    }
}
