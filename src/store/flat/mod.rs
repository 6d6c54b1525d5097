//! The one mapping between a [`CallDetailRecord`] and its flat row: column names in order and
//! one cell per column, derived from the record's serde form (the `#[serde(flatten)]`
//! attribution becomes top-level columns). SQLite inserts and selects and the CSV export all
//! use it, so a new field needs the struct and a schema migration, nothing else.
//!
//! The cells are what serde hands out: text (timestamps as RFC 3339, enums as snake_case
//! names), integers, booleans and null. Reading a row back goes through the record's
//! `Deserialize` with SQLite's INTEGER 0/1 accepted as a boolean.

mod de;
mod ser;

use std::fmt;
use std::sync::OnceLock;

use serde::de::value::Error;
use serde::{Deserialize, Serialize};

use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use de::RowDeserializer;
use ser::RowSerializer;

/// One column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// A REAL column (`confidence`).
    Real(f64),
    Text(String),
}

impl Cell {
    /// The text a CSV field holds: empty for null, `true`/`false`, decimal integers.
    pub fn csv_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Cell::Null => "".into(),
            Cell::Bool(b) => if *b { "true" } else { "false" }.into(),
            Cell::Int(n) => n.to_string().into(),
            Cell::Real(x) => x.to_string().into(),
            Cell::Text(s) => s.as_str().into(),
        }
    }
}

/// The CDR's columns in serialization order (the JSON key order and the CSV header).
pub fn cdr_columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let mut row = RowSerializer::naming();
        // A plain struct of strings, numbers and options always serializes.
        let _ = blank_cdr().serialize(&mut row);
        row.names
    })
}

/// The cells of `cdr`, in [`cdr_columns`] order.
pub fn cdr_cells(cdr: &CallDetailRecord) -> Result<Vec<Cell>, Error> {
    let mut row = RowSerializer::default();
    cdr.serialize(&mut row)?;
    Ok(row.cells)
}

/// A CDR from its cells, in [`cdr_columns`] order.
pub fn cdr_from_cells(cells: Vec<Cell>) -> Result<CallDetailRecord, Error> {
    CallDetailRecord::deserialize(RowDeserializer::new(cdr_columns(), cells))
}

/// A record used only for its shape (column names).
fn blank_cdr() -> CallDetailRecord {
    let epoch = jiff::Timestamp::UNIX_EPOCH;
    let live = LiveCall {
        id: String::new(),
        call_id: String::new(),
        tracking_number: String::new(),
        caller: String::new(),
        destination: String::new(),
        started_at: epoch,
        answered_at: None,
        attribution: Default::default(),
        first_time_caller: false,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    CallDetailRecord::from_live(&live, epoch, Disposition::Failed, 0, HangupSide::System)
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.csv_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::attribution::{Attribution, NumberKindTag};

    fn cdr() -> CallDetailRecord {
        let mut cdr = blank_cdr();
        cdr.id = "00112233aabbccdd".into();
        cdr.started_at = "2026-11-23T03:20:00.123Z".parse().unwrap();
        cdr.answered_at = Some("2026-11-23T03:20:07.5Z".parse().unwrap());
        cdr.disposition = Disposition::Answered;
        cdr.sip_status = 200;
        cdr.first_time_caller = true;
        cdr.answered_step = Some(2);
        cdr.attribution = Attribution {
            site: "demo".into(),
            number_kind: NumberKindTag::Dynamic,
            source: Some("google".into()),
            ym_client_id: Some("123".into()),
            ..Attribution::default()
        };
        cdr
    }

    #[test]
    fn columns_are_the_json_keys_in_order() {
        let json = serde_json::to_string(&cdr()).unwrap();
        let keys: Vec<String> = serde_json::from_str::<serde_json::Value>(&json)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut sorted = cdr_columns().to_vec();
        sorted.sort();
        assert_eq!(keys, sorted, "same key set");
        let order: Vec<usize> = cdr_columns()
            .iter()
            .map(|c| json.find(&format!("\"{c}\":")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "same key order");
        assert_eq!(cdr_columns()[13..16], ["site", "number_kind", "source"]);
    }

    #[test]
    fn cells_round_trip_to_the_same_record() {
        let cells = cdr_cells(&cdr()).unwrap();
        assert_eq!(cells.len(), cdr_columns().len());
        assert_eq!(cells[5], Cell::Text("2026-11-23T03:20:00.123Z".into()));
        assert_eq!(cells[6], Cell::Text("2026-11-23T03:20:07.500Z".into()));
        assert_eq!(cells[14], Cell::Text("dynamic".into()));
        let mut stored = cells.clone();
        // SQLite hands booleans back as integers.
        for cell in &mut stored {
            if let Cell::Bool(b) = cell {
                *cell = Cell::Int(i64::from(*b));
            }
        }
        assert_eq!(cdr_from_cells(stored).unwrap(), cdr());
    }

    #[test]
    fn a_bad_cell_is_an_error_not_a_panic() {
        let mut cells = cdr_cells(&cdr()).unwrap();
        cells[10] = Cell::Text("hung".into());
        assert!(cdr_from_cells(cells).is_err());
        assert!(cdr_from_cells(vec![Cell::Null]).is_err());
    }

    #[test]
    fn the_schema_has_every_column() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('cdr') ORDER BY cid")
            .unwrap();
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names[0], "seq");
        // ALTER TABLE appends, so only the set matters: SQL names every column it uses.
        // What people add later (tags, note, deal) lives beside the record, not in it.
        let added_later = [
            "tags",
            "note",
            "deal_amount_minor",
            "deal_currency",
            "deal_status",
            "updated_at",
            "trail",
            // Kept by the store for reports (V9): the caller's previous call to the site.
            "prev_started_at",
            // The call scorer's label and verdict (store::scoring, V21).
            "label",
            "label_by",
            "label_at",
            "target_probability",
            "target",
            "scored_by_model",
        ];
        let mut table: Vec<String> = names[1..]
            .iter()
            .filter(|n| !added_later.contains(&n.as_str()))
            .cloned()
            .collect();
        let mut columns = cdr_columns().to_vec();
        table.sort();
        columns.sort();
        assert_eq!(table, columns, "a new field needs a migration");
    }
}
