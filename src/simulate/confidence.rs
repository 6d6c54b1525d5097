//! Per-call confidence in the simulator: what is known at ring time (how long since the
//! holder's last heartbeat, how full the pool is) sorted into buckets, each bucket's
//! probability of being right learnt from a calibration run on other traffic of the same model,
//! and the Brier score and reliability table of those predictions on the measured run.

/// How the time since the holder was last seen is bucketed, in seconds (beyond the last: one
/// more bucket); the first bucket is "page still open" (within two heartbeats).
const SEEN_EDGES_SECS: [i64; 3] = [300, 900, 1800];
/// Pool pressure (busy / size) edges.
const PRESSURE_EDGES: [f64; 3] = [0.5, 0.8, 1.0];
const KEYS: usize = (SEEN_EDGES_SECS.len() + 2) * (PRESSURE_EDGES.len() + 1);

/// What is known about an attributed call when it rings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingFacts {
    /// Seconds since the holder's last heartbeat (or the grant, without heartbeats).
    pub since_seen_secs: i64,
    pub heartbeat_secs: i64,
    /// Busy numbers / pool size.
    pub pressure: f64,
}

impl RingFacts {
    /// The bucket these facts fall in.
    pub fn key(&self) -> usize {
        let seen = if self.since_seen_secs <= 2 * self.heartbeat_secs {
            0
        } else {
            1 + SEEN_EDGES_SECS
                .iter()
                .filter(|&&edge| self.since_seen_secs >= edge)
                .count()
        };
        let pressure = PRESSURE_EDGES
            .iter()
            .filter(|&&edge| self.pressure >= edge)
            .count();
        seen * (PRESSURE_EDGES.len() + 1) + pressure
    }
}

/// Each bucket's observed share of correct attributions.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    counts: [(u64, u64); KEYS],
}

impl Calibration {
    /// Learns from `(bucket, correct)` pairs of a calibration run.
    pub fn learn(judged: &[(usize, bool)]) -> Calibration {
        let mut counts = [(0, 0); KEYS];
        for &(key, correct) in judged {
            if let Some((n, ok)) = counts.get_mut(key) {
                *n += 1;
                *ok += u64::from(correct);
            }
        }
        Calibration { counts }
    }

    /// The confidence for a bucket: its share correct, smoothed (Laplace) for small buckets.
    pub fn predict(&self, key: usize) -> f64 {
        let (n, ok) = self.counts.get(key).copied().unwrap_or((0, 0));
        (ok as f64 + 1.0) / (n as f64 + 2.0)
    }
}

/// One tenth of the 0..1 range: how many calls were predicted there, their mean prediction
/// and the share that was right.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bin {
    pub calls: u64,
    pub predicted: f64,
    pub observed: f64,
}

/// The Brier score and the reliability table of `calibration` on `judged` calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Reliability {
    pub brier: f64,
    pub bins: [Bin; 10],
}

impl Reliability {
    /// `None` without any attributed call.
    pub fn measure(calibration: &Calibration, judged: &[(usize, bool)]) -> Option<Reliability> {
        if judged.is_empty() {
            return None;
        }
        let mut bins = [Bin::default(); 10];
        let mut squared = 0.0;
        for &(key, correct) in judged {
            let p = calibration.predict(key);
            let y = if correct { 1.0 } else { 0.0 };
            squared += (p - y) * (p - y);
            let bin = &mut bins[((p * 10.0) as usize).min(9)];
            bin.calls += 1;
            bin.predicted += p;
            bin.observed += y;
        }
        for bin in bins.iter_mut().filter(|b| b.calls > 0) {
            bin.predicted /= bin.calls as f64;
            bin.observed /= bin.calls as f64;
        }
        Some(Reliability {
            brier: squared / judged.len() as f64,
            bins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_separate_open_pages_from_old_leases_and_full_pools() {
        let facts = |since, pressure| RingFacts {
            since_seen_secs: since,
            heartbeat_secs: 30,
            pressure,
        };
        assert_eq!(facts(10, 0.1).key(), 0);
        assert_eq!(facts(10, 1.0).key(), 3);
        assert_eq!(facts(61, 0.1).key(), 4);
        assert_eq!(facts(5000, 1.0).key(), KEYS - 1);
    }

    #[test]
    fn brier_and_bins_by_hand() {
        // Bucket 0: 3 of 4 right -> (3+1)/(4+2) = 2/3 predicted for every call.
        let judged = [(0, true), (0, true), (0, true), (0, false)];
        let cal = Calibration::learn(&judged);
        assert!((cal.predict(0) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(cal.predict(5), 0.5);
        let r = Reliability::measure(&cal, &judged).unwrap();
        let expected = (3.0 * (1.0f64 / 3.0).powi(2) + (2.0f64 / 3.0).powi(2)) / 4.0;
        assert!((r.brier - expected).abs() < 1e-12);
        assert_eq!(r.bins[6].calls, 4);
        assert!((r.bins[6].observed - 0.75).abs() < 1e-12);
        assert!(Reliability::measure(&cal, &[]).is_none());
    }
}
