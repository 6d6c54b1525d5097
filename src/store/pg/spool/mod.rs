//! The spool of the PostgreSQL store: while PostgreSQL is unreachable, the writer appends
//! its batches' commands to a local SQLite file ([`file`]) instead, in order, and keeps
//! accepting work; when PostgreSQL answers again ([`reconnect`]) the file is replayed oldest
//! first through the normal batch path, each replayed chunk deleted once PostgreSQL has
//! committed it. A crash between the two replays the chunk again, which PostgreSQL ignores
//! (CDR ids and outbox event ids are unique, the rows are inserted `ON CONFLICT DO
//! NOTHING`; the file is replayed in order, so a call's replayed start is followed by its
//! replayed end, which deletes the live row the start wrote again).
//!
//! - [`record`]: the serialised form of a command.
//! - [`classify`]: a connection-class error (spool and reconnect), a transient one (retry)
//!   or a SQL error (the command is refused: kept in the file's `rejected` table, loudly).

pub mod file;
pub mod reconnect;
pub mod record;

pub use file::SpoolFile;
pub use reconnect::Reconnect;
pub use record::SpoolRecord;

use crate::store::StoreError;

/// What a failed PostgreSQL batch calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server is gone or refuses connections: spool, reconnect later.
    Connection,
    /// A conflict worth retrying as is (serialization failure, deadlock, lock timeout).
    Transient,
    /// The server refused the statement (constraint, data, SQL): retrying cannot help.
    Refused,
}

/// Which kind of failure `error` is.
pub fn classify(error: &StoreError) -> Failure {
    match error {
        StoreError::PgConnect(_) => Failure::Connection,
        StoreError::Postgres(e) => match e.as_db_error() {
            Some(db) => by_sqlstate(db.code().code()),
            // No server answer: the socket closed or failed (or a value did not convert,
            // which cannot happen with the text cells the batch path sends).
            None => Failure::Connection,
        },
        _ => Failure::Refused,
    }
}

/// SQLSTATE classes (PostgreSQL manual, appendix A).
fn by_sqlstate(code: &str) -> Failure {
    match code {
        // connection exception; admin/crash shutdown, cannot connect now; too many connections
        c if c.starts_with("08") => Failure::Connection,
        "57P01" | "57P02" | "57P03" | "53300" => Failure::Connection,
        // transaction rollback (serialization, deadlock); lock not available; query canceled;
        // insufficient resources (disk full, out of memory)
        c if c.starts_with("40") || c.starts_with("53") => Failure::Transient,
        "55P03" | "57014" => Failure::Transient,
        _ => Failure::Refused,
    }
}

/// Metrics of the spool (described in `telemetry::metrics`).
pub mod metrics {
    pub fn spooled(commands: usize, depth: u64) {
        metrics::counter!("calltrack_pg_spooled_commands_total").increment(commands as u64);
        depth_now(depth);
    }

    pub fn replayed(commands: usize, depth: u64) {
        metrics::counter!("calltrack_pg_replayed_commands_total").increment(commands as u64);
        depth_now(depth);
    }

    pub fn rejected(commands: usize) {
        metrics::counter!("calltrack_pg_rejected_commands_total").increment(commands as u64);
    }

    pub fn depth_now(depth: u64) {
        metrics::gauge!("calltrack_pg_spool_depth").set(depth as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_sorted_into_connection_transient_and_refused() {
        for (code, want) in [
            ("08006", Failure::Connection),
            ("57P01", Failure::Connection),
            ("53300", Failure::Connection),
            ("40001", Failure::Transient),
            ("40P01", Failure::Transient),
            ("53100", Failure::Transient),
            ("23505", Failure::Refused),
            ("23514", Failure::Refused),
            ("42P01", Failure::Refused),
            ("22P02", Failure::Refused),
        ] {
            assert_eq!(by_sqlstate(code), want, "{code}");
        }
        assert_eq!(
            classify(&StoreError::PgConnect("refused".into())),
            Failure::Connection
        );
        assert_eq!(classify(&StoreError::PgValue("x".into())), Failure::Refused);
    }
}
