//! Which calls have a committed `live_calls` row ([`LiveRows`]), so that the writer deletes
//! and updates only rows that exist: most short calls start and end in one batch and never
//! get a live row, and a `DELETE` that finds nothing still costs a statement per CDR.
//!
//! The set follows the database through commits only: a batch changes it as it writes and
//! keeps an undo journal; [`LiveRows::committed`] forgets the journal once the transaction has
//! committed, and [`LiveRows::begin`] undoes whatever a batch that rolled back had changed.
//! When in doubt the answer is "may exist": a wrong "may exist" costs a statement, a wrong
//! "does not exist" would leave a stale row for recovery, so there is none.

use std::collections::HashSet;

use rusqlite::Connection;

/// The live rows the writer knows of, or `Untracked` (every call may have one).
#[derive(Debug, Default)]
pub(super) struct LiveRows {
    /// `None`: not tracked.
    ids: Option<HashSet<String>>,
    /// How to undo this batch's changes to `ids` if it rolls back.
    journal: Vec<Undo>,
}

#[derive(Debug)]
enum Undo {
    /// Forget an id the batch added.
    Added(String),
    /// Restore an id the batch removed.
    Removed(String),
}

impl LiveRows {
    /// Not tracked: every call may have a live row (one-off batches in tests).
    #[cfg(test)]
    pub fn untracked() -> Self {
        Self::default()
    }

    /// Tracks the rows `conn` holds now (at the writer's start: normally none, since start-up
    /// recovery closed them).
    pub fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut stmt = conn.prepare("SELECT id FROM live_calls")?;
        let ids = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<HashSet<String>>>()?;
        Ok(Self {
            ids: Some(ids),
            journal: Vec::new(),
        })
    }

    /// Starts a batch: undoes what a batch that did not commit had changed.
    pub fn begin(&mut self) {
        let Some(ids) = &mut self.ids else {
            return;
        };
        for undo in self.journal.drain(..).rev() {
            match undo {
                Undo::Added(id) => {
                    ids.remove(&id);
                }
                Undo::Removed(id) => {
                    ids.insert(id);
                }
            }
        }
    }

    /// The batch committed: its changes stay.
    pub fn committed(&mut self) {
        self.journal.clear();
    }

    /// Whether `id` may have a live row in the open transaction.
    pub fn may_exist(&self, id: &str) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(id))
    }

    /// The batch inserted `id`'s live row.
    pub fn inserted(&mut self, id: &str) {
        if let Some(ids) = &mut self.ids {
            if ids.insert(id.to_owned()) {
                self.journal.push(Undo::Added(id.to_owned()));
            }
        }
    }

    /// The batch deleted `id`'s live row.
    pub fn deleted(&mut self, id: &str) {
        if let Some(ids) = &mut self.ids {
            if let Some(id) = ids.take(id) {
                self.journal.push(Undo::Removed(id));
            }
        }
    }

    /// Live rows known (0 when untracked).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ids.as_ref().map_or(0, HashSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked() -> LiveRows {
        LiveRows {
            ids: Some(HashSet::new()),
            journal: Vec::new(),
        }
    }

    #[test]
    fn untracked_rows_may_always_exist() {
        let mut rows = LiveRows::untracked();
        rows.deleted("a");
        assert!(rows.may_exist("a"));
        assert_eq!(rows.len(), 0);
    }

    #[test]
    fn committed_changes_stay() {
        let mut rows = tracked();
        rows.begin();
        rows.inserted("a");
        rows.inserted("b");
        rows.committed();
        rows.begin();
        rows.deleted("a");
        rows.committed();
        rows.begin();
        assert!(!rows.may_exist("a"));
        assert!(rows.may_exist("b"));
    }

    #[test]
    fn a_batch_that_rolled_back_is_undone_at_the_next_begin() {
        let mut rows = tracked();
        rows.inserted("a");
        rows.committed();
        rows.begin();
        rows.deleted("a");
        rows.inserted("b");
        assert!(!rows.may_exist("a") && rows.may_exist("b"));
        rows.begin();
        assert!(rows.may_exist("a"), "the delete rolled back");
        assert!(!rows.may_exist("b"), "the insert rolled back");
    }

    #[test]
    fn load_reads_the_rows_left_in_the_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO live_calls (id, call_id, tracking_number, caller, destination, started_at) \
             VALUES ('x', 'c', 't', 'c', 'd', '2026-11-23T03:20:00.000Z')",
        )
        .unwrap();
        let rows = LiveRows::load(&conn).unwrap();
        assert!(rows.may_exist("x"));
        assert!(!rows.may_exist("y"));
        assert_eq!(rows.len(), 1);
    }
}
