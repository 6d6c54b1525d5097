//! How long a call may live at most, whatever its peers do: the deadlines it was opened with,
//! and the audit's pure decision on whether it escaped them.

use std::time::{Duration, Instant};

/// The deadlines of one call, as the audit sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifespan {
    /// When the caller's INVITE opened the call.
    pub opened: Instant,
    /// `[calls] ring_timeout_secs` when the call opened.
    pub ring_timeout: Duration,
    /// When the callee answered, if it did.
    pub answered: Option<Instant>,
    /// `[calls] max_call_secs` when the call opened.
    pub max_duration: Duration,
}

impl Lifespan {
    /// When the call's own timers end it at the latest: the ring timeout for a call never
    /// answered, the maximum duration after the answer. `None` if that is beyond the clock.
    pub fn ends_by(&self) -> Option<Instant> {
        match self.answered {
            Some(at) => at.checked_add(self.max_duration),
            None => self.opened.checked_add(self.ring_timeout),
        }
    }

    /// Whether the call is still alive past [`Self::ends_by`] plus `margin` (the time its
    /// teardown may legitimately take): then it escaped every timer and must be reaped.
    pub fn is_overdue(&self, now: Instant, margin: Duration) -> bool {
        self.ends_by()
            .and_then(|end| end.checked_add(margin))
            .is_some_and(|limit| now > limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGIN: Duration = Duration::from_secs(245);

    fn lifespan(opened: Instant, answered_after: Option<u64>) -> Lifespan {
        Lifespan {
            opened,
            ring_timeout: Duration::from_secs(60),
            answered: answered_after.map(|s| opened + Duration::from_secs(s)),
            max_duration: Duration::from_secs(3_600),
        }
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn a_call_never_answered_is_overdue_after_the_ring_timeout_and_the_margin() {
        let t0 = Instant::now();
        let call = lifespan(t0, None);
        assert_eq!(call.ends_by(), Some(at(t0, 60)));
        assert!(!call.is_overdue(at(t0, 60), MARGIN));
        assert!(!call.is_overdue(at(t0, 60 + 245), MARGIN));
        assert!(call.is_overdue(at(t0, 60 + 246), MARGIN));
    }

    #[test]
    fn an_answered_call_is_overdue_only_after_its_maximum_duration_and_the_margin() {
        let t0 = Instant::now();
        let call = lifespan(t0, Some(50));
        assert_eq!(call.ends_by(), Some(at(t0, 3_650)));
        assert!(
            !call.is_overdue(at(t0, 600), MARGIN),
            "the ring timeout no longer applies once answered"
        );
        assert!(!call.is_overdue(at(t0, 3_650 + 245), MARGIN));
        assert!(call.is_overdue(at(t0, 3_650 + 246), MARGIN));
    }

    #[test]
    fn deadlines_beyond_the_clock_never_make_a_call_overdue() {
        let t0 = Instant::now();
        let call = Lifespan {
            max_duration: Duration::MAX,
            ..lifespan(t0, Some(1))
        };
        assert_eq!(call.ends_by(), None);
        assert!(!call.is_overdue(at(t0, 1_000_000), MARGIN));
    }
}
