//! The ring-mark worker: the sans-IO core marks a number ringing or ended without waiting,
//! and this one thread runs the marks on Redis in order.

use std::sync::Weak;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use jiff::Timestamp;

use super::super::LeaseTable;
use super::RedisLeaseError;
use super::mirror::to_ms;

/// Marks waiting for the worker before new ones are dropped.
pub(super) const QUEUE: usize = 4096;
/// How often the worker checks that its table still exists.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// One ring mark.
#[derive(Debug, Clone)]
pub(crate) enum Mark {
    Started(String),
    Ended(String, Timestamp),
}

/// Starts the worker; it ends once the table is dropped.
pub(super) fn start(table: Weak<LeaseTable>, queue: Receiver<Mark>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("lease-marks".into())
        .spawn(move || run(&table, &queue))
        .map(drop)
}

fn run(table: &Weak<LeaseTable>, queue: &Receiver<Mark>) {
    loop {
        let mark = match queue.recv_timeout(IDLE_CHECK) {
            Ok(mark) => mark,
            Err(RecvTimeoutError::Timeout) if table.strong_count() > 0 => continue,
            Err(_) => return,
        };
        let Some(table) = table.upgrade() else {
            return;
        };
        // One retry on a fresh connection: a pooled one may have gone stale.
        if let Err(error) = send(&table, &mark).or_else(|_| send(&table, &mark)) {
            tracing::warn!(%error, ?mark, "lease ring mark not stored on Redis");
        }
    }
}

fn send(table: &LeaseTable, mark: &Mark) -> Result<(), RedisLeaseError> {
    let Some(remote) = table.remote() else {
        return Ok(());
    };
    let prefix = &remote.config.key_prefix;
    let answer = match mark {
        Mark::Started(number) => {
            let mut invocation = remote.scripts.call_started.prepare_invoke();
            invocation.arg(prefix).arg(number);
            remote.run::<i64>(|con| invocation.invoke(con))
        }
        Mark::Ended(number, at) => {
            let mut invocation = remote.scripts.call_ended.prepare_invoke();
            invocation.arg(prefix).arg(number).arg(to_ms(*at));
            remote.run::<i64>(|con| invocation.invoke(con))
        }
    };
    answer.map(drop)
}
