//! Round-robin state that outlives one call: smooth weighted rotation per (scheme, step) and
//! the sticky map "caller -> the target that answered them last". Shared by every shard of the
//! B2BUA (a caller's next call may land on another shard) and lent to each call's dialer; the
//! lock is held only inside one method.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::routing::TargetPlan;

/// How many callers the sticky map remembers; the oldest entry goes first.
pub const STICKY_CAPACITY: usize = 100_000;

/// Rotation and stickiness across calls; clones share one state.
#[derive(Debug, Clone)]
pub struct Rotation(Arc<Mutex<RotationState>>);

#[derive(Debug)]
struct RotationState {
    /// Smooth weighted round robin (nginx): current weight per target label, per step.
    current: HashMap<(String, usize), HashMap<String, i64>>,
    sticky: StickyMap,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation::new(STICKY_CAPACITY)
    }
}

impl Rotation {
    pub fn new(sticky_capacity: usize) -> Rotation {
        Rotation(Arc::new(Mutex::new(RotationState {
            current: HashMap::new(),
            sticky: StickyMap::new(sticky_capacity),
        })))
    }

    /// The order in which a round-robin step offers the call: the caller's sticky target
    /// first when `sticky` and it is still in the step (the rotation does not advance), else
    /// the next target in weighted rotation; then the others in config order after it.
    pub fn order(
        &self,
        scheme: &str,
        step: usize,
        targets: &[TargetPlan],
        sticky_for: Option<&str>,
    ) -> Vec<usize> {
        self.state().order(scheme, step, targets, sticky_for)
    }

    /// `caller` was answered by `label`: offer them to it first next time.
    pub fn remember(&self, caller: &str, label: &str) {
        if !caller.is_empty() {
            self.state().sticky.insert(caller, label);
        }
    }

    /// The target that answered `caller` last, if remembered.
    pub fn sticky_target(&self, caller: &str) -> Option<String> {
        self.state().sticky.get(caller).map(str::to_string)
    }

    /// The state; a panic elsewhere while it was held leaves it usable (it is only counters).
    fn state(&self) -> MutexGuard<'_, RotationState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RotationState {
    fn order(
        &mut self,
        scheme: &str,
        step: usize,
        targets: &[TargetPlan],
        sticky_for: Option<&str>,
    ) -> Vec<usize> {
        if targets.is_empty() {
            return Vec::new();
        }
        let remembered = sticky_for
            .and_then(|caller| self.sticky.get(caller))
            .and_then(|label| targets.iter().position(|t| t.label == label));
        let first = remembered.unwrap_or_else(|| self.pick(scheme, step, targets));
        (0..targets.len())
            .map(|i| (first + i) % targets.len())
            .collect()
    }

    /// Smooth weighted round robin: every target gains its weight, the largest is picked and
    /// loses the total. Over `sum(weights)` picks each target is picked `weight` times,
    /// interleaved (weights 5,1,1 give a a b a c a a, not a a a a a b c).
    fn pick(&mut self, scheme: &str, step: usize, targets: &[TargetPlan]) -> usize {
        let state = self.current.entry((scheme.to_string(), step)).or_default();
        state.retain(|label, _| targets.iter().any(|t| &t.label == label));
        let total: i64 = targets.iter().map(|t| i64::from(t.weight.max(1))).sum();
        let mut best = 0;
        let mut best_weight = i64::MIN;
        for (i, t) in targets.iter().enumerate() {
            let current = state.entry(t.label.clone()).or_insert(0);
            *current += i64::from(t.weight.max(1));
            if *current > best_weight {
                best_weight = *current;
                best = i;
            }
        }
        if let Some(current) = state.get_mut(&targets[best].label) {
            *current -= total;
        }
        best
    }
}

/// A bounded map caller -> label; inserting past the capacity drops the oldest entry.
#[derive(Debug)]
struct StickyMap {
    capacity: usize,
    entries: HashMap<String, (String, u64)>,
    order: VecDeque<(String, u64)>,
    next: u64,
}

impl StickyMap {
    fn new(capacity: usize) -> StickyMap {
        StickyMap {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
        }
    }

    fn get(&self, caller: &str) -> Option<&str> {
        self.entries.get(caller).map(|(label, _)| label.as_str())
    }

    fn insert(&mut self, caller: &str, label: &str) {
        let stamp = self.next;
        self.next += 1;
        self.entries
            .insert(caller.to_string(), (label.to_string(), stamp));
        self.order.push_back((caller.to_string(), stamp));
        while self.entries.len() > self.capacity {
            self.evict_oldest();
        }
        // Stale queue entries (callers re-inserted since) are dropped as they surface.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order
                .retain(|(c, s)| entries.get(c).is_some_and(|(_, cur)| cur == s));
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((caller, stamp)) = self.order.pop_front() {
            if self.entries.get(&caller).is_some_and(|(_, s)| *s == stamp) {
                self.entries.remove(&caller);
                return;
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::routing::hosts::Target;
    use crate::sip::{Peer, Transport};
    use std::time::Duration;

    /// A target on loopback port 5000 + n for the label's first letter.
    pub(crate) fn target(label: &str, weight: u32) -> TargetPlan {
        let port = 5000 + u16::from(label.as_bytes()[0]);
        TargetPlan {
            label: label.into(),
            target: Target {
                uri: format!("sip:{label}@127.0.0.1:{port}"),
                peer: Peer::new(Transport::Udp, ([127, 0, 0, 1], port).into()),
                transport_pinned: false,
            },
            ring_timeout: Duration::from_secs(10),
            weight,
            auth: None,
        }
    }

    fn picks(rotation: &Rotation, targets: &[TargetPlan], n: usize) -> String {
        (0..n)
            .map(|_| {
                targets[rotation.order("s", 0, targets, None)[0]]
                    .label
                    .clone()
            })
            .collect::<Vec<_>>()
            .join("")
    }

    #[test]
    fn equal_weights_rotate_in_config_order() {
        let targets = [target("a", 1), target("b", 1), target("c", 1)];
        let r = Rotation::default();
        assert_eq!(picks(&r, &targets, 6), "abcabc");
        assert_eq!(r.order("s", 0, &targets, None), vec![0, 1, 2]);
    }

    #[test]
    fn weights_are_smooth() {
        let targets = [target("a", 5), target("b", 1), target("c", 1)];
        let r = Rotation::default();
        assert_eq!(picks(&r, &targets, 7), "aabacaa");
        let targets = [target("a", 2), target("b", 1)];
        assert_eq!(picks(&Rotation::default(), &targets, 6), "abaaba");
    }

    #[test]
    fn steps_and_schemes_rotate_independently() {
        let targets = [target("a", 1), target("b", 1)];
        let r = Rotation::default();
        assert_eq!(r.order("s", 0, &targets, None)[0], 0);
        assert_eq!(r.order("s", 1, &targets, None)[0], 0);
        assert_eq!(r.order("t", 0, &targets, None)[0], 0);
        assert_eq!(r.order("s", 0, &targets, None)[0], 1);
    }

    #[test]
    fn sticky_caller_goes_first_without_advancing() {
        let targets = [target("a", 1), target("b", 1), target("c", 1)];
        let r = Rotation::default();
        r.remember("7916", "c");
        assert_eq!(r.order("s", 0, &targets, Some("7916")), vec![2, 0, 1]);
        assert_eq!(r.order("s", 0, &targets, Some("7000")), vec![0, 1, 2]);
        // A remembered target no longer in the step is ignored.
        r.remember("7916", "gone");
        assert_eq!(r.order("s", 0, &targets, Some("7916"))[0], 1);
    }

    #[test]
    fn sticky_map_is_bounded_oldest_out() {
        let r = Rotation::new(2);
        r.remember("1", "a");
        r.remember("2", "b");
        r.remember("1", "c");
        r.remember("3", "d");
        assert_eq!(r.sticky_target("2"), None, "oldest entry went");
        assert_eq!(r.sticky_target("1").as_deref(), Some("c"));
        assert_eq!(r.sticky_target("3").as_deref(), Some("d"));
        for i in 0..1000 {
            r.remember(&i.to_string(), "x");
        }
        assert!(r.state().sticky.entries.len() <= 2);
        assert!(r.state().sticky.order.len() <= 4);
    }
}
