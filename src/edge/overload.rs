//! The overload guard: whether the SIP core is behind, so that new INVITEs are refused with
//! 503 and Retry-After before they make any state (DESIGN.md §4.6, RFC 3261 §21.5.4).
//!
//! Two signals, both facts the core is handed (it reads no clock and no queue itself):
//! - **queue delay**: how long each message waited between the socket and the core. As in
//!   CoDel (RFC 8289 §3), the guard looks at the *lowest* delay over an interval, so a burst
//!   that drains quickly is not overload: the core is behind once every message of a whole
//!   [`INTERVAL`] waited at least `[calls] overload_queue_delay_ms`, and no longer as soon as
//!   one message waited less (the queue has drained).
//! - **store backlog**: call events not yet taken by the CDR writer. Past half of
//!   `[store] queue_capacity` new calls are refused until it is below a quarter again, so the
//!   backlog stays bounded and the core never waits for the store.
//!
//! Refusing costs a parse and one small datagram, far less than a call, and requests inside
//! calls (ACK, BYE, re-INVITE) and responses are never refused: they finish work already paid
//! for. A refused INVITE leaves no CDR (like every refusal of untrusted or unknown traffic).

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::sip::message::Rejection;

/// How long the queue delay must stay at or above the target before the core counts as behind.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Why new INVITEs are refused right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    QueueDelay,
    StoreBacklog,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::QueueDelay => "queue_delay",
            Signal::StoreBacklog => "store_backlog",
        }
    }
}

/// The guard's state; `observe_*` feed it, [`OverloadGuard::refusal`] asks it.
#[derive(Debug)]
pub struct OverloadGuard {
    target: Duration,
    retry_after_secs: u32,
    /// Since when every message has waited at least `target` (`None`: the last one did not).
    slow_since: Option<Instant>,
    /// `slow_since` is at least [`INTERVAL`] old.
    queue_behind: bool,
    store_capacity: usize,
    store_behind: bool,
}

impl OverloadGuard {
    pub fn new(config: &Config) -> Self {
        OverloadGuard {
            target: config.calls.overload_queue_delay,
            retry_after_secs: config.calls.overload_retry_after_secs,
            slow_since: None,
            queue_behind: false,
            store_capacity: config.store.queue_capacity,
            store_behind: false,
        }
    }

    /// Follows a reloaded config (the store's capacity cannot change without a restart).
    pub fn reload(&mut self, config: &Config) {
        self.target = config.calls.overload_queue_delay;
        self.retry_after_secs = config.calls.overload_retry_after_secs;
    }

    /// A message reaches the core at `now` after waiting `waited` since its socket read it.
    pub fn observe_wait(&mut self, now: Instant, waited: Duration) {
        let was = self.signal();
        if waited < self.target {
            self.slow_since = None;
            self.queue_behind = false;
        } else {
            let since = *self.slow_since.get_or_insert(now);
            self.queue_behind = now.saturating_duration_since(since) >= INTERVAL;
        }
        self.report(was);
    }

    /// Call events handed out by the core and not yet taken by the CDR writer.
    pub fn observe_store_backlog(&mut self, backlog: usize) {
        let was = self.signal();
        if backlog > self.store_capacity / 2 {
            self.store_behind = true;
        } else if backlog < self.store_capacity / 4 {
            self.store_behind = false;
        }
        self.report(was);
    }

    /// Why new INVITEs are refused right now, if they are.
    pub fn signal(&self) -> Option<Signal> {
        if self.store_behind {
            Some(Signal::StoreBacklog)
        } else if self.queue_behind {
            Some(Signal::QueueDelay)
        } else {
            None
        }
    }

    /// The answer to a new INVITE while the core is behind.
    pub fn refusal(&self) -> Option<(Signal, Rejection)> {
        let signal = self.signal()?;
        let rejection = Rejection::new(503, "Service Unavailable")
            .retry_after(self.retry_after_secs)
            .because("overload");
        Some((signal, rejection))
    }

    fn report(&self, was: Option<Signal>) {
        let now = self.signal();
        if now == was {
            return;
        }
        metrics::gauge!("calltrack_overloaded").set(if now.is_some() { 1.0 } else { 0.0 });
        match now {
            Some(signal) => tracing::warn!(
                signal = signal.as_str(),
                "overload: refusing new calls with 503 until the core catches up"
            ),
            None => tracing::info!("overload over: accepting new calls again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> OverloadGuard {
        let mut config = Config::embedded_default().unwrap();
        config.calls.overload_queue_delay = Duration::from_millis(20);
        config.calls.overload_retry_after_secs = 2;
        config.store.queue_capacity = 1000;
        OverloadGuard::new(&config)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_shorter_than_the_interval_is_not_overload() {
        let mut g = guard();
        let t0 = Instant::now();
        for i in 0..9 {
            g.observe_wait(t0 + ms(10 * i), ms(50));
        }
        assert_eq!(g.signal(), None);
        g.observe_wait(t0 + ms(95), ms(1));
        g.observe_wait(t0 + ms(150), ms(50));
        assert_eq!(g.signal(), None, "one quick message restarts the interval");
    }

    #[test]
    fn a_whole_interval_of_slow_messages_refuses_until_one_is_quick() {
        let mut g = guard();
        let t0 = Instant::now();
        g.observe_wait(t0, ms(20));
        g.observe_wait(t0 + ms(99), ms(20));
        assert_eq!(g.signal(), None);
        g.observe_wait(t0 + ms(100), ms(25));
        let (signal, rejection) = g.refusal().unwrap();
        assert_eq!(signal, Signal::QueueDelay);
        assert_eq!(
            (
                rejection.status,
                rejection.retry_after_secs,
                rejection.cause
            ),
            (503, Some(2), Some("overload"))
        );
        g.observe_wait(t0 + ms(300), ms(19));
        assert!(g.refusal().is_none(), "recovers at once");
    }

    #[test]
    fn the_store_backlog_refuses_past_half_and_clears_below_a_quarter() {
        let mut g = guard();
        g.observe_store_backlog(500);
        assert_eq!(g.signal(), None);
        g.observe_store_backlog(501);
        assert_eq!(g.signal(), Some(Signal::StoreBacklog));
        g.observe_store_backlog(250);
        assert_eq!(g.signal(), Some(Signal::StoreBacklog), "hysteresis");
        g.observe_store_backlog(249);
        assert_eq!(g.signal(), None);
    }

    #[test]
    fn a_reload_changes_the_target_and_retry_after() {
        let mut g = guard();
        let mut config = Config::embedded_default().unwrap();
        config.calls.overload_queue_delay = Duration::from_millis(200);
        config.calls.overload_retry_after_secs = 7;
        g.reload(&config);
        let t0 = Instant::now();
        g.observe_wait(t0, ms(100));
        g.observe_wait(t0 + ms(150), ms(100));
        assert_eq!(g.signal(), None);
        g.observe_wait(t0 + ms(200), ms(250));
        g.observe_wait(t0 + ms(300), ms(250));
        assert_eq!(g.refusal().unwrap().1.retry_after_secs, Some(7));
    }
}
