//! What the state machines produce: datagrams to send, events for the TU, timers and counters,
//! collected in one place so that each machine is a plain function of (state, input, now).

use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::peers::Peers;
use super::timers::{Slot, TimerConfig, TimerKind, TimerQueue, TxTimers};
use super::{TxEvent, TxId, TxStats};
use crate::sip::peer::{Peer, Transmit};

/// The layer's output queues.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<TxEvent>,
    pub timers: TimerQueue,
    pub stats: TxStats,
    /// The peers records answer to (`peers`).
    pub peers: Peers,
    /// Hashes the To tags of accepted INVITEs' 2xx legs (`leg`), random per layer.
    pub tags: RandomState,
}

/// The wire bytes of a message a transaction will keep for 64*T1, in a buffer of exactly their
/// size: messages we build come in a builder's larger buffer (1 KiB for a request). The copy is
/// what goes on the wire too, so the kept bytes stay shared with the transmit (one buffer,
/// refcounted).
pub(crate) fn kept_bytes(message: &crate::sip::SipMessage) -> Bytes {
    Bytes::copy_from_slice(&message.wire_bytes())
}

impl Outbox {
    /// Cancels both timers of a transaction (it ended, or was abandoned).
    pub(crate) fn cancel_all(&mut self, timers: &mut TxTimers) {
        for handle in timers.take_all().into_iter().flatten() {
            self.timers.cancel(handle);
        }
    }
}

/// Everything one state machine step may touch.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub config: &'a TimerConfig,
    pub tx: TxId,
    pub out: &'a mut Outbox,
}

impl Ctx<'_> {
    /// First transmission of a message.
    pub(crate) fn send(&mut self, peer: Peer, bytes: Bytes) {
        self.out.transmits.push_back(Transmit { peer, bytes });
    }

    /// A retransmission (counted in [`TxStats::retransmissions_sent`]).
    pub(crate) fn resend(&mut self, peer: Peer, bytes: Bytes) {
        self.out.stats.retransmissions_sent += 1;
        self.send(peer, bytes);
    }

    /// A retransmitted message that went no further than the transaction.
    pub(crate) fn absorbed(&mut self) {
        self.out.stats.retransmissions_absorbed += 1;
    }

    pub(crate) fn emit(&mut self, event: TxEvent) {
        self.out.events.push_back(event);
    }

    /// Tells the TU the transaction failed (Timer B/C/F, the §9.1 wait, or a transport error).
    pub(crate) fn timeout(&mut self) {
        self.out.stats.timeouts += 1;
        self.emit(TxEvent::Timeout { tx: self.tx });
    }

    /// Arms `kind` to fire `after` from now, replacing the timer in the same slot.
    pub(crate) fn arm(&mut self, timers: &mut TxTimers, kind: TimerKind, after: Duration) {
        self.cancel(timers, kind.slot());
        let deadline = self.now + after;
        let handle = self.out.timers.insert(self.now, deadline, (self.tx, kind));
        *timers.slot_mut(kind.slot()) = Some(handle);
    }

    /// Cancels whatever runs in `slot`.
    pub(crate) fn cancel(&mut self, timers: &mut TxTimers, slot: Slot) {
        if let Some(handle) = timers.slot_mut(slot).take() {
            self.out.timers.cancel(handle);
        }
    }

    pub(crate) fn cancel_all(&mut self, timers: &mut TxTimers) {
        self.out.cancel_all(timers);
    }
}
