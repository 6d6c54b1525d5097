//! The flood guard (after Kamailio's pike): a per-source-IP message rate limit on a keyed
//! `governor` limiter, and temporary bans. A source over the limit is banned for `ban`: every
//! packet from it is dropped before parsing until the ban ends. Both tables are bounded.
//! The bans are shared ([`Bans`]): the TCP accept loop reads them and closes a banned source's
//! connects before reading a byte.
//!
//! Sans-IO: the limiter's clock is a [`FakeRelativeClock`] advanced to the `now` each packet
//! is handed in with, so tests drive it on a virtual clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::FloodConfig;

type Limiter = RateLimiter<
    IpAddr,
    HashMapStateStore<IpAddr>,
    FakeRelativeClock,
    NoOpMiddleware<<FakeRelativeClock as Clock>::Instant>,
>;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// The source is banned: drop silently.
    Drop,
    /// This packet put the source over the limit: it is banned from now on (drop it).
    Banned,
}

/// The flood guard's bans in force, each until its end, keyed by [`crate::edge::flood_key`]. The
/// guard alone writes; clones read from other threads.
#[derive(Debug, Clone, Default)]
pub struct Bans(Arc<DashMap<IpAddr, Instant>>);

impl Bans {
    /// Whether `ip` (any address: grouped as the guard groups it) is banned at `now`.
    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.until(crate::edge::flood_key(ip))
            .is_some_and(|until| until > now)
    }

    fn until(&self, key: IpAddr) -> Option<Instant> {
        self.0.get(&key).map(|until| *until)
    }
}

/// Per-IP rate state and bans.
pub struct FloodGuard {
    config: FloodConfig,
    limiter: Limiter,
    clock: FakeRelativeClock,
    /// The `now` the limiter's clock stands at.
    clock_at: Option<Instant>,
    /// The bans in force, the guard's own copy: read on every packet without a lock.
    bans: HashMap<IpAddr, Instant>,
    /// The same bans for readers on other threads (written only when a ban starts or ends).
    shared: Bans,
    next_sweep: Option<Instant>,
}

impl std::fmt::Debug for FloodGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloodGuard")
            .field("config", &self.config)
            .field("tracked", &self.limiter.len())
            .field("banned", &self.bans.len())
            .finish()
    }
}

impl FloodGuard {
    pub fn new(config: &FloodConfig) -> FloodGuard {
        FloodGuard::with_bans(config, Bans::default())
    }

    /// A guard that keeps its bans in `bans`, which others may read.
    pub fn with_bans(config: &FloodConfig, bans: Bans) -> FloodGuard {
        let clock = FakeRelativeClock::default();
        FloodGuard {
            config: config.clone(),
            limiter: limiter(config, &clock),
            clock,
            clock_at: None,
            bans: HashMap::new(),
            shared: bans,
            next_sweep: None,
        }
    }

    /// Takes new limits (SIGHUP); bans in force stay, rate state starts afresh if it changed.
    pub fn reconfigure(&mut self, config: &FloodConfig) {
        if *config != self.config {
            self.limiter = limiter(config, &self.clock);
            self.config = config.clone();
        }
    }

    /// Judges one packet from `ip` at `now`.
    pub fn check(&mut self, now: Instant, ip: IpAddr) -> Verdict {
        if !self.config.enabled {
            return Verdict::Pass;
        }
        self.advance_clock(now);
        self.sweep(now);
        if let Some(&until) = self.bans.get(&ip) {
            if until > now {
                return Verdict::Drop;
            }
            self.unban(ip);
        }
        self.bound_rate_state();
        if self.limiter.check_key(&ip).is_ok() {
            return Verdict::Pass;
        }
        self.ban(now, ip);
        Verdict::Banned
    }

    /// Sources banned right now.
    pub fn banned(&self) -> usize {
        self.bans.len()
    }

    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.bans.get(&ip).is_some_and(|until| *until > now)
    }

    /// Source IPs with rate state.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }

    pub fn limit_per_sec(&self) -> u32 {
        self.config.messages_per_sec
    }

    fn advance_clock(&mut self, now: Instant) {
        let at = *self.clock_at.get_or_insert(now);
        if now > at {
            self.clock.advance(now - at);
            self.clock_at = Some(now);
        }
    }

    fn ban(&mut self, now: Instant, ip: IpAddr) {
        if self.bans.len() >= self.config.max_tracked_ips {
            self.drop_expired(now);
        }
        if self.bans.len() >= self.config.max_tracked_ips {
            let soonest = self.bans.iter().min_by_key(|(_, until)| **until);
            if let Some(oldest) = soonest.map(|(ip, _)| *ip) {
                self.unban(oldest);
            }
        }
        let until = now + self.config.ban;
        self.bans.insert(ip, until);
        self.shared.0.insert(ip, until);
    }

    fn unban(&mut self, ip: IpAddr) {
        self.bans.remove(&ip);
        self.shared.0.remove(&ip);
    }

    /// Expired bans go at most once a second.
    fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| at > now) {
            return;
        }
        self.next_sweep = Some(now + Duration::from_secs(1));
        self.drop_expired(now);
    }

    fn drop_expired(&mut self, now: Instant) {
        let before = self.bans.len();
        self.bans.retain(|_, until| *until > now);
        if self.bans.len() != before {
            self.shared.0.retain(|_, until| *until > now);
        }
    }

    /// Keeps the limiter's table within `max_tracked_ips`: idle sources are forgotten first;
    /// if every source is busy (a spoofed-address flood), the rate state starts afresh.
    fn bound_rate_state(&mut self) {
        if self.limiter.len() < self.config.max_tracked_ips {
            return;
        }
        self.limiter.retain_recent();
        if self.limiter.len() >= self.config.max_tracked_ips {
            self.limiter = limiter(&self.config, &self.clock);
        }
    }
}

fn limiter(config: &FloodConfig, clock: &FakeRelativeClock) -> Limiter {
    let rate = NonZeroU32::new(config.messages_per_sec).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::per_second(rate).allow_burst(burst);
    RateLimiter::hashmap_with_clock(quota, clock.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: u32, burst: u32, ban_secs: u64, max: usize) -> FloodConfig {
        FloodConfig {
            enabled: true,
            messages_per_sec: rate,
            burst,
            ban: Duration::from_secs(ban_secs),
            max_tracked_ips: max,
            exempt_trusted: true,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn burst_passes_then_the_source_is_banned() {
        let mut g = FloodGuard::new(&config(10, 5, 60, 1024));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(g.check(t0, ip(1)), Verdict::Pass);
        }
        assert_eq!(g.check(t0, ip(1)), Verdict::Banned);
        assert_eq!(g.check(t0, ip(1)), Verdict::Drop);
        assert_eq!(g.banned(), 1);
        // Another source is not affected.
        assert_eq!(g.check(t0, ip(2)), Verdict::Pass);
    }

    #[test]
    fn a_steady_rate_within_the_limit_is_never_banned() {
        let mut g = FloodGuard::new(&config(10, 2, 60, 1024));
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 100);
            assert_eq!(g.check(at, ip(1)), Verdict::Pass, "message {i}");
        }
    }

    #[test]
    fn the_ban_holds_until_it_expires() {
        let mut g = FloodGuard::new(&config(1, 1, 30, 1024));
        let t0 = Instant::now();
        assert_eq!(g.check(t0, ip(1)), Verdict::Pass);
        assert_eq!(g.check(t0, ip(1)), Verdict::Banned);
        // Quiet but still banned: even a slow sender stays dropped until the ban ends.
        assert_eq!(g.check(t0 + Duration::from_secs(29), ip(1)), Verdict::Drop);
        assert!(g.is_banned(t0 + Duration::from_secs(29), ip(1)));
        assert_eq!(g.check(t0 + Duration::from_secs(31), ip(1)), Verdict::Pass);
        assert_eq!(g.banned(), 0);
    }

    #[test]
    fn the_tables_stay_bounded() {
        let max = 16;
        let mut g = FloodGuard::new(&config(1, 1, 600, max));
        let t0 = Instant::now();
        let mut last_banned = None;
        for last in 0..=255u8 {
            let at = t0 + Duration::from_millis(u64::from(last));
            for _ in 0..2 {
                if g.check(at, ip(last)) == Verdict::Banned {
                    last_banned = Some(last);
                }
            }
            assert!(g.tracked() <= max, "rate state {}", g.tracked());
            assert!(g.banned() <= max, "bans {}", g.banned());
        }
        assert_eq!(g.banned(), max);
        // The newest ban is kept; the ban ending soonest made room.
        let end = t0 + Duration::from_millis(255);
        assert!(g.is_banned(end, ip(last_banned.unwrap())));
        assert!(!g.is_banned(end, ip(0)));
    }

    #[test]
    fn bans_are_visible_to_readers_of_the_shared_table() {
        let bans = Bans::default();
        let mut g = FloodGuard::with_bans(&config(1, 1, 30, 1024), bans.clone());
        let t0 = Instant::now();
        assert!(!bans.is_banned(t0, ip(1)));
        assert_eq!(g.check(t0, ip(1)), Verdict::Pass);
        assert_eq!(g.check(t0, ip(1)), Verdict::Banned);
        assert!(bans.is_banned(t0, ip(1)));
        assert!(!bans.is_banned(t0, ip(2)));
        assert!(!bans.is_banned(t0 + Duration::from_secs(31), ip(1)));
        // An IPv6 reader's address is grouped per /64, like the guard's key.
        let v6: IpAddr = "2001:db8:1:2::7".parse().unwrap();
        g.check(t0, super::super::flood_key(v6));
        g.check(t0, super::super::flood_key(v6));
        assert!(bans.is_banned(t0, "2001:db8:1:2:ffff::1".parse().unwrap()));
    }

    #[test]
    fn disabled_guard_passes_everything() {
        let mut cfg = config(1, 1, 60, 1024);
        cfg.enabled = false;
        let mut g = FloodGuard::new(&cfg);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(g.check(t0, ip(1)), Verdict::Pass);
        }
    }
}
