//! Reading a flat row back: the cells as a map of column name to value, for the record's
//! `Deserialize` (which `#[serde(flatten)]` drives through `deserialize_map`).

use serde::de::value::{Error, StringDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

use super::Cell;

/// A row read back as a map of column name to cell.
pub(super) struct RowDeserializer<'a> {
    names: std::slice::Iter<'a, String>,
    cells: std::vec::IntoIter<Cell>,
    pending: Option<Cell>,
}

impl<'a> RowDeserializer<'a> {
    pub(super) fn new(names: &'a [String], cells: Vec<Cell>) -> Self {
        Self {
            names: names.iter(),
            cells: cells.into_iter(),
            pending: None,
        }
    }
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
            Cell::Real(x) => visitor.visit_f64(x),
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
