//! Serializing a record into a flat row: a struct's fields (or the map serde makes of a
//! struct with flattened fields) become named cells; nested values are refused.

use serde::de::value::Error;
use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct};

use super::Cell;

/// Collects a struct's (or flattened map's) fields as cells, and optionally their names.
#[derive(Default)]
pub(super) struct RowSerializer {
    pub(super) cells: Vec<Cell>,
    pub(super) names: Vec<String>,
    keep_names: bool,
}

impl RowSerializer {
    pub(super) fn naming() -> Self {
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
pub(super) struct RowMap<'a> {
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
    fn serialize_f32(self, v: f32) -> Result<Cell, Error> {
        Ok(Cell::Real(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Cell, Error> {
        Ok(Cell::Real(v))
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
