//! Lease snapshots of a node whose call store is on PostgreSQL, kept in the node's own SQLite
//! file (`store.path`) as before: the live leases, overflow codes and quarantines are this
//! node's memory table (with memory leases each node grants from its own table; with leases
//! on Redis only the codes and quarantines are restored), and the lease history beside them
//! is what this node's sweeper saw, read back by `calltrack pool advise` on this node. One
//! connection of its own, used on a blocking thread; nothing else writes that file while the
//! store is on PostgreSQL.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::StoreError;
use crate::lease::{LeaseSnapshot, LeaseSnapshots};

/// The node's SQLite file, for the lease sweeper; cheap to clone.
#[derive(Debug, Clone)]
pub struct LeaseFile {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
}

impl LeaseFile {
    /// Opens nothing yet: the first save opens (and migrates) the file.
    pub fn new(path: &Path) -> LeaseFile {
        LeaseFile {
            path: path.to_owned(),
            conn: Arc::default(),
        }
    }

    /// Replaces the saved snapshot and appends its ended leases, in one transaction.
    fn save_blocking(&self, snapshot: &LeaseSnapshot) -> Result<(), StoreError> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(super::open(&self.path)?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::WriterClosed);
        };
        let tx = conn.transaction()?;
        super::leases::replace_snapshot(&tx, snapshot)?;
        tx.commit()?;
        Ok(())
    }
}

impl LeaseSnapshots for LeaseFile {
    type Error = StoreError;

    async fn save(&self, snapshot: LeaseSnapshot) -> Result<(), StoreError> {
        let file = self.clone();
        tokio::task::spawn_blocking(move || file.save_blocking(&snapshot))
            .await
            .map_err(|_| StoreError::WriterPanicked)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::EndedLease;

    #[tokio::test]
    async fn snapshots_and_history_land_in_the_nodes_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        let file = LeaseFile::new(&path);
        let at = jiff::Timestamp::from_second(1_772_366_400).unwrap();
        let ended = EndedLease {
            site: "shop".into(),
            pool: "web".into(),
            number: "74950000001".into(),
            session_id: "s1".into(),
            visitor_id: None,
            source: None,
            medium: None,
            paid: false,
            granted_at: at,
            last_seen: at,
            heartbeats: 1,
            released_at: None,
            expires_at: at,
            ended_at: at,
            reason: crate::lease::EndReason::Expired,
        };
        let snapshot = LeaseSnapshot {
            ended: vec![ended.clone()],
            ..LeaseSnapshot::default()
        };
        file.save(snapshot.clone()).await.unwrap();
        file.save(LeaseSnapshot::default()).await.unwrap();
        let conn = super::super::open_read_only(&path).unwrap();
        let history = super::super::lease_history::leases(&conn, "shop", at).unwrap();
        assert_eq!(history, vec![ended], "appended once, kept across saves");
        assert!(
            super::super::leases::load_snapshot(&conn)
                .unwrap()
                .leases
                .is_empty()
        );
    }
}
