//! The call store on PostgreSQL (`[store] backend = "postgres"`), shared by several nodes:
//! the call path end to end (live rows, CDRs, first-time callers across nodes, the outbox
//! written with its CDR and claimed by several nodes' delivery services, start-up recovery
//! of this node's calls). The SQLite store stays the default and the reference.
//!
//! - [`schema`]: versioned migrations of their own (`schema_migrations`); [`mirror`]: the
//!   columns shared with SQLite, derived from its schema; [`cells`]: values both ways;
//!   `schema_reports`: the report rollup and the triggers keeping it (V7).
//! - [`writer`]: the writer thread on PostgreSQL; [`sink`]: where its batches go (PostgreSQL,
//!   or [`spool`], a local file, while PostgreSQL is unreachable); [`batch`]: one batch, one
//!   transaction; [`cdr`], [`live`], [`history`]: its tables.
//! - [`outbox`]: batched event rows, the `FOR UPDATE SKIP LOCKED` claim, settlements;
//!   [`claims`]: the delivery services' side of it; [`outbox_admin`]: `calltrack outbox`;
//!   [`metrica_uploads`]: the Metrica status poll's uploads.
//! - [`pool_usage`]: the pools' per-minute usage samples and the accuracy's calls per number.
//! - [`recovery`]: this node's calls left live become `interrupted` CDRs.
//! - [`nodes`]: the heartbeat table; [`liveness`]: the pure "is it dead" decision;
//!   [`takeover`]: a dead node's calls closed once between survivors; [`node_service`]: the
//!   heartbeat and watch threads; [`probe`]: `check-config --connect`.
//! - [`blacklist`]: the admin API's blacklist entries, shared; [`blacklist_watch`]: each
//!   node's `LISTEN` for their edits.
//! - [`reader`]: the read pool of the HTTP side and the CLI; [`calls`]: the calls API's
//!   reads; [`report_facts`]: the reports' sums; [`report_tags`]: the tag report's (see
//!   `store::reads`).
//! - [`recordings`]: a recording's outcome and expiry on its CDR, and the node holding its
//!   file; [`transcripts`]: the speech queue (each node's own recordings) and transcripts;
//!   [`scoring`]: scores and the scorer's models.
//! - What the marketer adds: [`patch`] (tags, note, deal, label on a call), [`leads`],
//!   [`costs`] (ad cost imports).

mod batch;
mod batch_facts;
pub mod blacklist;
mod blacklist_watch;
pub mod calls;
pub mod cdr;
mod cells;
pub mod claims;
pub mod costs;
pub mod history;
pub mod leads;
pub mod live;
pub mod liveness;
pub mod metrica_uploads;
pub mod mirror;
pub mod node_service;
pub mod nodes;
pub mod outbox;
pub mod outbox_admin;
pub mod patch;
pub mod pool_usage;
pub mod probe;
pub mod reader;
pub mod recordings;
pub mod recovery;
pub mod report_facts;
pub mod report_tags;
pub mod schema;
mod schema_reports;
pub mod scoring;
mod sink;
pub mod spool;
pub mod takeover;
pub mod transcript_search;
pub mod transcripts;
pub mod writer;

use std::str::FromStr;

use postgres::{Client, NoTls};

use super::StoreError;
use crate::config::PostgresConfig;

pub use blacklist_watch::OnEntries;
pub use claims::PgClaims;
pub use node_service::{NodeOptions, NodeService, spawn_node_service};
pub use reader::PgReader;
pub use recovery::recover_interrupted_calls;
pub use writer::{PgWriterOptions, drain_spool, spawn_pg_writer};

/// Opens one connection (within `connect_timeout`).
pub fn connect(config: &PostgresConfig) -> Result<Client, StoreError> {
    let mut pg = postgres::Config::from_str(&config.url)?;
    pg.connect_timeout(config.connect_timeout);
    // A server that vanished from the network (no RST) must not hold the writer for the
    // kernel's retransmission timeout (minutes): unacknowledged data for this long closes the
    // connection, and the writer spools (`spool`). A `tcp_user_timeout` in the URL wins.
    if pg.get_tcp_user_timeout().is_none() {
        pg.tcp_user_timeout(config.connect_timeout);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("calltrack");
    }
    pg.connect(NoTls)
        .map_err(|e| StoreError::PgConnect(with_causes(&e)))
}

/// An error and its sources ("error connecting to server: Connection refused (os error 111)").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Connects and brings the schema up to date (start-up, `check-config --connect`).
pub fn open(config: &PostgresConfig) -> Result<Client, StoreError> {
    let mut client = connect(config)?;
    schema::migrate(&mut client)?;
    Ok(client)
}

/// A PostgreSQL error with the server's message and detail ("db error" alone says nothing).
pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.code().code(), db.message()),
            None => format!("{}: {}", db.code().code(), db.message()),
        },
        None => error.to_string(),
    }
}
