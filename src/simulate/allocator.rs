//! What a policy must answer for the replay: grant a number to a visit, keep it alive, and say
//! who holds a number when a call rings. [`Calltrack`] is production's answer, driven through
//! the real [`LeaseTable`], the call path's lease lookup and repeat-caller rule
//! ([`attributed_holder`]) and the real [`CallerHistory`].

use std::collections::HashMap;

use jiff::Timestamp;

use super::model::Model;
use crate::call::confidence::{self, RingFacts};
use crate::call::history::CallerHistory;
use crate::call::lease_lookup::Holder;
use crate::call::repeat::attributed_holder;
use crate::config::{NumberKind, SiteConfig, TrackingNumber};
use crate::lease::freeze::adapted_freeze;
use crate::lease::{GrantRequest, LeaseError, LeaseTable, PoolSpec, Visit};

/// Who a call is attributed to at ring time.
#[derive(Debug, Clone, PartialEq)]
pub enum Attributed {
    /// The visitor (snippet cookie) of the lease the call is attributed to, and what
    /// production knows at ring time (`None` for naive).
    Visitor { who: u32, facts: Option<RingFacts> },
    /// A pool number nobody holds.
    Nobody,
}

/// The number granted (an index into the pool), or `None` when the pool is exhausted.
pub type Allocated = Option<usize>;

/// One allocation policy under test; numbers are indexes into the pool.
pub trait Allocator {
    /// Whether the snippet heartbeats and releases (the engine then schedules both).
    fn heartbeats(&self) -> bool;
    /// Leases a number to visit `index` of visitor `visitor`; `None` when the pool is exhausted.
    fn grant(&mut self, index: usize, visitor: u32, visit: Visit, now: Timestamp) -> Allocated;
    fn heartbeat(&mut self, index: usize, now: Timestamp);
    fn release(&mut self, index: usize, now: Timestamp);
    /// Who a call from `caller` (the visitor's phone) to `number` is attributed to if it
    /// rings now.
    fn holder(&mut self, number: usize, caller: u32, now: Timestamp) -> Attributed;
    fn call_started(&mut self, number: usize);
    fn call_ended(&mut self, number: usize, now: Timestamp);
    /// Numbers not free to grant right now (leased, ringing or cooling down).
    fn busy(&mut self, now: Timestamp) -> usize;
}

/// The production allocation: the real lease table with the site's freeze, cool-down and
/// returning-visitor memory, and the call path's lease lookup.
pub struct Calltrack {
    site: SiteConfig,
    table: LeaseTable,
    tracking: Vec<TrackingNumber>,
    slots: HashMap<String, usize>,
    /// The lease id each visit holds (a returning visitor may get its earlier lease back).
    sessions: Vec<Option<String>>,
    /// Earlier callers, as the daemon keeps them (the whole run is within the window).
    history: CallerHistory,
}

impl Calltrack {
    pub fn new(site: SiteConfig) -> Calltrack {
        let pool = site
            .pools
            .first()
            .map(|p| (p.id.clone(), p.numbers.clone()));
        let (pool_id, numbers) = pool.unwrap_or_default();
        let spec = PoolSpec {
            site: site.id.clone(),
            pool: pool_id.clone(),
            numbers: numbers.clone(),
            freeze: site.freeze,
            cooldown: site.lease_cooldown,
        };
        let tracking = numbers
            .iter()
            .map(|number| TrackingNumber {
                number: number.clone(),
                site: site.id.clone(),
                forward_to: site.forward_to.clone(),
                kind: NumberKind::Dynamic {
                    pool: pool_id.clone(),
                },
            })
            .collect();
        let slots = numbers.iter().cloned().zip(0..).collect();
        Calltrack {
            slots,
            table: LeaseTable::new(vec![spec]),
            site,
            tracking,
            sessions: Vec::new(),
            history: CallerHistory::new(None),
        }
    }

    /// The production allocation for `model` with a pool of `size`: its site and, with
    /// `adapt_freeze`, the freeze the daemon adapts to the call delay after leaving
    /// ([`adapted_freeze`]), from the model's delay as a fit of a long history finds it.
    pub fn for_model(model: &Model, size: usize) -> Calltrack {
        let alloc = Calltrack::new(super::site::site(model, size));
        if alloc.site.adapt_freeze {
            let calls = &model.calls;
            let (median, sigma) = (calls.after_visit_median_secs, calls.after_visit_sigma);
            let freeze = adapted_freeze(median, sigma, alloc.site.heartbeat, alloc.site.freeze);
            for pool in &alloc.site.pools {
                alloc.table.set_freeze(&alloc.site.id, &pool.id, freeze);
            }
        }
        alloc
    }

    fn session(&self, index: usize) -> Option<&str> {
        self.sessions.get(index)?.as_deref()
    }

    fn slot_of(&self, number: &str) -> Option<usize> {
        self.slots.get(number).copied()
    }
}

impl Allocator for Calltrack {
    fn heartbeats(&self) -> bool {
        true
    }

    /// As the snippet API's `decide`: each candidate pool in order, then the reserve number.
    fn grant(&mut self, index: usize, visitor: u32, visit: Visit, now: Timestamp) -> Allocated {
        self.table.expire(now);
        let pools: Vec<String> = self.site.pools.iter().map(|p| p.id.clone()).collect();
        for pool in &pools {
            let request = GrantRequest {
                session_id: format!("s{index}"),
                site: self.site.id.clone(),
                pool: pool.clone(),
                visitor_id: Some(format!("v{visitor}")),
                visit: visit.clone(),
            };
            match self.table.grant(request, now) {
                Ok(lease) => {
                    if self.sessions.len() <= index {
                        self.sessions.resize(index + 1, None);
                    }
                    let slot = self.slot_of(&lease.number);
                    self.sessions[index] = Some(lease.session_id);
                    return slot;
                }
                Err(
                    LeaseError::Exhausted | LeaseError::UnknownPool | LeaseError::Unavailable(_),
                ) => {}
            }
        }
        if let Some(first) = pools.first() {
            self.table.count_exhausted(&self.site.id, first);
        }
        None
    }

    fn heartbeat(&mut self, index: usize, now: Timestamp) {
        if let Some(session) = self.session(index) {
            self.table.heartbeat(session, now);
        }
    }

    fn release(&mut self, index: usize, now: Timestamp) {
        if let Some(session) = self.session(index) {
            self.table.release(session, now);
        }
    }

    /// As `plan_invite`: the call path's lease lookup and repeat-caller rule, the production
    /// facts, and the caller history recorded as the B2BUA does.
    fn holder(&mut self, number: usize, caller: u32, now: Timestamp) -> Attributed {
        let Some(tracking) = self.tracking.get(number) else {
            return Attributed::Nobody;
        };
        let caller = format!("c{caller}");
        let window = self.site.last_holder;
        let ring = attributed_holder(tracking, &self.table, &self.history, &caller, window, now);
        let holder = ring.holder;
        let earlier = self.history.earlier_holder(&caller);
        let heartbeat = self.site.heartbeat;
        let facts = confidence::facts_of(&holder, &self.table, heartbeat, earlier.as_deref(), now);
        let Holder::Lease(lease) = holder else {
            self.history.record_attributed(&caller, now, None);
            return Attributed::Nobody;
        };
        self.history.record_attributed(&caller, now, Some(&lease));
        let who = lease
            .visit
            .ga_client_id()
            .and_then(|id| id.strip_prefix('v')?.parse().ok());
        who.map_or(Attributed::Nobody, |who| Attributed::Visitor { who, facts })
    }

    fn call_started(&mut self, number: usize) {
        if let Some(t) = self.tracking.get(number) {
            self.table.call_started(&t.number);
        }
    }

    fn call_ended(&mut self, number: usize, now: Timestamp) {
        if let Some(t) = self.tracking.get(number) {
            self.table.call_ended(&t.number, now);
        }
    }

    fn busy(&mut self, now: Timestamp) -> usize {
        self.table.expire(now);
        self.table
            .stats(now)
            .iter()
            .map(|s| s.size.saturating_sub(s.free))
            .sum()
    }
}
