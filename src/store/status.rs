//! The store's health as `/health` shows it: which backend, whether it answers, how long ago
//! the writer last committed to it, what waits in the spool, and on PostgreSQL this node's id
//! and the live nodes it sees in the heartbeat table. Written by the writer ([`WriteMarks`]:
//! a commit that reached the store, the spool's depth) and the node service (each heartbeat
//! and sweep), read by the HTTP side without a lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use jiff::Timestamp;

/// What one writer publishes: when a batch last reached the store (a batch put in the spool
/// while PostgreSQL is away does not count) and how many commands wait in its spool.
#[derive(Debug)]
pub struct WriteMarks {
    /// Epoch milliseconds; 0: never.
    last_commit_ms: AtomicI64,
    /// Negative: the writer has no spool.
    spooled: AtomicI64,
}

impl Default for WriteMarks {
    fn default() -> Self {
        WriteMarks {
            last_commit_ms: AtomicI64::new(0),
            spooled: AtomicI64::new(-1),
        }
    }
}

impl WriteMarks {
    /// A batch reached the store at `at`.
    pub fn committed(&self, at: Timestamp) {
        self.last_commit_ms
            .store(at.as_millisecond(), Ordering::Relaxed);
    }

    /// The spool holds `depth` commands (`None`: there is no spool).
    pub fn spooled(&self, depth: Option<usize>) {
        let depth = depth.map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX));
        self.spooled.store(depth, Ordering::Relaxed);
    }

    fn last_commit_age(&self, now: Timestamp) -> Option<Duration> {
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        (last > 0).then(|| {
            let ms = now.as_millisecond().saturating_sub(last).max(0);
            Duration::from_millis(u64::try_from(ms).unwrap_or(0))
        })
    }

    fn spool_depth(&self) -> Option<usize> {
        usize::try_from(self.spooled.load(Ordering::Relaxed)).ok()
    }
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
    writes: Arc<WriteMarks>,
}

impl Default for StoreStatus {
    fn default() -> Self {
        StoreStatus::new(BackendName::Sqlite, "", Arc::default())
    }
}

/// A reading of [`StoreStatus`] at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    pub backend: BackendName,
    pub node_id: String,
    /// SQLite: always; PostgreSQL: whether the last heartbeat was written.
    pub reachable: bool,
    /// Since the writer's last commit to the store (None: nothing written since start).
    pub last_write_age: Option<Duration>,
    /// PostgreSQL: commands waiting in the local spool for PostgreSQL to come back.
    pub spooled: Option<usize>,
    /// PostgreSQL: nodes whose heartbeat is fresh (this one included), per the last sweep.
    pub live_nodes: Option<usize>,
}

impl StoreStatus {
    /// The status of a store whose writer publishes `writes`.
    pub fn new(backend: BackendName, node_id: &str, writes: Arc<WriteMarks>) -> StoreStatus {
        StoreStatus {
            backend,
            node_id: node_id.to_owned(),
            reachable: AtomicBool::new(backend == BackendName::Sqlite),
            live_nodes: AtomicUsize::new(0),
            writes,
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
        StoreHealth {
            backend: self.backend,
            node_id: self.node_id.clone(),
            reachable: self.reachable.load(Ordering::Relaxed),
            last_write_age: self.writes.last_commit_age(now),
            spooled: self.writes.spool_depth(),
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
        let writes = Arc::new(WriteMarks::default());
        let status = StoreStatus::new(BackendName::Postgres, "a", Arc::clone(&writes));
        let now = Timestamp::from_second(1_000_000).unwrap();
        let health = status.read(now);
        assert!(!health.reachable);
        assert_eq!(health.last_write_age, None, "nothing committed yet");
        status.set_reachable(true);
        status.set_live_nodes(2);
        writes.committed(now);
        writes.spooled(Some(7));
        let later = now + jiff::SignedDuration::from_millis(1500);
        let health = status.read(later);
        assert!(health.reachable);
        assert_eq!(health.live_nodes, Some(2));
        assert_eq!(health.last_write_age, Some(Duration::from_millis(1500)));
        assert_eq!(health.spooled, Some(7));
        let sqlite = StoreStatus::default().read(later);
        assert!(sqlite.reachable && sqlite.live_nodes.is_none());
        assert_eq!(sqlite.spooled, None, "SQLite has no spool");
    }

    #[test]
    fn two_stores_in_one_process_keep_their_own_marks() {
        let (a, b) = (
            Arc::new(WriteMarks::default()),
            Arc::new(WriteMarks::default()),
        );
        let now = Timestamp::from_second(1_000_000).unwrap();
        a.committed(now);
        let sa = StoreStatus::new(BackendName::Sqlite, "a", a);
        let sb = StoreStatus::new(BackendName::Sqlite, "b", b);
        assert!(sa.read(now).last_write_age.is_some());
        assert_eq!(sb.read(now).last_write_age, None);
    }
}
