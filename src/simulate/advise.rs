//! The pool advisor (`calltrack pool advise`): replays a model (fitted to the node's own
//! history, see [`super::observe`]) through the simulator's production policy at other pool
//! sizes and freeze times, and finds the smallest pool that attributes the target share of
//! calls correctly.
//!
//! Per freeze time: doubling to a size that reaches the target, then bisection down to the
//! smallest one (as `--compare` does for naive allocation). A freeze whose pool, grown until
//! it is never exhausted, still misses the target cannot reach it with more numbers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Simulation;
use super::model::{MAX_POOL, Model};
use super::tally::{Policy, RunResult};

/// One size and freeze tried, and what the simulator measured there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tried {
    pub pool_size: usize,
    pub freeze_secs: u64,
    pub calls: u64,
    pub correct_pct: f64,
    pub wrong_pct: f64,
    pub unattributed_pct: f64,
    pub busy_p95: usize,
    pub exhaustion_minutes: usize,
}

/// The smallest pool reaching the target at one freeze time, if any does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerFreeze {
    pub freeze_secs: u64,
    pub pool_size: Option<usize>,
}

/// What the advisor found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub target_pct: f64,
    /// The model's own pool (the configured size and freeze).
    pub current: Tried,
    /// The smallest pool meeting the target (the configured freeze wins ties), if any.
    pub recommended: Option<Tried>,
    pub per_freeze: Vec<PerFreeze>,
    /// Every run, by freeze time then pool size.
    pub tried: Vec<Tried>,
}

/// Searches sizes at the model's freeze time, half of it and twice it.
pub fn advise(model: &Model, target_pct: f64, seed: u64) -> Advice {
    let base = Simulation::new(model.clone(), seed);
    let mut runs: BTreeMap<(u64, usize), Tried> = BTreeMap::new();
    let current_freeze = model.pool.freeze_secs;
    let mut per_freeze = Vec::new();
    for freeze in freezes(model) {
        let sim = base.with_freeze(freeze);
        let mut run = |size: usize| {
            runs.entry((freeze, size))
                .or_insert_with(|| tried(freeze, &sim.run(Policy::Calltrack, size)))
                .clone()
        };
        per_freeze.push(PerFreeze {
            freeze_secs: freeze,
            pool_size: smallest(&mut run, target_pct),
        });
        run(model.pool.size);
    }
    let best = per_freeze
        .iter()
        .filter_map(|p| Some((p.pool_size?, p.freeze_secs != current_freeze, p.freeze_secs)))
        .min();
    let recommended = best.and_then(|(size, _, freeze)| runs.get(&(freeze, size)).cloned());
    let current = runs.get(&(current_freeze, model.pool.size)).cloned();
    Advice {
        target_pct,
        current: current.unwrap_or_else(|| {
            tried(
                current_freeze,
                &base.run(Policy::Calltrack, model.pool.size),
            )
        }),
        recommended,
        per_freeze,
        tried: runs.into_values().collect(),
    }
}

/// The configured freeze, half of it and twice it (each above the heartbeat interval).
fn freezes(model: &Model) -> Vec<u64> {
    let f = model.pool.freeze_secs;
    let mut v: Vec<u64> = [f / 2, f, f.saturating_mul(2).min(86_400)]
        .into_iter()
        .filter(|&x| x > model.pool.heartbeat_secs)
        .collect();
    v.dedup();
    v
}

/// The smallest size whose run reaches `target_pct`, if any.
fn smallest(run: &mut impl FnMut(usize) -> Tried, target_pct: f64) -> Option<usize> {
    let mut hi = 1;
    loop {
        let r = run(hi);
        if r.correct_pct >= target_pct {
            break;
        }
        if hi >= MAX_POOL || r.exhaustion_minutes == 0 {
            return None;
        }
        hi = (hi * 2).min(MAX_POOL);
    }
    let mut lo = hi / 2;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if run(mid).correct_pct >= target_pct {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

fn tried(freeze_secs: u64, r: &RunResult) -> Tried {
    Tried {
        pool_size: r.pool_size,
        freeze_secs,
        calls: r.calls,
        correct_pct: r.correct_pct(),
        wrong_pct: r.wrong_pct(),
        unattributed_pct: r.unattributed_pct(),
        busy_p95: r.busy_p95,
        exhaustion_minutes: r.exhausted_minutes,
    }
}

impl Simulation {
    /// The same traffic with another freeze time (no calibration traffic: the advisor
    /// measures accuracy, not the confidence).
    fn with_freeze(&self, freeze_secs: u64) -> Simulation {
        let mut model = self.model.clone();
        model.pool.freeze_secs = freeze_secs;
        Simulation {
            model,
            seed: self.seed,
            visits: self.visits.clone(),
            calibration: Vec::new(),
        }
    }
}
