//! When a failed transcription is tried again: exponential back-off from `[speech]
//! retry_secs`, doubling per attempt and capped at an hour, until `max_attempts`.

use std::time::Duration;

use jiff::Timestamp;

/// The longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(3_600);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    RetryAt(Timestamp),
    GiveUp,
}

/// After attempt number `made` (1 for the first) failed at `now` with an error that is
/// `retryable` or not.
pub fn after_failure(
    made: u32,
    max_attempts: u32,
    base: Duration,
    retryable: bool,
    now: Timestamp,
) -> Next {
    if !retryable || made >= max_attempts {
        return Next::GiveUp;
    }
    let factor = 1u32 << made.saturating_sub(1).min(20);
    let wait = base.saturating_mul(factor).min(MAX_WAIT);
    let wait = jiff::SignedDuration::try_from(wait).unwrap_or(jiff::SignedDuration::MAX);
    Next::RetryAt(now.saturating_add(wait).unwrap_or(Timestamp::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_an_hour_and_attempts_run_out() {
        let now: Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
        let base = Duration::from_secs(60);
        let wait = |made| match after_failure(made, 10, base, true, now) {
            Next::RetryAt(at) => (at - now).get_seconds(),
            Next::GiveUp => -1,
        };
        assert_eq!(
            [wait(1), wait(2), wait(3), wait(7), wait(9)],
            [60, 120, 240, 3_600, 3_600]
        );
        assert_eq!(after_failure(10, 10, base, true, now), Next::GiveUp);
        assert_eq!(after_failure(1, 10, base, false, now), Next::GiveUp);
    }
}
