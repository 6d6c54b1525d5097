//! Blacklist entries added through the admin API, kept in SQLite so they survive restarts
//! (config-file entries live in the config file and are never stored). Written only by the
//! store writer ([`super::StoreCommand::BlacklistAdd`], [`super::StoreCommand::BlacklistRemove`]).

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::StoreError;

/// Every stored pattern, in order.
pub fn load(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT pattern FROM blacklist ORDER BY pattern")?;
    let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Stores `pattern`; false (and no change) when it is stored already.
pub(super) fn insert(conn: &Connection, pattern: &str, at: Timestamp) -> rusqlite::Result<bool> {
    let added = at.to_string();
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO blacklist (pattern, added_at) VALUES (?1, ?2)")?;
    Ok(stmt.execute(params![pattern, added])? > 0)
}

/// Removes `pattern`; true when it was stored.
pub(super) fn remove(conn: &Connection, pattern: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached("DELETE FROM blacklist WHERE pattern = ?1")?;
    Ok(stmt.execute(params![pattern])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.db");
        let at = Timestamp::UNIX_EPOCH;
        let writer = super::super::open(&path).unwrap();
        assert!(insert(&writer, "7800*", at).unwrap());
        assert!(insert(&writer, "79990000000", at).unwrap());
        assert!(!insert(&writer, "7800*", at).unwrap());
        drop(writer);
        let conn = super::super::open(&path).unwrap();
        assert_eq!(load(&conn).unwrap(), vec!["7800*", "79990000000"]);
        assert!(remove(&conn, "7800*").unwrap());
        assert!(!remove(&conn, "7800*").unwrap());
        assert_eq!(load(&conn).unwrap(), vec!["79990000000"]);
    }
}
