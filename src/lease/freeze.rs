//! Adaptive freeze: a pool's freeze follows how long after leaving its callers really dial.
//! The site's `freeze_secs` is the most; with enough lease history the freeze becomes the
//! [`QUANTILE_Z`] quantile of the fitted call delay after leaving (lognormal), at least two
//! heartbeats. A shorter freeze frees numbers sooner at peaks (fewer reserve-number calls),
//! and a late caller whose number nobody took since still reaches its visit through the
//! last-holder rule (`call::last_holder`).
//!
//! Pure: the fit's median and spread in, a freeze out; the lease table only stores it
//! ([`LeaseTable::set_freeze`]). The daemon refits it from its history (`app::freeze`), the
//! simulator from the model's call delays, through the same [`adapted_freeze`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::SignedDuration;

use super::LeaseTable;
use super::entries::Pool;

/// The 95th percentile of the call delay after leaving: z of the standard normal.
pub const QUANTILE_Z: f64 = 1.645;

/// The freeze for callers whose delay after leaving is lognormal with `median_secs` and
/// `sigma`: its [`QUANTILE_Z`] quantile, within two `heartbeat`s and `configured`.
pub fn adapted_freeze(
    median_secs: f64,
    sigma: f64,
    heartbeat: Duration,
    configured: Duration,
) -> Duration {
    let floor = heartbeat.saturating_mul(2).min(configured);
    let quantile = median_secs * (QUANTILE_Z * sigma).exp();
    if !quantile.is_finite() || quantile <= 0.0 {
        return configured;
    }
    Duration::from_secs_f64(quantile.min(configured.as_secs_f64()))
        .max(floor)
        .min(configured)
}

pub(super) fn millis(freeze: SignedDuration) -> AtomicI64 {
    AtomicI64::new(i64::try_from(freeze.as_millis()).unwrap_or(i64::MAX))
}

impl Pool {
    /// The freeze new grants, heartbeats and releases get.
    pub(super) fn freeze(&self) -> SignedDuration {
        SignedDuration::from_millis(self.freeze_ms.load(Ordering::Relaxed))
    }
}

impl LeaseTable {
    /// Sets the freeze of `site`'s pool `pool` for grants, heartbeats and releases from now
    /// on (leases keep their expiry until renewed); `false` for an unknown pool.
    pub fn set_freeze(&self, site: &str, pool: &str, freeze: Duration) -> bool {
        let Some(index) = self.pool_index(site, pool) else {
            return false;
        };
        let ms = i64::try_from(freeze.as_millis()).unwrap_or(i64::MAX);
        self.pool(index).freeze_ms.store(ms, Ordering::Relaxed);
        true
    }

    /// The freeze `site`'s pool `pool` gives now.
    pub fn freeze_of(&self, site: &str, pool: &str) -> Option<Duration> {
        let index = self.pool_index(site, pool)?;
        Duration::try_from(self.pool(index).freeze()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::{GrantRequest, PoolSpec};

    const SECS: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_freeze_is_the_95th_percentile_of_the_call_delay_within_bounds() {
        // 180 s median, sigma 0.8: 180 * e^(1.645 * 0.8) = 180 * 3.7284 = 671 s.
        let got = adapted_freeze(180.0, 0.8, SECS(30), SECS(900));
        assert_eq!(got.as_secs(), 671, "{got:?}");
        assert_eq!(adapted_freeze(180.0, 2.0, SECS(30), SECS(900)), SECS(900));
        assert_eq!(adapted_freeze(10.0, 0.1, SECS(30), SECS(900)), SECS(60));
        assert_eq!(
            adapted_freeze(f64::NAN, 0.8, SECS(30), SECS(900)),
            SECS(900)
        );
    }

    #[test]
    fn a_set_freeze_applies_to_the_next_grants() {
        let t = LeaseTable::new(vec![PoolSpec {
            site: "shop".into(),
            pool: "web".into(),
            numbers: vec!["100".into(), "101".into()],
            freeze: SECS(900),
            cooldown: SECS(0),
        }]);
        let now = jiff::Timestamp::constant(1_772_366_400, 0);
        let grant = |session: &str| GrantRequest {
            session_id: session.into(),
            site: "shop".into(),
            pool: "web".into(),
            visitor_id: None,
            visit: Default::default(),
        };
        let a = t.grant(grant("a"), now).unwrap();
        assert!(t.set_freeze("shop", "web", SECS(600)));
        assert!(!t.set_freeze("shop", "nope", SECS(600)));
        let b = t.grant(grant("b"), now).unwrap();
        assert_eq!(a.expires_at.duration_since(now).as_secs(), 900);
        assert_eq!(b.expires_at.duration_since(now).as_secs(), 600);
        assert_eq!(t.freeze_of("shop", "web"), Some(SECS(600)));
    }
}
