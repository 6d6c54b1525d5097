//! INVITE in → INVITE out: from the moment a socket loop read a new call's INVITE to the
//! moment its B-leg INVITE is handed to the sockets, as the histogram
//! `calltrack_invite_relay_seconds` in `/metrics` (queueing before the core included).

use std::time::Instant;

/// The INVITEs relayed by the input being handled, waiting for their transmits to go out.
#[derive(Debug, Default)]
pub(crate) struct RelayLatency {
    /// When the input was read, and how many B-leg INVITEs it made (parallel ringing: several).
    waiting: Option<(Instant, u32)>,
}

impl RelayLatency {
    /// The input read at `received` made `legs` new B-leg INVITEs.
    pub(crate) fn started(&mut self, received: Instant, legs: u32) {
        self.waiting = Some((received, legs));
    }

    /// Every transmit of the input has been handed to the sockets at `now`.
    pub(crate) fn sent(&mut self, now: Instant) {
        if let Some((received, legs)) = self.waiting.take() {
            let took = now.saturating_duration_since(received).as_secs_f64();
            let histogram = metrics::histogram!("calltrack_invite_relay_seconds");
            for _ in 0..legs {
                histogram.record(took);
            }
        }
    }
}
