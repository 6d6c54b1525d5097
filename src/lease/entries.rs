//! What the lease table keeps per pool, number and lease, and how the table is built from
//! the configured pools.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use jiff::{SignedDuration, Timestamp};

use super::pool::Allocation;
use super::{LeaseTable, OverflowCodes, PoolSpec, Visit};
use crate::config::Config;

#[derive(Debug)]
pub(super) struct Pool {
    pub(super) site: String,
    pub(super) id: String,
    pub(super) numbers: Vec<Arc<str>>,
    /// The freeze in milliseconds: the site's, or adapted ([`super::freeze`]).
    pub(super) freeze_ms: std::sync::atomic::AtomicI64,
    pub(super) cooldown: SignedDuration,
    pub(super) alloc: Mutex<Allocation>,
    pub(super) granted_total: AtomicU64,
    pub(super) exhausted_total: AtomicU64,
}

#[derive(Debug)]
pub(super) struct NumberState {
    pub(super) pool: u32,
    pub(super) slot: u32,
    /// The session id of the lease holding this number.
    pub(super) holder: Option<Arc<str>>,
    /// Calls ringing or in progress on this number.
    pub(super) calls: u32,
    pub(super) last_call_end: Option<Timestamp>,
    /// The last few holders (visitor id, else session id) and when their lease ended, newest
    /// last, at most [`super::ring::RECENT_HOLDERS`]: how shared the number was lately.
    pub(super) recent: VecDeque<(Arc<str>, Timestamp)>,
    /// The last lease on this number and when it ended ([`super::ring::LastHolder`]).
    pub(super) last: Option<super::ring::LastHolder>,
    /// Unheld calls and the leak quarantine ([`super::quarantine`]).
    pub(super) leak: super::quarantine::LeakState,
    /// On Redis: the version of the number's state the mirror holds.
    pub(super) version: u64,
}

/// A lease as stored: the session id is the map key, site/pool/number are indexes.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) pool: u32,
    pub(super) slot: u32,
    /// Shared with the pool's memory of returning visitors.
    pub(super) visitor_id: Option<Arc<str>>,
    pub(super) visit: Arc<Visit>,
    pub(super) granted_at: Timestamp,
    pub(super) last_seen: Timestamp,
    pub(super) expires_at: Timestamp,
    /// Heartbeats since the grant (lease history).
    pub(super) heartbeats: u32,
    /// When the page was left, unless a heartbeat or a grant came after (lease history).
    pub(super) released_at: Option<Timestamp>,
}

impl LeaseTable {
    /// Builds the table. A pool named twice, or a number already in an earlier pool, is
    /// ignored (config validation refuses both).
    pub fn new(specs: Vec<PoolSpec>) -> LeaseTable {
        let mut table = LeaseTable {
            pools: Vec::with_capacity(specs.len()),
            by_name: HashMap::new(),
            sessions: DashMap::new(),
            numbers: DashMap::new(),
            codes: OverflowCodes::default(),
            quarantined_total: AtomicU64::new(0),
            history: Default::default(),
            remote: std::sync::OnceLock::new(),
        };
        for spec in specs {
            table.add_pool(spec);
        }
        table
    }

    /// One pool per `[[sites.pools]]`, with the site's freeze time.
    pub fn from_config(config: &Config) -> LeaseTable {
        let specs = config.sites.iter().flat_map(|site| {
            site.pools.iter().map(|pool| PoolSpec {
                site: site.id.clone(),
                pool: pool.id.clone(),
                numbers: pool.numbers.clone(),
                freeze: site.freeze,
                cooldown: site.lease_cooldown,
            })
        });
        LeaseTable::new(specs.collect())
    }

    fn add_pool(&mut self, spec: PoolSpec) {
        let Ok(index) = u32::try_from(self.pools.len()) else {
            return;
        };
        let names = self.by_name.entry(spec.site.clone()).or_default();
        if names.contains_key(&spec.pool) {
            return;
        }
        names.insert(spec.pool.clone(), index);
        let mut numbers: Vec<Arc<str>> = Vec::with_capacity(spec.numbers.len());
        for number in spec.numbers {
            let Ok(slot) = u32::try_from(numbers.len()) else {
                break;
            };
            let number: Arc<str> = number.into();
            if let Entry::Vacant(v) = self.numbers.entry(number.clone()) {
                v.insert(NumberState::new(index, slot));
                numbers.push(number);
            }
        }
        let size = u32::try_from(numbers.len()).unwrap_or(u32::MAX);
        self.pools.push(Pool {
            site: spec.site,
            id: spec.pool,
            numbers,
            freeze_ms: super::freeze::millis(to_time(spec.freeze)),
            cooldown: to_time(spec.cooldown),
            alloc: Mutex::new(Allocation::new(size)),
            granted_total: AtomicU64::new(0),
            exhausted_total: AtomicU64::new(0),
        });
    }
}

impl Pool {
    /// A panic elsewhere while holding the lock leaves the allocation consistent (every
    /// change is a single set insert or remove), so a poisoned lock is used as is.
    pub(super) fn lock(&self) -> MutexGuard<'_, Allocation> {
        self.alloc.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl NumberState {
    fn new(pool: u32, slot: u32) -> NumberState {
        NumberState {
            pool,
            slot,
            holder: None,
            calls: 0,
            last_call_end: None,
            recent: VecDeque::new(),
            last: None,
            leak: Default::default(),
            version: 0,
        }
    }
}

/// Freeze and cool-down as `time` durations; absurdly long ones saturate.
fn to_time(d: std::time::Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}
