//! Where `calltrack cdr tail` reads CDRs in the order they were written: the SQLite file or
//! PostgreSQL (`seq` orders both).

use rusqlite::Connection;

use crate::store::{self, StoreError, StoredCdr};

/// Where `tail` reads CDRs in the order they were written (`seq`).
pub trait CdrFeed {
    /// The newest `limit` CDRs, newest first.
    fn recent(&mut self, limit: usize) -> Result<Vec<StoredCdr>, StoreError>;
    /// CDRs written after `seq`, oldest first, at most `limit`.
    fn after(&mut self, seq: i64, limit: usize) -> Result<Vec<StoredCdr>, StoreError>;
}

impl CdrFeed for &Connection {
    fn recent(&mut self, limit: usize) -> Result<Vec<StoredCdr>, StoreError> {
        store::list_recent(self, limit)
    }

    fn after(&mut self, seq: i64, limit: usize) -> Result<Vec<StoredCdr>, StoreError> {
        store::after(self, seq, limit)
    }
}

impl CdrFeed for &mut postgres::Client {
    fn recent(&mut self, limit: usize) -> Result<Vec<StoredCdr>, StoreError> {
        store::pg::cdr::list_recent(*self, limit)
    }

    fn after(&mut self, seq: i64, limit: usize) -> Result<Vec<StoredCdr>, StoreError> {
        store::pg::calls::after(*self, seq, limit)
    }
}
