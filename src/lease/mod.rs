//! STUB (replaced at merge): a simple Mutex-based lease table with the contract's API, so the
//! HTTP layer compiles and its tests run before the real engine is merged.

pub mod visit;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use crate::config::Config;
pub use visit::Visit;

pub struct PoolSpec {
    pub site: String,
    pub pool: String,
    pub numbers: Vec<String>,
    pub freeze: Duration,
    pub cooldown: Duration,
}

pub struct GrantRequest {
    pub session_id: String,
    pub site: String,
    pub pool: String,
    pub visitor_id: Option<String>,
    pub visit: Visit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub session_id: String,
    pub site: String,
    pub pool: String,
    pub number: String,
    pub visitor_id: Option<String>,
    pub visit: Arc<Visit>,
    pub granted_at: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("pool exhausted")]
    Exhausted,
    #[error("unknown pool")]
    UnknownPool,
}

pub struct PoolStats {
    pub site: String,
    pub pool: String,
    pub size: usize,
    pub leased: usize,
    pub ringing: usize,
    pub cooling: usize,
    pub free: usize,
    pub granted_total: u64,
    pub exhausted_total: u64,
}

type PoolKey = (String, String);

struct PoolState {
    spec: PoolSpec,
    free: VecDeque<(String, OffsetDateTime)>,
    granted_total: u64,
    exhausted_total: u64,
}

#[derive(Default)]
struct Inner {
    pools: Vec<(PoolKey, PoolState)>,
    leases: HashMap<String, Lease>,
    by_visitor: HashMap<(PoolKey, String), String>,
    ringing: HashSet<String>,
}

/// Shared as `Arc<LeaseTable>`.
#[derive(Default)]
pub struct LeaseTable {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for LeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeaseTable(stub)")
    }
}

fn after(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl Inner {
    fn pool(&mut self, site: &str, pool: &str) -> Option<&mut PoolState> {
        self.pools
            .iter_mut()
            .find(|((s, p), _)| s == site && p == pool)
            .map(|(_, state)| state)
    }

    fn take_free(&mut self, site: &str, pool: &str, now: OffsetDateTime) -> Option<String> {
        let state = self.pool(site, pool)?;
        let cooldown = state.spec.cooldown;
        match state.free.front() {
            Some((_, since)) if after(*since, cooldown) <= now => {
                state.free.pop_front().map(|(n, _)| n)
            }
            _ => None,
        }
    }
}

impl LeaseTable {
    pub fn new(pools: Vec<PoolSpec>) -> LeaseTable {
        let long_ago = OffsetDateTime::UNIX_EPOCH;
        let pools = pools
            .into_iter()
            .map(|spec| {
                let free = spec.numbers.iter().map(|n| (n.clone(), long_ago)).collect();
                let key = (spec.site.clone(), spec.pool.clone());
                let state = PoolState {
                    spec,
                    free,
                    granted_total: 0,
                    exhausted_total: 0,
                };
                (key, state)
            })
            .collect();
        LeaseTable {
            inner: Mutex::new(Inner {
                pools,
                ..Inner::default()
            }),
        }
    }

    pub fn from_config(config: &Config) -> LeaseTable {
        let specs = config
            .sites
            .iter()
            .flat_map(|site| {
                site.pools.iter().map(|pool| PoolSpec {
                    site: site.id.clone(),
                    pool: pool.id.clone(),
                    numbers: pool.numbers.clone(),
                    freeze: site.freeze,
                    cooldown: site.lease_cooldown,
                })
            })
            .collect();
        LeaseTable::new(specs)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn grant(&self, req: GrantRequest, now: OffsetDateTime) -> Result<Lease, LeaseError> {
        let mut inner = self.lock();
        let freeze = inner
            .pool(&req.site, &req.pool)
            .ok_or(LeaseError::UnknownPool)?
            .spec
            .freeze;
        let key: PoolKey = (req.site.clone(), req.pool.clone());
        if let Some(visitor) = &req.visitor_id {
            let existing = inner
                .by_visitor
                .get(&(key.clone(), visitor.clone()))
                .cloned();
            if let Some(lease) = existing.and_then(|id| inner.leases.get_mut(&id)) {
                if lease.expires_at > now {
                    lease.last_seen = now;
                    lease.expires_at = after(now, freeze);
                    return Ok(lease.clone());
                }
            }
        }
        let number = match inner.take_free(&req.site, &req.pool, now) {
            Some(n) => n,
            None => {
                drop(inner);
                self.expire(now);
                inner = self.lock();
                match inner.take_free(&req.site, &req.pool, now) {
                    Some(n) => n,
                    None => return Err(LeaseError::Exhausted),
                }
            }
        };
        let lease = Lease {
            session_id: req.session_id.clone(),
            site: req.site,
            pool: req.pool,
            number,
            visitor_id: req.visitor_id.clone(),
            visit: Arc::new(req.visit),
            granted_at: now,
            last_seen: now,
            expires_at: after(now, freeze),
        };
        if let Some(state) = inner.pool(&lease.site, &lease.pool) {
            state.granted_total += 1;
        }
        if let Some(visitor) = req.visitor_id {
            inner
                .by_visitor
                .insert((key, visitor), req.session_id.clone());
        }
        inner.leases.insert(req.session_id, lease.clone());
        Ok(lease)
    }

    pub fn heartbeat(&self, session_id: &str, now: OffsetDateTime) -> Option<Lease> {
        let mut inner = self.lock();
        let freeze = {
            let lease = inner.leases.get(session_id)?;
            if lease.expires_at <= now {
                return None;
            }
            let (site, pool) = (lease.site.clone(), lease.pool.clone());
            inner.pool(&site, &pool)?.spec.freeze
        };
        let lease = inner.leases.get_mut(session_id)?;
        lease.last_seen = now;
        lease.expires_at = after(now, freeze);
        Some(lease.clone())
    }

    pub fn release(&self, session_id: &str, now: OffsetDateTime) -> Option<Lease> {
        // The stub renews like a heartbeat: the freeze starts now.
        self.heartbeat(session_id, now)
    }

    pub fn session(&self, session_id: &str) -> Option<Lease> {
        self.lock().leases.get(session_id).cloned()
    }

    pub fn holder_of(&self, number: &str, _now: OffsetDateTime) -> Option<Lease> {
        self.lock()
            .leases
            .values()
            .find(|l| l.number == number)
            .cloned()
    }

    pub fn call_started(&self, number: &str) {
        self.lock().ringing.insert(number.to_owned());
    }

    pub fn call_ended(&self, number: &str, _now: OffsetDateTime) {
        self.lock().ringing.remove(number);
    }

    pub fn expire(&self, now: OffsetDateTime) -> usize {
        let mut inner = self.lock();
        let ended: Vec<String> = inner
            .leases
            .values()
            .filter(|l| l.expires_at <= now && !inner.ringing.contains(&l.number))
            .map(|l| l.session_id.clone())
            .collect();
        for id in &ended {
            if let Some(lease) = inner.leases.remove(id) {
                if let Some(state) = inner.pool(&lease.site, &lease.pool) {
                    state.free.push_back((lease.number, now));
                }
            }
        }
        ended.len()
    }

    pub fn stats(&self, now: OffsetDateTime) -> Vec<PoolStats> {
        let inner = self.lock();
        inner
            .pools
            .iter()
            .map(|((site, pool), state)| {
                let leased = inner
                    .leases
                    .values()
                    .filter(|l| &l.site == site && &l.pool == pool)
                    .count();
                let cooling = state
                    .free
                    .iter()
                    .filter(|(_, since)| after(*since, state.spec.cooldown) > now)
                    .count();
                PoolStats {
                    site: site.clone(),
                    pool: pool.clone(),
                    size: state.spec.numbers.len(),
                    leased,
                    ringing: 0,
                    cooling,
                    free: state.free.len() - cooling,
                    granted_total: state.granted_total,
                    exhausted_total: state.exhausted_total,
                }
            })
            .collect()
    }

    pub fn snapshot(&self) -> Vec<Lease> {
        self.lock().leases.values().cloned().collect()
    }

    pub fn restore(&self, leases: Vec<Lease>, _now: OffsetDateTime) {
        let mut inner = self.lock();
        for lease in leases {
            inner.leases.insert(lease.session_id.clone(), lease);
        }
    }

    pub fn count_exhausted(&self, site: &str, pool: &str) {
        if let Some(state) = self.lock().pool(site, pool) {
            state.exhausted_total += 1;
        }
    }
}
