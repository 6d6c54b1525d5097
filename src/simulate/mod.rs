//! The traffic simulator: replays a traffic model ([`model`]) against the real lease table and
//! display rules on a virtual clock, with the ground truth of every call, and against a naive
//! baseline (`calltrack simulate`).
//!
//! Sans-IO and deterministic: time is a virtual clock from [`engine::EPOCH`], randomness is a
//! ChaCha stream per seed ([`draw`]). The traffic ([`script`]) is drawn once per seed and every
//! policy and pool size replays the same visits.

mod allocator;
mod compare;
mod draw;
mod engine;
pub mod model;
mod naive;
mod script;
mod site;
mod tally;

pub use compare::{
    CompareError, Labelled, NAIVE_TARGET_PCT, Report, baselines, compare, nimbata_size,
    utmstat_size,
};
pub use model::{Model, ModelError};
pub use tally::{Policy, RunResult};

use allocator::Calltrack;
use naive::Naive;
use script::ScriptVisit;

/// A model with its traffic drawn for one seed, ready to replay at any pool size.
#[derive(Debug, Clone)]
pub struct Simulation {
    model: Model,
    seed: u64,
    visits: Vec<ScriptVisit>,
}

impl Simulation {
    pub fn new(model: Model, seed: u64) -> Simulation {
        let visits = script::script(&model, seed);
        Simulation {
            model,
            seed,
            visits,
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
        let tally = match policy {
            Policy::Naive => {
                let alloc = Naive::new(size, self.seed);
                engine::replay(&self.model, &self.visits, size, alloc)
            }
            Policy::Calltrack => {
                let alloc = Calltrack::new(site::site(&self.model, size));
                engine::replay(&self.model, &self.visits, size, alloc)
            }
        };
        RunResult::from_tally(policy, size, tally)
    }
}

#[cfg(test)]
mod tests;
