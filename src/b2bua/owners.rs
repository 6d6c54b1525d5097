//! Bookkeeping beside the sessions: which transactions belong to which call, and the wall
//! clock derived from the monotonic time passed in.

use std::collections::HashMap;
use std::time::Instant;

use jiff::Timestamp;

use crate::sip::transaction::TxId;

use crate::b2bua::CallKey;

/// Wall-clock time derived from the monotonic `now` passed in, anchored once at start-up, so
/// the core never reads a clock.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    base: Instant,
    wall: Timestamp,
}

impl WallClock {
    pub fn new(base: Instant, wall: Timestamp) -> WallClock {
        WallClock { base, wall }
    }

    pub fn at(&self, now: Instant) -> Timestamp {
        self.wall + now.saturating_duration_since(self.base)
    }
}

/// Which client transactions belong to which call, both ways, so a call's entries go with it.
#[derive(Debug, Default)]
pub struct Owners {
    by_tx: HashMap<TxId, CallKey>,
    by_call: HashMap<CallKey, Vec<TxId>>,
}

impl Owners {
    pub fn insert(&mut self, tx: TxId, key: CallKey) {
        self.by_tx.insert(tx, key);
        self.by_call.entry(key).or_default().push(tx);
    }

    pub(super) fn get(&self, tx: &TxId) -> Option<CallKey> {
        self.by_tx.get(tx).copied()
    }

    pub(super) fn remove_call(&mut self, key: CallKey) {
        self.take_call(key);
    }

    /// Removes a call's entries and returns its transactions.
    pub(super) fn take_call(&mut self, key: CallKey) -> Vec<TxId> {
        let txs = self.by_call.remove(&key).unwrap_or_default();
        for tx in &txs {
            self.by_tx.remove(tx);
        }
        txs
    }
}
