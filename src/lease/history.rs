//! Lease history: every lease that ends (released, expired, or its session id granted anew)
//! is noted with its grant, heartbeats, release and expiry, for `calltrack pool advise` and
//! the estimated-accuracy metric. Notes wait in a bounded queue that the sweeper drains with
//! each snapshot it saves (no SQLite write on the request path); when the queue is full the
//! newest notes are dropped and counted.
//!
//! Off unless asked for ([`LeaseTable::keep_history`]): the simulator's tables keep none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;

use super::LeaseTable;
use super::entries::Held;

/// Most ended leases waiting for the sweeper (a few seconds of the busiest site's ends).
pub const MAX_PENDING: usize = 50_000;

/// Why a lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The page was left (the snippet's release) and the freeze ran out.
    Released,
    /// The heartbeats stopped and the freeze ran out.
    Expired,
    /// Its session id asked for a number anew (another pool, or after the lease was over).
    Reassigned,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Released => "released",
            EndReason::Expired => "expired",
            EndReason::Reassigned => "reassigned",
        }
    }

    /// The reason named by [`EndReason::as_str`].
    pub fn parse(s: &str) -> Option<EndReason> {
        [
            EndReason::Released,
            EndReason::Expired,
            EndReason::Reassigned,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One lease that ended: what the advisor rebuilds the traffic from.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedLease {
    pub site: String,
    pub pool: String,
    pub number: String,
    pub session_id: String,
    pub visitor_id: Option<String>,
    /// The visit's `utm_source` and `utm_medium`, when tagged.
    pub source: Option<String>,
    pub medium: Option<String>,
    /// The visit came with a click id (gclid, yclid): paid traffic.
    pub paid: bool,
    pub granted_at: Timestamp,
    /// The last heartbeat (or the release, or the grant).
    pub last_seen: Timestamp,
    pub heartbeats: u32,
    pub released_at: Option<Timestamp>,
    pub expires_at: Timestamp,
    pub ended_at: Timestamp,
    pub reason: EndReason,
}

/// A call to a pool number as its CDR keeps it: the other half of what the advisor reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCall {
    pub number: String,
    pub caller: String,
    /// The lease the call was attributed to, if any held the number.
    pub session_id: Option<String>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub talk_secs: i64,
}

/// The ended leases waiting for the sweeper.
#[derive(Debug, Default)]
pub(super) struct HistoryQueue {
    on: AtomicBool,
    pending: Mutex<Vec<EndedLease>>,
    dropped: AtomicU64,
}

impl LeaseTable {
    /// Notes every lease that ends from now on, for [`LeaseTable::take_ended`].
    pub fn keep_history(&self) {
        self.history.on.store(true, Ordering::Relaxed);
    }

    /// The leases ended since the last call, oldest first, and how many were dropped
    /// meanwhile because the queue was full.
    pub fn take_ended(&self) -> (Vec<EndedLease>, u64) {
        let mut pending = self
            .history
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ended = std::mem::take(&mut *pending);
        (ended, self.history.dropped.swap(0, Ordering::Relaxed))
    }

    /// Notes that the lease `id` ended at `at` (called where its number is freed).
    pub(super) fn note_ended(&self, id: &str, held: &Held, at: Timestamp, reassigned: bool) {
        if !self.history.on.load(Ordering::Relaxed) {
            return;
        }
        let reason = match (reassigned, held.released_at) {
            (true, _) => EndReason::Reassigned,
            (false, Some(_)) => EndReason::Released,
            (false, None) => EndReason::Expired,
        };
        let lease = self.to_lease(id, held);
        let visit = &lease.visit;
        let ended = EndedLease {
            source: visit.utm_source().map(str::to_owned),
            medium: visit.utm_medium().map(str::to_owned),
            paid: visit.gclid().is_some() || visit.yclid().is_some(),
            site: lease.site,
            pool: lease.pool,
            number: lease.number,
            session_id: lease.session_id,
            visitor_id: lease.visitor_id,
            granted_at: held.granted_at,
            last_seen: held.last_seen,
            heartbeats: held.heartbeats,
            released_at: held.released_at,
            expires_at: held.expires_at,
            ended_at: at,
            reason,
        };
        let mut pending = self
            .history
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pending.len() < MAX_PENDING {
            pending.push(ended);
        } else {
            self.history.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::SignedDuration;

    use super::*;
    use crate::lease::{GrantRequest, PoolSpec, Visit, VisitFields};

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);

    fn at(secs: i64) -> Timestamp {
        T0 + SignedDuration::from_secs(secs)
    }

    fn table() -> LeaseTable {
        LeaseTable::new(vec![PoolSpec {
            site: "shop".into(),
            pool: "web".into(),
            numbers: vec!["74950000001".into(), "74950000002".into()],
            freeze: Duration::from_secs(600),
            cooldown: Duration::from_secs(60),
        }])
    }

    fn grant(t: &LeaseTable, session: &str, now: Timestamp) {
        let page = "https://shop.example/?utm_source=google&utm_medium=cpc&gclid=g1";
        let visit: Visit = VisitFields::from_page(page, None).into();
        let req = GrantRequest {
            session_id: session.into(),
            site: "shop".into(),
            pool: "web".into(),
            visitor_id: Some(format!("v-{session}")),
            visit,
        };
        t.grant(req, now).unwrap();
    }

    #[test]
    fn ended_leases_are_noted_with_heartbeats_release_and_reason() {
        let t = table();
        t.keep_history();
        grant(&t, "a", at(0));
        grant(&t, "b", at(0));
        t.heartbeat("a", at(30)).unwrap();
        t.heartbeat("a", at(60)).unwrap();
        t.release("a", at(70)).unwrap();
        t.heartbeat("b", at(30)).unwrap();
        assert_eq!(t.expire(at(700)), 2);
        let (mut ended, dropped) = t.take_ended();
        assert_eq!(dropped, 0);
        ended.sort_by(|x, y| x.session_id.cmp(&y.session_id));
        let a = &ended[0];
        assert_eq!((a.heartbeats, a.reason), (2, EndReason::Released));
        assert_eq!((a.released_at, a.last_seen), (Some(at(70)), at(70)));
        assert_eq!((a.ended_at, a.expires_at), (at(670), at(670)));
        assert_eq!((a.source.as_deref(), a.paid), (Some("google"), true));
        assert_eq!(a.visitor_id.as_deref(), Some("v-a"));
        let b = &ended[1];
        assert_eq!((b.heartbeats, b.reason), (1, EndReason::Expired));
        assert_eq!(b.released_at, None);
        assert!(t.take_ended().0.is_empty(), "taken once");
    }

    #[test]
    fn a_heartbeat_after_the_release_reopens_the_lease() {
        let t = table();
        t.keep_history();
        grant(&t, "a", at(0));
        t.release("a", at(10)).unwrap();
        t.heartbeat("a", at(20)).unwrap();
        t.expire(at(1000));
        let (ended, _) = t.take_ended();
        assert_eq!(ended[0].reason, EndReason::Expired);
    }

    #[test]
    fn nothing_is_noted_unless_asked_for() {
        let t = table();
        grant(&t, "a", at(0));
        t.expire(at(1000));
        assert!(t.take_ended().0.is_empty());
        assert_eq!(EndReason::parse("reassigned"), Some(EndReason::Reassigned));
    }
}
