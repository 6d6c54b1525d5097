//! TCP admission: who gets one of the `tcp_max_connections` inbound slots.
//!
//! Carriers and the PBX (trusted sources) may take any slot. Everyone else shares the slots
//! the trusted reserve leaves free and is held to a per-source limit, so one untrusted host can
//! neither hoard the slots nor lock a carrier's TCP calls out. A source the flood guard has
//! banned is refused outright. Outbound connections (calltrack's own, to the PBX and gateways)
//! take no slot, so inbound load never starves them.
//!
//! The transport decides nothing about trust itself: a [`SourceGate`] judges each connecting
//! address (`app` wires one that reads the live `[carriers]`/`[pbx]` networks and the flood
//! guard's bans). A refused connection is closed at once, before a byte is read.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// A connecting source, as the rest of calltrack sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// In `[carriers] trusted` or `[pbx] trusted`.
    Trusted,
    /// Anyone else, counted under `key` (an IPv4 address, or an IPv6 /64).
    Untrusted { key: IpAddr },
    /// Banned by the flood guard.
    Banned,
}

/// Judges connecting sources; asked once per accepted connection, on the accept loop.
pub trait SourceGate: Send + Sync + Debug + 'static {
    /// `ip`'s standing at `now` (trusted networks and bans may change while running).
    fn judge(&self, now: Instant, ip: IpAddr) -> Standing;
}

/// The gate used when none is set: nobody trusted or banned, each address its own source.
#[derive(Debug, Default, Clone, Copy)]
pub struct NobodyTrusted;

impl SourceGate for NobodyTrusted {
    fn judge(&self, _now: Instant, ip: IpAddr) -> Standing {
        Standing::Untrusted { key: ip }
    }
}

/// How the inbound slots are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotLimits {
    /// Inbound connections open at once (`sip.tcp_max_connections`).
    pub max: usize,
    /// Of `max`, the slots only trusted sources may take.
    pub reserved_trusted: usize,
    /// Inbound connections one untrusted source may hold at once.
    pub per_source: usize,
}

/// Why a connection was refused: the `reason` label of
/// `calltrack_tcp_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The source is banned by the flood guard.
    Banned,
    /// Every slot is taken.
    Limit,
    /// The slots left to untrusted sources (all but the trusted reserve) are taken.
    UntrustedShare,
    /// This untrusted source holds its limit already.
    PerSource,
}

impl Refusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Banned => "banned",
            Refusal::Limit => "limit",
            Refusal::UntrustedShare => "untrusted_share",
            Refusal::PerSource => "per_source",
        }
    }
}

/// HELP lines for the transport's metrics (called once, where the recorder is installed).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "calltrack_tcp_connections_refused_total",
        "Inbound TCP connections closed at once, by reason (banned, limit, untrusted_share, per_source)"
    );
    metrics::describe_counter!(
        "calltrack_tcp_message_timeouts_total",
        "TCP connections closed because a message was not complete within sip.tcp_message_timeout_ms"
    );
}

/// The inbound slots in use, by standing and by untrusted source.
#[derive(Debug)]
pub(crate) struct Slots {
    limits: SlotLimits,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    trusted: usize,
    untrusted: usize,
    /// Untrusted connections per source key; a key leaves when its last connection closes.
    by_source: HashMap<IpAddr, usize>,
}

impl Slots {
    pub(crate) fn new(limits: SlotLimits) -> Arc<Slots> {
        Arc::new(Slots {
            limits,
            open: Mutex::default(),
        })
    }

    /// A slot for a source of this standing, or why there is none.
    pub(crate) fn take(self: &Arc<Self>, standing: Standing) -> Result<Slot, Refusal> {
        let key = match standing {
            Standing::Banned => return Err(Refusal::Banned),
            Standing::Trusted => None,
            Standing::Untrusted { key } => Some(key),
        };
        self.lock().admit(&self.limits, key)?;
        Ok(Slot {
            slots: Arc::clone(self),
            key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Open {
    fn admit(&mut self, limits: &SlotLimits, key: Option<IpAddr>) -> Result<(), Refusal> {
        if self.trusted + self.untrusted >= limits.max {
            return Err(Refusal::Limit);
        }
        let Some(key) = key else {
            self.trusted += 1;
            return Ok(());
        };
        if self.by_source.get(&key).copied().unwrap_or(0) >= limits.per_source {
            return Err(Refusal::PerSource);
        }
        if self.untrusted >= limits.max.saturating_sub(limits.reserved_trusted) {
            return Err(Refusal::UntrustedShare);
        }
        self.untrusted += 1;
        *self.by_source.entry(key).or_default() += 1;
        Ok(())
    }

    fn release(&mut self, key: Option<IpAddr>) {
        let Some(key) = key else {
            self.trusted = self.trusted.saturating_sub(1);
            return;
        };
        self.untrusted = self.untrusted.saturating_sub(1);
        if let Entry::Occupied(mut held) = self.by_source.entry(key) {
            *held.get_mut() -= 1;
            if *held.get() == 0 {
                held.remove();
            }
        }
    }
}

/// One inbound connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    /// `None` for a trusted source.
    key: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(max: usize, reserved_trusted: usize, per_source: usize) -> Arc<Slots> {
        Slots::new(SlotLimits {
            max,
            reserved_trusted,
            per_source,
        })
    }

    fn untrusted(last: u8) -> Standing {
        Standing::Untrusted {
            key: IpAddr::from([192, 0, 2, last]),
        }
    }

    #[test]
    fn untrusted_sources_share_only_the_unreserved_slots() {
        let s = slots(4, 2, 10);
        let held: Vec<Slot> = (1..=2).map(|i| s.take(untrusted(i)).unwrap()).collect();
        assert_eq!(s.take(untrusted(3)).err(), Some(Refusal::UntrustedShare));
        let trusted: Vec<Slot> = (0..2).map(|_| s.take(Standing::Trusted).unwrap()).collect();
        assert_eq!(s.take(Standing::Trusted).err(), Some(Refusal::Limit));
        drop(held);
        // Trusted sources may use the unreserved slots too.
        let more: Vec<Slot> = (0..2).map(|_| s.take(Standing::Trusted).unwrap()).collect();
        assert_eq!(s.take(untrusted(3)).err(), Some(Refusal::Limit));
        drop((trusted, more));
        assert!(s.take(untrusted(3)).is_ok());
    }

    #[test]
    fn one_untrusted_source_is_held_to_its_limit_and_others_are_not() {
        let s = slots(100, 10, 3);
        let first: Vec<Slot> = (0..3).map(|_| s.take(untrusted(1)).unwrap()).collect();
        assert_eq!(s.take(untrusted(1)).err(), Some(Refusal::PerSource));
        let _other = s.take(untrusted(2)).unwrap();
        drop(first);
        assert!(s.take(untrusted(1)).is_ok());
        assert_eq!(s.lock().by_source.len(), 1, "closed sources are forgotten");
    }

    #[test]
    fn a_banned_source_gets_no_slot_even_when_all_are_free() {
        let s = slots(10, 0, 10);
        assert_eq!(s.take(Standing::Banned).err(), Some(Refusal::Banned));
        let open = s.lock();
        assert_eq!(open.trusted + open.untrusted, 0);
    }
}
