//! The operator's reads on either backend: the outbox admin's (`/v1/admin/outbox*`, so
//! `calltrack outbox`) and the delivery services' backlog gauges, the Metrica status poll's,
//! the pools page's (`GET /v1/pools/usage`) and the adaptive-freeze job's calls.
//! [`OperatorReads`] answers alike on the SQLite file and on PostgreSQL (every node's events),
//! and [`super::BackendReader::read_operator`] runs a query on the configured one.

use jiff::Timestamp;
use postgres::Client;

use super::lease_history::{self, NumberCalls};
use super::outbox::admin::{self, Backlog, DestinationStatus, ListFilter, ListPage, Replay};
use super::outbox::metrica_uploads::{self, UploadRecord};
use super::pool_usage::{self, PoolUsage};
use super::reads::SqliteReads;
use super::{StoreError, pg};
use crate::lease::PoolCall;

/// What the operator's pages and services read.
pub trait OperatorReads {
    /// Every destination that has rows, by id.
    fn outbox_status(&mut self) -> Result<Vec<DestinationStatus>, StoreError>;
    /// What waits for `destination` (every node's events on PostgreSQL).
    fn outbox_backlog(&mut self, destination: &str) -> Result<Backlog, StoreError>;
    /// One page of events, newest first.
    fn outbox_events(&mut self, filter: &ListFilter) -> Result<ListPage, StoreError>;
    /// Whether the event is a dropped one (never replayed).
    fn outbox_dropped(&mut self, destination: &str, id: &str) -> Result<bool, StoreError>;
    /// How many events a replay at `now` would put back.
    fn outbox_replayable(&mut self, replay: &Replay, now: Timestamp) -> Result<usize, StoreError>;
    /// Uploads of `destination` the outbox knows and nobody recorded yet (at most `limit`).
    fn metrica_unrecorded(
        &mut self,
        destination: &str,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, StoreError>;
    /// Recorded uploads of `destination` made after `since`, not final and not checked after
    /// `checked_before`.
    fn metrica_open(
        &mut self,
        destination: &str,
        since: Timestamp,
        checked_before: Timestamp,
    ) -> Result<Vec<UploadRecord>, StoreError>;
    /// The Metrica uploads of `destination` to ask about: the unrecorded ones, then the open.
    fn metrica_due(
        &mut self,
        destination: &str,
        due: MetricaDue,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        let mut all = self.metrica_unrecorded(destination, due.limit)?;
        all.extend(self.metrica_open(destination, due.since, due.checked_before)?);
        Ok(all)
    }
    /// Every pool's usage samples in `[from, to)`, optionally of one site.
    fn pool_usage(
        &mut self,
        site: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PoolUsage>, StoreError>;
    /// Per tracking number of `site`, the calls since `from` that judge a pool's accuracy.
    fn number_calls(&mut self, site: &str, from: Timestamp)
    -> Result<Vec<NumberCalls>, StoreError>;
    /// The site's calls to pool numbers since `from`, oldest first (the freeze's fit).
    fn pool_calls(&mut self, site: &str, from: Timestamp) -> Result<Vec<PoolCall>, StoreError>;
}

/// Which Metrica uploads a status poll round asks about.
#[derive(Debug, Clone, Copy)]
pub struct MetricaDue {
    pub limit: usize,
    pub since: Timestamp,
    pub checked_before: Timestamp,
}

impl OperatorReads for SqliteReads<'_> {
    fn outbox_status(&mut self) -> Result<Vec<DestinationStatus>, StoreError> {
        Ok(admin::status(self.0)?)
    }

    fn outbox_backlog(&mut self, destination: &str) -> Result<Backlog, StoreError> {
        Ok(admin::backlog(self.0, destination)?)
    }

    fn outbox_events(&mut self, filter: &ListFilter) -> Result<ListPage, StoreError> {
        Ok(admin::list(self.0, filter)?)
    }

    fn outbox_dropped(&mut self, destination: &str, id: &str) -> Result<bool, StoreError> {
        Ok(admin::is_dropped(self.0, destination, id)?)
    }

    fn outbox_replayable(&mut self, replay: &Replay, now: Timestamp) -> Result<usize, StoreError> {
        Ok(admin::replayable(self.0, replay, now)?)
    }

    fn metrica_unrecorded(
        &mut self,
        destination: &str,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        Ok(metrica_uploads::unrecorded(self.0, destination, limit)?)
    }

    fn metrica_open(
        &mut self,
        destination: &str,
        since: Timestamp,
        checked_before: Timestamp,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        Ok(metrica_uploads::open(
            self.0,
            destination,
            since,
            checked_before,
        )?)
    }

    fn pool_usage(
        &mut self,
        site: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PoolUsage>, StoreError> {
        pool_usage::usage(self.0, site, from, to)
    }

    fn number_calls(
        &mut self,
        site: &str,
        from: Timestamp,
    ) -> Result<Vec<NumberCalls>, StoreError> {
        lease_history::number_calls(self.0, site, from)
    }

    fn pool_calls(&mut self, site: &str, from: Timestamp) -> Result<Vec<PoolCall>, StoreError> {
        lease_history::calls(self.0, site, from)
    }
}

impl OperatorReads for Client {
    fn outbox_status(&mut self) -> Result<Vec<DestinationStatus>, StoreError> {
        pg::outbox_admin::status(self)
    }

    fn outbox_backlog(&mut self, destination: &str) -> Result<Backlog, StoreError> {
        pg::outbox_admin::backlog(self, destination)
    }

    fn outbox_events(&mut self, filter: &ListFilter) -> Result<ListPage, StoreError> {
        pg::outbox_admin::list(self, filter)
    }

    fn outbox_dropped(&mut self, destination: &str, id: &str) -> Result<bool, StoreError> {
        pg::outbox_admin::is_dropped(self, destination, id)
    }

    fn outbox_replayable(&mut self, replay: &Replay, now: Timestamp) -> Result<usize, StoreError> {
        pg::outbox_admin::replayable(self, replay, now)
    }

    fn metrica_unrecorded(
        &mut self,
        destination: &str,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        pg::metrica_uploads::unrecorded(self, destination, limit)
    }

    fn metrica_open(
        &mut self,
        destination: &str,
        since: Timestamp,
        checked_before: Timestamp,
    ) -> Result<Vec<UploadRecord>, StoreError> {
        pg::metrica_uploads::open(self, destination, since, checked_before)
    }

    fn pool_usage(
        &mut self,
        site: Option<&str>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PoolUsage>, StoreError> {
        pg::pool_usage::usage(self, site, from, to)
    }

    fn number_calls(
        &mut self,
        site: &str,
        from: Timestamp,
    ) -> Result<Vec<NumberCalls>, StoreError> {
        pg::pool_usage::number_calls(self, site, from)
    }

    fn pool_calls(&mut self, site: &str, from: Timestamp) -> Result<Vec<PoolCall>, StoreError> {
        pg::pool_usage::pool_calls(self, site, from)
    }
}

super::reads::backend_reads!(OperatorReads, read_operator, read_operator_blocking);
