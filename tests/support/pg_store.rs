//! The call store on a test PostgreSQL server ([`super::pg_server::PgServer`]): its config,
//! a client, and a writer with a spool file of its own, shared by the PostgreSQL tests
//! instead of each keeping a copy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use calltrack::config::PostgresConfig;
use calltrack::store::outbox::Outbox;
use calltrack::store::pg::{self, PgWriterOptions};
use calltrack::store::{StoreSender, WriterHandle, WriterOptions};

/// The store config of `url` (four connections, five seconds to connect).
pub fn config(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: url.to_owned(),
        pool_size: 4,
        connect_timeout: Duration::from_secs(5),
    }
}

pub fn client(url: &str) -> postgres::Client {
    pg::connect(&config(url)).expect("connect to the test server")
}

/// A spool file of its own per server, database and node, empty at the start.
pub fn spool_path(url: &str, node: &str) -> PathBuf {
    let tail: String = url
        .rsplit('@')
        .next()
        .unwrap_or(url)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = std::env::temp_dir().join(format!("calltrack-test-spool-{tail}-{node}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// The writer of node `node` on `url`: flushing every 5 ms, first-time callers judged over
/// 30 days, its own spool file.
pub fn writer(url: &str, node: &str, outbox: Arc<Outbox>) -> (StoreSender, WriterHandle) {
    let opts = PgWriterOptions {
        writer: WriterOptions {
            flush_interval: Duration::from_millis(5),
            ..WriterOptions::default()
        },
        node: node.to_owned(),
        unique_window: Some(Duration::from_secs(30 * 86_400)),
        spool_path: spool_path(url, node),
    };
    pg::spawn_pg_writer(&config(url), opts, outbox).expect("PostgreSQL writer")
}
