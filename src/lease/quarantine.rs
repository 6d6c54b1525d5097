//! Leak quarantine: a pool number that keeps ringing while nobody holds it (someone copied it
//! into a page, a print ad or a directory) is taken out of its pool, so the lease table never
//! grants it, until an operator restores it. The decision is here, sans-IO (`now` and the
//! rule are parameters); the sweeper saves the quarantined numbers with the leases.

use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};

use super::LeaseTable;
use super::entries::NumberState;
use super::pool::Allocation;

/// When unheld calls make a leak: `calls` of them within `window`. `calls == 0`: never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakRule {
    pub calls: u32,
    pub window: SignedDuration,
}

/// A quarantined pool number, as listed and as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub number: String,
    pub site: String,
    pub pool: String,
    pub since: Timestamp,
    /// Why, in words (`3 calls while unheld within 24 h`).
    pub reason: String,
}

/// What the number's state keeps for the rule: its quarantine, and the recent unheld calls
/// (at most the rule's count).
#[derive(Debug, Default)]
pub(super) struct LeakState {
    pub(super) since: Option<(Timestamp, String)>,
    unheld: VecDeque<Timestamp>,
}

impl LeakState {
    pub(super) fn quarantined(&self) -> bool {
        self.since.is_some()
    }

    /// Counts an unheld call at `now`; `true` when it completes a leak.
    fn count(&mut self, rule: LeakRule, now: Timestamp) -> bool {
        if rule.calls == 0 || self.since.is_some() {
            return false;
        }
        let horizon = now.saturating_sub(rule.window).unwrap_or(Timestamp::MIN);
        self.unheld.retain(|at| *at > horizon);
        self.unheld.push_back(now);
        while self.unheld.len() > rule.calls as usize {
            self.unheld.pop_front();
        }
        self.unheld.len() >= rule.calls as usize
    }
}

impl LeaseTable {
    /// A call rang on pool number `number` while nobody held it. When that makes `rule.calls`
    /// such calls within `rule.window`, the number is quarantined (never granted again until
    /// [`LeaseTable::restore_number`]) and its quarantine is returned, once.
    pub fn unheld_call(&self, number: &str, rule: LeakRule, now: Timestamp) -> Option<Quarantine> {
        let (index, holder) = {
            let state = self.numbers.get(number)?;
            (state.pool, state.holder.clone())
        };
        // A lease whose freeze ran out, not yet ended by the sweeper, holds nothing.
        let live =
            holder.is_some_and(|h| self.sessions.get(&h).is_some_and(|s| s.expires_at > now));
        let mut alloc = self.pool(index).lock();
        let mut state = self.numbers.get_mut(number)?;
        if live || !state.leak.count(rule, now) {
            return None;
        }
        let hours = rule.window.as_secs() / 3600;
        let reason = format!("{} calls while unheld within {hours} h", rule.calls);
        quarantine(&mut alloc, &mut state, now, reason);
        let pool = self.pool(index);
        self.quarantined_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        view(number, &pool.site, &pool.id, &state.leak)
    }

    /// Puts a quarantined number back into its pool (free from `now`); `false` when the number
    /// is not a quarantined pool number.
    pub fn restore_number(&self, number: &str, now: Timestamp) -> bool {
        let Some(index) = self.numbers.get(number).map(|n| n.pool) else {
            return false;
        };
        let mut alloc = self.pool(index).lock();
        let Some(mut state) = self.numbers.get_mut(number) else {
            return false;
        };
        if state.leak.since.take().is_none() {
            return false;
        }
        state.leak.unheld.clear();
        if state.holder.is_none() && state.calls == 0 {
            alloc.put(state.slot, now);
        }
        true
    }

    /// Every quarantined number, in configured order.
    pub fn quarantined(&self) -> Vec<Quarantine> {
        self.pools
            .iter()
            .flat_map(|pool| {
                pool.numbers.iter().filter_map(|n| {
                    let state = self.numbers.get(n)?;
                    view(n, &pool.site, &pool.id, &state.leak)
                })
            })
            .collect()
    }

    /// How many numbers were ever quarantined since the start (`calltrack_numbers_quarantined_total`).
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined_total
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Puts saved quarantines back after a restart (numbers no longer in a pool are dropped).
    pub fn restore_quarantines(&self, saved: Vec<Quarantine>) {
        for q in saved {
            let Some(index) = self.numbers.get(q.number.as_str()).map(|n| n.pool) else {
                continue;
            };
            let mut alloc = self.pool(index).lock();
            if let Some(mut state) = self.numbers.get_mut(q.number.as_str()) {
                quarantine(&mut alloc, &mut state, q.since, q.reason);
            }
        }
    }
}

/// Takes the number out of the free set (a no-op while held or ringing: the table never puts
/// a quarantined number back) and marks it.
fn quarantine(alloc: &mut Allocation, state: &mut NumberState, since: Timestamp, reason: String) {
    alloc.take(state.slot);
    state.leak.since = Some((since, reason));
}

fn view(number: &str, site: &str, pool: &str, leak: &LeakState) -> Option<Quarantine> {
    let (since, reason) = leak.since.clone()?;
    Some(Quarantine {
        number: number.to_owned(),
        site: site.to_owned(),
        pool: pool.to_owned(),
        since,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lease::{GrantRequest, LeaseError, PoolSpec, Visit};

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);
    const RULE: LeakRule = LeakRule {
        calls: 3,
        window: SignedDuration::from_hours(24),
    };

    fn hours(h: i64) -> Timestamp {
        T0 + SignedDuration::from_hours(h)
    }

    fn table() -> LeaseTable {
        LeaseTable::new(vec![PoolSpec {
            site: "shop".into(),
            pool: "web".into(),
            numbers: vec!["100".into(), "101".into()],
            freeze: Duration::from_secs(600),
            cooldown: Duration::from_secs(0),
        }])
    }

    fn grant(t: &LeaseTable, session: &str, now: Timestamp) -> Result<String, LeaseError> {
        let req = GrantRequest {
            session_id: session.into(),
            site: "shop".into(),
            pool: "web".into(),
            visitor_id: None,
            visit: Visit::default(),
        };
        t.grant(req, now).map(|l| l.number)
    }

    /// One unheld call, ringing and ended, as the b2bua does it.
    fn ring(t: &LeaseTable, number: &str, now: Timestamp) -> Option<Quarantine> {
        t.call_started(number);
        let q = t.unheld_call(number, RULE, now);
        t.call_ended(number, now);
        q
    }

    #[test]
    fn the_third_unheld_call_in_a_day_quarantines_the_number_until_restored() {
        let t = table();
        assert!(ring(&t, "100", hours(0)).is_none());
        assert!(
            ring(&t, "100", hours(30)).is_none(),
            "the first is over a day old"
        );
        assert!(ring(&t, "100", hours(31)).is_none());
        let q = ring(&t, "100", hours(32)).expect("third within 24 h");
        assert_eq!(
            (q.number.as_str(), q.pool.as_str(), q.since),
            ("100", "web", hours(32))
        );
        assert_eq!(q.reason, "3 calls while unheld within 24 h");
        assert!(ring(&t, "100", hours(33)).is_none(), "reported once");
        assert_eq!(t.quarantined(), std::slice::from_ref(&q));
        assert_eq!(t.quarantined_total(), 1);
        assert_eq!(t.stats(hours(33))[0].quarantined, 1);
        assert_eq!(grant(&t, "a", hours(34)).unwrap(), "101");
        assert!(matches!(
            grant(&t, "b", hours(34)),
            Err(LeaseError::Exhausted)
        ));
        assert!(t.restore_number("100", hours(35)));
        assert!(
            !t.restore_number("100", hours(35)),
            "not quarantined any more"
        );
        assert!(!t.restore_number("999", hours(35)));
        assert_eq!(grant(&t, "b", hours(35)).unwrap(), "100");
        assert!(t.quarantined().is_empty());
    }

    #[test]
    fn a_lease_past_its_freeze_but_not_yet_swept_holds_nothing() {
        let t = table();
        assert_eq!(grant(&t, "a", hours(0)).unwrap(), "100");
        // The freeze (600 s) is over at minute 10; the sweeper has not ended the lease.
        let later = |m| hours(1) + SignedDuration::from_mins(m);
        assert!(ring(&t, "100", later(0)).is_none());
        assert!(ring(&t, "100", later(1)).is_none());
        let q = ring(&t, "100", later(2)).expect("three unheld calls");
        assert_eq!(q.number, "100");
    }

    #[test]
    fn a_held_number_and_a_zero_rule_never_quarantine_and_saved_ones_come_back() {
        let t = table();
        assert_eq!(grant(&t, "a", hours(0)).unwrap(), "100");
        for h in 0..5 {
            assert!(
                t.unheld_call("100", RULE, hours(0) + SignedDuration::from_mins(h))
                    .is_none()
            );
        }
        let off = LeakRule { calls: 0, ..RULE };
        for _ in 0..5 {
            t.call_started("101");
            assert!(t.unheld_call("101", off, hours(1)).is_none());
            t.call_ended("101", hours(1));
        }
        let saved = Quarantine {
            number: "101".into(),
            site: "shop".into(),
            pool: "web".into(),
            since: hours(2),
            reason: "3 calls while unheld within 24 h".into(),
        };
        let fresh = table();
        fresh.restore_quarantines(vec![saved.clone()]);
        assert_eq!(fresh.quarantined(), [saved]);
        assert_eq!(grant(&fresh, "a", hours(3)).unwrap(), "100");
        assert!(matches!(
            grant(&fresh, "b", hours(3)),
            Err(LeaseError::Exhausted)
        ));
    }
}
