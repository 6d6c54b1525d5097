//! The reload service: on SIGHUP the config file given to `serve --config` is read again and
//! validated as a whole; an invalid file is refused with every problem logged and the running
//! config stays; a valid one is swapped in atomically.
//!
//! What a swap reaches: the SIP core (it picks up the new config before its next input, so a
//! call is planned entirely under one config; live calls keep the routing they started with),
//! the HTTP handlers (they load the config per request) and the resolver (new forwarding
//! host names are resolved before the swap). Settings read only at start-up are reported as
//! needing a restart and keep their running values (see `diff.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use super::diff;
use crate::config::{Config, ConfigError, SharedConfig};
use crate::routing::HostTable;
use crate::shutdown::{Hangups, notify_ready, notify_reloading};

/// Forwarding-target host names the resolver service refreshes; a reload replaces the list.
pub type HostNames = Arc<ArcSwap<Vec<(String, u16)>>>;

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new config is live; `changed` names what changed live, `needs_restart` what did not.
    Applied {
        changed: Vec<&'static str>,
        needs_restart: Vec<String>,
    },
    /// The file is unusable; every problem, one per entry. The running config stays.
    Refused(Vec<String>),
    /// Running on the embedded default config: there is no file to read again.
    NoFile,
}

/// Everything a reload swaps; clone it freely (all shared handles).
#[derive(Debug, Clone)]
pub struct Reloader {
    path: Option<PathBuf>,
    config: SharedConfig,
    hosts: HostTable,
    names: HostNames,
}

impl Reloader {
    pub fn new(config: SharedConfig, hosts: HostTable, names: HostNames) -> Reloader {
        Reloader {
            path: None,
            config,
            hosts,
            names,
        }
    }

    /// The file to read again on reload (`serve --config FILE`).
    pub fn with_path(mut self, path: Option<&Path>) -> Reloader {
        self.path = path.map(Path::to_path_buf);
        self
    }

    /// The config currently live.
    pub fn current(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Reads, validates and (if valid) applies the config file once.
    pub async fn reload(&self) -> ReloadOutcome {
        let Some(path) = &self.path else {
            tracing::warn!(
                "reload requested, but calltrack runs on the embedded default config, which cannot change; nothing reloaded"
            );
            count("no_file");
            return ReloadOutcome::NoFile;
        };
        let mut new = match Config::load(Some(path)) {
            Ok(config) => config,
            Err(error) => return refuse(path, &error),
        };
        let old = self.config.load_full();
        let needs_restart = diff::keep_restart_only(&old, &mut new);
        let changed = diff::changed_live(&old, &new);
        let names = HostTable::names_in(&new);
        crate::app::resolver::resolve_hosts(&self.hosts, &names).await;
        self.names.store(Arc::new(names));
        let (sites, numbers) = (new.sites.len(), new.tracking_number_count());
        self.config.store(Arc::new(new));
        for setting in &needs_restart {
            tracing::warn!(%setting, "changed setting needs a restart; its running value stays");
        }
        tracing::info!(file = %path.display(), sites, numbers, ?changed, ?needs_restart, "config reloaded");
        count("applied");
        ReloadOutcome::Applied {
            changed,
            needs_restart,
        }
    }

    /// Reloads on every SIGHUP until `stop`, telling systemd RELOADING=1 ... READY=1.
    pub async fn run(self, mut hangups: Hangups, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    tracing::info!(signal = "SIGHUP", "config reload requested");
                    notify_reloading();
                    self.reload().await;
                    notify_ready();
                }
            }
        }
    }
}

/// Logs every problem (ERROR: the operator must fix the file) and keeps the running config.
fn refuse(path: &Path, error: &ConfigError) -> ReloadOutcome {
    let problems: Vec<String> = match error {
        ConfigError::Invalid(problems) => problems.iter().map(ToString::to_string).collect(),
        other => vec![other.to_string()],
    };
    for problem in &problems {
        tracing::error!(file = %path.display(), %problem, "config reload refused");
    }
    tracing::error!(
        file = %path.display(),
        problems = problems.len(),
        "invalid config not applied; the running config stays"
    );
    count("refused");
    ReloadOutcome::Refused(problems)
}

fn count(result: &'static str) {
    metrics::counter!("calltrack_config_reloads_total", "result" => result).increment(1);
}
