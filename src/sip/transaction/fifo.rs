//! A queue of records that all expire a fixed interval after they were queued: a FIFO in
//! deadline order, so expiry needs no timer nodes at all (issue 12). Every record is
//! addressed by its sequence number (its position plus the number popped so far).
//!
//! The entries sit in fixed-size chunks, so the queue holds about what it stores (a
//! `VecDeque` holds up to twice that after it doubled).
//!
//! Deadlines are kept as nanoseconds from the first `now` the queue saw (8 bytes instead of
//! an `Instant`'s 16) and never decrease along the queue: a record queued with an earlier
//! deadline than the one before it takes that one's deadline (it lives a little longer,
//! never shorter; see `absorb` for when that happens).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Entries per chunk: the queue grows and shrinks a chunk at a time, so it holds at most two
/// partly used chunks instead of up to twice its length (a `VecDeque` doubles).
const CHUNK: usize = 256;

/// One queued record and when it expires.
#[derive(Debug)]
struct Entry<R> {
    /// Nanoseconds from `origin`.
    deadline: u64,
    /// `None` once popped or removed ahead of its deadline.
    record: Option<R>,
}

/// The records of one kind, oldest first, in chunks of [`CHUNK`] entries.
#[derive(Debug)]
pub(crate) struct RecordQueue<R> {
    origin: Option<Instant>,
    /// The sequence number of the first entry of the front chunk.
    base: u64,
    /// The next entry to pop in the front chunk.
    front: usize,
    chunks: VecDeque<Vec<Entry<R>>>,
    live: usize,
}

impl<R> Default for RecordQueue<R> {
    fn default() -> Self {
        RecordQueue {
            origin: None,
            base: 0,
            front: 0,
            chunks: VecDeque::new(),
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
        let last = self.chunks.back().and_then(|chunk| chunk.last());
        if let Some(last) = last {
            deadline = deadline.max(last.deadline);
        }
        if self.chunks.back().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.chunks.push_back(Vec::with_capacity(CHUNK));
        }
        let full_chunks = (self.chunks.len() - 1) * CHUNK;
        let Some(chunk) = self.chunks.back_mut() else {
            unreachable!("a chunk was just pushed")
        };
        let record = Some(record);
        chunk.push(Entry { deadline, record });
        self.live += 1;
        self.base + (full_chunks + chunk.len() - 1) as u64
    }

    fn entry(&self, seq: u64) -> Option<&Entry<R>> {
        let at = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Entry<R>> {
        let at = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.chunks.get_mut(at / CHUNK)?.get_mut(at % CHUNK)
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&R> {
        self.entry(seq)?.record.as_ref()
    }

    pub(crate) fn get_mut(&mut self, seq: u64) -> Option<&mut R> {
        self.entry_mut(seq)?.record.as_mut()
    }

    /// Removes a record ahead of its deadline (its entry stays empty until popped).
    pub(crate) fn remove(&mut self, seq: u64) -> Option<R> {
        let record = self.entry_mut(seq)?.record.take();
        if record.is_some() {
            self.live -= 1;
        }
        record
    }

    /// The full sequence number of the live record whose number has these low bits (`mask`
    /// covers more numbers than the queue ever holds at once).
    pub(crate) fn full_seq(&self, low: u32, mask: u32) -> u64 {
        self.base + u64::from(low.wrapping_sub(self.base as u32) & mask)
    }

    /// The oldest record whose deadline `now` has reached, taken out of the queue, with its
    /// sequence number.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(u64, R)> {
        let origin = self.origin?;
        loop {
            let chunk = self.chunks.front_mut()?;
            let Some(entry) = chunk.get_mut(self.front) else {
                if chunk.len() < CHUNK {
                    return None;
                }
                self.chunks.pop_front();
                self.base += CHUNK as u64;
                self.front = 0;
                continue;
            };
            if entry.record.is_some() && origin + Duration::from_nanos(entry.deadline) > now {
                return None;
            }
            let seq = self.base + self.front as u64;
            self.front += 1;
            if let Some(record) = entry.record.take() {
                self.live -= 1;
                return Some((seq, record));
            }
        }
    }

    /// The deadline of the oldest live record.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let origin = self.origin?;
        let first = self.chunks.front()?.get(self.front..).unwrap_or_default();
        let rest = self.chunks.iter().skip(1).flatten();
        let front = first.iter().chain(rest).find(|e| e.record.is_some())?;
        Some(origin + Duration::from_nanos(front.deadline))
    }

    /// Records still queued.
    pub(crate) fn len(&self) -> usize {
        self.live
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
        assert_eq!(q.pop_due(t0 + Duration::from_secs(32)), Some((0, 'a')));
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(33)));
        assert_eq!(q.pop_due(t0 + Duration::from_secs(32)), None);
        assert_eq!(q.pop_due(t0 + Duration::from_secs(33)), Some((2, 'c')));
        assert_eq!((q.len(), q.next_deadline(), q.get(c)), (0, None, None));
        assert_eq!(q.push(t0, t0, 'd'), 3, "sequence numbers keep counting");
    }

    #[test]
    fn low_bits_give_back_the_full_sequence_number_across_their_wrap() {
        let t0 = Instant::now();
        let mask = (1u32 << 30) - 1;
        let mut q = RecordQueue {
            base: u64::from(mask) - 2 + (5 << 30),
            ..RecordQueue::default()
        };
        let seqs: Vec<u64> = (0..8).map(|i| q.push(t0, t0, i)).collect();
        for (i, &seq) in seqs.iter().enumerate() {
            assert_eq!(q.full_seq(seq as u32 & mask, mask), seq);
            assert_eq!(q.get(q.full_seq(seq as u32 & mask, mask)), Some(&i));
        }
    }

    #[test]
    fn chunks_are_given_back_as_they_drain() {
        let t0 = Instant::now();
        let mut q = RecordQueue::default();
        let n = 3 * CHUNK as u64 + 5;
        for i in 0..n {
            let seq = q.push(t0, t0 + Duration::from_millis(i), i);
            assert_eq!(seq, i);
        }
        assert_eq!(
            (q.chunks.len(), q.get(n - 1), q.get(n)),
            (4, Some(&(n - 1)), None)
        );
        let half = t0 + Duration::from_millis(2 * CHUNK as u64);
        let popped = std::iter::from_fn(|| q.pop_due(half)).count();
        assert_eq!(popped, 2 * CHUNK + 1);
        assert_eq!(q.chunks.len(), 2, "drained chunks are dropped");
        assert_eq!((q.get(5), q.get(n - 1)), (None, Some(&(n - 1))));
        let end = t0 + Duration::from_secs(60);
        assert_eq!(std::iter::from_fn(|| q.pop_due(end)).count(), CHUNK + 4);
        assert_eq!((q.len(), q.next_deadline()), (0, None));
    }
}
