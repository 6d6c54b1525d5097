//! The blacklist watch: a named thread (`blacklist-watch`) on a PostgreSQL connection of its
//! own that `LISTEN`s on [`blacklist::CHANNEL`] and hands every stored entry to the node's
//! table after each announced edit, so an entry added through one node's admin API refuses
//! the next call on every node (one round trip after the commit, not a polling period).
//!
//! Nothing is missed: the entries are read after `LISTEN` on every (re)connection, so edits
//! made while the connection was down arrive then. A lost connection is logged and reopened
//! after [`RETRY`]; meanwhile the node keeps the entries it last read.

use std::sync::Arc;
use std::time::Duration;

use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use super::node_service::{NodeService, Stop};
use super::{blacklist, connect};
use crate::config::PostgresConfig;
use crate::store::StoreError;

/// How often the thread looks at the stop flag while no notification comes.
const POLL: Duration = Duration::from_millis(200);
/// How long it waits before reconnecting after an error.
const RETRY: Duration = Duration::from_secs(1);

/// What the watch does with the entries it reads (the node's `edge::blacklist` table).
pub type OnEntries = Box<dyn Fn(Vec<String>) + Send>;

impl NodeService {
    /// Starts the blacklist watch beside the heartbeat threads; it stops with them.
    pub fn watch_blacklist(
        &mut self,
        config: &PostgresConfig,
        on_entries: OnEntries,
    ) -> Result<(), StoreError> {
        let watch = Watch {
            config: config.clone(),
            on_entries,
        };
        self.spawn_beside("blacklist-watch", move |stop| watch.run(&stop))
    }
}

struct Watch {
    config: PostgresConfig,
    on_entries: OnEntries,
}

impl Watch {
    fn run(self, stop: &Arc<Stop>) {
        while !stop.is_set() {
            if let Err(error) = self.session(stop) {
                tracing::warn!(%error, "blacklist watch lost PostgreSQL; reconnecting");
                if stop.wait(RETRY) {
                    return;
                }
            }
        }
    }

    /// One connection: listen, read, then read again after every notification until stopped.
    fn session(&self, stop: &Stop) -> Result<(), StoreError> {
        let mut client = connect(&self.config)?;
        client.batch_execute(&format!("LISTEN {}", blacklist::CHANNEL))?;
        self.read(&mut client)?;
        while !stop.is_set() {
            if client.notifications().timeout_iter(POLL).next()?.is_some() {
                // Several edits committed together need one read.
                while client.notifications().iter().next()?.is_some() {}
                self.read(&mut client)?;
            } else if client.is_closed() {
                return Err(StoreError::PgConnect("connection closed".into()));
            }
        }
        Ok(())
    }

    fn read(&self, client: &mut Client) -> Result<(), StoreError> {
        let entries = blacklist::load(client)?;
        (self.on_entries)(entries);
        Ok(())
    }
}
