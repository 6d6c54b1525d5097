//! A queue of records that all expire a fixed interval after they were queued: a FIFO in
//! deadline order, so expiry needs no timer nodes at all (issue 12). Every record is
//! addressed by its sequence number (its position plus the number popped so far).
//!
//! Deadlines are kept as nanoseconds from the first `now` the queue saw (8 bytes instead of
//! an `Instant`'s 16) and never decrease along the queue: a record queued with an earlier
//! deadline than the one before it takes that one's deadline (it lives a little longer,
//! never shorter; see `absorb` for when that happens).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One queued record and when it expires.
#[derive(Debug)]
struct Entry<R> {
    /// Nanoseconds from `origin`.
    deadline: u64,
    /// `None` once removed ahead of its deadline (a tombstone, popped in turn).
    record: Option<R>,
}

/// The records of one kind, oldest first.
#[derive(Debug)]
pub(crate) struct RecordQueue<R> {
    origin: Option<Instant>,
    /// The sequence number of the front entry.
    head: u64,
    entries: VecDeque<Entry<R>>,
    live: usize,
}

impl<R> Default for RecordQueue<R> {
    fn default() -> Self {
        RecordQueue {
            origin: None,
            head: 0,
            entries: VecDeque::new(),
            live: 0,
        }
    }
}

impl<R> RecordQueue<R> {
    /// Queues `record` to expire at `deadline` (or at the last one's, if that is later);
    /// returns its sequence number.
    pub(crate) fn push(&mut self, now: Instant, deadline: Instant, record: R) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        let nanos = deadline.saturating_duration_since(origin).as_nanos();
        let mut deadline = u64::try_from(nanos).unwrap_or(u64::MAX);
        if let Some(last) = self.entries.back() {
            deadline = deadline.max(last.deadline);
        }
        let record = Some(record);
        self.entries.push_back(Entry { deadline, record });
        self.live += 1;
        self.head + self.entries.len() as u64 - 1
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&R> {
        let index = usize::try_from(seq.checked_sub(self.head)?).ok()?;
        self.entries.get(index)?.record.as_ref()
    }

    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut R> {
        let index = usize::try_from(seq.checked_sub(self.head)?).ok()?;
        self.entries.get_mut(index)?.record.as_mut()
    }

    /// Removes a record ahead of its deadline (its slot stays as a tombstone until popped).
    pub(crate) fn remove(&mut self, seq: u64) -> Option<R> {
        let index = usize::try_from(seq.checked_sub(self.head)?).ok()?;
        let record = self.entries.get_mut(index)?.record.take();
        if record.is_some() {
            self.live -= 1;
        }
        record
    }

    /// The oldest record whose deadline `now` has reached, taken out of the queue.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<R> {
        let origin = self.origin?;
        loop {
            let front = self.entries.front()?;
            if front.record.is_some() && origin + Duration::from_nanos(front.deadline) > now {
                return None;
            }
            let entry = self.entries.pop_front()?;
            self.head += 1;
            if let Some(record) = entry.record {
                self.live -= 1;
                self.shrink();
                return Some(record);
            }
        }
    }

    /// The deadline of the oldest live record.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let origin = self.origin?;
        let front = self.entries.iter().find(|e| e.record.is_some())?;
        Some(origin + Duration::from_nanos(front.deadline))
    }

    /// Records still queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Gives memory back once the queue has drained to a quarter of its capacity (a burst
    /// of calls should not hold its peak for ever).
    fn shrink(&mut self) {
        let capacity = self.entries.capacity();
        if capacity > 1024 && self.entries.len() < capacity / 4 {
            self.entries.shrink_to(capacity / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_in_order_never_early_and_by_sequence_number() {
        let t0 = Instant::now();
        let mut q = RecordQueue::default();
        let a = q.push(t0, t0 + Duration::from_secs(32), 'a');
        let b = q.push(t0, t0 + Duration::from_secs(33), 'b');
        // Earlier than the one before it: kept until that one's deadline.
        let c = q.push(t0, t0 + Duration::from_secs(20), 'c');
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(q.get(b), Some(&'b'));
        assert_eq!(q.remove(b), Some('b'));
        assert_eq!(q.get(b), None);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(32)));
        assert_eq!(q.pop_due(t0 + Duration::from_millis(31_999)), None);
        assert_eq!(q.pop_due(t0 + Duration::from_secs(32)), Some('a'));
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(33)));
        assert_eq!(q.pop_due(t0 + Duration::from_secs(32)), None);
        assert_eq!(q.pop_due(t0 + Duration::from_secs(33)), Some('c'));
        assert_eq!((q.len(), q.next_deadline(), q.get(c)), (0, None, None));
        assert_eq!(q.push(t0, t0, 'd'), 3, "sequence numbers keep counting");
    }
}
