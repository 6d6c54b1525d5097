//! The traffic simulator: replays a traffic model ([`model`]) against the real lease table and
//! display rules on a virtual clock, with the ground truth of every call, and against a naive
//! baseline (`calltrack simulate`).
//!
//! Sans-IO and deterministic: time is a virtual clock from [`engine::EPOCH`], randomness is a
//! ChaCha stream per seed ([`draw`]). The traffic ([`script`]) is drawn once per seed and every
//! policy and pool size replays the same visits.
//!
//! The pool advisor fits a model to a node's lease history ([`observe`]) and searches pool
//! sizes and freeze times on it ([`advise`]).

mod advise;
mod allocator;
mod compare;
mod confidence;
mod draw;
mod engine;
mod explain;
mod fit;
pub mod model;
mod naive;
mod observe;
mod script;
mod site;
mod tally;

pub use advise::{Advice, PerFreeze, Tried, advise};
pub use compare::{
    CompareError, GOAL_PCT, Labelled, NAIVE_TARGET_PCT, Report, baselines, compare, nimbata_size,
    target_size, utmstat_size,
};
pub use confidence::{Bin, Reliability};
pub use explain::{Explain, Gains, Missed, When};
pub use fit::{fit, fit_models};
pub use model::{Model, ModelError};
pub use observe::{FitError, MIN_CALLS, MIN_DAYS, MIN_LEASES, Observed, fit_history};
pub use tally::{Policy, RunResult};

use crate::call::confidence::{RingFacts, WEIGHTS};
use allocator::Calltrack;
use naive::Naive;
use script::ScriptVisit;

/// A model with its traffic drawn for one seed, ready to replay at any pool size.
#[derive(Debug, Clone)]
pub struct Simulation {
    model: Model,
    seed: u64,
    visits: Vec<ScriptVisit>,
    /// Other traffic of the same model, to fit the confidence on.
    calibration: Vec<ScriptVisit>,
}

/// The calibration traffic's seed is the run's seed plus this.
const CALIBRATION_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

impl Simulation {
    pub fn new(model: Model, seed: u64) -> Simulation {
        let visits = script::script(&model, seed);
        let calibration = script::script(&model, seed.wrapping_add(CALIBRATION_SEED));
        Simulation {
            model,
            seed,
            visits,
            calibration,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// How many visits the script holds (humans and bots).
    pub fn visits(&self) -> usize {
        self.visits.len()
    }

    /// Replays the traffic with `policy` and a pool of `size` numbers.
    pub fn run(&self, policy: Policy, size: usize) -> RunResult {
        match policy {
            Policy::Naive => {
                let alloc = Naive::new(size, self.seed);
                let tally = engine::replay(&self.model, &self.visits, size, alloc);
                RunResult::from_tally(policy, size, tally)
            }
            Policy::Calltrack => {
                let measured = self.calltrack(&self.visits, size);
                let reliability = Reliability::measure(&WEIGHTS, &measured.judged);
                let mut result = RunResult::from_tally(policy, size, measured);
                result.reliability = reliability;
                result
            }
        }
    }

    /// The facts and ground truth of every lease-attributed call of the calibration traffic
    /// (another draw of the model) with a pool of `size`: what the weights are fitted on.
    pub fn calibration_calls(&self, size: usize) -> Vec<(RingFacts, bool)> {
        self.calltrack(&self.calibration, size).judged
    }

    fn calltrack(&self, visits: &[ScriptVisit], size: usize) -> tally::Tally {
        let alloc = Calltrack::for_model(&self.model, size);
        engine::replay(&self.model, visits, size, alloc)
    }
}

#[cfg(test)]
mod tests;
