//! What the lease table knows about a pool number when a call rings, beyond its holder: how
//! full the number's pool is and how many other visitors held the number lately (the facts
//! behind the call's confidence, `call::confidence`).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::{Lease, LeaseTable};

/// A number's last lease and when it ended (released, expired or reassigned): who held the
/// number last, kept until another lease on the number ends.
pub type LastHolder = (Lease, Timestamp);

/// How many past holders each number remembers (bounded: a few per number).
pub(super) const RECENT_HOLDERS: usize = 8;
/// How far back "held lately" looks.
pub const RECENT_WINDOW: SignedDuration = SignedDuration::from_hours(1);

/// A pool number's situation at ring time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingContext {
    /// Numbers in the number's pool.
    pub pool_size: usize,
    /// Of those, how many are not free to grant (leased, ringing or cooling down).
    pub busy: usize,
    /// Distinct other visitors whose lease on this number ended within [`RECENT_WINDOW`]
    /// (at most [`RECENT_HOLDERS`]).
    pub other_holders: usize,
}

impl LeaseTable {
    /// The situation of pool number `number` at `now`, not counting `holder` (the visitor id,
    /// else session id, of the lease holding it) among the recent holders. `None` for a
    /// number outside every pool.
    pub fn ring_context(
        &self,
        number: &str,
        holder: Option<&str>,
        now: Timestamp,
    ) -> Option<RingContext> {
        let (index, other_holders) = {
            let state = self.numbers.get(number)?;
            (state.pool, other_holders(&state.recent, holder, now))
        };
        // Only the pool's free set: O(cooling numbers), not O(pool size), on every INVITE.
        let pool = self.pool(index);
        let (_, free) = pool.lock().free_counts(now, pool.cooldown);
        let size = pool.numbers.len();
        Some(RingContext {
            pool_size: size,
            busy: size.saturating_sub(free),
            other_holders,
        })
    }
}

impl LeaseTable {
    /// The last lease on pool number `number` and when it ended, while nobody holds the
    /// number at `now` (so nobody held it since): the lease that ended last, or one whose
    /// freeze ran out but that the sweeper has not ended yet (ended at its expiry). `None`
    /// while a lease holds it, for a number never leased or outside every pool, and on Redis
    /// (this node's memory would not see the other nodes' leases).
    pub fn last_holder(&self, number: &str, now: Timestamp) -> Option<LastHolder> {
        if self.remote().is_some() {
            return None;
        }
        let (holder, last) = {
            let state = self.numbers.get(number)?;
            (state.holder.clone(), state.last.clone())
        };
        let Some(holder) = holder else {
            return last;
        };
        let held = self.sessions.get(&holder)?;
        (held.expires_at <= now).then(|| (self.to_lease(&holder, &held), held.expires_at))
    }
}

/// Appends a holder whose lease just ended at `at`, forgetting the oldest beyond the cap.
pub(super) fn remember_holder(
    recent: &mut VecDeque<(Arc<str>, Timestamp)>,
    key: Arc<str>,
    at: Timestamp,
) {
    if recent.len() >= RECENT_HOLDERS {
        recent.pop_front();
    }
    recent.push_back((key, at));
}

fn other_holders(
    recent: &VecDeque<(Arc<str>, Timestamp)>,
    holder: Option<&str>,
    now: Timestamp,
) -> usize {
    let since = now.saturating_sub(RECENT_WINDOW).unwrap_or(Timestamp::MIN);
    recent
        .iter()
        .filter(|(key, at)| *at > since && Some(&**key) != holder)
        .map(|(key, _)| key)
        .collect::<HashSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);

    fn mins(m: i64) -> Timestamp {
        T0 + SignedDuration::from_mins(m)
    }

    #[test]
    fn counts_distinct_other_holders_within_the_hour_and_stays_bounded() {
        let mut recent = VecDeque::new();
        remember_holder(&mut recent, "a".into(), mins(0));
        remember_holder(&mut recent, "b".into(), mins(30));
        remember_holder(&mut recent, "b".into(), mins(40));
        remember_holder(&mut recent, "c".into(), mins(50));
        assert_eq!(other_holders(&recent, Some("c"), mins(55)), 2);
        assert_eq!(
            other_holders(&recent, None, mins(75)),
            2,
            "a is over an hour old"
        );
        for i in 0..20 {
            remember_holder(&mut recent, format!("x{i}").into(), mins(60));
        }
        assert_eq!(recent.len(), RECENT_HOLDERS);
        assert_eq!(other_holders(&recent, None, mins(61)), RECENT_HOLDERS);
    }
}
