//! A stored row read by column index the same way on either driver (SQLite's `rusqlite::Row`,
//! PostgreSQL's `postgres::Row`), so a row's fields are put together once for both.

/// The cells a row reader needs, each by column index, with the driver's own error.
pub(in crate::store) trait RowCells {
    type Error;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
}

impl RowCells for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn int(&self, i: usize) -> Result<i64, Self::Error> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        self.get(i)
    }
    fn text(&self, i: usize) -> Result<String, Self::Error> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.get(i)
    }
}

impl RowCells for postgres::Row {
    type Error = postgres::Error;
    fn int(&self, i: usize) -> Result<i64, Self::Error> {
        self.try_get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        self.try_get(i)
    }
    fn text(&self, i: usize) -> Result<String, Self::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(i)
    }
}
