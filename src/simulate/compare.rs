//! Baselines: the pool sizes the vendors' rules of thumb pick, and `--compare`, which finds
//! the smallest pool at which naive allocation attributes 90 % of calls correctly and runs
//! both policies there.

use super::Simulation;
use super::model::{MAX_POOL, Model};
use super::tally::{Policy, RunResult};

/// The accuracy naive allocation must reach in `--compare`, in percent.
pub const NAIVE_TARGET_PCT: f64 = 90.0;

/// One run and which pool size it is (the model's, a rule of thumb's, naive-90).
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub label: &'static str,
    pub result: RunResult,
}

/// Everything one `calltrack simulate` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub model: String,
    pub runs: Vec<Labelled>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(
        "naive allocation never attributes {NAIVE_TARGET_PCT} % of calls correctly, even with {MAX_POOL} numbers (the model's call timing makes it impossible: too many calls come after the 30-minute freeze)"
    )]
    NaiveNeverReaches,
}

/// Paid (tracked) human visits per average day.
fn tracked_per_day(model: &Model) -> f64 {
    let t = &model.traffic;
    let mean_factor = t.weekday_factors.iter().sum::<f64>() / 7.0;
    t.visitors_per_hour.iter().sum::<f64>() * mean_factor * (1.0 - t.bot_share) * t.paid_share
}

/// UTMSTAT: daily visits / 100 + 1 (visits that need a pool number).
pub fn utmstat_size(model: &Model) -> usize {
    (tracked_per_day(model) / 100.0).floor() as usize + 1
}

/// Nimbata: peak visitors per hour / (60 / average visit minutes).
pub fn nimbata_size(model: &Model) -> usize {
    let t = &model.traffic;
    let peak_hour = t.visitors_per_hour.iter().copied().fold(0.0, f64::max);
    let peak_day = t.weekday_factors.iter().copied().fold(0.0, f64::max);
    let peak = peak_hour * peak_day * (1.0 - t.bot_share) * t.paid_share;
    let mean_secs = model.visit.median_secs * (model.visit.sigma.powi(2) / 2.0).exp();
    let size = peak / (60.0 / (mean_secs / 60.0));
    (size.ceil() as usize).clamp(1, MAX_POOL)
}

/// Both policies at the model's size and at each rule of thumb's size.
pub fn baselines(sim: &Simulation) -> Vec<Labelled> {
    let sizes = [
        ("model", sim.model().pool.size),
        ("utmstat", utmstat_size(sim.model())),
        ("nimbata", nimbata_size(sim.model())),
    ];
    sizes
        .iter()
        .flat_map(|&(label, size)| both(sim, label, size))
        .collect()
}

/// `--compare`: both policies at the smallest pool where naive reaches 90 %.
pub fn compare(sim: &Simulation) -> Result<Vec<Labelled>, CompareError> {
    let size = naive_target_size(sim)?;
    Ok(both(sim, "naive-90", size))
}

fn both(sim: &Simulation, label: &'static str, size: usize) -> Vec<Labelled> {
    [Policy::Naive, Policy::Calltrack]
        .into_iter()
        .map(|policy| Labelled {
            label,
            result: sim.run(policy, size),
        })
        .collect()
}

/// The accuracy calltrack must reach: the goal, in percent.
pub const GOAL_PCT: f64 = 98.0;

/// The smallest pool where naive allocation reaches [`NAIVE_TARGET_PCT`].
pub fn naive_target_size(sim: &Simulation) -> Result<usize, CompareError> {
    target_size(sim, Policy::Naive, NAIVE_TARGET_PCT, MAX_POOL)
        .ok_or(CompareError::NaiveNeverReaches)
}

/// Doubling to a size where `policy` reaches `target_pct`, then bisection down to the
/// smallest one (accuracy grows with the pool for a fixed script; noise can make it not
/// strictly so, and the answer is then the smallest size bisection lands on). `None` when
/// even `max` numbers miss it.
pub fn target_size(sim: &Simulation, policy: Policy, target_pct: f64, max: usize) -> Option<usize> {
    let reaches = |size: usize| sim.run(policy, size).correct_pct() >= target_pct;
    let mut hi = 1;
    while !reaches(hi) {
        if hi >= max {
            return None;
        }
        hi = (hi * 2).min(max);
    }
    let mut lo = hi / 2; // lo fails (or is 0)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}
