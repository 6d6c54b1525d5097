//! When to try PostgreSQL again after it went away: exponential backoff, sans-IO (`now` is
//! passed in, nothing here sleeps or connects).

use std::time::{Duration, Instant};

/// First wait after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest wait between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The reconnect schedule of one connection.
#[derive(Debug, Clone)]
pub struct Reconnect {
    /// When the next attempt is due (`None`: connected, or never failed).
    next: Option<Instant>,
    backoff: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            next: None,
            backoff: BACKOFF_MIN,
        }
    }
}

impl Reconnect {
    /// Whether an attempt may be made at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.next.is_none_or(|at| now >= at)
    }

    /// How long until the next attempt is due (zero if it is).
    pub fn wait(&self, now: Instant) -> Duration {
        self.next
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }

    /// The connection was lost or an attempt failed at `now`: back off.
    pub fn failed(&mut self, now: Instant) {
        self.next = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Connected: the next failure starts from the shortest wait again.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_doubling_up_to_the_cap_and_resets_on_success() {
        let t0 = Instant::now();
        let mut r = Reconnect::default();
        assert!(r.due(t0));
        r.failed(t0);
        assert!(!r.due(t0));
        assert_eq!(r.wait(t0), BACKOFF_MIN);
        assert!(r.due(t0 + BACKOFF_MIN));
        let mut now = t0;
        for _ in 0..10 {
            now += r.wait(now);
            r.failed(now);
        }
        assert_eq!(r.wait(now), BACKOFF_MAX);
        r.succeeded();
        assert!(r.due(now));
        r.failed(now);
        assert_eq!(r.wait(now), BACKOFF_MIN);
    }
}
