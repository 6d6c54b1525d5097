//! A hierarchical hashed timer wheel (Varghese & Lauck; the layout of tokio's timer driver)
//! holding every armed transaction timer: O(1) arm and cancel, 1 ms buckets, exact deadlines.
//!
//! Six levels of 64 slots: level 0 has 1 ms slots (64 ms), level 1 64 ms slots (~4 s),
//! level 2 ~4 s slots (~4.4 min), and so on up to ~2 years. A timer sits in the slot of the
//! millisecond its deadline falls in, at the lowest level whose range still covers it; as time
//! passes, a higher slot whose start is reached is cascaded down. Each entry keeps its exact
//! deadline: it fires only once `now` has reached it (never early, never rounded), and
//! [`TimerWheel::next_deadline`] is that exact instant. Time is passed in; nothing reads a
//! clock. Entries live in one slab with a free list: a cancelled timer is unlinked and its
//! node reused at once, so memory follows the number of armed timers.

use std::collections::VecDeque;
use std::time::Instant;

const LEVELS: usize = 6;
const BITS: u32 = 6;
const SLOTS: u64 = 1 << BITS;
const NONE: u32 = u32::MAX;
/// How far ahead (in ms) a deadline may be placed: 63 top-level slots, so the top level never
/// wraps onto its current slot. Later deadlines are placed there and re-placed as time goes.
const MAX_AHEAD: u64 = (SLOTS - 1) << (BITS * (LEVELS as u32 - 1));

/// Names one armed timer; stale once it fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerHandle {
    index: u32,
    generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Slot {
        level: u8,
        slot: u8,
    },
    /// Taken out of its slot, waiting in the due queue to be returned by `pop_due`.
    Due,
    /// Cancelled while in the due queue; released when the queue reaches it.
    CancelledDue,
    Free,
}

#[derive(Debug, Clone, Copy)]
struct Node<T> {
    deadline: Instant,
    /// Arming order, to fire timers with equal deadlines in the order they were armed.
    seq: u64,
    value: T,
    generation: u32,
    place: Place,
    prev: u32,
    next: u32,
}

/// The wheel; `T` is what a fired timer hands back (the transaction and the timer kind).
#[derive(Debug)]
pub(crate) struct TimerWheel<T> {
    /// Tick 0 (the first `now` seen); ticks are whole milliseconds since then.
    origin: Option<Instant>,
    /// Every tick up to this one has been processed.
    elapsed: u64,
    heads: [[u32; SLOTS as usize]; LEVELS],
    /// The earliest deadline ever placed in each slot since it was last emptied: exact
    /// unless that timer was cancelled, and then still a lower bound (an early wake-up finds
    /// nothing due and the slot is cascaded). Keeps [`Self::next_deadline`] O(1): walking a
    /// high-level slot holding every 32-s Timer J/L/M of a busy server cost 60 % of the CPU.
    floors: [[Option<Instant>; SLOTS as usize]; LEVELS],
    occupied: [u64; LEVELS],
    nodes: Vec<Node<T>>,
    free: u32,
    due: VecDeque<u32>,
    next_seq: u64,
    len: usize,
    /// The earliest deadline, valid unless `stale`.
    next: Option<Instant>,
    stale: bool,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        TimerWheel {
            origin: None,
            elapsed: 0,
            heads: [[NONE; SLOTS as usize]; LEVELS],
            floors: [[None; SLOTS as usize]; LEVELS],
            occupied: [0; LEVELS],
            nodes: Vec::new(),
            free: NONE,
            due: VecDeque::new(),
            next_seq: 0,
            len: 0,
            next: None,
            stale: false,
        }
    }
}

impl<T: Copy> TimerWheel<T> {
    /// Arms a timer firing at `deadline` (`now` is the caller's current time).
    pub(crate) fn insert(&mut self, now: Instant, deadline: Instant, value: T) -> TimerHandle {
        self.origin.get_or_insert(now);
        self.next_seq += 1;
        let node = Node {
            deadline,
            seq: self.next_seq,
            value,
            generation: 0,
            place: Place::Free,
            prev: NONE,
            next: NONE,
        };
        let index = self.allocate(node);
        self.place(index);
        self.len += 1;
        if !self.stale && self.next.is_none_or(|n| deadline < n) {
            self.next = Some(deadline);
        }
        TimerHandle {
            index,
            generation: self.nodes[index as usize].generation,
        }
    }

    /// Disarms a timer; false when it already fired or was cancelled.
    pub(crate) fn cancel(&mut self, handle: TimerHandle) -> bool {
        let Some(node) = self.nodes.get(handle.index as usize) else {
            return false;
        };
        if node.generation != handle.generation {
            return false;
        }
        let deadline = node.deadline;
        match node.place {
            Place::Slot { .. } => {
                self.unlink(handle.index);
                self.release(handle.index);
            }
            Place::Due => self.nodes[handle.index as usize].place = Place::CancelledDue,
            Place::CancelledDue | Place::Free => return false,
        }
        self.len -= 1;
        if self.next == Some(deadline) {
            self.stale = true;
        }
        true
    }

    /// The deadline of an armed timer (`None` once it fired or was cancelled).
    pub(crate) fn deadline(&self, handle: TimerHandle) -> Option<Instant> {
        let node = self.nodes.get(handle.index as usize)?;
        let armed = matches!(node.place, Place::Slot { .. } | Place::Due);
        (armed && node.generation == handle.generation).then_some(node.deadline)
    }

    /// The next timer due at `now`, in deadline order (then arming order).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(T, TimerHandle)> {
        loop {
            let Some(index) = self.due.pop_front() else {
                if self.collect_due(now) {
                    continue;
                }
                // The cached next deadline may be the floor of a slot whose earliest timer was
                // cancelled: nothing fired at it, so it must be recomputed, or every wake-up
                // until the slot is reached would find it in the past again.
                if self.next.is_some_and(|next| next <= now) {
                    self.stale = true;
                }
                return None;
            };
            let node = self.nodes[index as usize];
            self.release(index);
            if node.place == Place::Due {
                self.len -= 1;
                self.stale = true;
                let handle = TimerHandle {
                    index,
                    generation: node.generation,
                };
                return Some((node.value, handle));
            }
        }
    }

    /// The earliest deadline of an armed timer, or earlier when the earliest timer of its slot
    /// was cancelled (never later: a wake-up then finds nothing due).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.stale {
            self.earliest()
        } else {
            self.next
        }
    }

    /// Caches [`Self::next_deadline`] after cancellations and firings.
    pub(crate) fn refresh(&mut self) {
        if self.stale {
            self.next = self.earliest();
            self.stale = false;
        }
    }

    /// Armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn earliest(&self) -> Option<Instant> {
        // `due` is sorted: its first live entry is the earliest.
        let queued = self
            .due
            .iter()
            .map(|&i| &self.nodes[i as usize])
            .find(|n| n.place == Place::Due)
            .map(|n| n.deadline);
        if queued.is_some() {
            return queued;
        }
        let (level, slot, _) = self.next_slot()?;
        self.floors[level][slot]
    }

    /// Advances the wheel towards `now` until some timers are due (queued in `due`, sorted);
    /// false when none is due at `now`.
    fn collect_due(&mut self, now: Instant) -> bool {
        let now_tick = self.tick(now);
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now_tick.max(self.elapsed) {
                break;
            }
            self.elapsed = self.elapsed.max(start);
            let taken = self.take_slot(level, slot);
            if level > 0 {
                taken.into_iter().for_each(|i| self.place(i));
                continue;
            }
            let mut found = Vec::new();
            for index in taken {
                if self.nodes[index as usize].deadline <= now {
                    self.nodes[index as usize].place = Place::Due;
                    found.push(index);
                } else {
                    self.place(index);
                }
            }
            if !found.is_empty() {
                found.sort_by_key(|&i| {
                    (self.nodes[i as usize].deadline, self.nodes[i as usize].seq)
                });
                self.due.extend(found);
                return true;
            }
            if start >= now_tick {
                break;
            }
        }
        self.elapsed = self.elapsed.max(now_tick);
        false
    }

    /// The first occupied slot from the current position: `(level, slot, start tick)`. Lower
    /// levels only hold earlier deadlines than higher ones.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let shift = BITS * level as u32;
            let slot_span = 1u64 << shift;
            let level_span = slot_span << BITS;
            let current = ((self.elapsed >> shift) % SLOTS) as u32;
            let slot = (occupied.rotate_right(current).trailing_zeros() + current) % SLOTS as u32;
            let mut start = (self.elapsed & !(level_span - 1)) + u64::from(slot) * slot_span;
            if start + slot_span <= self.elapsed {
                start += level_span;
            }
            Some((level, slot as usize, start))
        })
    }

    fn tick(&self, at: Instant) -> u64 {
        let since = self
            .origin
            .map(|origin| at.saturating_duration_since(origin))
            .unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    /// Links node `index` into the slot of its deadline's millisecond.
    fn place(&mut self, index: u32) {
        let tick = self.tick(self.nodes[index as usize].deadline);
        let when = tick.clamp(self.elapsed, self.elapsed.saturating_add(MAX_AHEAD));
        let significant = 63 - ((self.elapsed ^ when) | (SLOTS - 1)).leading_zeros();
        let level = ((significant / BITS) as usize).min(LEVELS - 1);
        let slot = ((when >> (BITS * level as u32)) % SLOTS) as usize;
        let head = self.heads[level][slot];
        if head != NONE {
            self.nodes[head as usize].prev = index;
        }
        let node = &mut self.nodes[index as usize];
        node.prev = NONE;
        node.next = head;
        node.place = Place::Slot {
            level: level as u8,
            slot: slot as u8,
        };
        let deadline = node.deadline;
        self.heads[level][slot] = index;
        self.occupied[level] |= 1 << slot;
        let floor = &mut self.floors[level][slot];
        *floor = Some(floor.map_or(deadline, |f| f.min(deadline)));
    }

    fn unlink(&mut self, index: u32) {
        let node = self.nodes[index as usize];
        let Place::Slot { level, slot } = node.place else {
            return;
        };
        let (level, slot) = (level as usize, slot as usize);
        if node.prev == NONE {
            self.heads[level][slot] = node.next;
        } else {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next != NONE {
            self.nodes[node.next as usize].prev = node.prev;
        }
        if self.heads[level][slot] == NONE {
            self.occupied[level] &= !(1 << slot);
            self.floors[level][slot] = None;
        }
    }

    fn take_slot(&mut self, level: usize, slot: usize) -> Vec<u32> {
        let mut taken = Vec::new();
        let mut cursor = std::mem::replace(&mut self.heads[level][slot], NONE);
        self.occupied[level] &= !(1 << slot);
        self.floors[level][slot] = None;
        while cursor != NONE {
            taken.push(cursor);
            cursor = self.nodes[cursor as usize].next;
        }
        taken
    }

    fn allocate(&mut self, node: Node<T>) -> u32 {
        if self.free == NONE {
            self.nodes.push(node);
            return u32::try_from(self.nodes.len() - 1).unwrap_or(NONE);
        }
        let index = self.free;
        let slot = &mut self.nodes[index as usize];
        self.free = slot.next;
        *slot = Node {
            generation: slot.generation,
            ..node
        };
        index
    }

    fn release(&mut self, index: u32) {
        let free = self.free;
        let node = &mut self.nodes[index as usize];
        node.generation = node.generation.wrapping_add(1);
        node.place = Place::Free;
        node.prev = NONE;
        node.next = free;
        self.free = index;
    }
}

#[cfg(test)]
#[path = "wheel_tests.rs"]
mod tests;
