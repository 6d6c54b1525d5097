//! `[health]`: OPTIONS probing of forwarding targets (the file shape, the validated
//! [`HealthConfig`] and its checks).

use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;

/// `[health]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthFile {
    /// Probe forwarding targets with OPTIONS and skip the ones that are down.
    pub enabled: bool,
    /// Seconds between two probes of one destination.
    pub interval_secs: u64,
    /// Consecutive failed probes (timeout, transport error, other status) that mark a
    /// destination down.
    pub failures_to_down: u32,
    /// Consecutive successful probes that bring a down destination back up.
    pub successes_to_up: u32,
    /// Final statuses besides 2xx that count as "alive" (the peer's SIP stack answered).
    pub alive_codes: Vec<u16>,
}

impl Default for HealthFile {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 30,
            failures_to_down: 3,
            successes_to_up: 2,
            alive_codes: DEFAULT_ALIVE_CODES.to_vec(),
        }
    }
}

/// A PBX that refuses OPTIONS (403/405/501), does not know the probe's user (404) or
/// challenges it (401/407) is up: its SIP stack answered. 408/480/5xx/6xx are not.
pub const DEFAULT_ALIVE_CODES: &[u16] = &[401, 403, 404, 405, 407, 501];

/// Longest accepted `health.interval_secs` (one hour).
const MAX_INTERVAL_SECS: u64 = 3600;
/// Largest accepted threshold.
const MAX_THRESHOLD: u32 = 100;

/// `[health]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub enabled: bool,
    pub interval: Duration,
    /// At least 1.
    pub failures_to_down: u32,
    /// At least 1.
    pub successes_to_up: u32,
    /// Sorted, each in 300..=699.
    pub alive_codes: Vec<u16>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(30),
            failures_to_down: 3,
            successes_to_up: 2,
            alive_codes: DEFAULT_ALIVE_CODES.to_vec(),
        }
    }
}

impl HealthConfig {
    /// Whether a final status means the destination answered as a live SIP peer.
    pub fn is_alive(&self, status: u16) -> bool {
        (200..300).contains(&status) || self.alive_codes.binary_search(&status).is_ok()
    }
}

pub(super) fn health(f: HealthFile, p: &mut Problems) -> HealthConfig {
    p.within(
        "health.interval_secs",
        f.interval_secs,
        1,
        MAX_INTERVAL_SECS,
    );
    p.within(
        "health.failures_to_down",
        f.failures_to_down,
        1,
        MAX_THRESHOLD,
    );
    p.within(
        "health.successes_to_up",
        f.successes_to_up,
        1,
        MAX_THRESHOLD,
    );
    for (i, code) in f.alive_codes.iter().enumerate() {
        p.within(&format!("health.alive_codes[{i}]"), *code, 300, 699);
    }
    let mut alive_codes = f.alive_codes;
    alive_codes.sort_unstable();
    alive_codes.dedup();
    HealthConfig {
        enabled: f.enabled,
        interval: Duration::from_secs(f.interval_secs.max(1)),
        failures_to_down: f.failures_to_down.max(1),
        successes_to_up: f.successes_to_up.max(1),
        alive_codes,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    fn problems(extra: &str) -> Vec<(String, String)> {
        match Config::from_toml_str(extra) {
            Err(ConfigError::Invalid(p)) => p.into_iter().map(|p| (p.path, p.message)).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn defaults_probe_every_30_s_with_dispatcher_like_thresholds() {
        let c = Config::from_toml_str("").unwrap();
        assert!(c.health.enabled);
        assert_eq!(c.health.interval.as_secs(), 30);
        assert_eq!(
            (c.health.failures_to_down, c.health.successes_to_up),
            (3, 2)
        );
        assert!(c.health.is_alive(200) && c.health.is_alive(404) && c.health.is_alive(405));
        assert!(!c.health.is_alive(503) && !c.health.is_alive(408) && !c.health.is_alive(180));
    }

    #[test]
    fn alive_codes_are_configurable() {
        let c = Config::from_toml_str("[health]\nalive_codes = [503]\n").unwrap();
        assert!(c.health.is_alive(503) && c.health.is_alive(202));
        assert!(!c.health.is_alive(404));
    }

    #[test]
    fn every_problem_has_its_key_path() {
        let got = problems(
            "[health]\ninterval_secs = 0\nfailures_to_down = 0\nsuccesses_to_up = 1000\nalive_codes = [404, 200]\n",
        );
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "health.alive_codes[1]",
                "health.failures_to_down",
                "health.interval_secs",
                "health.successes_to_up",
            ]
        );
        assert!(
            problems("[health]\nprobe = true\n")[0]
                .0
                .starts_with("health")
        );
    }
}
