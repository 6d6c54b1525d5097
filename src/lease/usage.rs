//! Pool usage samples: once a minute each pool's size, how many numbers are leased, and
//! whether it was exhausted (no free number at the sample, or a visitor refused a number
//! since the previous sample), for the dashboard's pools page and `GET /v1/pools/usage`.
//!
//! Sans-IO: the sampler takes `now`; `usage_sampler.rs` is the service that calls it.

use std::collections::HashMap;

use jiff::Timestamp;

use super::{LeaseTable, PoolStats};

/// One pool at one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsageSample {
    pub site: String,
    pub pool: String,
    /// The minute sampled (seconds and below cut off).
    pub at: Timestamp,
    pub size: u32,
    /// Numbers held by a visitor's lease.
    pub leased: u32,
    /// No number could be granted at the sample, or a grant was refused since the last one.
    pub exhausted: bool,
}

/// Turns pool stats into samples; remembers each pool's refusal counter so a minute with a
/// refused grant counts as exhausted even if a number was free again when sampled.
#[derive(Debug, Default)]
pub struct UsageSampler {
    refused: HashMap<(String, String), u64>,
}

impl UsageSampler {
    /// Samples every pool of `table` at `now`.
    pub fn sample(&mut self, table: &LeaseTable, now: Timestamp) -> Vec<PoolUsageSample> {
        let at = minute_of(now);
        table
            .stats(now)
            .into_iter()
            .map(|stats| self.one(stats, at))
            .collect()
    }

    fn one(&mut self, stats: PoolStats, at: Timestamp) -> PoolUsageSample {
        let key = (stats.site.clone(), stats.pool.clone());
        let before = self.refused.insert(key, stats.exhausted_total);
        let refused_since = before.is_some_and(|b| stats.exhausted_total > b);
        PoolUsageSample {
            site: stats.site,
            pool: stats.pool,
            at,
            size: u32::try_from(stats.size).unwrap_or(u32::MAX),
            leased: u32::try_from(stats.leased).unwrap_or(u32::MAX),
            exhausted: stats.free == 0 || refused_since,
        }
    }
}

/// `t` with its seconds and sub-seconds cut off.
pub fn minute_of(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::SignedDuration;

    use super::*;
    use crate::lease::{GrantRequest, PoolSpec, Visit};

    const T0: Timestamp = Timestamp::constant(1772366400, 0);

    fn table(n: usize) -> LeaseTable {
        LeaseTable::new(vec![PoolSpec {
            site: "shop".into(),
            pool: "web".into(),
            numbers: (0..n).map(|i| format!("7495000{i:04}")).collect(),
            freeze: Duration::from_secs(600),
            cooldown: Duration::from_secs(60),
        }])
    }

    fn grant(t: &LeaseTable, session: &str, now: Timestamp) -> bool {
        let req = GrantRequest {
            session_id: session.into(),
            site: "shop".into(),
            pool: "web".into(),
            visitor_id: None,
            visit: Visit::default(),
        };
        t.grant(req, now).is_ok()
    }

    #[test]
    fn a_sample_counts_leases_and_exhaustion() {
        let t = table(2);
        let mut sampler = UsageSampler::default();
        let at = T0 + SignedDuration::from_secs(17);
        let s = sampler.sample(&t, at);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].size, s[0].leased, s[0].exhausted), (2, 0, false));
        assert_eq!(s[0].at, T0, "cut to the minute");
        assert!(grant(&t, "a", at) && grant(&t, "b", at));
        let s = sampler.sample(&t, at + SignedDuration::from_mins(1));
        assert_eq!((s[0].leased, s[0].exhausted), (2, true));
    }

    #[test]
    fn a_refusal_between_samples_marks_the_minute_exhausted() {
        let t = table(1);
        let mut sampler = UsageSampler::default();
        sampler.sample(&t, T0);
        assert!(grant(&t, "a", T0));
        assert!(!grant(&t, "b", T0), "pool of one is exhausted");
        t.count_exhausted("shop", "web"); // the reserve number was shown
        // The lease ends and the number cools down and is free again before the next sample.
        t.release("a", T0);
        let later = T0 + SignedDuration::from_mins(20);
        t.expire(later);
        let s = sampler.sample(&t, later);
        assert_eq!(s[0].leased, 0);
        assert!(s[0].exhausted, "the refusal since the last sample counts");
        let s = sampler.sample(&t, later + SignedDuration::from_mins(1));
        assert!(!s[0].exhausted);
    }
}
