//! The node service on PostgreSQL: two named threads, each on its own connection (never the
//! writer's, so a busy writer cannot make this node look dead):
//!
//! - `node-heartbeat` stamps this node's row every `[node] heartbeat_ms`;
//! - `node-watch` reads every heartbeat on the same period, counts the live nodes for
//!   `/health` and takes over the dead ones ([`super::takeover`]);
//! - threads started beside them stop with them (`blacklist-watch`, [`super::blacklist_watch`]).
//!
//! A lost connection is logged, marks the store unreachable and is reopened on the next
//! tick. On a clean stop the heartbeat thread removes this node's row if it left no live
//! calls (so survivors do not take over a node that merely stopped).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::Client;

use super::takeover::{self, TakenOver};
use super::{connect, nodes};
use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::outbox::Outbox;
use crate::store::status::StoreStatus;

/// What the node service needs beyond the connection settings.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// `[node] id`.
    pub node: String,
    /// `[node] heartbeat_ms`: the period of both threads.
    pub heartbeat: Duration,
    /// `[node] dead_after_ms`.
    pub dead_after: Duration,
    /// `[node] http_url`.
    pub http_url: Option<String>,
}

/// The running service; [`NodeService::stop`] it after the writer has flushed.
#[derive(Debug)]
pub struct NodeService {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
}

/// A stop flag threads sleep on.
#[derive(Debug, Default)]
pub(super) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Sleeps `period` or until stopped; returns whether to stop.
    pub(super) fn wait(&self, period: Duration) -> bool {
        let Ok(guard) = self.stopped.lock() else {
            return true;
        };
        match self
            .wake
            .wait_timeout_while(guard, period, |stopped| !*stopped)
        {
            Ok((stopped, _)) => *stopped,
            Err(_) => true,
        }
    }

    /// Whether to stop, without waiting.
    pub(super) fn is_set(&self) -> bool {
        self.stopped.lock().map_or(true, |stopped| *stopped)
    }

    fn set(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.wake.notify_all();
    }
}

/// Beats once (so the node is known before its first call), then starts both threads.
pub fn spawn_node_service(
    config: &PostgresConfig,
    opts: NodeOptions,
    outbox: Arc<Outbox>,
    status: Arc<StoreStatus>,
) -> Result<NodeService, StoreError> {
    let started_at = jiff::Timestamp::now().as_millisecond();
    let mut beat = Heart {
        config: config.clone(),
        client: Some(connect(config)?),
        node: opts.node.clone(),
        started_at,
        http_url: opts.http_url.clone(),
    };
    beat.beat()?;
    status.set_reachable(true);
    if let Some(client) = beat.client.as_mut() {
        let (now_ms, beats) = nodes::read(client)?;
        let live = super::liveness::live_count(&beats, now_ms, opts.dead_after);
        status.set_live_nodes(live);
    }
    let stop = Arc::new(Stop::default());
    let watch = Watch {
        config: config.clone(),
        client: None,
        opts: opts.clone(),
        outbox,
    };
    let threads = vec![
        spawn("node-heartbeat", {
            let (stop, status) = (stop.clone(), status.clone());
            move || beat.run(&stop, opts.heartbeat, &status)
        })?,
        spawn("node-watch", {
            let stop = stop.clone();
            move || watch.run(&stop, &status)
        })?,
    ];
    Ok(NodeService { stop, threads })
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(StoreError::WriterStart)
}

impl NodeService {
    /// Starts one more thread that stops with the others (the blacklist watch).
    pub(super) fn spawn_beside(
        &mut self,
        name: &str,
        run: impl FnOnce(Arc<Stop>) + Send + 'static,
    ) -> Result<(), StoreError> {
        let stop = self.stop.clone();
        self.threads.push(spawn(name, move || run(stop))?);
        Ok(())
    }

    /// Stops every thread and waits for them (blocks: call from a blocking context).
    pub fn stop(self) {
        self.stop.set();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// A connection that is reopened after an error.
fn ensure(client: &mut Option<Client>, config: &PostgresConfig) -> Result<(), StoreError> {
    if client.as_ref().is_none_or(Client::is_closed) {
        *client = Some(connect(config)?);
    }
    Ok(())
}

/// The heartbeat thread.
struct Heart {
    config: PostgresConfig,
    client: Option<Client>,
    node: String,
    started_at: i64,
    http_url: Option<String>,
}

impl Heart {
    fn run(mut self, stop: &Stop, period: Duration, status: &StoreStatus) {
        while !stop.wait(period) {
            match self.beat() {
                Ok(()) => status.set_reachable(true),
                Err(error) => {
                    status.set_reachable(false);
                    self.client = None;
                    tracing::warn!(%error, node = %self.node, "node heartbeat not written");
                }
            }
        }
        self.leave();
    }

    fn beat(&mut self) -> Result<(), StoreError> {
        ensure(&mut self.client, &self.config)?;
        let Some(client) = self.client.as_mut() else {
            return Ok(());
        };
        let url = self.http_url.as_deref();
        if let Some(by) = nodes::beat(client, &self.node, self.started_at, url)? {
            tracing::warn!(
                node = %self.node,
                taken_over_by = %by,
                "this node was silent past node.dead_after_ms and its live calls were closed \
                 as interrupted by another node; calls it still holds keep those CDRs"
            );
        }
        Ok(())
    }

    fn leave(&mut self) {
        let left = ensure(&mut self.client, &self.config).and_then(|()| match &mut self.client {
            Some(client) => nodes::leave(client, &self.node),
            None => Ok(false),
        });
        match left {
            Ok(true) => tracing::info!(node = %self.node, "node left the heartbeat table"),
            Ok(false) => tracing::warn!(
                node = %self.node,
                "node stopped with live calls; another node will close them"
            ),
            Err(error) => tracing::warn!(%error, "node row not removed at stop"),
        }
    }
}

/// The thread that watches the other nodes' heartbeats.
struct Watch {
    config: PostgresConfig,
    client: Option<Client>,
    opts: NodeOptions,
    outbox: Arc<Outbox>,
}

impl Watch {
    fn run(mut self, stop: &Stop, status: &StoreStatus) {
        while !stop.wait(self.opts.heartbeat) {
            match self.sweep() {
                Ok(live) => status.set_live_nodes(live),
                Err(error) => {
                    self.client = None;
                    tracing::warn!(%error, "dead-node sweep failed; retried next heartbeat");
                }
            }
        }
    }

    fn sweep(&mut self) -> Result<usize, StoreError> {
        ensure(&mut self.client, &self.config)?;
        let Some(client) = self.client.as_mut() else {
            return Ok(0);
        };
        let subscriptions = self.outbox.subscriptions();
        let me = &self.opts.node;
        let sweep = takeover::sweep(client, me, self.opts.dead_after, &subscriptions)?;
        for done in &sweep.taken_over {
            report(done, me);
        }
        if sweep.taken_over.iter().any(|t| t.facts > 0) {
            self.outbox.ring();
        }
        metrics::gauge!("calltrack_nodes_live").set(sweep.live_nodes as f64);
        Ok(sweep.live_nodes)
    }
}

/// The takeover's log line and metrics.
fn report(done: &TakenOver, me: &str) {
    metrics::counter!("calltrack_node_takeovers_total").increment(1);
    metrics::counter!("calltrack_node_calls_taken_over_total").increment(done.calls as u64);
    tracing::warn!(
        dead_node = %done.node,
        calls = done.calls,
        by = me,
        "node silent past node.dead_after_ms: its live calls closed as interrupted"
    );
}
