//! The mirror's subscriber thread: subscribes to the change channel, re-reads every number
//! after each (re)subscription, applies events as they come, and marks the mirror stale the
//! moment the subscription is lost or Redis stops answering its PING.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::super::LeaseTable;
use super::mirror::Event;
use super::{RedisLeaseError, Remote};

/// How long the subscriber waits for a message before it PINGs Redis; a PING unanswered
/// within as long again drops the subscription (and marks the mirror stale).
pub const PING_EVERY: Duration = Duration::from_millis(250);
/// Wait between two connection attempts.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Starts the thread; it ends once the table is dropped.
pub(super) fn start(table: Weak<LeaseTable>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("lease-mirror".into())
        .spawn(move || run(&table))
        .map(drop)
}

fn run(table: &Weak<LeaseTable>) {
    while let Some(strong) = table.upgrade() {
        let Some(remote) = strong.remote() else {
            return;
        };
        if remote.hold_reconnect.load(Ordering::Acquire) {
            drop(strong);
            std::thread::sleep(RETRY_AFTER);
            continue;
        }
        let connected = connect(remote);
        drop(strong);
        match connected {
            Ok(con) => listen(table, con),
            Err(error) => tracing::warn!(%error, "lease mirror cannot subscribe to Redis"),
        }
        std::thread::sleep(RETRY_AFTER);
    }
}

fn connect(remote: &Remote) -> Result<redis::Connection, RedisLeaseError> {
    let con = remote
        .client
        .get_connection_with_timeout(remote.config.connect_timeout)?;
    con.set_write_timeout(Some(remote.config.command_timeout))?;
    Ok(con)
}

/// Subscribes, re-reads, then applies events until the connection fails or the table is
/// dropped; the mirror is fresh only in between.
fn listen(table: &Weak<LeaseTable>, mut con: redis::Connection) {
    let result = subscribed(table, &mut con);
    if let Some(strong) = table.upgrade() {
        if let Some(remote) = strong.remote() {
            remote.fresh.store(false, Ordering::Release);
        }
        if let Err(error) = result {
            tracing::warn!(%error, "lease mirror lost its Redis subscription: stale until re-read");
        }
    }
}

fn subscribed(
    table: &Weak<LeaseTable>,
    con: &mut redis::Connection,
) -> Result<(), RedisLeaseError> {
    let mut pubsub = con.as_pubsub();
    {
        let Some(strong) = table.upgrade() else {
            return Ok(());
        };
        let Some(remote) = strong.remote() else {
            return Ok(());
        };
        pubsub.subscribe(format!("{}events", remote.config.key_prefix))?;
        pubsub.set_read_timeout(Some(PING_EVERY))?;
        strong.rebuild_mirror()?;
        remote.fresh.store(true, Ordering::Release);
        tracing::debug!("lease mirror subscribed and read from Redis");
    }
    loop {
        let message = pubsub.get_message();
        let Some(strong) = table.upgrade() else {
            return Ok(());
        };
        match message {
            Ok(msg) => apply(&strong, &msg),
            Err(e) if e.is_timeout() => {
                if strong
                    .remote()
                    .is_some_and(|r| r.hold_reconnect.load(Ordering::Acquire))
                {
                    return Err(e.into());
                }
                pubsub.ping::<redis::Value>()?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn apply(table: &Arc<LeaseTable>, msg: &redis::Msg) {
    let Some(remote) = table.remote() else {
        return;
    };
    let payload: Result<String, _> = msg.get_payload();
    match payload.map(|p| serde_json::from_str::<Event>(&p)) {
        Ok(Ok(ev)) => remote.apply(table, &ev),
        Ok(Err(error)) => tracing::warn!(%error, "unreadable lease event"),
        Err(error) => tracing::warn!(%error, "unreadable lease event"),
    }
}
