//! The clock of a periodic background service: a tick at once, then one every period, until
//! the shutdown signal.

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Ticks for a service loop: `while every.tick().await { work }`.
pub struct Every {
    interval: Interval,
    stop: CancellationToken,
}

impl Every {
    /// The first tick is at once, the next ones `period` apart. A late tick (the work took
    /// longer than `period`, or the runtime was busy) moves the later ones back rather than
    /// firing a burst to catch up: periodic work wants spacing, not a count.
    pub fn new(period: Duration, stop: CancellationToken) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { interval, stop }
    }

    /// Waits for the next tick: `true` to work once more, `false` once `stop` is cancelled
    /// (checked first, so a stopped service never runs again, even with a tick due).
    pub async fn tick(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const PERIOD: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn ticks_at_once_then_every_period() {
        let start = Instant::now();
        let mut every = Every::new(PERIOD, CancellationToken::new());
        let mut at = Vec::new();
        for _ in 0..3 {
            assert!(every.tick().await);
            at.push(start.elapsed());
        }
        assert_eq!(at, [Duration::ZERO, PERIOD, 2 * PERIOD]);
    }

    #[tokio::test(start_paused = true)]
    async fn late_work_delays_the_next_tick_instead_of_bursting() {
        let start = Instant::now();
        let mut every = Every::new(PERIOD, CancellationToken::new());
        assert!(every.tick().await);
        tokio::time::sleep(PERIOD * 3 + Duration::from_secs(1)).await;
        assert!(every.tick().await, "the missed tick fires once, at once");
        let late = start.elapsed();
        assert!(every.tick().await);
        assert_eq!(
            start.elapsed() - late,
            PERIOD,
            "then a full period, no burst"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_stop_ends_the_loop_even_with_a_tick_due() {
        let stop = CancellationToken::new();
        let mut every = Every::new(PERIOD, stop.clone());
        stop.cancel();
        assert!(!every.tick().await);
    }
}
