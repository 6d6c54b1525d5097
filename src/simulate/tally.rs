//! What one run measured: calls by outcome against the ground truth, pool utilisation and
//! exhaustion, and the percentages printed from them.

use std::collections::BTreeSet;

use serde::Serialize;

use super::confidence::Reliability;
use super::explain::Explain;
use crate::call::confidence::RingFacts;

/// Which allocation was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// A random free number, a fixed 30-minute freeze, no heartbeat.
    Naive,
    /// Production: the lease table with heartbeats, freeze, LRU and returning visitors.
    Calltrack,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Naive => "naive",
            Policy::Calltrack => "calltrack",
        }
    }
}

/// How one tracked call (a pool or reserve number was shown) was attributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The holder at ring time is the caller.
    Correct,
    /// Someone else held the number.
    Wrong,
    /// Nobody held the pool number.
    Nobody,
    /// The caller saw the reserve number (pool exhausted).
    Reserve,
}

/// Counters of one run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub correct: u64,
    pub wrong: u64,
    pub nobody: u64,
    pub reserve: u64,
    /// Calls to the default number (organic visitors): not pool attributions, not in the %.
    pub default_calls: u64,
    /// Repeat calls among the tracked ones.
    pub repeat_calls: u64,
    /// Unattributed calls whose number's last holder was the caller (not reissued since):
    /// what attributing a free number to its last holder would win.
    pub last_holder_callers: u64,
    /// Calls attributed to a lease: (what production knew at ring time, correct).
    pub judged: Vec<(RingFacts, bool)>,
    /// Busy numbers, sampled once a simulated minute.
    pub busy_samples: Vec<usize>,
    /// Minutes (since the start) in which some visitor got the reserve number.
    pub exhausted_minutes: BTreeSet<i64>,
    /// Missed calls by when and why, and the levers' ceilings.
    pub explain: Explain,
}

impl Tally {
    pub fn count(&mut self, outcome: Outcome, repeat: bool) {
        let counter = match outcome {
            Outcome::Correct => &mut self.correct,
            Outcome::Wrong => &mut self.wrong,
            Outcome::Nobody => &mut self.nobody,
            Outcome::Reserve => &mut self.reserve,
        };
        *counter += 1;
        self.repeat_calls += u64::from(repeat);
    }
}

/// One run's results.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub policy: Policy,
    pub pool_size: usize,
    /// Tracked calls: to a pool number or the reserve number.
    pub calls: u64,
    pub correct: u64,
    pub wrong: u64,
    /// Pool numbers nobody held plus reserve-number calls.
    pub unattributed: u64,
    pub reserve_calls: u64,
    pub repeat_calls: u64,
    pub default_calls: u64,
    /// See [`Tally::last_holder_callers`].
    pub last_holder_callers: u64,
    /// Busy numbers: p50, p95, max over the simulated minutes.
    pub busy_p50: usize,
    pub busy_p95: usize,
    pub busy_max: usize,
    pub exhausted_minutes: usize,
    /// Confidence on this run, calibrated on other traffic (calltrack only).
    pub reliability: Option<Reliability>,
    /// Missed calls by when and why, and the levers' ceilings (`--explain`).
    pub explain: Explain,
}

impl RunResult {
    pub fn from_tally(policy: Policy, pool_size: usize, mut t: Tally) -> RunResult {
        t.busy_samples.sort_unstable();
        RunResult {
            policy,
            pool_size,
            calls: t.correct + t.wrong + t.nobody + t.reserve,
            correct: t.correct,
            wrong: t.wrong,
            unattributed: t.nobody + t.reserve,
            reserve_calls: t.reserve,
            repeat_calls: t.repeat_calls,
            default_calls: t.default_calls,
            last_holder_callers: t.last_holder_callers,
            busy_p50: percentile(&t.busy_samples, 50),
            busy_p95: percentile(&t.busy_samples, 95),
            busy_max: t.busy_samples.last().copied().unwrap_or(0),
            exhausted_minutes: t.exhausted_minutes.len(),
            reliability: None,
            explain: t.explain,
        }
    }

    pub fn correct_pct(&self) -> f64 {
        pct(self.correct, self.calls)
    }

    pub fn brier(&self) -> Option<f64> {
        self.reliability
            .as_ref()
            .map(|r| (r.brier * 10_000.0).round() / 10_000.0)
    }

    pub fn wrong_pct(&self) -> f64 {
        pct(self.wrong, self.calls)
    }

    pub fn unattributed_pct(&self) -> f64 {
        pct(self.unattributed, self.calls)
    }

    /// The share right if `gain` more calls were right (a lever's ceiling).
    pub fn ceiling_pct(&self, gain: u64) -> f64 {
        pct(self.correct + gain, self.calls)
    }
}

/// Percent with two decimals; 0 of 0 is 0.
pub fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 10_000.0 / whole as f64).round() / 100.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[usize], p: usize) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_percent() {
        let v: Vec<usize> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 95), 95);
        assert_eq!(percentile(&[7], 95), 7);
        assert_eq!(percentile(&[], 95), 0);
        assert_eq!(pct(1, 3), 33.33);
        assert_eq!(pct(0, 0), 0.0);
    }
}
