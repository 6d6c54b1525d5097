//! The traffic model file (`config/simulate/*.toml`): its serde mirror (`deny_unknown_fields`)
//! and its validation, every problem at once with its key path, like the config.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A whole model: who visits, how long, who calls and when, and the pool being measured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// A short name, printed with the results.
    pub name: String,
    /// How many days are simulated (each starts at 00:00 UTC, the first is a Monday).
    pub days: u32,
    pub traffic: Traffic,
    pub visit: Visit,
    pub bots: Bots,
    pub calls: Calls,
    pub pool: Pool,
}

/// Arrivals: a Poisson process whose rate changes every hour.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Visits (humans and bots) per hour, for each hour 0..23 of a weekday with factor 1.
    pub visitors_per_hour: Vec<f64>,
    /// Multiplies the hourly rate, Monday first (7 values).
    pub weekday_factors: Vec<f64>,
    /// Share of human visits from paid traffic (campaign tags and a click id): they get a pool number.
    pub paid_share: f64,
    /// Share of human visits by someone who visited before (same visitor id).
    pub returning_share: f64,
    /// Share of all visits that are bots.
    pub bot_share: f64,
}

/// Human visit length: lognormal.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    pub median_secs: f64,
    /// The spread (σ of the underlying normal); 0 is a fixed length.
    pub sigma: f64,
}

/// Bots load the page but never call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bots {
    /// Share recognised by their user agent (they see the default number, no lease).
    pub detected_share: f64,
    /// Share of the others that run the snippet's heartbeats while they stay.
    pub heartbeat_share: f64,
    /// How long a bot stays on the page.
    pub stay_secs: u64,
}

/// Who calls, when, and for how long.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    /// Probability that a human visit leads to a call.
    pub probability: f64,
    /// Shares of first calls made during the visit, after leaving, and the next day (sum 1).
    pub during_visit_share: f64,
    pub after_visit_share: f64,
    pub next_day_share: f64,
    /// Delay after leaving: lognormal.
    pub after_visit_median_secs: f64,
    pub after_visit_sigma: f64,
    /// Share of callers who call the same number again.
    pub repeat_share: f64,
    /// Delay of the repeat call after the first: lognormal (sigma 1).
    pub repeat_after_median_secs: f64,
    /// Talk time: lognormal (sigma 0.8); the number is busy meanwhile.
    pub talk_median_secs: f64,
}

/// The pool and its timing, as `[[sites]]` would set them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub size: usize,
    pub freeze_secs: u64,
    pub heartbeat_secs: u64,
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: u64,
    /// As the site's `last_holder_secs` (a free number's call to its last holder); default:
    /// twice `freeze_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_holder_secs: Option<u64>,
    /// As the site's `adapt_freeze`: the freeze follows the model's call delay after leaving
    /// (as the daemon's fit of its history would find it); default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapt_freeze: Option<bool>,
}

fn default_cooldown() -> u64 {
    60
}

/// A model that cannot be used, with every reason.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(String),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Longest simulated period, in days.
const MAX_DAYS: u32 = 366;
/// Largest pool the simulator measures.
pub const MAX_POOL: usize = 10_000;

impl Model {
    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Model::from_toml_str(&text)
    }

    /// Parses and validates model text.
    pub fn from_toml_str(text: &str) -> Result<Model, ModelError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ModelError::Syntax(e.to_string()))?;
        let model: Model = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ModelError::Invalid(vec![format!("{path}: {}", e.inner().message())])
        })?;
        let problems = model.problems();
        if problems.is_empty() {
            Ok(model)
        } else {
            Err(ModelError::Invalid(problems))
        }
    }

    /// Every semantic problem, `key.path: message`.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Problems::default();
        p.check(
            self.days >= 1 && self.days <= MAX_DAYS,
            "days",
            "must be 1..=366",
        );
        self.traffic.check(&mut p);
        p.positive("visit.median_secs", self.visit.median_secs);
        p.range("visit.sigma", self.visit.sigma, 0.0, 3.0);
        p.share("bots.detected_share", self.bots.detected_share);
        p.share("bots.heartbeat_share", self.bots.heartbeat_share);
        p.check(
            self.bots.stay_secs >= 1,
            "bots.stay_secs",
            "must be at least 1",
        );
        self.calls.check(&mut p);
        self.pool.check(&mut p);
        p.0
    }
}

impl Traffic {
    fn check(&self, p: &mut Problems) {
        let hours = self.visitors_per_hour.len();
        p.check(
            hours == 24,
            "traffic.visitors_per_hour",
            &format!("needs 24 values, one per hour, got {hours}"),
        );
        for (i, v) in self.visitors_per_hour.iter().enumerate() {
            p.range(
                &format!("traffic.visitors_per_hour[{i}]"),
                *v,
                0.0,
                100_000.0,
            );
        }
        let days = self.weekday_factors.len();
        p.check(
            days == 7,
            "traffic.weekday_factors",
            &format!("needs 7 values, Monday first, got {days}"),
        );
        for (i, v) in self.weekday_factors.iter().enumerate() {
            p.range(&format!("traffic.weekday_factors[{i}]"), *v, 0.0, 100.0);
        }
        p.share("traffic.paid_share", self.paid_share);
        p.share("traffic.returning_share", self.returning_share);
        p.range("traffic.bot_share", self.bot_share, 0.0, 0.99);
    }
}

impl Calls {
    fn check(&self, p: &mut Problems) {
        p.share("calls.probability", self.probability);
        p.share("calls.during_visit_share", self.during_visit_share);
        p.share("calls.after_visit_share", self.after_visit_share);
        p.share("calls.next_day_share", self.next_day_share);
        let sum = self.during_visit_share + self.after_visit_share + self.next_day_share;
        p.check(
            (sum - 1.0).abs() < 1e-6,
            "calls",
            &format!(
                "during_visit_share + after_visit_share + next_day_share must be 1, got {sum}"
            ),
        );
        p.positive(
            "calls.after_visit_median_secs",
            self.after_visit_median_secs,
        );
        p.range("calls.after_visit_sigma", self.after_visit_sigma, 0.0, 3.0);
        p.share("calls.repeat_share", self.repeat_share);
        p.positive(
            "calls.repeat_after_median_secs",
            self.repeat_after_median_secs,
        );
        p.positive("calls.talk_median_secs", self.talk_median_secs);
    }
}

impl Pool {
    /// The last-holder window in seconds: `last_holder_secs`, else twice `freeze_secs`.
    pub fn last_holder(&self) -> u64 {
        self.last_holder_secs
            .unwrap_or(self.freeze_secs.saturating_mul(2))
    }

    fn check(&self, p: &mut Problems) {
        p.check(
            (1..=MAX_POOL).contains(&self.size),
            "pool.size",
            "must be 1..=10000",
        );
        p.check(
            self.freeze_secs >= 1,
            "pool.freeze_secs",
            "must be at least 1",
        );
        p.check(
            self.heartbeat_secs >= 1 && self.heartbeat_secs < self.freeze_secs,
            "pool.heartbeat_secs",
            &format!(
                "must be at least 1 and less than freeze_secs ({})",
                self.freeze_secs
            ),
        );
        p.check(
            self.cooldown_secs <= 86_400,
            "pool.cooldown_secs",
            "must be at most 86400 (one day)",
        );
        p.check(
            self.last_holder_secs.unwrap_or(0) <= 7 * 86_400,
            "pool.last_holder_secs",
            "must be at most 604800 (seven days)",
        );
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, path: &str, message: &str) {
        if !ok {
            self.0.push(format!("{path}: {message}"));
        }
    }

    fn range(&mut self, path: &str, v: f64, lo: f64, hi: f64) {
        self.check(
            v.is_finite() && (lo..=hi).contains(&v),
            path,
            &format!("must be between {lo} and {hi}, got {v}"),
        );
    }

    fn share(&mut self, path: &str, v: f64) {
        self.range(path, v, 0.0, 1.0);
    }

    fn positive(&mut self, path: &str, v: f64) {
        self.check(
            v.is_finite() && v > 0.0 && v <= 1e7,
            path,
            &format!("must be above 0 (and at most 1e7), got {v}"),
        );
    }
}
