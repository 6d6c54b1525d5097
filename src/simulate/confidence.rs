//! The production confidence ([`crate::call::confidence`]) scored against the simulator's
//! ground truth: the Brier score and the reliability table (predicted vs observed per tenth)
//! of its predictions on a run's calls attributed to a lease.

use crate::call::confidence::{FEATURES, RingFacts, predict_with};

/// One tenth of the 0..1 range: how many calls were predicted there, their mean prediction
/// and the share that was right.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bin {
    pub calls: u64,
    pub predicted: f64,
    pub observed: f64,
}

/// The Brier score and the reliability table of a model on judged calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Reliability {
    pub brier: f64,
    pub bins: [Bin; 10],
}

impl Reliability {
    /// The model with `weights` on `judged` calls; `None` without any.
    pub fn measure(weights: &[f64; FEATURES], judged: &[(RingFacts, bool)]) -> Option<Reliability> {
        let predictions: Vec<(f64, bool)> = judged
            .iter()
            .map(|(facts, correct)| (predict_with(weights, facts), *correct))
            .collect();
        Reliability::of(&predictions)
    }

    /// The score of `(predicted, correct)` pairs; `None` when there are none.
    pub fn of(predictions: &[(f64, bool)]) -> Option<Reliability> {
        if predictions.is_empty() {
            return None;
        }
        let mut bins = [Bin::default(); 10];
        let mut squared = 0.0;
        for &(p, correct) in predictions {
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
            brier: squared / predictions.len() as f64,
            bins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brier_and_bins_by_hand() {
        let predictions = [
            (2.0 / 3.0, true),
            (2.0 / 3.0, true),
            (2.0 / 3.0, true),
            (2.0 / 3.0, false),
        ];
        let r = Reliability::of(&predictions).unwrap();
        let expected = (3.0 * (1.0f64 / 3.0).powi(2) + (2.0f64 / 3.0).powi(2)) / 4.0;
        assert!((r.brier - expected).abs() < 1e-12);
        assert_eq!(r.bins[6].calls, 4);
        assert!((r.bins[6].observed - 0.75).abs() < 1e-12);
        assert!((r.bins[6].predicted - 2.0 / 3.0).abs() < 1e-12);
        assert!(Reliability::of(&[]).is_none());
    }
}
