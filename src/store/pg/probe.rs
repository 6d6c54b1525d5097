//! `check-config --connect` on PostgreSQL: connects (within `connect_timeout`), reads the
//! server version and the schema version, migrates nothing.

use super::{connect, schema};
use crate::config::PostgresConfig;
use crate::store::StoreError;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `SHOW server_version`.
    pub server_version: String,
    /// The applied schema version (0: a fresh database).
    pub schema_version: i64,
    /// The version this build migrates to.
    pub latest: i64,
}

impl Probe {
    /// Migrations the next start will apply.
    pub fn pending(&self) -> i64 {
        (self.latest - self.schema_version).max(0)
    }
}

/// Connects and reads the versions; a server too old to run on is an error.
pub fn probe(config: &PostgresConfig) -> Result<Probe, StoreError> {
    let mut client = connect(config)?;
    schema::check_server(&mut client)?;
    let server_version: String = client.query_one("SHOW server_version", &[])?.try_get(0)?;
    let present: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
        .try_get(0)?;
    let schema_version = if present {
        let mut tx = client.transaction()?;
        let version = schema::version(&mut tx)?;
        tx.commit()?;
        version
    } else {
        0
    };
    Ok(Probe {
        server_version,
        schema_version,
        latest: schema::latest_version(),
    })
}
