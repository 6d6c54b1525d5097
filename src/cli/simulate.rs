//! `calltrack simulate`: runs a traffic model through the simulator and prints the runs as a
//! table or as JSON (`{"model": …, "runs": [...]}`).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::simulate_explain::{self as explain, JsonExplain};
use crate::simulate::{self, Labelled, Model, Policy, Report, Simulation};

/// `calltrack simulate ...`
#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// The traffic model (TOML; see config/simulate/). Several only with `--fit-confidence`.
    #[arg(long, value_name = "FILE", required = true)]
    pub model: Vec<PathBuf>,
    /// Random seed: the same model and seed give the same numbers.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Find the smallest pool where naive allocation attributes 90 % correctly, and run both
    /// policies there (instead of the model's and the rules of thumb's sizes).
    #[arg(long)]
    pub compare: bool,
    /// Fit the per-call confidence's weights on the models' calibration traffic and print
    /// them as the Rust constant shipped in `src/call/confidence.rs`.
    #[arg(long)]
    pub fit_confidence: bool,
    /// Also print each run's missed calls by when they came and why, the ceiling each
    /// attribution lever could reach, and (with `--compare`) where calltrack reaches 98 %.
    #[arg(long)]
    pub explain: bool,
}

/// How far beyond naive's 90 % size `--compare --explain` looks for calltrack's 98 %.
const GOAL_SEARCH_FACTOR: usize = 16;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Why `simulate` could not print results.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Model(#[from] simulate::ModelError),
    #[error(transparent)]
    Compare(#[from] simulate::CompareError),
    #[error("give one --model (several only with --fit-confidence)")]
    OneModel,
}

/// Loads the model, runs it and renders the report.
pub fn run(args: &SimulateArgs) -> Result<String, SimulateError> {
    if args.fit_confidence {
        return fit(args);
    }
    let [path] = args.model.as_slice() else {
        return Err(SimulateError::OneModel);
    };
    let model = Model::load(path)?;
    let sim = Simulation::new(model, args.seed);
    let runs = if args.compare {
        simulate::compare(&sim)?
    } else {
        simulate::baselines(&sim)
    };
    let goal = (args.compare && args.explain).then(|| goal_size(&sim, &runs));
    let report = Report {
        model: sim.model().name.clone(),
        runs,
    };
    Ok(match args.format {
        Format::Table => {
            let mut out = table(&report, &sim);
            if args.explain {
                explain::table_explain(&mut out, &report.runs);
            }
            if let Some((naive, found, max)) = goal {
                explain::goal_line(&mut out, naive, found, max);
            }
            out
        }
        Format::Json => json(&report, args.explain, goal.map(|g| g.1)),
    })
}

/// Naive's 90 % size, calltrack's 98 % size (if found) and how far it was searched.
fn goal_size(sim: &Simulation, runs: &[Labelled]) -> (usize, Option<usize>, usize) {
    let naive = runs.first().map_or(1, |l| l.result.pool_size);
    let max = naive.saturating_mul(GOAL_SEARCH_FACTOR);
    let found = simulate::target_size(sim, Policy::Calltrack, simulate::GOAL_PCT, max);
    (naive, found, max)
}

/// `--fit-confidence`: the weights fitted on every model's calibration traffic.
fn fit(args: &SimulateArgs) -> Result<String, SimulateError> {
    let mut sims = Vec::with_capacity(args.model.len());
    for path in &args.model {
        sims.push(Simulation::new(Model::load(path)?, args.seed));
    }
    let (weights, calls) = simulate::fit_models(&sims)?;
    let list: Vec<String> = weights.iter().map(|w| format!("{w:.4}")).collect();
    Ok(format!(
        "// fitted on {calls} calls of {} models, seed {}\npub const WEIGHTS: [f64; FEATURES] = [{}];\n",
        sims.len(),
        args.seed,
        list.join(", ")
    ))
}

#[derive(Serialize)]
struct JsonReport<'a> {
    model: &'a str,
    runs: Vec<JsonRun>,
    /// With `--compare --explain`: the smallest pool where calltrack reaches 98 %.
    #[serde(skip_serializing_if = "Option::is_none")]
    calltrack_goal_pool_size: Option<Option<usize>>,
}

#[derive(Serialize)]
struct JsonRun {
    policy: &'static str,
    pool_size: usize,
    calls: u64,
    correct_pct: f64,
    wrong_pct: f64,
    unattributed_pct: f64,
    brier: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<JsonExplain>,
}

fn json(report: &Report, with_explain: bool, goal: Option<Option<usize>>) -> String {
    let runs = report
        .runs
        .iter()
        .map(|Labelled { result: r, .. }| JsonRun {
            policy: r.policy.as_str(),
            pool_size: r.pool_size,
            calls: r.calls,
            correct_pct: r.correct_pct(),
            wrong_pct: r.wrong_pct(),
            unattributed_pct: r.unattributed_pct(),
            brier: r.brier(),
            explain: with_explain.then(|| explain::json_explain(r)),
        });
    let out = JsonReport {
        model: &report.model,
        runs: runs.collect(),
        calltrack_goal_pool_size: goal,
    };
    let mut text = serde_json::to_string_pretty(&out).unwrap_or_default();
    text.push('\n');
    text
}

fn table(report: &Report, sim: &Simulation) -> String {
    let mut out = String::new();
    let days = sim.model().days;
    let visits = sim.visits();
    let _ = writeln!(out, "model {} ({days} days, {visits} visits)", report.model);
    let _ = writeln!(
        out,
        "{:<9} {:<9} {:>5} {:>6} {:>8} {:>7} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>8}",
        "size",
        "policy",
        "pool",
        "calls",
        "correct",
        "wrong",
        "unattr",
        "reserve",
        "last",
        "busy50",
        "busy95",
        "max",
        "exh_min"
    );
    for Labelled { label, result: r } in &report.runs {
        let _ = writeln!(
            out,
            "{:<9} {:<9} {:>5} {:>6} {:>7.2}% {:>6.2}% {:>7.2}% {:>7} {:>6} {:>6} {:>6} {:>6} {:>8}",
            label,
            r.policy.as_str(),
            r.pool_size,
            r.calls,
            r.correct_pct(),
            r.wrong_pct(),
            r.unattributed_pct(),
            r.reserve_calls,
            r.last_holder_callers,
            r.busy_p50,
            r.busy_p95,
            r.busy_max,
            r.exhausted_minutes
        );
    }
    for Labelled { label, result: r } in &report.runs {
        if let Some(rel) = &r.reliability {
            reliability(&mut out, label, r.pool_size, rel);
        }
    }
    out
}

/// The reliability table: predicted vs observed per tenth of confidence.
fn reliability(out: &mut String, label: &str, size: usize, rel: &simulate::Reliability) {
    let _ = writeln!(
        out,
        "\nconfidence of calltrack at {label} ({size} numbers): Brier {:.4}",
        rel.brier
    );
    let _ = writeln!(
        out,
        "{:<9} {:>6} {:>9} {:>9}",
        "bin", "calls", "predicted", "observed"
    );
    for (i, bin) in rel.bins.iter().enumerate() {
        let range = format!("{:.1}-{:.1}", i as f64 / 10.0, (i + 1) as f64 / 10.0);
        let _ = if bin.calls == 0 {
            writeln!(out, "{range:<9} {:>6} {:>9} {:>9}", 0, "-", "-")
        } else {
            writeln!(
                out,
                "{range:<9} {:>6} {:>9.3} {:>9.3}",
                bin.calls, bin.predicted, bin.observed
            )
        };
    }
}
