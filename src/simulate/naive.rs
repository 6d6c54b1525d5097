//! The naive baseline: a random free number, a fixed 30-minute freeze from the grant, no
//! heartbeat, no memory of returning visitors: how call tracking is often done.

use jiff::{SignedDuration, Timestamp};

use super::allocator::{Allocated, Allocator, Attributed};
use super::draw::Draw;
use crate::lease::Visit;

/// The fixed freeze of the naive policy.
pub const NAIVE_FREEZE: SignedDuration = SignedDuration::from_mins(30);

/// One number: who holds it until when, and calls on it.
#[derive(Debug, Clone, Default)]
struct Slot {
    holder: Option<(u32, Timestamp)>,
    calls: u32,
}

/// The naive allocator over a pool of `size` numbers.
pub struct Naive {
    slots: Vec<Slot>,
    draw: Draw,
}

impl Naive {
    pub fn new(size: usize, seed: u64) -> Naive {
        Naive {
            slots: vec![Slot::default(); size],
            draw: Draw::new(seed, 1),
        }
    }

    fn held(slot: &Slot, now: Timestamp) -> bool {
        slot.holder.is_some_and(|(_, until)| until > now)
    }
}

impl Allocator for Naive {
    fn heartbeats(&self) -> bool {
        false
    }

    fn grant(&mut self, _index: usize, visitor: u32, _visit: Visit, now: Timestamp) -> Allocated {
        let free: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !Naive::held(&self.slots[i], now) && self.slots[i].calls == 0)
            .collect();
        if free.is_empty() {
            return None;
        }
        let number = free[self.draw.below(free.len())];
        let until = now.saturating_add(NAIVE_FREEZE).unwrap_or(Timestamp::MAX);
        self.slots[number].holder = Some((visitor, until));
        Some(number)
    }

    fn heartbeat(&mut self, _index: usize, _now: Timestamp) {}

    fn release(&mut self, _index: usize, _now: Timestamp) {}

    fn holder(&mut self, number: usize, _caller: u32, now: Timestamp) -> Attributed {
        match self.slots.get(number) {
            Some(slot) if Naive::held(slot, now) => {
                slot.holder
                    .map_or(Attributed::Nobody, |(who, _)| Attributed::Visitor {
                        who,
                        facts: None,
                    })
            }
            _ => Attributed::Nobody,
        }
    }

    fn call_started(&mut self, number: usize) {
        if let Some(slot) = self.slots.get_mut(number) {
            slot.calls += 1;
        }
    }

    fn call_ended(&mut self, number: usize, _now: Timestamp) {
        if let Some(slot) = self.slots.get_mut(number) {
            slot.calls = slot.calls.saturating_sub(1);
        }
    }

    fn busy(&mut self, now: Timestamp) -> usize {
        self.slots
            .iter()
            .filter(|s| Naive::held(s, now) || s.calls > 0)
            .count()
    }
}
