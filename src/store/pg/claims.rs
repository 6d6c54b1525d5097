//! A node's delivery services claiming from the shared outbox on PostgreSQL: one connection
//! of their own (the writer keeps its own) owned by a thread of its own, `outbox-claims`
//! (the sync client runs its own runtime, so it never lives on an async thread), fed by a
//! channel; the thread ends when the last handle is dropped. Each claim holds its rows for
//! `lease`; rows claimed but not sent this round are released at once. A connection lost
//! (PostgreSQL restarted or away for a while) is opened again before the next job, with
//! backoff ([`super::spool::Reconnect`]); meanwhile jobs fail and the services retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use jiff::Timestamp;
use postgres::Client;

use super::outbox;
use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::outbox::OutboxEvent;
use crate::store::outbox::from_millis;

/// Shared by every delivery service of the node.
#[derive(Clone)]
pub struct PgClaims {
    jobs: mpsc::Sender<Job>,
    node: Arc<str>,
    lease: Duration,
    /// Set while the writer's spool holds commands (settlements among them): a claim then
    /// could take back a row whose delivery is settled in the spool, so none is made.
    held: Arc<AtomicBool>,
}

/// Work for the claims thread.
type Job = Box<dyn FnOnce(&mut Client) + Send>;

impl std::fmt::Debug for PgClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgClaims")
            .field("node", &self.node)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl PgClaims {
    /// Connects for `node`'s claims; a claim not settled within `lease` is taken over.
    pub fn open(config: &PostgresConfig, node: &str, lease: Duration) -> Result<Self, StoreError> {
        let mut client = super::connect(config)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let config = config.clone();
        std::thread::Builder::new()
            .name("outbox-claims".into())
            .spawn(move || {
                let mut reconnect = super::spool::Reconnect::default();
                for job in queue {
                    reconnect_if_closed(&mut client, &config, &mut reconnect);
                    job(&mut client);
                }
            })
            .map_err(StoreError::WriterStart)?;
        Ok(PgClaims {
            jobs,
            node: node.into(),
            lease,
            held: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// Opens the claims connection again if it was lost and an attempt is due.
fn reconnect_if_closed(
    client: &mut Client,
    config: &PostgresConfig,
    reconnect: &mut super::spool::Reconnect,
) {
    let now = std::time::Instant::now();
    if !client.is_closed() || !reconnect.due(now) {
        return;
    }
    match super::connect(config) {
        Ok(fresh) => {
            *client = fresh;
            reconnect.succeeded();
            tracing::info!("outbox claims: connected to PostgreSQL again");
        }
        Err(error) => {
            reconnect.failed(now);
            tracing::debug!(%error, "outbox claims: PostgreSQL still unreachable");
        }
    }
}

impl PgClaims {
    async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Client, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let node = self.node.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |client| {
            let _ = done.send(work(client, &node));
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::ReaderPanicked)?;
        answer.await.map_err(|_| StoreError::ReaderPanicked)?
    }

    /// Claims up to `limit` due events of `destination`; also when the next pending one is due.
    pub async fn claim(
        &self,
        destination: &str,
        limit: usize,
    ) -> Result<(Vec<OutboxEvent>, Option<Timestamp>), StoreError> {
        if self.held.load(Ordering::Acquire) {
            return Ok((Vec::new(), None));
        }
        let (destination, lease) = (destination.to_owned(), self.lease);
        self.with(move |client, node| {
            let now = Timestamp::now();
            let events = outbox::claim(client, &destination, node, now, lease, limit)?;
            let next: Option<i64> = client
                .query_one(
                    "SELECT min(next_attempt_at) FROM outbox \
                     WHERE destination = $1 AND state = 'pending'",
                    &[&destination],
                )?
                .get(0);
            Ok((events, next.map(from_millis)))
        })
        .await
    }

    /// Holds claims back while the writer's spool is not empty (`true`), or lets them go.
    pub(in crate::store) fn hold(&self, held: bool) {
        self.held.store(held, Ordering::Release);
    }

    /// Gives back claimed rows this node will not send now (another node may take them).
    pub async fn release(&self, seqs: Vec<i64>) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.with(move |client, node| {
            client.execute(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL \
                 WHERE seq = ANY($1) AND claimed_by = $2",
                &[&seqs, &node],
            )?;
            Ok(())
        })
        .await
    }
}
