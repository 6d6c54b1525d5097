//! One shard of the core among several: its index, and the live-call count each shard
//! publishes so that `[calls] max_concurrent_calls` holds for the whole process.
//!
//! Each shard owns the calls whose Call-IDs hash to it (see [`crate::sip::shard`]); a shard
//! reads the others' counts as they stood after their last input, so the limit may be
//! overshot by at most one call per other shard at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where one core sits among the shards.
#[derive(Debug, Clone)]
pub struct ShardSeat {
    index: usize,
    live: Arc<[AtomicUsize]>,
}

impl Default for ShardSeat {
    /// The only shard.
    fn default() -> Self {
        ShardSeat::all(1).remove(0)
    }
}

impl ShardSeat {
    /// The seats of `count` shards (at least one), sharing one table of counts.
    pub fn all(count: usize) -> Vec<ShardSeat> {
        let live: Arc<[AtomicUsize]> = (0..count.max(1)).map(|_| AtomicUsize::new(0)).collect();
        (0..live.len())
            .map(|index| ShardSeat {
                index,
                live: Arc::clone(&live),
            })
            .collect()
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn count(&self) -> usize {
        self.live.len()
    }

    /// This shard now has `calls` live calls.
    pub(super) fn publish(&self, calls: usize) {
        self.live[self.index].store(calls, Ordering::Relaxed);
    }

    /// Live calls of the other shards.
    pub(super) fn others(&self) -> usize {
        self.live
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.index)
            .map(|(_, n)| n.load(Ordering::Relaxed))
            .sum()
    }

    /// Whether this shard owns the dialogs of `call_id`.
    pub(super) fn owns_call_id(&self, call_id: &str) -> bool {
        crate::sip::shard::shard_of_call_id(call_id.as_bytes(), self.count()) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shard_sees_the_others_counts() {
        let seats = ShardSeat::all(3);
        seats[0].publish(5);
        seats[1].publish(2);
        seats[2].publish(1);
        assert_eq!(seats[0].others(), 3);
        assert_eq!(seats[2].others(), 7);
        assert_eq!(ShardSeat::default().others(), 0);
        assert_eq!(ShardSeat::all(0).len(), 1);
    }
}
