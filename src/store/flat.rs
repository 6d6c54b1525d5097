//! The one mapping between a [`CallDetailRecord`] and its flat row: column names in order and
//! one cell per column, derived from the record's serde form (the `#[serde(flatten)]`
//! attribution becomes top-level columns). SQLite inserts and selects and the CSV export all
//! use it, so a new field needs the struct and a schema migration, nothing else.
//!
//! The cells are what serde hands out: text (timestamps as RFC 3339, enums as snake_case
//! names), integers, booleans and null. Reading a row back goes through the record's
//! `Deserialize` with SQLite's INTEGER 0/1 accepted as a boolean.

use std::fmt;
use std::sync::OnceLock;

use serde::de::value::{Error, StringDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct};
use serde::{Deserialize, forward_to_deserialize_any};

use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};

/// One column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
}

impl Cell {
    /// The text a CSV field holds: empty for null, `true`/`false`, decimal integers.
    pub fn csv_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Cell::Null => "".into(),
            Cell::Bool(b) => if *b { "true" } else { "false" }.into(),
            Cell::Int(n) => n.to_string().into(),
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
    CallDetailRecord::deserialize(RowDeserializer {
        names: cdr_columns().iter(),
        cells: cells.into_iter(),
        pending: None,
    })
}

/// A record used only for its shape (column names).
fn blank_cdr() -> CallDetailRecord {
    let epoch = time::OffsetDateTime::UNIX_EPOCH;
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

/// Collects a struct's (or flattened map's) fields as cells, and optionally their names.
#[derive(Default)]
struct RowSerializer {
    cells: Vec<Cell>,
    names: Vec<String>,
    keep_names: bool,
}

impl RowSerializer {
    fn naming() -> Self {
        Self {
            keep_names: true,
            ..Self::default()
        }
    }

    fn push(&mut self, name: &str, value: &(impl Serialize + ?Sized)) -> Result<(), Error> {
        self.cells.push(value.serialize(CellSerializer)?);
        if self.keep_names {
            self.names.push(name.to_owned());
        }
        Ok(())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Error> {
    Err(ser::Error::custom(format!("a flat row cannot hold {what}")))
}

impl<'a> ser::Serializer for &'a mut RowSerializer {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = RowMap<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }
    /// A struct with `#[serde(flatten)]` fields serializes as a map.
    fn serialize_map(self, _: Option<usize>) -> Result<RowMap<'a>, Error> {
        Ok(RowMap {
            row: self,
            key: None,
        })
    }

    fn serialize_bool(self, _: bool) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_i8(self, _: i8) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_i16(self, _: i16) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_i32(self, _: i32) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_i64(self, _: i64) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_u8(self, _: u8) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_u16(self, _: u16) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_u32(self, _: u32) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_u64(self, _: u64) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_char(self, _: char) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_str(self, _: &str) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_none(self) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_unit(self) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        unsupported("a bare value")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        unsupported("a sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        unsupported("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        unsupported("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unsupported("a tuple")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unsupported("a struct variant")
    }
}

impl SerializeStruct for &mut RowSerializer {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.push(key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// The map form of a struct with flattened fields: string keys, cell values.
struct RowMap<'a> {
    row: &'a mut RowSerializer,
    key: Option<String>,
}

impl SerializeMap for RowMap<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        match key.serialize(CellSerializer)? {
            Cell::Text(name) => {
                self.key = Some(name);
                Ok(())
            }
            _ => unsupported("a key that is not text"),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().unwrap_or_default();
        self.row.push(&key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// One value as a [`Cell`].
struct CellSerializer;

fn int(n: impl TryInto<i64>) -> Result<Cell, Error> {
    n.try_into()
        .map(Cell::Int)
        .or_else(|_| unsupported("an integer beyond i64"))
}

impl ser::Serializer for CellSerializer {
    type Ok = Cell;
    type Error = Error;
    type SerializeSeq = Impossible<Cell, Error>;
    type SerializeTuple = Impossible<Cell, Error>;
    type SerializeTupleStruct = Impossible<Cell, Error>;
    type SerializeTupleVariant = Impossible<Cell, Error>;
    type SerializeMap = Impossible<Cell, Error>;
    type SerializeStruct = Impossible<Cell, Error>;
    type SerializeStructVariant = Impossible<Cell, Error>;

    fn serialize_bool(self, v: bool) -> Result<Cell, Error> {
        Ok(Cell::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Cell, Error> {
        int(v)
    }
    fn serialize_f32(self, _: f32) -> Result<Cell, Error> {
        unsupported("a float")
    }
    fn serialize_f64(self, _: f64) -> Result<Cell, Error> {
        unsupported("a float")
    }
    fn serialize_char(self, v: char) -> Result<Cell, Error> {
        Ok(Cell::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Cell, Error> {
        Ok(Cell::Text(v.to_owned()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Cell, Error> {
        unsupported("bytes")
    }
    fn serialize_none(self) -> Result<Cell, Error> {
        Ok(Cell::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Cell, Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Cell, Error> {
        Ok(Cell::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Cell, Error> {
        Ok(Cell::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Cell, Error> {
        Ok(Cell::Text(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Cell, Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Cell, Error> {
        unsupported("an enum with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        unsupported("a sequence")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        unsupported("a tuple")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        unsupported("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unsupported("a tuple")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        unsupported("a nested map")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        unsupported("a nested struct (flatten it)")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unsupported("a struct variant")
    }
}

/// A row read back as a map of column name to cell.
struct RowDeserializer<'a> {
    names: std::slice::Iter<'a, String>,
    cells: std::vec::IntoIter<Cell>,
    pending: Option<Cell>,
}

impl<'de> de::Deserializer<'de> for RowDeserializer<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for RowDeserializer<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match (self.names.next(), self.cells.next()) {
            (Some(name), Some(cell)) => {
                self.pending = Some(cell);
                let key: StringDeserializer<Error> = name.clone().into_deserializer();
                seed.deserialize(key).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(CellDeserializer(self.pending.take().unwrap_or(Cell::Null)))
    }
}

/// One cell as a serde value; INTEGER 0/1 reads as a boolean where one is expected.
struct CellDeserializer(Cell);

impl<'de> de::Deserializer<'de> for CellDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Cell::Null => visitor.visit_none(),
            Cell::Bool(b) => visitor.visit_bool(b),
            Cell::Int(n) => visitor.visit_i64(n),
            Cell::Text(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Cell::Int(n) => visitor.visit_bool(n != 0),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Cell::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Cell::Text(s) => visitor.visit_enum(s.into_deserializer()),
            other => CellDeserializer(other).deserialize_any(visitor),
        }
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
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
    use time::macros::datetime;

    fn cdr() -> CallDetailRecord {
        let mut cdr = blank_cdr();
        cdr.id = "00112233aabbccdd".into();
        cdr.started_at = datetime!(2026-11-23 03:20:00.123 UTC);
        cdr.answered_at = Some(datetime!(2026-11-23 03:20:07.5 UTC));
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
    fn the_schema_has_every_column_in_order() {
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
        assert_eq!(names[1..], *cdr_columns(), "a new field needs a migration");
    }
}
