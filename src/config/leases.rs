//! `[leases]`: where the lease table lives, in this process (`memory`) or on a Redis server
//! shared by several nodes (`redis`); the file shape, the validated [`LeasesConfig`] and its checks.

use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;

/// `[leases]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeasesFile {
    /// "memory" (this process, snapshots in SQLite) or "redis" (shared by every node).
    pub backend: String,
    /// The Redis server ("redis://[user:password@]host:port/db"); read with `backend = "redis"`.
    pub url: String,
    /// Prefix of every Redis key and channel of this deployment ("calltrack:prod:").
    pub key_prefix: String,
    /// How long opening a connection to Redis may take, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How long one Redis command (a grant, a heartbeat) may take, in milliseconds.
    pub command_timeout_ms: u64,
}

impl Default for LeasesFile {
    fn default() -> Self {
        Self {
            backend: "memory".into(),
            url: DEFAULT_URL.into(),
            key_prefix: DEFAULT_PREFIX.into(),
            connect_timeout_ms: 1000,
            command_timeout_ms: 500,
        }
    }
}

const DEFAULT_URL: &str = "redis://127.0.0.1:6379/0";
const DEFAULT_PREFIX: &str = "calltrack:";
/// Longest accepted timeout (one minute).
const MAX_TIMEOUT_MS: u64 = 60_000;
/// Longest accepted key prefix, in bytes.
const MAX_PREFIX_BYTES: usize = 64;

/// `[leases]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LeasesConfig {
    /// The embedded table with SQLite snapshots (one node).
    #[default]
    Memory,
    /// The table on a Redis server, shared by every node that names it.
    Redis(RedisLeasesConfig),
}

/// `[leases] backend = "redis"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisLeasesConfig {
    /// A `redis://` URL (TLS `rediss://` is not built in).
    pub url: String,
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

pub(super) fn leases(f: LeasesFile, p: &mut Problems) -> LeasesConfig {
    p.within(
        "leases.connect_timeout_ms",
        f.connect_timeout_ms,
        1,
        MAX_TIMEOUT_MS,
    );
    p.within(
        "leases.command_timeout_ms",
        f.command_timeout_ms,
        1,
        MAX_TIMEOUT_MS,
    );
    check_prefix(&f.key_prefix, p);
    let redis = match f.backend.as_str() {
        "memory" => false,
        "redis" => true,
        other => {
            p.push(
                "leases.backend",
                format!("unknown backend {other:?}: use \"memory\" or \"redis\""),
            );
            false
        }
    };
    let url_ok = check_url(&f.url, p);
    if !redis || !url_ok {
        return LeasesConfig::Memory;
    }
    LeasesConfig::Redis(RedisLeasesConfig {
        url: f.url,
        key_prefix: f.key_prefix,
        connect_timeout: Duration::from_millis(f.connect_timeout_ms.max(1)),
        command_timeout: Duration::from_millis(f.command_timeout_ms.max(1)),
    })
}

fn check_url(text: &str, p: &mut Problems) -> bool {
    let problem = match url::Url::parse(text) {
        Err(e) => format!("not a URL ({e})"),
        Ok(u) if u.scheme() != "redis" => {
            format!("scheme {:?} is not supported, use redis://", u.scheme())
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => "the URL names no host".into(),
        Ok(u) if !db_path_ok(u.path()) => "the path must be a database number (/0)".into(),
        Ok(_) => return true,
    };
    p.push("leases.url", problem);
    false
}

fn db_path_ok(path: &str) -> bool {
    let db = path.trim_start_matches('/');
    db.is_empty() || db.parse::<u32>().is_ok()
}

fn check_prefix(prefix: &str, p: &mut Problems) {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
        p.push(
            "leases.key_prefix",
            format!("must be 1 to {MAX_PREFIX_BYTES} bytes"),
        );
    } else if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        p.push(
            "leases.key_prefix",
            "must not contain spaces or control characters",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};

    fn paths(extra: &str) -> Vec<String> {
        match Config::from_toml_str(extra) {
            Err(ConfigError::Invalid(p)) => p.into_iter().map(|p| p.path).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn default_is_the_embedded_table() {
        assert_eq!(
            Config::from_toml_str("").unwrap().leases,
            LeasesConfig::Memory
        );
    }

    #[test]
    fn redis_backend_with_its_keys() {
        let c = Config::from_toml_str(
            "[leases]\nbackend = \"redis\"\nurl = \"redis://10.0.0.5:6380/2\"\nkey_prefix = \"ct:prod:\"\ncommand_timeout_ms = 250\n",
        )
        .unwrap();
        let LeasesConfig::Redis(r) = c.leases else {
            panic!("not redis")
        };
        assert_eq!(r.url, "redis://10.0.0.5:6380/2");
        assert_eq!(r.key_prefix, "ct:prod:");
        assert_eq!(r.command_timeout, Duration::from_millis(250));
        assert_eq!(r.connect_timeout, Duration::from_millis(1000));
    }

    #[test]
    fn every_problem_has_its_key_path() {
        let got = paths(
            "[leases]\nbackend = \"etcd\"\nurl = \"http://x\"\nkey_prefix = \"a b\"\nconnect_timeout_ms = 0\ncommand_timeout_ms = 70000\n",
        );
        assert_eq!(
            got,
            [
                "leases.backend",
                "leases.command_timeout_ms",
                "leases.connect_timeout_ms",
                "leases.key_prefix",
                "leases.url",
            ]
        );
        assert_eq!(
            paths("[leases]\nbackend = \"redis\"\nurl = \"redis://h/x\"\n"),
            ["leases.url"]
        );
        assert!(paths("[leases]\nhost = \"h\"\n")[0].starts_with("leases"));
    }
}
