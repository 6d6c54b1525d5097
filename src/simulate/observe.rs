//! Fitting a traffic [`Model`] to a node's own lease history and the calls to its pool
//! numbers (`calltrack pool advise`): arrivals per hour of the week, visit length, bots,
//! returning visitors, call probability, when callers dial and how long they talk.
//!
//! Every lease is a tracked visit (paid share 1: organic visitors never lease). A lease that
//! was never released and never called is taken for a bot (the snippet releases on pagehide).
//! A call nobody held the number for is given to the number's last holder if that lease
//! started at most [`LAST_HOLDER_SECS`] before: the calls after the freeze.
//!
//! Pure: history in, model out.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use super::model::{Bots, Calls, Model, Pool, Traffic, Visit};
use crate::lease::{EndedLease, PoolCall};

/// Least history the advisor fits a model on.
pub const MIN_DAYS: f64 = 3.0;
pub const MIN_LEASES: usize = 200;
pub const MIN_CALLS: usize = 20;
/// An unattributed call goes to the number's last holder if granted at most this long before.
pub const LAST_HOLDER_SECS: i64 = 2 * 86_400;
/// The simulated period is whole weeks, enough for about this many calls ...
const SIM_CALLS: f64 = 1000.0;
/// ... and at most this many weeks (each run's cost grows with the period).
const MAX_SIM_WEEKS: f64 = 4.0;
/// A first call this long after the visit ended counts as a next-day call.
const NEXT_DAY_SECS: i64 = 3 * 3600;
const HOUR: i64 = 3600;

/// Why no model could be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(
        "too little lease history: {days:.1} days, {leases} leases and {calls} calls to pool numbers; the advisor needs at least {MIN_DAYS} days, {MIN_LEASES} leases and {MIN_CALLS} calls (the history is kept from this version on, [tracking] lease_history_days)"
    )]
    TooLittle {
        days: f64,
        leases: usize,
        calls: usize,
    },
    #[error("the fitted model is not usable: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// How much history a fit read.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Observed {
    pub days: f64,
    pub leases: usize,
    /// Calls matched to a lease (attributed, or to the number's last holder).
    pub calls: usize,
}

/// Fits a model to `leases` and `calls`, with the pool timing `pool`, simulating whole
/// weeks enough for about [`SIM_CALLS`] calls (at most [`MAX_SIM_WEEKS`]); also says how
/// much history it read.
pub fn fit_history(
    leases: &[EndedLease],
    calls: &[PoolCall],
    pool: Pool,
) -> Result<(Model, Observed), FitError> {
    let matched = match_calls(leases, calls);
    let observed = Observed {
        days: span_days(leases, calls),
        leases: leases.len(),
        calls: matched.iter().map(Vec::len).sum(),
    };
    if observed.days < MIN_DAYS || observed.leases < MIN_LEASES || observed.calls < MIN_CALLS {
        return Err(FitError::TooLittle {
            days: observed.days,
            leases: observed.leases,
            calls: observed.calls,
        });
    }
    let bot = |i: usize| leases[i].released_at.is_none() && matched[i].is_empty();
    let humans: Vec<usize> = (0..leases.len()).filter(|&i| !bot(i)).collect();
    let bots: Vec<usize> = (0..leases.len()).filter(|&i| bot(i)).collect();
    let heartbeat = pool.heartbeat_secs as f64;
    let calls_per_week = observed.calls as f64 / observed.days * 7.0;
    let weeks = (SIM_CALLS / calls_per_week)
        .ceil()
        .clamp(1.0, MAX_SIM_WEEKS);
    let model = Model {
        name: "observed".to_owned(),
        days: weeks as u32 * 7,
        traffic: traffic(leases, &humans, bots.len()),
        visit: visit(leases, &humans, heartbeat),
        bots: bot_model(leases, &bots, heartbeat),
        calls: call_model(leases, &humans, &matched, heartbeat),
        pool,
    };
    let problems = model.problems();
    if problems.is_empty() {
        Ok((model, observed))
    } else {
        Err(FitError::Invalid(problems))
    }
}

fn secs(t: Timestamp) -> i64 {
    t.as_second()
}

/// Days from the first grant to the last grant or call.
fn span_days(leases: &[EndedLease], calls: &[PoolCall]) -> f64 {
    let times = leases
        .iter()
        .map(|l| secs(l.granted_at))
        .chain(calls.iter().map(|c| secs(c.started_at)));
    let (lo, hi) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if lo > hi {
        return 0.0;
    }
    (hi - lo) as f64 / 86_400.0
}

/// Each lease's calls, oldest first: by the CDR's lease, else by the number's last holder.
fn match_calls(leases: &[EndedLease], calls: &[PoolCall]) -> Vec<Vec<PoolCall>> {
    let by_session: HashMap<&str, usize> = leases
        .iter()
        .enumerate()
        .map(|(i, l)| (l.session_id.as_str(), i))
        .collect();
    let mut by_number: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, l) in leases.iter().enumerate() {
        by_number.entry(l.number.as_str()).or_default().push(i);
    }
    let mut matched = vec![Vec::new(); leases.len()];
    for call in calls {
        let held = call.session_id.as_deref().and_then(|s| by_session.get(s));
        let lease = held
            .copied()
            .or_else(|| last_holder(leases, by_number.get(call.number.as_str())?, call));
        if let Some(i) = lease {
            matched[i].push(call.clone());
        }
    }
    for calls in &mut matched {
        calls.sort_by_key(|c| c.started_at);
    }
    matched
}

/// The latest lease of the number granted before the call, if recent enough.
fn last_holder(leases: &[EndedLease], on_number: &[usize], call: &PoolCall) -> Option<usize> {
    let at = secs(call.started_at);
    on_number
        .iter()
        .copied()
        .filter(|&i| secs(leases[i].granted_at) <= at)
        .max_by_key(|&i| leases[i].granted_at)
        .filter(|&i| at - secs(leases[i].granted_at) <= LAST_HOLDER_SECS)
}

/// Arrivals per hour of day times a factor per weekday (Poisson maximum likelihood over the
/// hours observed), the bot share and the returning share.
fn traffic(leases: &[EndedLease], humans: &[usize], bots: usize) -> Traffic {
    let mut count = [[0.0f64; 24]; 7];
    let mut exposure = [[0.0f64; 24]; 7];
    let first = leases.iter().map(|l| secs(l.granted_at)).min().unwrap_or(0);
    let last = leases.iter().map(|l| secs(l.granted_at)).max().unwrap_or(0);
    for hour in first.div_euclid(HOUR)..=last.div_euclid(HOUR) {
        let (w, h) = slot(hour * HOUR);
        exposure[w][h] += 1.0;
    }
    for l in leases {
        let (w, h) = slot(secs(l.granted_at));
        count[w][h] += 1.0;
    }
    let (per_hour, factors) = product_fit(&count, &exposure);
    Traffic {
        visitors_per_hour: per_hour.to_vec(),
        weekday_factors: factors.to_vec(),
        paid_share: 1.0,
        returning_share: returning_share(leases, humans),
        bot_share: share(bots, leases.len()).min(0.99),
    }
}

/// (weekday Monday = 0, hour) of a UNIX time, in UTC.
fn slot(t: i64) -> (usize, usize) {
    let day = t.div_euclid(86_400);
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    let weekday = (day + 3).rem_euclid(7) as usize;
    let hour = (t.rem_euclid(86_400) / HOUR) as usize;
    (weekday, hour)
}

/// `rate[w][h] = per_hour[h] * factor[w]`, fitted by alternating Poisson maximum-likelihood
/// updates; factors average 1 over the weekdays seen (unseen ones are 1).
fn product_fit(count: &[[f64; 24]; 7], exposure: &[[f64; 24]; 7]) -> ([f64; 24], [f64; 7]) {
    let mut per_hour = [0.0; 24];
    let mut factor = [1.0; 7];
    let seen: Vec<usize> = (0..7)
        .filter(|&w| exposure[w].iter().sum::<f64>() > 0.0)
        .collect();
    for _ in 0..20 {
        for h in 0..24 {
            let c: f64 = (0..7).map(|w| count[w][h]).sum();
            let e: f64 = (0..7).map(|w| exposure[w][h] * factor[w]).sum();
            per_hour[h] = if e > 0.0 { c / e } else { 0.0 };
        }
        for &w in &seen {
            let c: f64 = count[w].iter().sum();
            let e: f64 = (0..24).map(|h| exposure[w][h] * per_hour[h]).sum();
            factor[w] = if e > 0.0 { c / e } else { 1.0 };
        }
        let mean = seen.iter().map(|&w| factor[w]).sum::<f64>() / seen.len().max(1) as f64;
        if mean > 0.0 {
            for &w in &seen {
                factor[w] /= mean;
            }
        }
    }
    (
        per_hour.map(|v| v.min(100_000.0)),
        factor.map(|f| f.min(100.0)),
    )
}

/// Share of human leases whose visitor had a lease before.
fn returning_share(leases: &[EndedLease], humans: &[usize]) -> f64 {
    let mut order: Vec<usize> = (0..leases.len()).collect();
    order.sort_by_key(|&i| leases[i].granted_at);
    let human: HashSet<usize> = humans.iter().copied().collect();
    let mut seen = HashSet::new();
    let mut returning = 0;
    for i in order {
        let Some(v) = leases[i].visitor_id.as_deref() else {
            continue;
        };
        let again = !seen.insert(v);
        returning += usize::from(again && human.contains(&i));
    }
    share(returning, humans.len())
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A human visit's length: to the release, else to the last heartbeat plus half a beat.
fn length(l: &EndedLease, heartbeat: f64) -> f64 {
    let seen = (secs(l.last_seen) - secs(l.granted_at)) as f64;
    let open = if l.released_at.is_some() {
        0.0
    } else {
        heartbeat / 2.0
    };
    (seen + open).max(1.0)
}

fn visit(leases: &[EndedLease], humans: &[usize], heartbeat: f64) -> Visit {
    let lengths: Vec<f64> = humans
        .iter()
        .map(|&i| length(&leases[i], heartbeat))
        .collect();
    let (median_secs, sigma) = lognormal(&lengths, 60.0);
    Visit { median_secs, sigma }
}

/// Bots: none detected (they never lease), those that beat, and how long they stay.
fn bot_model(leases: &[EndedLease], bots: &[usize], heartbeat: f64) -> Bots {
    let beating: Vec<f64> = bots
        .iter()
        .filter(|&&i| leases[i].heartbeats > 0)
        .map(|&i| length(&leases[i], heartbeat))
        .collect();
    Bots {
        detected_share: 0.0,
        heartbeat_share: share(beating.len(), bots.len()),
        stay_secs: median(&beating)
            .map_or(heartbeat as u64, |m| m.round() as u64)
            .max(1),
    }
}

/// Call probability, timing of first calls, repeats and talk time.
fn call_model(
    leases: &[EndedLease],
    humans: &[usize],
    matched: &[Vec<PoolCall>],
    heartbeat: f64,
) -> Calls {
    let (mut during, mut after, mut next_day) = (0usize, Vec::new(), 0usize);
    let (mut repeats, mut gaps, mut talks, mut callers) = (0usize, Vec::new(), Vec::new(), 0);
    for &i in humans {
        let calls = &matched[i];
        let Some(first) = calls.first() else {
            continue;
        };
        callers += 1;
        let end = secs(leases[i].granted_at) as f64 + length(&leases[i], heartbeat);
        let delay = secs(first.started_at) as f64 - end;
        if delay <= 0.0 {
            during += 1;
        } else if delay <= NEXT_DAY_SECS as f64 {
            after.push(delay.max(1.0));
        } else {
            next_day += 1;
        }
        if let Some(second) = calls.iter().skip(1).find(|c| c.caller == first.caller) {
            repeats += 1;
            gaps.push(((secs(second.started_at) - secs(first.ended_at)) as f64).max(1.0));
        }
        talks.extend(calls.iter().map(|c| c.talk_secs.max(1) as f64));
    }
    let (after_median, after_sigma) = lognormal(&after, 60.0);
    let during_share = share(during, callers);
    let after_share = share(after.len(), callers);
    debug_assert!(callers == 0 || during + after.len() + next_day == callers);
    Calls {
        probability: share(callers, humans.len()),
        during_visit_share: during_share,
        after_visit_share: after_share,
        next_day_share: share(next_day, callers),
        after_visit_median_secs: after_median,
        after_visit_sigma: after_sigma,
        repeat_share: share(repeats, callers),
        repeat_after_median_secs: median(&gaps).unwrap_or(3600.0),
        talk_median_secs: median(&talks).unwrap_or(60.0),
    }
}

/// Median and σ of the logarithms (σ at most 3); `fallback` median without values.
fn lognormal(values: &[f64], fallback: f64) -> (f64, f64) {
    if values.is_empty() {
        return (fallback, 0.0);
    }
    let logs: Vec<f64> = values.iter().map(|v| v.max(1.0).ln()).collect();
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n;
    (mean.exp(), var.sqrt().min(3.0))
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
