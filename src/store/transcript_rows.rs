//! A stored transcript read back into a [`TranscriptView`] from either backend's row: the
//! columns in the order of [`VIEW_COLUMNS`], the JSON ones (`words`, `facts`, `tags`) as text
//! (an unreadable value reads as empty, as it always has).

use super::StoreError;
use super::transcripts::TranscriptView;

/// The columns a [`TranscriptView`] is read from, in order (PostgreSQL casts the JSON and
/// the time to text in its own select list).
pub const VIEW_COLUMNS: [&str; 11] = [
    "status",
    "engine",
    "language",
    "caller",
    "agent",
    "words",
    "error",
    "attempts",
    "created_at",
    "facts",
    "tags",
];

/// A row of either backend, read by column index.
pub trait ViewRow {
    /// A text (or null) column.
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn number(&self, i: usize) -> Result<i64, StoreError>;
}

impl ViewRow for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(i)?)
    }

    fn number(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
}

impl ViewRow for postgres::Row {
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }

    fn number(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
}

impl TranscriptView {
    /// The transcript in `row` (its columns as [`VIEW_COLUMNS`] lists them).
    pub fn from_row(row: &impl ViewRow) -> Result<TranscriptView, StoreError> {
        let text = |i| row.text(i).map(Option::unwrap_or_default);
        let words = text(5)?;
        let tags = text(10)?;
        Ok(TranscriptView {
            status: text(0)?,
            engine: row.text(1)?,
            language: row.text(2)?,
            caller: text(3)?,
            agent: text(4)?,
            words: serde_json::from_str(&words).unwrap_or_default(),
            facts: row.text(9)?.and_then(|f| serde_json::from_str(&f).ok()),
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            error: row.text(6)?,
            attempts: u32::try_from(row.number(7)?).unwrap_or(u32::MAX),
            created_at: row.text(8)?,
        })
    }
}
