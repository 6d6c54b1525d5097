//! The lease table on Redis, shared by every calltrack node that names the same server and
//! key prefix (`[leases] backend = "redis"`).
//!
//! Grants, heartbeats, releases, expiry, cool-down, the ringing/in-call marks and returning
//! visitors are Lua scripts run atomically on Redis (`scripts.rs`); Redis is the one truth.
//!
//! **`holder_of` reads a node-local mirror** (design (a) of issue 16), never Redis: the SIP
//! core is sans-IO and calls `holder_of` synchronously on every INVITE. Every script that
//! changes a number `PUBLISH`es its new state with a per-number version; `subscriber.rs`
//! applies those events to the table's own maps (`mirror.rs`), and this node applies the
//! answers of its own scripts at once. Why the mirror cannot name a wrong visitor:
//! - pub/sub on one connection delivers changes in the order Redis ran them, so a connected
//!   mirror is always an earlier state of Redis, lagging by one network hop;
//! - in any earlier state the old holder's lease ends where Redis ends it (the mirror keeps
//!   `expires_at` and checks it against `now` exactly as the embedded table does), and before a
//!   number changes holder its old lease must end, it must rest its cool-down and a new
//!   visitor must see it and dial: a lag shorter than that can at worst miss a brand-new lease
//!   (the call is unattributed), never attribute it to the previous visitor;
//! - a lease can end early only by a script (its session re-granted in another pool), and a
//!   message can be lost only with its connection. So when the subscription drops (read error,
//!   or no answer to the PING sent every [`subscriber::PING_EVERY`]), the mirror is marked
//!   stale at once and `holder_of` answers "nobody" (unattributed, never wrong) until the node
//!   has re-subscribed and re-read every number (`READ_ALL`, applied by force).
//!
//! Ring marks (`call_started`/`call_ended`) come from the sans-IO core, so they are queued to
//! one worker thread (`marks.rs`) that runs the scripts; grants and heartbeats come from HTTP
//! handlers and run synchronously on a small connection pool with the configured timeouts.
//! Nodes' clocks must agree (NTP): `now` is passed in by the node, as everywhere in `lease/`.

mod marks;
mod mirror;
mod scripts;
mod subscriber;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;

pub(crate) use self::marks::Mark;
use self::mirror::{Apply, Event, to_ms};
use self::scripts::Scripts;
use super::{GrantRequest, Lease, LeaseError, LeaseTable};
use crate::config::RedisLeasesConfig;

/// Idle connections kept for grants and heartbeats.
const IDLE_CONNECTIONS: usize = 8;

/// Why the Redis backend failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisLeaseError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected script answer: {0}")]
    Answer(#[from] serde_json::Error),
    #[error("cannot start the lease mirror thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The Redis side of a [`LeaseTable`]: connections, scripts and the mirror's state.
pub struct Remote {
    client: redis::Client,
    config: RedisLeasesConfig,
    scripts: Scripts,
    idle: Mutex<Vec<redis::Connection>>,
    /// The mirror is subscribed and has been fully read since: `holder_of` may trust it.
    fresh: AtomicBool,
    /// Serialises event applies (the subscriber and this node's own answers).
    apply_lock: Mutex<()>,
    marks: std::sync::mpsc::SyncSender<Mark>,
    /// Test hook: the subscriber does not reconnect while set.
    hold_reconnect: AtomicBool,
    /// Full reads of the mirror since the start.
    rebuilds: AtomicU64,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.config.url)
            .field("fresh", &self.fresh)
            .finish_non_exhaustive()
    }
}

/// One ping of the backend, for `/health` and `check-config --connect`.
pub fn ping(config: &RedisLeasesConfig) -> Result<(), RedisLeaseError> {
    let client = redis::Client::open(config.url.as_str())?;
    let mut con = client.get_connection_with_timeout(config.connect_timeout)?;
    con.set_read_timeout(Some(config.command_timeout))?;
    con.set_write_timeout(Some(config.command_timeout))?;
    redis::cmd("PING").query::<String>(&mut con)?;
    Ok(())
}

/// Numbers per script run when a pool is registered or read whole: a script blocks Redis
/// for every client while it runs, so a pool of 500 000 numbers goes in slices of a few
/// milliseconds each (one script over the whole pool ran past `command_timeout_ms` and
/// stalled the other nodes' grants meanwhile).
const SCRIPT_SLICE: usize = 2_000;

impl LeaseTable {
    /// Puts this table on Redis: registers the configured numbers, reads every number's state
    /// into the mirror and starts the subscriber and the ring-mark worker (threads that end
    /// once the table is dropped). Fails when Redis cannot be reached.
    pub fn attach_redis(
        table: &Arc<LeaseTable>,
        config: &RedisLeasesConfig,
    ) -> Result<(), RedisLeaseError> {
        let (marks, queue) = std::sync::mpsc::sync_channel(marks::QUEUE);
        let remote = Remote {
            client: redis::Client::open(config.url.as_str())?,
            config: config.clone(),
            scripts: Scripts::new(),
            idle: Mutex::new(Vec::new()),
            fresh: AtomicBool::new(false),
            apply_lock: Mutex::new(()),
            marks,
            hold_reconnect: AtomicBool::new(false),
            rebuilds: AtomicU64::new(0),
        };
        for pool in &table.pools {
            let numbers: Vec<&str> = pool.numbers.iter().map(|n| &**n).collect();
            for (k, slice) in numbers.chunks(SCRIPT_SLICE).enumerate() {
                let mut invocation = remote.scripts.sync_pool.prepare_invoke();
                invocation
                    .arg(&config.key_prefix)
                    .arg(pool_key(&pool.site, &pool.id))
                    .arg(k * SCRIPT_SLICE)
                    .arg(slice);
                remote.run::<i64>(|con| invocation.invoke(con))?;
            }
        }
        if table.remote.set(remote).is_err() {
            return Ok(());
        }
        table.rebuild_mirror()?;
        subscriber::start(Arc::downgrade(table))?;
        marks::start(Arc::downgrade(table), queue)?;
        Ok(())
    }

    /// The Redis side, when the table is on Redis.
    pub(super) fn remote(&self) -> Option<&Remote> {
        self.remote.get()
    }

    /// `Some(up)` on Redis: whether the mirror is subscribed and fully read; `None` in memory.
    pub fn backend_up(&self) -> Option<bool> {
        self.remote().map(|r| r.fresh.load(Ordering::Acquire))
    }

    /// How often the mirror was fully read from Redis (start and every re-subscription).
    pub fn mirror_rebuilds(&self) -> u64 {
        self.remote()
            .map_or(0, |r| r.rebuilds.load(Ordering::Relaxed))
    }

    /// Test hook: while held, a dropped subscription is not re-established.
    #[doc(hidden)]
    pub fn hold_mirror_reconnect(&self, hold: bool) {
        if let Some(r) = self.remote() {
            r.hold_reconnect.store(hold, Ordering::Release);
        }
    }

    /// A round trip to Redis for the holder of `number` (benchmarks and diagnostics; the
    /// call path reads the mirror).
    pub fn holder_of_direct(&self, number: &str) -> Result<Option<Lease>, RedisLeaseError> {
        let Some(remote) = self.remote() else {
            return Ok(None);
        };
        let mut invocation = remote.scripts.read_all.prepare_invoke();
        invocation.arg(&remote.config.key_prefix).arg(number);
        let json: String = remote.run(|con| invocation.invoke(con))?;
        let events: Vec<Event> = serde_json::from_str(&json)?;
        Ok(events.first().and_then(|ev| self.lease_of_event(ev)))
    }

    pub(super) fn remote_grant(
        &self,
        remote: &Remote,
        req: GrantRequest,
        now: Timestamp,
    ) -> Result<Lease, LeaseError> {
        let index = self
            .pool_index(&req.site, &req.pool)
            .ok_or(LeaseError::UnknownPool)?;
        let pool = self.pool(index);
        let visit = serde_json::to_string(&req.visit).unwrap_or_else(|_| "{}".into());
        let mut invocation = remote.scripts.grant.prepare_invoke();
        invocation
            .arg(&remote.config.key_prefix)
            .arg(pool_key(&pool.site, &pool.id))
            .arg(&req.session_id)
            .arg(req.visitor_id.as_deref().unwrap_or(""))
            .arg(visit)
            .arg(to_ms(now))
            .arg(pool.freeze().as_millis())
            .arg(pool.cooldown.as_millis());
        let answer: Option<String> = remote
            .run(|con| invocation.invoke(con))
            .map_err(unavailable)?;
        let ev = self
            .apply_answer(remote, answer.as_deref())
            .map_err(unavailable)?;
        let lease = ev.and_then(|ev| self.lease_of_event(&ev));
        let lease = lease.ok_or(LeaseError::Exhausted)?;
        pool.granted_total.fetch_add(1, Ordering::Relaxed);
        Ok(lease)
    }

    /// A heartbeat (`release = false`) or the page left (`true`), on Redis.
    pub(super) fn remote_touch(
        &self,
        remote: &Remote,
        session_id: &str,
        now: Timestamp,
        release: bool,
    ) -> Option<Lease> {
        let mut invocation = remote.scripts.touch.prepare_invoke();
        invocation
            .arg(&remote.config.key_prefix)
            .arg(session_id)
            .arg(to_ms(now))
            .arg(u8::from(release));
        let answer = remote.run::<Option<String>>(|con| invocation.invoke(con));
        match answer.map(|a| self.apply_answer(remote, a.as_deref())) {
            Ok(Ok(ev)) => ev.and_then(|ev| self.lease_of_event(&ev)),
            Ok(Err(error)) => warn_failed("heartbeat", &error),
            Err(error) => warn_failed("heartbeat", &error),
        }
    }

    /// Ends the expired leases of every pool on Redis; how many ended.
    pub(super) fn remote_expire(&self, remote: &Remote, now: Timestamp) -> usize {
        let mut ended = 0;
        for pool in &self.pools {
            let mut invocation = remote.scripts.expire.prepare_invoke();
            invocation
                .arg(&remote.config.key_prefix)
                .arg(pool_key(&pool.site, &pool.id))
                .arg(to_ms(now));
            match remote.run::<i64>(|con| invocation.invoke(con)) {
                Ok(n) => ended += usize::try_from(n).unwrap_or(0),
                Err(error) => return warn_failed("expiry", &error).unwrap_or(ended),
            }
        }
        ended
    }

    /// Queues a ring mark for the worker; a full queue drops it with a warning.
    pub(super) fn remote_mark(&self, remote: &Remote, mark: Mark) {
        if remote.marks.try_send(mark).is_err() {
            tracing::warn!("lease ring mark dropped: the Redis worker is behind");
        }
    }

    /// Reads every configured number from Redis and applies it by force.
    pub(super) fn rebuild_mirror(&self) -> Result<(), RedisLeaseError> {
        let Some(remote) = self.remote() else {
            return Ok(());
        };
        for pool in &self.pools {
            let numbers: Vec<&str> = pool.numbers.iter().map(|n| &**n).collect();
            for slice in numbers.chunks(SCRIPT_SLICE) {
                let mut invocation = remote.scripts.read_all.prepare_invoke();
                invocation.arg(&remote.config.key_prefix).arg(slice);
                let json: String = remote.run(|con| invocation.invoke(con))?;
                let events: Vec<Event> = serde_json::from_str(&json)?;
                let _serial = remote
                    .apply_lock
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                for ev in &events {
                    self.apply_event(ev, Apply::Force);
                }
            }
        }
        remote.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Applies a script's answer (an event as JSON, or nothing) to the mirror.
    fn apply_answer(
        &self,
        remote: &Remote,
        answer: Option<&str>,
    ) -> Result<Option<Event>, RedisLeaseError> {
        let Some(json) = answer else {
            return Ok(None);
        };
        let ev: Event = serde_json::from_str(json)?;
        remote.apply(self, &ev);
        Ok(Some(ev))
    }
}

impl Remote {
    /// Runs `f` on a pooled connection (opened on demand with the configured timeouts); a
    /// connection that failed is dropped, not pooled.
    /// A pooled connection that fails on IO (Redis restarted) is retried once on a new one.
    fn run<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, RedisLeaseError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let (mut con, answer) = match pooled {
            Some(mut con) => {
                let answer = f(&mut con);
                (con, answer)
            }
            None => {
                let mut con = self.connect()?;
                let answer = f(&mut con);
                (con, answer)
            }
        };
        let answer = match answer {
            Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                con = self.connect()?;
                f(&mut con)?
            }
            other => other?,
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(con);
        }
        Ok(answer)
    }

    fn connect(&self) -> Result<redis::Connection, RedisLeaseError> {
        let con = self
            .client
            .get_connection_with_timeout(self.config.connect_timeout)?;
        con.set_read_timeout(Some(self.config.command_timeout))?;
        con.set_write_timeout(Some(self.config.command_timeout))?;
        Ok(con)
    }

    /// Applies one change event to the mirror if it is newer than what it holds.
    fn apply(&self, table: &LeaseTable, ev: &Event) {
        let _serial = self
            .apply_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.apply_event(ev, Apply::IfNewer);
    }
}

/// A pool's name in Redis keys.
fn pool_key(site: &str, pool: &str) -> String {
    format!("{site}/{pool}")
}

fn unavailable(error: RedisLeaseError) -> LeaseError {
    LeaseError::Unavailable(error.to_string())
}

fn warn_failed<T>(what: &str, error: &RedisLeaseError) -> Option<T> {
    tracing::warn!(%error, "lease {what} on Redis failed");
    None
}
