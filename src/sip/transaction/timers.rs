//! Transaction timers: their durations (RFC 3261 §17, Table 4; RFC 6026 §7) and the two
//! timer slots of a transaction.
//!
//! Each transaction has a *retransmit* slot (A, E, G and the 2xx retransmission of
//! §13.3.1.4) and a *lifetime* slot (B, C, D, F, H, I, J, K, L, M, and the wait after a
//! CANCEL). A slot holds the handle of its timer in the layer's wheel; arming a slot cancels
//! what ran there, and a transaction that ends cancels both, so no stale timer is kept.

use std::time::Duration;

use super::TxId;
use super::wheel::{TimerHandle, TimerWheel};

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

/// The armed timers of one transaction: at most one per slot, each a handle into the
/// layer's [`TimerWheel`](super::wheel::TimerWheel), cancelled there eagerly.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TxTimers {
    retransmit: Option<TimerHandle>,
    lifetime: Option<TimerHandle>,
}

impl TxTimers {
    pub(crate) fn slot_mut(&mut self, slot: Slot) -> &mut Option<TimerHandle> {
        match slot {
            Slot::Retransmit => &mut self.retransmit,
            Slot::Lifetime => &mut self.lifetime,
        }
    }

    /// Forgets `handle` when it is the live timer of `slot` (it just fired); false for a
    /// timer the transaction no longer runs.
    pub(crate) fn fired(&mut self, slot: Slot, handle: TimerHandle) -> bool {
        let live = self.slot_mut(slot);
        if *live == Some(handle) {
            *live = None;
            true
        } else {
            false
        }
    }

    /// The handle of the lifetime timer (L, J, M, K ...), if armed.
    pub(crate) fn lifetime(&self) -> Option<TimerHandle> {
        self.lifetime
    }

    /// Both handles, emptied (to cancel them in the wheel).
    pub(crate) fn take_all(&mut self) -> [Option<TimerHandle>; 2] {
        [self.retransmit.take(), self.lifetime.take()]
    }
}

/// Every armed timer of the layer: which transaction, which timer.
pub(crate) type TimerQueue = TimerWheel<(TxId, TimerKind)>;

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
}
