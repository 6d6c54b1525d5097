//! Reads that answer alike on either backend (the calls API and its CSV export, reports and
//! the tag report, the leads API, `calltrack cdr`): the [`Reads`] a query is written against, and [`BackendReader`], the
//! pool of the configured backend that runs it on a blocking thread.
//!
//! A handler writes its query once, `reader.read(move |r| r.page(&query))`; the SQLite side
//! runs it on a read-only connection of [`StoreReader`], the PostgreSQL side on a client of
//! [`PgReader`]. Other read traits (`SpeechReads`, `RecordingReads`, ...) are run the same
//! way through [`backend_reads!`].

use postgres::Client;
use rusqlite::Connection;

use super::calls::{self, CallPage, CallQuery, CallView};
use super::leads::read::{LeadFilter, LeadPage};
use super::leads::{self, StoredLead};
use super::pg::{self, PgReader};
use super::{StoreError, StoreReader, StoredCdr};
use crate::config::{Config, StoreBackend};
use crate::report::tags::TagFacts;
use crate::report::{FactQuery, Facts};

/// What can be read from either backend, with the same answer for the same calls.
pub trait Reads {
    /// A page of the calls API.
    fn page(&mut self, query: &CallQuery) -> Result<CallPage, StoreError>;
    /// One call with its trail.
    fn call(&mut self, id: &str) -> Result<Option<CallView>, StoreError>;
    /// Whole CDRs of the query's first page (`calltrack cdr list`).
    fn cdrs(&mut self, query: &CallQuery) -> Result<Vec<StoredCdr>, StoreError>;
    /// The report facts of every query, added together.
    fn facts(&mut self, queries: &[FactQuery]) -> Result<Facts, StoreError>;
    /// The tag report's facts of every query, added together.
    fn tag_facts(&mut self, queries: &[FactQuery]) -> Result<TagFacts, StoreError>;
    /// A page of the leads API.
    fn leads(
        &mut self,
        filter: &LeadFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<LeadPage, StoreError>;
    /// One lead.
    fn lead(&mut self, id: &str) -> Result<Option<StoredLead>, StoreError>;
}

/// [`Reads`] on a read-only SQLite connection.
pub struct SqliteReads<'a>(pub &'a Connection);

impl Reads for SqliteReads<'_> {
    fn page(&mut self, query: &CallQuery) -> Result<CallPage, StoreError> {
        calls::page(self.0, query)
    }

    fn call(&mut self, id: &str) -> Result<Option<CallView>, StoreError> {
        calls::call(self.0, id)
    }

    fn cdrs(&mut self, query: &CallQuery) -> Result<Vec<StoredCdr>, StoreError> {
        calls::cdrs(self.0, query)
    }

    fn facts(&mut self, queries: &[FactQuery]) -> Result<Facts, StoreError> {
        super::report_facts::facts_of(self.0, queries)
    }

    fn tag_facts(&mut self, queries: &[FactQuery]) -> Result<TagFacts, StoreError> {
        super::report_tags::tag_facts_of(self.0, queries)
    }

    fn leads(
        &mut self,
        filter: &LeadFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<LeadPage, StoreError> {
        leads::read::page(self.0, filter, before, limit)
    }

    fn lead(&mut self, id: &str) -> Result<Option<StoredLead>, StoreError> {
        leads::read::by_id(self.0, id)
    }
}

impl Reads for Client {
    fn page(&mut self, query: &CallQuery) -> Result<CallPage, StoreError> {
        pg::calls::page(self, query)
    }

    fn call(&mut self, id: &str) -> Result<Option<CallView>, StoreError> {
        pg::calls::call(self, id)
    }

    fn cdrs(&mut self, query: &CallQuery) -> Result<Vec<StoredCdr>, StoreError> {
        pg::calls::cdrs(self, query)
    }

    fn facts(&mut self, queries: &[FactQuery]) -> Result<Facts, StoreError> {
        pg::report_facts::facts_of(self, queries)
    }

    fn tag_facts(&mut self, queries: &[FactQuery]) -> Result<TagFacts, StoreError> {
        pg::report_tags::tag_facts_of(self, queries)
    }

    fn leads(
        &mut self,
        filter: &LeadFilter,
        before: Option<i64>,
        limit: usize,
    ) -> Result<LeadPage, StoreError> {
        pg::leads::page(self, filter, before, limit)
    }

    fn lead(&mut self, id: &str) -> Result<Option<StoredLead>, StoreError> {
        pg::leads::by_id(self, id)
    }
}

/// `backend_reads!(Trait, read, read_blocking)`: the two ways [`BackendReader`] runs a query
/// written against `Trait` (which both [`SqliteReads`] and a PostgreSQL `Client` implement)
/// on the configured backend: `read` on a blocking thread, `read_blocking` on the calling
/// one (the CLI, tests). One definition for every read trait.
macro_rules! backend_reads {
    ($reads:ident, $read:ident, $read_blocking:ident) => {
        impl $crate::store::BackendReader {
            #[doc = concat!("Runs a [`", stringify!($reads), "`] query on a blocking thread and returns its answer.")]
            pub async fn $read<T, F>(&self, query: F) -> Result<T, $crate::store::StoreError>
            where
                T: Send + 'static,
                F: FnOnce(&mut dyn $reads) -> Result<T, $crate::store::StoreError> + Send + 'static,
            {
                match self {
                    Self::Sqlite(reader) => {
                        reader
                            .read(move |conn| query(&mut $crate::store::reads::SqliteReads(conn)))
                            .await
                    }
                    Self::Postgres(reader) => reader.read(move |client| query(client)).await,
                }
            }

            #[doc = concat!("Runs a [`", stringify!($reads), "`] query on the calling thread (the CLI, tests).")]
            pub fn $read_blocking<T>(
                &self,
                query: impl FnOnce(&mut dyn $reads) -> Result<T, $crate::store::StoreError>,
            ) -> Result<T, $crate::store::StoreError> {
                match self {
                    Self::Sqlite(reader) => reader.read_blocking(move |conn| {
                        query(&mut $crate::store::reads::SqliteReads(conn))
                    }),
                    Self::Postgres(reader) => reader.read_blocking(move |client| query(client)),
                }
            }
        }
    };
}
pub(crate) use backend_reads;

/// The read pool of the configured backend; cheap to clone.
#[derive(Clone, Debug)]
pub enum BackendReader {
    Sqlite(StoreReader),
    Postgres(PgReader),
}

impl BackendReader {
    /// The pool of `[store] backend`: the SQLite file at `store.path`, or PostgreSQL at
    /// `store.url` (at most `store.pool_size` connections).
    pub fn of_config(config: &Config) -> BackendReader {
        match &config.store.backend {
            StoreBackend::Sqlite => BackendReader::Sqlite(StoreReader::new(&config.store.path)),
            StoreBackend::Postgres(pg) => BackendReader::Postgres(PgReader::new(pg)),
        }
    }
}

backend_reads!(Reads, read, read_blocking);
