//! `calltrack simulate --explain`: each run's missed calls by when they came and why, the
//! ceiling each attribution lever could reach at that pool size, and (with `--compare`) the
//! pool size at which calltrack reaches the goal.

use std::fmt::Write as _;

use serde::Serialize;

use crate::simulate::{Gains, Labelled, Missed, RunResult, When};

/// A run's decomposition as JSON (`"explain"` in each run with `--explain`).
#[derive(Serialize)]
pub struct JsonExplain {
    /// Per [`When`]: tracked calls and the missed ones by why.
    pub by_when: Vec<JsonWhen>,
    /// Extra correct calls per lever, if it were perfect.
    pub gains: Gains,
    /// The correct share per lever, if it were perfect (percent).
    pub ceilings_pct: Ceilings,
}

#[derive(Serialize)]
pub struct JsonWhen {
    pub when: &'static str,
    pub calls: u64,
    #[serde(flatten)]
    pub missed: Missed,
}

#[derive(Serialize)]
pub struct Ceilings {
    pub repeat_to_earlier: f64,
    pub every_repeat: f64,
    pub free_to_last_holder: f64,
    pub best_recent_holder: f64,
    pub every_reserve: f64,
    pub buildable: f64,
    pub all: f64,
}

pub fn json_explain(r: &RunResult) -> JsonExplain {
    let e = &r.explain;
    let g = e.gains;
    let by_when = When::ALL.iter().map(|&w| JsonWhen {
        when: w.as_str(),
        calls: e.calls_at(w),
        missed: e.missed_at(w),
    });
    JsonExplain {
        by_when: by_when.collect(),
        gains: g,
        ceilings_pct: Ceilings {
            repeat_to_earlier: r.ceiling_pct(g.repeat_to_earlier),
            every_repeat: r.ceiling_pct(g.every_repeat),
            free_to_last_holder: r.ceiling_pct(g.free_to_last_holder),
            best_recent_holder: r.ceiling_pct(g.best_recent_holder),
            every_reserve: r.ceiling_pct(g.every_reserve),
            buildable: r.ceiling_pct(g.buildable),
            all: r.ceiling_pct(g.all),
        },
    }
}

/// The table form: one block per run.
pub fn table_explain(out: &mut String, runs: &[Labelled]) {
    for Labelled { label, result: r } in runs {
        let _ = writeln!(
            out,
            "\nmissed calls of {} at {label} ({} numbers): when x why",
            r.policy.as_str(),
            r.pool_size
        );
        let _ = writeln!(
            out,
            "{:<13} {:>6} {:>10} {:>6} {:>8}",
            "when", "calls", "reassigned", "free", "reserve"
        );
        for w in When::ALL {
            let m = r.explain.missed_at(w);
            let calls = r.explain.calls_at(w);
            let _ = writeln!(
                out,
                "{:<13} {calls:>6} {:>10} {:>6} {:>8}",
                w.as_str(),
                m.reassigned,
                m.free,
                m.reserve
            );
        }
        ceilings(out, r);
    }
}

fn ceilings(out: &mut String, r: &RunResult) {
    let c = json_explain(r).ceilings_pct;
    let g = r.explain.gains;
    let rows = [
        (
            "repeat caller -> its earlier attribution",
            g.repeat_to_earlier,
            c.repeat_to_earlier,
        ),
        ("every repeat call right", g.every_repeat, c.every_repeat),
        (
            "free number -> its last holder",
            g.free_to_last_holder,
            c.free_to_last_holder,
        ),
        (
            "best pick of the last 8 holders",
            g.best_recent_holder,
            c.best_recent_holder,
        ),
        ("every reserve call right", g.every_reserve, c.every_reserve),
        ("repeat->earlier + free->last", g.buildable, c.buildable),
        ("all of the above", g.all, c.all),
    ];
    let _ = writeln!(
        out,
        "lever ceiling (a perfect lever at this size): +calls, correct"
    );
    for (name, gain, pct) in rows {
        let _ = writeln!(out, "  {name:<42} +{gain:<4} {pct:>6.2}%");
    }
}

/// With `--compare`: where calltrack reaches the goal, searched up to `max` numbers.
pub fn goal_line(out: &mut String, naive_size: usize, goal_size: Option<usize>, max: usize) {
    let goal = crate::simulate::GOAL_PCT;
    let _ = match goal_size {
        Some(size) => writeln!(
            out,
            "\ncalltrack reaches {goal} % at {size} numbers ({:.2} x naive's {naive_size} for 90 %)",
            size as f64 / naive_size.max(1) as f64
        ),
        None => writeln!(
            out,
            "\ncalltrack does not reach {goal} % with up to {max} numbers"
        ),
    };
}
