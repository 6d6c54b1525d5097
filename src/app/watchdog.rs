//! The systemd watchdog: the SIP driver loop beats a [`Heartbeat`] at least every
//! [`BEAT_EVERY`]; the pinger sends WATCHDOG=1 only while that beat is fresh, so a wedged
//! driver (not just a live process) gets calltrack restarted (`WatchdogSec=` in the unit).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::shutdown::Every;

/// How often the driver loop wakes to beat even when nothing happens.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);

/// The time of each shard loop's last turn, shared with the pinger: the stalest shard is the
/// heartbeat's age, so one wedged shard is enough to withhold the ping.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    base: Instant,
    /// Milliseconds since `base` of each shard's last beat.
    last_ms: Arc<[AtomicU64]>,
    /// The shard this handle beats for.
    shard: usize,
}

impl Heartbeat {
    /// A heartbeat for `shards` driver loops (at least one); this handle beats for the first.
    pub fn new(now: Instant, shards: usize) -> Heartbeat {
        Heartbeat {
            base: now,
            last_ms: (0..shards.max(1)).map(|_| AtomicU64::new(0)).collect(),
            shard: 0,
        }
    }

    /// The handle shard `index` beats with (the last shard when out of range).
    pub fn for_shard(&self, index: usize) -> Heartbeat {
        Heartbeat {
            shard: index.min(self.last_ms.len() - 1),
            ..self.clone()
        }
    }

    /// This handle's driver loop made progress at `now`.
    pub fn beat(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.base).as_millis();
        self.last_ms[self.shard].store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Time since the stalest shard's last beat.
    pub fn age(&self, now: Instant) -> Duration {
        let stalest = self
            .last_ms
            .iter()
            .map(|ms| ms.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        now.saturating_duration_since(self.base + Duration::from_millis(stalest))
    }
}

/// A ping is due only if the driver beat within half the watchdog period (systemd restarts
/// the service when a whole period passes without a ping).
pub fn is_fresh(age: Duration, period: Duration) -> bool {
    age <= period / 2
}

/// Pings systemd every quarter period while the heartbeat is fresh; returns at once when the
/// watchdog is not enabled (`WATCHDOG_USEC` unset, i.e. not under systemd or no WatchdogSec=).
pub async fn run(heartbeat: Heartbeat, stop: CancellationToken) {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    tracing::info!(?period, "systemd watchdog enabled");
    if period < BEAT_EVERY * 4 {
        tracing::warn!(
            ?period,
            "WatchdogSec= below 4 s: pings may be withheld between heartbeats"
        );
    }
    let mut every = Every::new(period / 4, stop);
    while every.tick().await {
        ping(&heartbeat, period);
    }
}

fn ping(heartbeat: &Heartbeat, period: Duration) {
    let age = heartbeat.age(tokio::time::Instant::now().into_std());
    if !is_fresh(age, period) {
        tracing::error!(
            ?age,
            "SIP driver loop stalled; withholding the watchdog ping"
        );
        return;
    }
    if let Err(error) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
        tracing::debug!(%error, "sd_notify WATCHDOG not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_follows_the_last_beat() {
        let t0 = Instant::now();
        let heartbeat = Heartbeat::new(t0, 1);
        heartbeat.beat(t0 + Duration::from_secs(3));
        assert_eq!(
            heartbeat.age(t0 + Duration::from_secs(5)),
            Duration::from_secs(2)
        );
        assert_eq!(heartbeat.age(t0), Duration::ZERO);
    }

    #[test]
    fn the_stalest_shard_is_the_age() {
        let t0 = Instant::now();
        let heartbeat = Heartbeat::new(t0, 2);
        heartbeat.beat(t0 + Duration::from_secs(9));
        heartbeat.for_shard(1).beat(t0 + Duration::from_secs(4));
        assert_eq!(
            heartbeat.age(t0 + Duration::from_secs(10)),
            Duration::from_secs(6)
        );
    }

    #[test]
    fn stale_beat_withholds_the_ping() {
        let period = Duration::from_secs(30);
        assert!(is_fresh(Duration::from_secs(1), period));
        assert!(is_fresh(Duration::from_secs(15), period));
        assert!(!is_fresh(Duration::from_secs(16), period));
    }
}
