//! The PostgreSQL columns of the tables both backends hold (`cdr`, `live_calls`, `outbox`,
//! `leads`, `costs`),
//! derived from the SQLite schema (itself following [`crate::store::flat`]), so no column
//! list is copied by hand: a new CDR field needs its SQLite migration and nothing here.
//!
//! Types chosen for PostgreSQL: SQLite's RFC 3339 TEXT times (`*_at`) become `timestamptz`,
//! JSON text becomes `jsonb` (`json` for the outbox payload, whose bytes are sent as stored),
//! INTEGER `bigint` (booleans stay 0/1, as on SQLite, so the same sums work), REAL
//! `double precision`.

use std::collections::HashMap;
use std::sync::OnceLock;

use rusqlite::Connection;

/// The tables mirrored, each with its key columns (created by the versioned migrations).
pub const TABLES: [(&str, &[&str]); 5] = [
    ("cdr", &["seq", "id"]),
    ("live_calls", &["id"]),
    ("outbox", &["seq", "id"]),
    ("leads", &["seq", "id", "created_at", "phone", "email"]),
    ("costs", &["day", "site", "source", "medium", "campaign"]),
];

/// JSON columns per table (everything else is typed by its SQLite type and name).
const JSON: [(&str, &str, PgType); 5] = [
    ("cdr", "trail", PgType::Jsonb),
    ("live_calls", "attribution", PgType::Jsonb),
    ("live_calls", "a_dialog", PgType::Jsonb),
    ("live_calls", "b_dialog", PgType::Jsonb),
    ("outbox", "payload", PgType::Json),
];

/// A PostgreSQL column type of a mirrored column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Text,
    BigInt,
    Double,
    Timestamptz,
    Jsonb,
    Json,
}

impl PgType {
    pub fn sql(self) -> &'static str {
        match self {
            PgType::Text => "text",
            PgType::BigInt => "bigint",
            PgType::Double => "double precision",
            PgType::Timestamptz => "timestamptz",
            PgType::Jsonb => "jsonb",
            PgType::Json => "json",
        }
    }
}

/// One mirrored column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: PgType,
    pub not_null: bool,
    /// SQLite's default, an SQL literal both dialects read alike (`0`, `'pending'`).
    pub default: Option<String>,
}

impl Column {
    /// `ALTER TABLE ... ADD COLUMN` clause for this column.
    pub fn definition(&self) -> String {
        let mut def = format!("{} {}", self.name, self.ty.sql());
        if let Some(default) = &self.default {
            def.push_str(&format!(" DEFAULT {default}"));
        }
        if self.not_null {
            def.push_str(" NOT NULL");
        }
        def
    }
}

/// Every column of `table` as SQLite has it, in SQLite's order (keys included).
pub fn columns(table: &str) -> &'static [Column] {
    static ALL: OnceLock<HashMap<&'static str, Vec<Column>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        TABLES
            .iter()
            .map(|(name, _)| (*name, sqlite_columns(name).unwrap_or_default()))
            .collect()
    });
    all.get(table).map_or(&[], Vec::as_slice)
}

/// The type of `table.name` on PostgreSQL.
pub fn type_of(table: &str, name: &str) -> PgType {
    columns(table)
        .iter()
        .find(|c| c.name == name)
        .map_or(PgType::Text, |c| c.ty)
}

/// Reads `table`'s columns from a freshly migrated in-memory SQLite database.
fn sqlite_columns(table: &str) -> rusqlite::Result<Vec<Column>> {
    let mut conn = Connection::open_in_memory()?;
    crate::store::schema::migrate(&mut conn)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut stmt =
        conn.prepare("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?1)")?;
    let rows = stmt.query_map([table], |row| {
        let name: String = row.get(0)?;
        let declared: String = row.get(1)?;
        Ok(Column {
            ty: pg_type(table, &name, &declared),
            name,
            not_null: row.get(2)?,
            default: row.get(3)?,
        })
    })?;
    rows.collect()
}

fn pg_type(table: &str, name: &str, declared: &str) -> PgType {
    if let Some((_, _, ty)) = JSON.iter().find(|(t, n, _)| *t == table && *n == name) {
        return *ty;
    }
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => PgType::BigInt,
        "REAL" => PgType::Double,
        _ if name.ends_with("_at") => PgType::Timestamptz,
        _ => PgType::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flat_cdr_column_is_mirrored_with_a_postgres_type() {
        let cdr = columns("cdr");
        for name in crate::store::flat::cdr_columns() {
            assert!(cdr.iter().any(|c| &c.name == name), "{name} not mirrored");
        }
        assert_eq!(type_of("cdr", "started_at"), PgType::Timestamptz);
        assert_eq!(type_of("cdr", "sip_status"), PgType::BigInt);
        assert_eq!(type_of("cdr", "trail"), PgType::Jsonb);
        assert_eq!(type_of("outbox", "created_at"), PgType::BigInt, "ms");
        assert_eq!(type_of("outbox", "occurred_at"), PgType::Timestamptz);
        assert_eq!(type_of("live_calls", "a_dialog"), PgType::Jsonb);
        let site = cdr
            .iter()
            .find(|c| c.name == "site")
            .map(Column::definition);
        assert_eq!(site.as_deref(), Some("site text DEFAULT '' NOT NULL"));
    }
}
