//! Caller history for the first-time-caller judgement: when each caller number last called,
//! within the uniqueness window, and the lease its last attributed call went to (the
//! confidence's "repeat caller" fact, and the visit a repeat call is attributed to, see
//! `call::repeat`; remembered from this process's start, not loaded from the CDRs). Loaded from the CDR table at start-up, then kept in memory
//! (the core never queries the database).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::lease::Lease;

/// Last call time per caller number; clones share one table (every shard of the core reads
/// and records in it: a caller's next call may land on another shard).
#[derive(Debug, Clone, Default)]
pub struct CallerHistory(Arc<Mutex<HistoryState>>);

#[derive(Debug, Default)]
struct HistoryState {
    /// `None`: a caller is new only once, ever.
    window: Option<Duration>,
    last_call: HashMap<String, Timestamp>,
    /// The lease each caller's last call attributed to a lease went to, as it was at ring
    /// time; pruned with `last_call`.
    holders: HashMap<String, Lease>,
    inserts_since_prune: usize,
}

/// Entries are pruned (older than the window) after this many new calls.
const PRUNE_EVERY: usize = 4096;

impl CallerHistory {
    pub fn new(window: Option<Duration>) -> CallerHistory {
        CallerHistory(Arc::new(Mutex::new(HistoryState {
            window,
            ..HistoryState::default()
        })))
    }

    /// Seeds the history with earlier calls (`caller`, `started_at`), e.g. from the CDR table.
    pub fn load(&self, calls: impl IntoIterator<Item = (String, Timestamp)>) {
        let mut state = self.state();
        for (caller, at) in calls {
            let entry = state.last_call.entry(caller).or_insert(at);
            *entry = (*entry).max(at);
        }
    }

    /// Whether `caller` has not called within the window before `now` (a pure read: the
    /// decision). Callers without a number (anonymous) are always first-time.
    pub fn is_first(&self, caller: &str, now: Timestamp) -> bool {
        is_anonymous(caller) || self.state().is_first(caller, now)
    }

    /// Remembers that `caller` called at `now` (anonymous callers are never recorded).
    pub fn record(&self, caller: &str, now: Timestamp) {
        if !is_anonymous(caller) {
            self.state().record(caller, now);
        }
    }

    /// Remembers that `caller` called at `now`, and the lease the call was attributed to
    /// (`None` keeps the earlier one).
    pub fn record_attributed(&self, caller: &str, now: Timestamp, holder: Option<&Lease>) {
        if is_anonymous(caller) {
            return;
        }
        let mut state = self.state();
        state.record(caller, now);
        if let Some(holder) = holder {
            state.holders.insert(caller.to_string(), holder.clone());
        }
    }

    /// The holder key of `caller`'s last call attributed to a lease, within the window.
    pub fn earlier_holder(&self, caller: &str) -> Option<String> {
        let lease = self.earlier_lease(caller)?;
        Some(crate::call::confidence::holder_key(&lease).to_owned())
    }

    /// The lease `caller`'s last call attributed to a lease went to, within the window.
    pub fn earlier_lease(&self, caller: &str) -> Option<Lease> {
        if is_anonymous(caller) {
            return None;
        }
        self.state().holders.get(caller).cloned()
    }

    /// Whether `caller` has not called within the window before `now`; records this call.
    pub fn first_call(&self, caller: &str, now: Timestamp) -> bool {
        let first = self.is_first(caller, now);
        self.record(caller, now);
        first
    }

    /// How far back the start-up load must read.
    pub fn window(&self) -> Option<Duration> {
        self.state().window
    }

    pub fn len(&self) -> usize {
        self.state().last_call.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table; a panic elsewhere while it was held leaves it usable (plain entries).
    fn state(&self) -> MutexGuard<'_, HistoryState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl HistoryState {
    fn is_first(&self, caller: &str, now: Timestamp) -> bool {
        match self.last_call.get(caller) {
            None => true,
            Some(last) => self
                .window
                .is_some_and(|w| now.duration_since(*last) > signed(w)),
        }
    }

    fn record(&mut self, caller: &str, now: Timestamp) {
        self.last_call.insert(caller.to_string(), now);
        self.inserts_since_prune += 1;
        if self.inserts_since_prune >= PRUNE_EVERY {
            self.prune(now);
        }
    }

    fn prune(&mut self, now: Timestamp) {
        self.inserts_since_prune = 0;
        if let Some(window) = self.window {
            self.last_call
                .retain(|_, at| now.duration_since(*at) <= signed(window));
            let kept = &self.last_call;
            self.holders.retain(|caller, _| kept.contains_key(caller));
        }
    }
}

/// Callers without a number: never recorded, always first-time.
pub fn is_anonymous(caller: &str) -> bool {
    caller.is_empty() || caller.eq_ignore_ascii_case("anonymous")
}

/// A configured window as a signed span between two instants.
fn signed(window: Duration) -> SignedDuration {
    SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    #[test]
    fn repeat_within_window_is_not_first() {
        let h = CallerHistory::new(Some(Duration::from_secs(30 * 86_400)));
        let t0 = ts("2026-11-01T10:00:00Z");
        assert!(h.first_call("79161234567", t0));
        assert!(!h.first_call(
            "79161234567",
            t0 + jiff::SignedDuration::from_hours(24 * 29)
        ));
        assert!(h.first_call(
            "79161234567",
            t0 + jiff::SignedDuration::from_hours(24 * 60)
        ));
        assert!(h.first_call("", t0) && h.first_call("anonymous", t0));
    }

    #[test]
    fn remembers_the_last_attributed_holder() {
        let h = CallerHistory::new(Some(Duration::from_secs(86_400)));
        let t0 = ts("2026-11-01T10:00:00Z");
        assert_eq!(h.earlier_holder("79161234567"), None);
        let v1 = crate::call::repeat::tests::lease("s1", Some("v1"), "74950000001", t0);
        h.record_attributed("79161234567", t0, Some(&v1));
        h.record_attributed("79161234567", t0, None);
        assert_eq!(h.earlier_holder("79161234567").as_deref(), Some("v1"));
        assert_eq!(h.earlier_lease("79161234567"), Some(v1.clone()));
        assert!(!h.is_first("79161234567", t0));
        h.record_attributed("anonymous", t0, Some(&v1));
        assert_eq!(h.earlier_holder("anonymous"), None);
    }

    #[test]
    fn forever_window_and_loaded_history() {
        let h = CallerHistory::new(None);
        h.load([("79160000000".to_string(), ts("2020-01-01T00:00:00Z"))]);
        assert!(!h.first_call("79160000000", ts("2026-11-01T00:00:00Z")));
    }

    #[test]
    fn pruning_keeps_memory_bounded_to_the_window() {
        let h = CallerHistory::new(Some(Duration::from_secs(60)));
        let t0 = ts("2026-11-01T10:00:00Z");
        for i in 0..PRUNE_EVERY - 1 {
            h.first_call(&format!("7916{i:07}"), t0);
        }
        h.first_call("79990000000", t0 + jiff::SignedDuration::from_hours(1));
        assert!(h.len() < 10, "old callers pruned, {} left", h.len());
    }
}
