//! Load limits with a protocol answer (429 JSON + Retry-After): a per-client-IP rate limit for
//! the snippet API (GCRA, bounded memory) and a cap on requests in flight for the whole server.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::errors::ApiError;
use super::router::Shared;

/// Shards of the per-IP table (less lock contention).
const SHARDS: usize = 16;
/// Most client addresses tracked at once; beyond this new clients are refused until old ones idle.
const MAX_CLIENTS: usize = 262_144;
/// Most requests being served at once; more get 429 immediately.
pub const MAX_IN_FLIGHT: usize = 2048;

/// Why a request may not pass now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This client is over its rate; it may retry after this long.
    TooFast(Duration),
    /// Too many distinct clients are being tracked.
    TooManyClients,
}

/// Per-client GCRA: `per_minute` requests per minute with a burst of `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between requests at the sustained rate.
    interval: Duration,
    /// How far ahead of `now` a client's theoretical arrival time may run.
    tolerance: Duration,
    shards: Vec<Mutex<HashMap<IpAddr, Instant>>>,
    hasher: RandomState,
}

impl RateLimiter {
    pub fn per_minute(per_minute: u32) -> RateLimiter {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        RateLimiter {
            interval,
            tolerance: Duration::from_secs(60).saturating_sub(interval),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Counts one request from `ip` at `now`, or says why it may not pass.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let key = client_key(ip);
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !shard.contains_key(&key) && shard.len() >= MAX_CLIENTS / SHARDS {
            shard.retain(|_, tat| *tat > now);
            if shard.len() >= MAX_CLIENTS / SHARDS {
                return Err(Refusal::TooManyClients);
            }
        }
        let tat = shard.entry(key).or_insert(now);
        let start = (*tat).max(now);
        let ahead = start - now;
        if ahead > self.tolerance {
            return Err(Refusal::TooFast(ahead - self.tolerance));
        }
        *tat = start + self.interval;
        Ok(())
    }
}

/// IPv6 clients are limited per /64 (one host usually owns the whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        IpAddr::V4(_) => ip,
    }
}

/// Middleware: the snippet API's per-IP rate limit.
pub async fn rate_limit(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let ip = super::client::of_parts(&parts, &shared.state.config.load().http.trusted_proxies);
    match shared.limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(Refusal::TooFast(wait)) => ApiError::RateLimited {
            retry_after_secs: ceil_secs(wait),
        }
        .into_response(),
        Err(Refusal::TooManyClients) => ApiError::Overloaded {
            retry_after_secs: 1,
        }
        .into_response(),
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Middleware: at most [`MAX_IN_FLIGHT`] requests are served at once.
pub async fn in_flight(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    match slots.try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => ApiError::Overloaded {
            retry_after_secs: 1,
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let limiter = RateLimiter::per_minute(6);
        let ip = IpAddr::from([10, 0, 0, 1]);
        let t0 = Instant::now();
        for _ in 0..6 {
            assert_eq!(limiter.check(ip, t0), Ok(()));
        }
        assert_eq!(
            limiter.check(ip, t0),
            Err(Refusal::TooFast(Duration::from_secs(10)))
        );
        assert_eq!(limiter.check(IpAddr::from([10, 0, 0, 2]), t0), Ok(()));
        assert_eq!(limiter.check(ip, t0 + Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn ipv6_hosts_share_their_64() {
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "2001:db8::2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
    }
}
