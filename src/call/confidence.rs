//! Per-call confidence: the probability, known at ring time, that the visit a pool number's
//! lease attributes the call to really is the caller. A logistic model over what the lease
//! table and the caller history know when the call rings ([`RingFacts`]); its weights are
//! fitted on the simulator's ground truth (see [`WEIGHTS`]).
//!
//! Only calls attributed to a visit get one: a lease's, or an overflow code's the caller keyed
//! in ([`code_facts`]: a code is its visit's alone, so no pressure and no other holders).
//! Static numbers name a source, not a visit, and default, reserve and unattributed calls
//! name nothing, so theirs is `None` (`null`).
//! Pure: `now` and every fact are parameters.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::call::lease_lookup::Holder;
use crate::lease::{Lease, LeaseTable, OverflowCode, RingContext};

/// A probability in 0..=1, kept to three decimals (never NaN, so it compares as `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Confidence(f64);

impl Eq for Confidence {}

impl Confidence {
    /// `p` clamped to 0..=1 and rounded to 0.001; NaN reads as 0.
    pub fn new(p: f64) -> Confidence {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        Confidence((p * 1000.0).round() / 1000.0)
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// Two decimals, as stamped in `X-CT-Confidence`.
    pub fn header_value(self) -> String {
        format!("{:.2}", self.0)
    }
}

/// What the caller's history says about a repeat caller's earlier attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Earlier {
    /// No earlier attributed call from this caller (or an anonymous caller).
    #[default]
    Unknown,
    /// The earlier call was attributed to the visitor holding the number now.
    Same,
    /// The earlier call was attributed to another visitor.
    Other,
}

/// What is known about a call attributed to a lease when it rings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RingFacts {
    /// Busy numbers / pool size of the number's pool, 0..=1.
    pub pressure: f64,
    /// The holder's page is still open: last heartbeat within two heartbeat periods.
    pub page_open: bool,
    /// Seconds since the holder's last heartbeat (or its grant, or its release).
    pub since_seen_secs: i64,
    /// Other visitors whose lease on this number ended within the last hour.
    pub other_holders: usize,
    pub earlier: Earlier,
}

/// The key a lease's holder is remembered by: its visitor id (snippet cookie), else its session.
pub fn holder_key(lease: &Lease) -> &str {
    lease.visitor_id.as_deref().unwrap_or(&lease.session_id)
}

/// The facts of a call to `lease`'s number, given the lease table's `ring` context, the site's
/// `heartbeat` and the key of the caller's earlier attribution, if any.
pub fn ring_facts(
    lease: &Lease,
    ring: &RingContext,
    heartbeat: Duration,
    earlier: Option<&str>,
    now: Timestamp,
) -> RingFacts {
    let since = now.duration_since(lease.last_seen).as_secs().max(0);
    let beat = i64::try_from(heartbeat.as_secs()).unwrap_or(i64::MAX);
    let earlier = match earlier {
        None => Earlier::Unknown,
        Some(key) if key == holder_key(lease) => Earlier::Same,
        Some(_) => Earlier::Other,
    };
    RingFacts {
        pressure: ring.busy as f64 / ring.pool_size.max(1) as f64,
        page_open: since <= beat.saturating_mul(2),
        since_seen_secs: since,
        other_holders: ring.other_holders,
        earlier,
    }
}

/// The facts of a call whose caller keyed in `code`: the code's visit was last seen at its
/// `last_seen`; nobody shares a live code, so the pool's pressure and other holders do not
/// apply (0); the caller's earlier attribution is compared with the code's visitor.
pub fn code_facts(
    code: &OverflowCode,
    heartbeat: Duration,
    earlier: Option<&str>,
    now: Timestamp,
) -> RingFacts {
    let since = now.duration_since(code.last_seen).as_secs().max(0);
    let beat = i64::try_from(heartbeat.as_secs()).unwrap_or(i64::MAX);
    let key = code.visitor_id.as_deref().unwrap_or(&code.session_id);
    let earlier = match earlier {
        None => Earlier::Unknown,
        Some(k) if k == key => Earlier::Same,
        Some(_) => Earlier::Other,
    };
    RingFacts {
        pressure: 0.0,
        page_open: since <= beat.saturating_mul(2),
        since_seen_secs: since,
        other_holders: 0,
        earlier,
    }
}

/// How many inputs the model weighs (the first is the constant).
pub const FEATURES: usize = 7;

/// The model's inputs for `facts`: constant, page open, ln(1 + minutes since seen),
/// pressure, other holders in the last hour (capped at 4), earlier attribution same, other.
pub fn features(facts: &RingFacts) -> [f64; FEATURES] {
    let minutes = facts.since_seen_secs.max(0) as f64 / 60.0;
    [
        1.0,
        f64::from(u8::from(facts.page_open)),
        minutes.ln_1p(),
        facts.pressure.clamp(0.0, 1.0),
        facts.other_holders.min(4) as f64,
        f64::from(u8::from(facts.earlier == Earlier::Same)),
        f64::from(u8::from(facts.earlier == Earlier::Other)),
    ]
}

/// The sign each weight must have for the model to move the obvious way (an open page and a
/// repeat caller to the same visitor raise it; time since seen, pressure, sharing and a
/// changed holder lower it); 0: free (the constant). The fit pins a weight that would come out
/// the other way round to 0.
pub const SIGNS: [f64; FEATURES] = [0.0, 1.0, -1.0, -1.0, -1.0, 1.0, -1.0];

/// Logistic weights, in [`features`] order. Fitted on the simulator's ground truth (the
/// calibration traffic of the three shipped models, at their own and their naive-90 % pool
/// sizes); reproduce with
/// `calltrack simulate --fit-confidence --model config/simulate/small-shop.toml
/// --model config/simulate/ad-campaign.toml --model config/simulate/long-visits.toml`.
pub const WEIGHTS: [f64; FEATURES] = [6.0798, 0.8370, -1.0356, -1.3855, 0.0, 2.1819, 0.0];

/// The probability that the holder of the number is the caller, with `weights`.
pub fn predict_with(weights: &[f64; FEATURES], facts: &RingFacts) -> f64 {
    let z: f64 = weights
        .iter()
        .zip(features(facts))
        .map(|(w, x)| w * x)
        .sum();
    1.0 / (1.0 + (-z).exp())
}

/// The shipped model's confidence for `facts`.
pub fn confidence(facts: &RingFacts) -> Confidence {
    Confidence::new(predict_with(&WEIGHTS, facts))
}

/// The facts of a call to `holder` (`None` unless a lease holds the number).
pub fn facts_of(
    holder: &Holder,
    leases: &LeaseTable,
    heartbeat: Duration,
    earlier: Option<&str>,
    now: Timestamp,
) -> Option<RingFacts> {
    let Holder::Lease(lease) = holder else {
        return None;
    };
    let ring = leases.ring_context(&lease.number, Some(holder_key(lease)), now)?;
    Some(ring_facts(lease, &ring, heartbeat, earlier, now))
}

#[cfg(test)]
mod tests;
