//! Blacklist entries added through the admin API, kept in SQLite so they survive restarts
//! (config-file entries live in the config file and are never stored).

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::StoreError;

/// Every stored pattern, in order.
pub fn load(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT pattern FROM blacklist ORDER BY pattern")?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Stores `pattern` (a no-op when present). Opens its own short-lived connection: called
/// from the admin API on a blocking thread, rarely.
pub fn insert(path: &Path, pattern: &str, at: Timestamp) -> Result<(), StoreError> {
    let conn = super::open(path)?;
    let added = at.to_string();
    conn.execute(
        "INSERT OR IGNORE INTO blacklist (pattern, added_at) VALUES (?1, ?2)",
        params![pattern, added],
    )?;
    Ok(())
}

/// Removes `pattern`; true when it was stored.
pub fn remove(path: &Path, pattern: &str) -> Result<bool, StoreError> {
    let conn = super::open(path)?;
    let n = conn.execute("DELETE FROM blacklist WHERE pattern = ?1", params![pattern])?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.db");
        let at = Timestamp::UNIX_EPOCH;
        insert(&path, "7800*", at).unwrap();
        insert(&path, "79990000000", at).unwrap();
        insert(&path, "7800*", at).unwrap();
        let conn = super::super::open(&path).unwrap();
        assert_eq!(load(&conn).unwrap(), vec!["7800*", "79990000000"]);
        assert!(remove(&path, "7800*").unwrap());
        assert!(!remove(&path, "7800*").unwrap());
        assert_eq!(load(&conn).unwrap(), vec!["79990000000"]);
    }
}
