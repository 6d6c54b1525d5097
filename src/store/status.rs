//! The store's health as `/health` shows it: which backend, whether it answers, how long ago
//! the writer last committed, and on PostgreSQL this node's id and the live nodes it sees in
//! the heartbeat table. Written by the writer (a commit) and the node service (each
//! heartbeat and sweep), read by the HTTP side without a lock.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;

/// When the daemon's writer last committed a batch (epoch ms; 0: never). One writer per
/// process, so one mark per process.
static LAST_WRITE_MS: AtomicI64 = AtomicI64::new(0);

/// Records a committed batch (the writer calls this after each commit).
pub fn mark_written(at: Timestamp) {
    LAST_WRITE_MS.store(at.as_millisecond(), Ordering::Relaxed);
}

/// Which backend holds the calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BackendName {
    #[default]
    Sqlite,
    Postgres,
}

impl BackendName {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendName::Sqlite => "sqlite",
            BackendName::Postgres => "postgres",
        }
    }
}

/// Shared, lock-free store health.
#[derive(Debug)]
pub struct StoreStatus {
    backend: BackendName,
    node_id: String,
    reachable: AtomicBool,
    live_nodes: AtomicUsize,
}

impl Default for StoreStatus {
    fn default() -> Self {
        StoreStatus::new(BackendName::Sqlite, "")
    }
}

/// A reading of [`StoreStatus`] at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    pub backend: BackendName,
    pub node_id: String,
    /// SQLite: always; PostgreSQL: whether the last heartbeat was written.
    pub reachable: bool,
    /// Since the writer's last commit (None: nothing written since start).
    pub last_write_age: Option<Duration>,
    /// PostgreSQL: nodes whose heartbeat is fresh (this one included), per the last sweep.
    pub live_nodes: Option<usize>,
}

impl StoreStatus {
    pub fn new(backend: BackendName, node_id: &str) -> StoreStatus {
        StoreStatus {
            backend,
            node_id: node_id.to_owned(),
            reachable: AtomicBool::new(backend == BackendName::Sqlite),
            live_nodes: AtomicUsize::new(0),
        }
    }

    /// Whether the heartbeat reached PostgreSQL.
    pub fn set_reachable(&self, up: bool) {
        self.reachable.store(up, Ordering::Relaxed);
    }

    /// The live nodes the last sweep saw.
    pub fn set_live_nodes(&self, n: usize) {
        self.live_nodes.store(n, Ordering::Relaxed);
    }

    /// The status at `now`.
    pub fn read(&self, now: Timestamp) -> StoreHealth {
        let last = LAST_WRITE_MS.load(Ordering::Relaxed);
        let age = (last > 0).then(|| {
            let ms = now.as_millisecond().saturating_sub(last).max(0);
            Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        });
        StoreHealth {
            backend: self.backend,
            node_id: self.node_id.clone(),
            reachable: self.reachable.load(Ordering::Relaxed),
            last_write_age: age,
            live_nodes: (self.backend == BackendName::Postgres)
                .then(|| self.live_nodes.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_starts_unreachable_and_reports_its_nodes() {
        let status = StoreStatus::new(BackendName::Postgres, "a");
        let now = Timestamp::from_second(1_000_000).unwrap();
        assert!(!status.read(now).reachable);
        status.set_reachable(true);
        status.set_live_nodes(2);
        mark_written(now);
        let later = now + jiff::SignedDuration::from_millis(1500);
        let health = status.read(later);
        assert!(health.reachable);
        assert_eq!(health.live_nodes, Some(2));
        assert!(health.last_write_age.is_some());
        let sqlite = StoreStatus::default().read(later);
        assert!(sqlite.reachable && sqlite.live_nodes.is_none());
    }
}
