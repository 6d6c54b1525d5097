//! Transaction timers: their durations (RFC 3261 §17, Table 4; RFC 6026 §7) and one queue
//! holding every armed timer of every transaction, with lazy cancellation.
//!
//! Each transaction has two timer slots: a *retransmit* slot (A, E, G and the 2xx
//! retransmission of §13.3.1.4) and a *lifetime* slot (B, C, D, F, H, I, J, K, L, M,
//! and the wait after a CANCEL). Arming a
//! slot gives it a fresh generation; a queued entry fires only while its generation is still
//! the one in the slot, so cancelling is just clearing the slot (the stale entry is skipped
//! or pruned later).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::TxId;

/// The base timer values (RFC 3261 §17.1.1.1, §17.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate; every other value scales from it (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer C: how long an INVITE may stay in Proceeding without a new provisional response
    /// (RFC 3261 §16.6 step 11: "The timer MUST be larger than 3 minutes"; default 181 s).
    pub c: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            c: Duration::from_secs(181),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, L, M, and J on unreliable transports.
    pub fn transaction_timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D: "at least 32 seconds for unreliable transports, and ... zero seconds for
    /// reliable transports" (§17.1.1.2).
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32)
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones (§17.2.1, §17.1.2.2).
    pub fn linger(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones (§17.2.2).
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.transaction_timeout()
        }
    }

    /// The next interval of a capped retransmit timer (E, G, 2xx): "the timer is reset with a
    /// value that doubles, unless that value exceeds T2, in which case it is reset with T2".
    pub fn capped_backoff(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.t2)
    }
}

/// Which RFC timer an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// INVITE request retransmit (client, Calling, unreliable only).
    A,
    /// INVITE transaction timeout (client, Calling).
    B,
    /// INVITE in Proceeding without a provisional for too long (client; RFC 3261 §16.6
    /// step 11, reset by every provisional but 100, §16.7 step 2).
    C,
    /// RFC 3261 §9.1: 64*T1 after our CANCEL, an INVITE still without a final response is
    /// considered cancelled and destroyed (client).
    Cancelled,
    /// Wait for final response retransmissions (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmit (client, unreliable only).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmit (server, Completed, unreliable only).
    G,
    /// Wait for the ACK (server INVITE, Completed).
    H,
    /// Absorb ACK retransmissions (server INVITE, Confirmed).
    I,
    /// Absorb request retransmissions (server non-INVITE, Completed).
    J,
    /// Absorb response retransmissions (client non-INVITE, Completed).
    K,
    /// RFC 6026 §7.1: server INVITE Accepted lifetime; also the 64*T1 ACK wait of §13.3.1.4.
    L,
    /// RFC 6026 §7.2: client INVITE Accepted lifetime.
    M,
    /// 2xx retransmit of §13.3.1.4 (server INVITE, Accepted, unreliable only).
    Retransmit2xx,
}

/// The two timer slots of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Retransmit,
    Lifetime,
}

impl TimerKind {
    pub(crate) fn slot(self) -> Slot {
        match self {
            TimerKind::A | TimerKind::E | TimerKind::G | TimerKind::Retransmit2xx => {
                Slot::Retransmit
            }
            _ => Slot::Lifetime,
        }
    }
}

/// One armed timer as its transaction remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Armed {
    pub kind: TimerKind,
    generation: u64,
}

/// The armed timers of one transaction.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TxTimers {
    retransmit: Option<Armed>,
    lifetime: Option<Armed>,
}

impl TxTimers {
    fn slot_mut(&mut self, slot: Slot) -> &mut Option<Armed> {
        match slot {
            Slot::Retransmit => &mut self.retransmit,
            Slot::Lifetime => &mut self.lifetime,
        }
    }

    /// Whether a queued entry is still the live timer of its slot.
    pub(crate) fn is_current(&self, armed: Armed) -> bool {
        let live = match armed.kind.slot() {
            Slot::Retransmit => self.retransmit,
            Slot::Lifetime => self.lifetime,
        };
        live == Some(armed)
    }

    /// Cancels whatever runs in `slot`.
    pub(crate) fn cancel(&mut self, slot: Slot) {
        *self.slot_mut(slot) = None;
    }

    pub(crate) fn cancel_all(&mut self) {
        *self = TxTimers::default();
    }
}

/// A queued deadline; ordered by deadline, then by arming order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: Instant,
    generation: u64,
    tx: TxId,
    kind: TimerKind,
}

/// Every armed timer of the layer in one min-heap.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    next_generation: u64,
}

impl TimerQueue {
    /// Arms `kind` for `tx` at `deadline`, replacing whatever ran in the same slot.
    pub(crate) fn arm(
        &mut self,
        timers: &mut TxTimers,
        tx: TxId,
        kind: TimerKind,
        deadline: Instant,
    ) {
        self.next_generation += 1;
        let generation = self.next_generation;
        *timers.slot_mut(kind.slot()) = Some(Armed { kind, generation });
        self.heap.push(Reverse(Entry {
            deadline,
            generation,
            tx,
            kind,
        }));
    }

    /// The earliest queued deadline (possibly of a stale entry until it is pruned).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// The earliest entry, without removing it.
    pub(crate) fn peek(&self) -> Option<(TxId, Armed)> {
        self.heap.peek().map(|Reverse(e)| e.target())
    }

    /// Removes the earliest entry when it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TxId, Armed)> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.deadline <= now => self.heap.pop().map(|Reverse(e)| e.target()),
            _ => None,
        }
    }

    /// Removes the earliest entry.
    pub(crate) fn pop(&mut self) {
        self.heap.pop();
    }

    /// Keeps only the entries for which `live` holds (drops cancelled ones in one pass).
    pub(crate) fn retain(&mut self, mut live: impl FnMut(TxId, Armed) -> bool) {
        self.heap.retain(|Reverse(e)| {
            let (tx, armed) = e.target();
            live(tx, armed)
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

impl Entry {
    fn target(&self) -> (TxId, Armed) {
        let armed = Armed {
            kind: self.kind,
            generation: self.generation,
        };
        (self.tx, armed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_values() {
        let c = TimerConfig::default();
        assert_eq!(c.transaction_timeout(), Duration::from_secs(32));
        assert_eq!(c.timer_d(false), Duration::from_secs(32));
        assert_eq!(c.timer_d(true), Duration::ZERO);
        assert_eq!(c.linger(false), Duration::from_secs(5));
        assert_eq!(c.timer_j(true), Duration::ZERO);
        let mut e = c.t1;
        let mut schedule = Vec::new();
        for _ in 0..5 {
            schedule.push(e.as_millis());
            e = c.capped_backoff(e);
        }
        assert_eq!(schedule, [500, 1000, 2000, 4000, 4000]);
    }

    #[test]
    fn rearming_a_slot_makes_the_old_entry_stale() {
        let now = Instant::now();
        let mut q = TimerQueue::default();
        let mut t = TxTimers::default();
        let tx = TxId(1);
        q.arm(&mut t, tx, TimerKind::A, now + Duration::from_secs(1));
        q.arm(&mut t, tx, TimerKind::B, now + Duration::from_secs(32));
        q.arm(&mut t, tx, TimerKind::A, now + Duration::from_secs(2));
        assert_eq!(q.next_deadline(), Some(now + Duration::from_secs(1)));
        let (_, first) = q.pop_due(now + Duration::from_secs(2)).unwrap();
        assert!(!t.is_current(first), "replaced A must not fire");
        let (_, second) = q.pop_due(now + Duration::from_secs(2)).unwrap();
        assert!(t.is_current(second));
        assert!(q.pop_due(now + Duration::from_secs(2)).is_none());
        t.cancel(Slot::Lifetime);
        q.retain(|_, armed| t.is_current(armed));
        assert_eq!(q.len(), 0);
    }
}
