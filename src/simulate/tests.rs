//! Unit tests of the simulator: hand-computed scripts replayed through both policies, model
//! validation with key paths, the rules of thumb and determinism.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::allocator::Calltrack;
use super::naive::Naive;
use super::script::{Kind, ScriptCall, ScriptVisit};
use super::tally::{Policy, RunResult};
use super::*;

/// A valid one-day model; tests override what they need.
pub(super) const TINY: &str = r#"
name = "tiny"
days = 1
[traffic]
visitors_per_hour = [0, 0, 0, 0, 0, 0, 0, 0, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 0, 0, 0, 0, 0, 0]
weekday_factors = [1, 1, 1, 1, 1, 1, 1]
paid_share = 0.8
returning_share = 0.2
bot_share = 0.1
[visit]
median_secs = 120
sigma = 0.8
[bots]
detected_share = 0.5
heartbeat_share = 0.5
stay_secs = 10
[calls]
probability = 0.2
during_visit_share = 0.7
after_visit_share = 0.3
next_day_share = 0.0
after_visit_median_secs = 120
after_visit_sigma = 0.5
repeat_share = 0.0
repeat_after_median_secs = 3600
talk_median_secs = 60
[pool]
size = 3
freeze_secs = 600
heartbeat_secs = 30
cooldown_secs = 0
adapt_freeze = false
"#;

fn tiny() -> Model {
    Model::from_toml_str(TINY).unwrap()
}

fn paid(visitor: u32, start: i64, length_secs: i64, call_at: i64) -> ScriptVisit {
    ScriptVisit {
        visitor,
        start,
        length_secs,
        kind: Kind::Paid,
        calls: vec![ScriptCall {
            at: call_at,
            talk_secs: 30,
            repeat: false,
        }],
    }
}

fn replay(policy: Policy, visits: &[ScriptVisit], size: usize) -> RunResult {
    let model = tiny();
    let tally = match policy {
        Policy::Naive => engine::replay(&model, visits, size, Naive::new(size, 1)),
        Policy::Calltrack => {
            let alloc = Calltrack::for_model(&model, size);
            engine::replay(&model, visits, size, alloc)
        }
    };
    RunResult::from_tally(policy, size, tally)
}

#[test]
fn one_number_and_visits_that_never_overlap_are_all_correct() {
    let visits: Vec<ScriptVisit> = (0..10)
        .map(|k| paid(k + 1, k as i64 * 3600, 60, k as i64 * 3600 + 30))
        .collect();
    for policy in [Policy::Naive, Policy::Calltrack] {
        let r = replay(policy, &visits, 1);
        assert_eq!((r.calls, r.correct), (10, 10), "{policy:?}");
        assert_eq!(r.correct_pct(), 100.0);
        assert_eq!(r.exhausted_minutes, 0);
    }
}

#[test]
fn two_visitors_always_overlapping_on_one_number_split_half_and_half() {
    // Each hour A lands, B lands 10 s later; both call during their visit.
    let visits: Vec<ScriptVisit> = (0..8)
        .flat_map(|k| {
            let t = k as i64 * 3600;
            [
                paid(2 * k + 1, t, 120, t + 60),
                paid(2 * k + 2, t + 10, 120, t + 70),
            ]
        })
        .collect();
    for policy in [Policy::Naive, Policy::Calltrack] {
        let r = replay(policy, &visits, 1);
        assert_eq!(r.calls, 16);
        assert_eq!((r.correct, r.wrong), (8, 0), "{policy:?}");
        assert_eq!((r.unattributed, r.reserve_calls), (8, 8), "{policy:?}");
        assert_eq!((r.correct_pct(), r.unattributed_pct()), (50.0, 50.0));
        assert_eq!(r.exhausted_minutes, 8);
        assert_eq!(r.busy_max, 1);
    }
}

#[test]
fn a_long_visit_keeps_its_number_with_heartbeats_but_not_with_a_fixed_freeze() {
    // 40 minutes on the page, a call at minute 35; a second visitor lands at minute 31.
    let visits = vec![paid(1, 0, 2400, 2100), paid(2, 1860, 60, 1890)];
    // calltrack: the first visitor heartbeats and keeps the one number; the second one sees
    // the reserve number.
    let calltrack = replay(Policy::Calltrack, &visits, 1);
    assert_eq!((calltrack.correct, calltrack.wrong), (1, 0));
    assert_eq!(calltrack.reserve_calls, 1);
    // naive: the number was free again at minute 30, the second visitor took it, and the
    // first visitor's call is attributed to the second.
    let naive = replay(Policy::Naive, &visits, 1);
    assert_eq!((naive.correct, naive.wrong, naive.reserve_calls), (1, 1, 0));
}

fn replay_with(model: &Model, visits: &[ScriptVisit], size: usize) -> RunResult {
    let alloc = Calltrack::for_model(model, size);
    let tally = engine::replay(model, visits, size, alloc);
    RunResult::from_tally(Policy::Calltrack, size, tally)
}

fn last_holder_secs(secs: u64) -> Model {
    let text = TINY.replace(
        "cooldown_secs = 0",
        &format!("cooldown_secs = 0\nlast_holder_secs = {secs}"),
    );
    Model::from_toml_str(&text).unwrap()
}

#[test]
fn a_call_after_the_freeze_is_unattributed_without_the_last_holder_rule() {
    let off = last_holder_secs(0);
    let r = replay_with(&off, &[paid(1, 0, 60, 60 + 601)], 1);
    assert_eq!((r.calls, r.unattributed, r.reserve_calls), (1, 1, 0));
    let within = replay_with(&off, &[paid(1, 0, 60, 60 + 599)], 1);
    assert_eq!(within.correct, 1);
}

#[test]
fn a_free_numbers_call_goes_to_its_last_holder_within_the_window() {
    // Visitor 1 leaves at 60 s; its lease ends at 660 s (600-s freeze). A 1-hour window
    // takes calls up to 4260 s.
    let hour = last_holder_secs(3600);
    let late = replay_with(&hour, &[paid(1, 0, 60, 4259)], 1);
    assert_eq!((late.calls, late.correct, late.unattributed), (1, 1, 0));
    let too_late = replay_with(&hour, &[paid(1, 0, 60, 4261)], 1);
    assert_eq!((too_late.correct, too_late.unattributed), (0, 1));
    // Visitor 2 held the number after visitor 1 (700..1360 s): visitor 1's late call goes
    // to visitor 2, its last holder, and is wrong; visitor 2's own late call is right.
    let visits = [paid(1, 0, 60, 1400), paid(2, 700, 60, 1500)];
    let r = replay_with(&hour, &visits, 1);
    assert_eq!((r.calls, r.correct, r.wrong, r.unattributed), (2, 1, 1, 0));
}

#[test]
fn the_adapted_freeze_frees_a_number_sooner_and_the_late_caller_keeps_its_visit() {
    // Call delay after leaving: median 120 s, sigma 0.5, so the adapted freeze is
    // 120 * e^(1.645 * 0.5) = 273 s instead of 600. Visitor 1 leaves at 60 s and calls at
    // 400 s; visitor 2 lands at 360 s. With the configured freeze visitor 2 sees the reserve
    // number (the one number is frozen until 660 s); adapted, the number was free from
    // 333 s, visitor 2 holds it at 400 s and visitor 1's call goes to visitor 2.
    let visits = [paid(1, 0, 60, 400), paid(2, 360, 60, 390)];
    let fixed = replay_with(&last_holder_secs(600), &visits, 1);
    assert_eq!((fixed.correct, fixed.reserve_calls), (1, 1));
    let text = TINY.replace("adapt_freeze = false", "adapt_freeze = true");
    let adapted = replay_with(&Model::from_toml_str(&text).unwrap(), &visits, 1);
    assert_eq!(
        (adapted.correct, adapted.wrong, adapted.reserve_calls),
        (1, 1, 0)
    );
    // Visitor 1 calling at 400 s with nobody landing: its number is free, and the
    // last-holder rule (window: the 600-s freeze) still gives the call to visitor 1.
    let alone = replay_with(&Model::from_toml_str(&text).unwrap(), &visits[..1], 1);
    assert_eq!((alone.correct, alone.unattributed), (1, 0));
}

#[test]
fn organic_calls_and_bots_stay_out_of_the_pool_accounting() {
    let mut organic = paid(1, 0, 60, 30);
    organic.kind = Kind::Organic;
    let bot = ScriptVisit {
        visitor: 2,
        start: 5,
        length_secs: 10,
        kind: Kind::Bot {
            detected: true,
            heartbeats: false,
        },
        calls: Vec::new(),
    };
    let r = replay(Policy::Calltrack, &[organic, bot], 1);
    assert_eq!((r.calls, r.default_calls, r.busy_max), (0, 1, 0));
}

#[test]
fn model_errors_name_their_key_paths() {
    let bad = TINY
        .replace(
            "weekday_factors = [1, 1, 1, 1, 1, 1, 1]",
            "weekday_factors = [1]",
        )
        .replace("heartbeat_secs = 30", "heartbeat_secs = 900")
        .replace("next_day_share = 0.0", "next_day_share = 0.5")
        .replace("paid_share = 0.8", "paid_share = 1.5");
    let Err(ModelError::Invalid(problems)) = Model::from_toml_str(&bad) else {
        panic!("accepted");
    };
    let text = problems.join("\n");
    for path in [
        "traffic.weekday_factors: needs 7 values",
        "traffic.paid_share: must be between 0 and 1",
        "calls: during_visit_share + after_visit_share + next_day_share must be 1",
        "pool.heartbeat_secs: must be at least 1 and less than freeze_secs",
    ] {
        assert!(text.contains(path), "{path} missing in:\n{text}");
    }
    let unknown = TINY.replace("cooldown_secs = 0", "cooldown_secs = 0\nsise = 3");
    let err = Model::from_toml_str(&unknown).unwrap_err().to_string();
    assert!(
        err.starts_with("pool.sise: unknown field") || err.contains("sise"),
        "{err}"
    );
    let missing = TINY.replace("stay_secs = 10", "");
    let err = Model::from_toml_str(&missing).unwrap_err().to_string();
    assert!(err.contains("bots") && err.contains("stay_secs"), "{err}");
}

#[test]
fn rules_of_thumb_by_hand() {
    let model = Model::from_toml_str(
        &TINY
            .replace(
                "visitors_per_hour = [0, 0, 0, 0, 0, 0, 0, 0, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 0, 0, 0, 0, 0, 0]",
                &format!("visitors_per_hour = [{}]", ["100"; 24].join(", ")),
            )
            .replace("paid_share = 0.8", "paid_share = 0.5")
            .replace("bot_share = 0.1", "bot_share = 0.0")
            .replace("median_secs = 120\nsigma = 0.8", "median_secs = 300\nsigma = 0"),
    )
    .unwrap();
    // 2400 visits a day, half paid: 1200 / 100 + 1.
    assert_eq!(utmstat_size(&model), 13);
    // 50 paid visitors in the peak hour / (60 / 5 minutes) = 4.17 -> 5.
    assert_eq!(nimbata_size(&model), 5);
}

#[test]
fn a_seed_gives_the_same_results_and_another_seed_other_ones() {
    let run = |seed| {
        let sim = Simulation::new(tiny(), seed);
        (sim.run(Policy::Naive, 3), sim.run(Policy::Calltrack, 3))
    };
    assert_eq!(run(7), run(7));
    let a = Simulation::new(tiny(), 7);
    let b = Simulation::new(tiny(), 8);
    assert_ne!(a.visits, b.visits);
    assert!(a.visits() > 100, "{}", a.visits());
}

#[test]
fn compare_finds_the_smallest_pool_where_naive_reaches_ninety_percent() {
    let sim = Simulation::new(tiny(), 3);
    let runs = compare(&sim).unwrap();
    let size = runs[0].result.pool_size;
    assert_eq!(runs.len(), 2);
    assert!(runs[0].result.correct_pct() >= NAIVE_TARGET_PCT);
    assert!(sim.run(Policy::Naive, size - 1).correct_pct() < NAIVE_TARGET_PCT);
    assert_eq!(runs[1].result.policy, Policy::Calltrack);
    assert_eq!(runs[1].result.pool_size, size);
}

#[test]
fn calltrack_runs_carry_a_calibrated_confidence_and_naive_none() {
    let sim = Simulation::new(tiny(), 5);
    assert!(sim.run(Policy::Naive, 3).reliability.is_none());
    let r = sim.run(Policy::Calltrack, 3);
    let rel = r.reliability.clone().unwrap();
    let binned: u64 = rel.bins.iter().map(|b| b.calls).sum();
    assert_eq!(binned, r.correct + r.wrong);
    assert!((0.0..0.25).contains(&rel.brier), "{}", rel.brier);
}

fn visit_with(visitor: u32, start: i64, calls: &[(i64, bool)]) -> ScriptVisit {
    let mut v = paid(visitor, start, 60, 0);
    v.calls = calls
        .iter()
        .map(|&(at, repeat)| ScriptCall {
            at,
            talk_secs: 10,
            repeat,
        })
        .collect();
    v
}

#[test]
fn explain_decomposes_a_hand_computed_script() {
    // One number, freeze 600 s, 60-s visits.
    let visits = vec![
        visit_with(1, 0, &[(30, false)]),            // during: right
        visit_with(2, 3600, &[(3660 + 700, false)]), // after freeze: free, last holder
        visit_with(3, 7200, &[(7230, false), (20_000, true)]), // right, then a repeat: right
        visit_with(4, 10_000, &[(10_030, false)]),   // during: right
        visit_with(6, 40_000, &[(40_360, false)]),   // in freeze: right
        visit_with(7, 50_000, &[(50_720, false)]),   // after freeze: 8 holds it
        visit_with(8, 50_700, &[(50_730, false)]),   // during: right
        visit_with(5, 60_000, &[(122_400, false)]),  // next day: free, last holder
    ];
    // Without the last-holder rule, so that its lever shows as a ceiling.
    let r = replay_with(&last_holder_secs(0), &visits, 1);
    // The repeat call rings on a free number: the caller history gives it to visitor 3.
    assert_eq!((r.calls, r.correct, r.wrong, r.unattributed), (9, 6, 1, 2));
    let e = &r.explain;
    let calls: Vec<u64> = When::ALL.iter().map(|&w| e.calls_at(w)).collect();
    assert_eq!(calls, [4, 1, 2, 1, 1]);
    let after = e.missed_at(When::AfterFreeze);
    assert_eq!((after.reassigned, after.free, after.reserve), (1, 1, 0));
    assert_eq!(e.missed_at(When::NextDay).free, 1);
    assert_eq!(e.missed_at(When::Repeat), Missed::default());
    assert_eq!(e.missed_at(When::During), Missed::default());
    let g = e.gains;
    assert_eq!((g.repeat_to_earlier, g.every_repeat), (0, 0));
    assert_eq!((g.free_to_last_holder, g.best_recent_holder), (2, 3));
    assert_eq!((g.every_reserve, g.buildable, g.all), (0, 2, 3));
    assert_eq!(r.ceiling_pct(g.buildable), 88.89, "8 of 9");
}
