//! The composition root: builds every component from the validated config, wires them, and
//! runs the task tree until shutdown. The only place that constructs and connects things.

mod accuracy;
mod backlog;
pub mod diff;
mod engine;
mod forward;
pub mod freeze;
mod gate;
mod opening;
mod opening_pg;
pub mod recordings;
mod relay_latency;
pub mod reload;
mod resolver;
pub mod scorer_training;
pub mod watchdog;

pub use reload::{ReloadOutcome, Reloader};
pub use watchdog::Heartbeat;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::reload::HostNames;
use crate::b2bua::ShardSeat;
use crate::b2bua::Shared;
use crate::config::{Config, SharedConfig};
use crate::display::{GeoError, GeoResolver};
use crate::edge::SharedFlood;
use crate::edge::flood::Bans;
use crate::health::HealthTable;
use crate::http::{Gauges, HttpError, HttpServer, HttpState};
use crate::lease::LeaseTable;
use crate::routing::HostTable;
use crate::routing::rotation::Rotation;
use crate::sip::message::Limits;
use crate::store::{StoreError, StoreSender, WriterHandle};
use crate::telemetry::metrics as ops_metrics;
use crate::transport::driver::Core;
use crate::transport::{self, LocalAddrs, TransportConfig, TransportError};
use backlog::StoreBacklog;
use engine::Engine;
use forward::forward_events;
use resolver::{Resolver, resolve_hosts};

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install the SIGHUP handler: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error(transparent)]
    Export(#[from] crate::export::build::ExportError),
    #[error("cannot put the lease table on Redis: {0}")]
    Leases(#[from] crate::lease::RedisLeaseError),
    #[error("a service task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Extra time the transport keeps running after the call grace period, for the BYEs sent
/// when it ends to be answered.
const BYE_SETTLE: Duration = Duration::from_secs(5);

/// Runs the daemon until SIGTERM/SIGINT (the `serve` command); SIGHUP reloads `path` (the
/// `--config` file; `None` is the embedded default, which cannot change).
pub fn serve(config: Config, path: Option<&Path>) -> Result<(), AppError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let hangups = crate::shutdown::Hangups::install().map_err(AppError::Signals)?;
        let server = Server::start(config, shutdown.clone()).await?;
        let reloader = server.reloader.clone().with_path(path);
        let stopped = CancellationToken::new();
        let watchdog = tokio::spawn(crate::app::watchdog::run(
            server.heartbeat.clone(),
            stopped.clone(),
        ));
        crate::shutdown::notify_ready();
        let reloads = tokio::spawn(reloader.run(hangups, shutdown.clone()));
        let signals = tokio::spawn(crate::shutdown::watch_signals(shutdown));
        let result = server.wait().await;
        stopped.cancel();
        signals.abort();
        reloads.abort();
        let _ = watchdog.await;
        result
    })
}

/// A running calltrack: its bound addresses and the handle to wait for it.
#[derive(Debug)]
pub struct Server {
    pub sip: LocalAddrs,
    pub http: Option<SocketAddr>,
    pub db_path: PathBuf,
    /// Applies a new config file to this server (what SIGHUP does).
    pub reloader: Reloader,
    /// Beaten by the SIP driver loop; the systemd watchdog pings only while it is fresh.
    pub heartbeat: Heartbeat,
    task: JoinHandle<Result<(), AppError>>,
}

impl Server {
    /// Opens the store (recovering calls a crash left open), binds SIP and HTTP, and starts
    /// every service. Stops when `shutdown` is cancelled.
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Server, AppError> {
        ops_metrics::install();
        let config = Arc::new(config);
        for warning in config.security_warnings() {
            tracing::warn!("{warning}");
        }
        let live: SharedConfig = Arc::new(ArcSwap::new(config.clone()));
        let opened = opening::start_store(&config)?;
        let (store, blacklist) = (opened.store, opened.blacklist);
        let leases = Arc::new(LeaseTable::from_config(&config));
        let saved_leases = opening::attach_leases(&config, &leases, opened.saved_leases)?;
        let (restored, codes) =
            crate::lease::load_on_start(&leases, saved_leases, Timestamp::now());
        tracing::info!(
            restored,
            codes,
            "visitor leases and overflow codes restored"
        );
        let bans = Bans::default();
        let mut sockets = transport::bind(&transport_config(&config)).await?;
        sockets.set_gate(Arc::new(gate::EdgeGate {
            config: live.clone(),
            bans: bans.clone(),
        }));
        let sip = sockets.local_addrs();
        let gauges = Arc::new(Gauges {
            store: opened.status.clone(),
            ..Gauges::default()
        });
        let health = HealthTable::default();
        let reader = crate::store::StoreReader::new(&config.store.path);
        let reads = crate::store::BackendReader::of_config(&config);
        let exports = crate::export::build::services(
            &config.exports,
            &config.reports_currency,
            (&reader, &reads),
            &store,
            &opened.outbox,
        )?;
        let metrica_polls = crate::export::build::metrica_polls(
            &config.exports,
            &config.reports_currency,
            &reads,
            &store,
            &opened.outbox,
        )?;
        let http_state = HttpState {
            health: health.clone(),
            config: live.clone(),
            leases: leases.clone(),
            geo: Arc::new(GeoResolver::open(&config.geo)?),
            gauges: gauges.clone(),
            blacklist: blacklist.clone(),
            store: store.clone(),
            reader,
            reads: reads.clone(),
        };
        let http = HttpServer::bind(config.http.listen, http_state).await?;
        let http_addr = http.local_addr();
        let hosts = HostTable::default();
        let names: HostNames = Arc::new(ArcSwap::from_pointee(HostTable::names_in(&config)));
        resolve_hosts(&hosts, &names.load()).await;
        let media = Arc::new(crate::media::MediaTable::new(&config.media));
        let heartbeat = Heartbeat::new(now(), core_shards(&config));
        let backlog = StoreBacklog::new(store.clone());
        let forwarded = backlog.forwarded();
        let rotation = Rotation::default();
        let flood = SharedFlood::new(&config.security.flood, bans.clone());
        let engines: Vec<Engine> = ShardSeat::all(core_shards(&config))
            .into_iter()
            .map(|seat| {
                let shard = seat.index();
                let shared = Shared {
                    hosts: hosts.clone(),
                    leases: leases.clone(),
                    history: opened.history.clone(),
                    blacklist: blacklist.clone(),
                    health: health.clone(),
                    flood: flood.clone(),
                    rotation: rotation.clone(),
                    seat,
                    media: media.clone(),
                };
                let mut engine = Engine::new(
                    live.clone(),
                    shared,
                    &sip,
                    gauges.clone(),
                    heartbeat.for_shard(shard),
                    backlog.clone(),
                );
                // BYEs on both legs of the answered calls a crash interrupted, sent by the
                // shard each leg's Call-ID belongs to.
                engine.b2bua.recover(now(), opened.interrupted.clone());
                engine
            })
            .collect();
        let resolver = Resolver {
            hosts: hosts.clone(),
            names: names.clone(),
        };
        let reloader = Reloader::new(live.clone(), hosts, names);
        tracing::info!(udp = ?sip.udp, tcp = ?sip.tcp, http = ?http_addr, "calltrack listening");
        let media_service = crate::media::MediaService::new(media, config.media.bind_ip)
            .with_loops(config.media.relay_threads)
            .with_sink(Arc::new(store.clone()));
        let recordings = recordings::RecordingsJanitor {
            config: live.clone(),
            store: store.clone(),
            reader: reads.clone(),
        };
        let speech = crate::speech::SpeechService {
            config: live.clone(),
            store: store.clone(),
            reader: reads.clone(),
        };
        let training = scorer_training::ScorerTraining {
            config: live.clone(),
            store: store.clone(),
            reader: reads.clone(),
        };
        let services = Services {
            engines,
            forwarded,
            sockets,
            http,
            resolver,
            leases,
            store,
            writer: opened.writer,
            nodes: opened.nodes,
            exports,
            metrica_polls,
            media: media_service,
            recordings,
            speech,
            training,
        };
        let task = tokio::spawn(run_services(config.clone(), services, shutdown));
        Ok(Server {
            sip,
            http: http_addr,
            db_path: config.store.path.clone(),
            reloader,
            heartbeat,
            task,
        })
    }

    /// Waits until the server has shut down and flushed every CDR.
    pub async fn wait(self) -> Result<(), AppError> {
        self.task.await?
    }
}

fn transport_config(config: &Config) -> TransportConfig {
    TransportConfig {
        udp_listen: config.sip.udp_listen.clone(),
        tcp_listen: config.sip.tcp_listen.clone(),
        limits: Limits {
            max_message_bytes: config.sip.max_message_bytes,
            max_headers: config.sip.max_headers,
        },
        tcp_max_connections: config.sip.tcp_max_connections,
        tcp_reserved_trusted: config.sip.tcp_reserved_trusted_connections(),
        tcp_max_connections_per_source: config.sip.tcp_max_connections_per_source,
        tcp_idle_timeout: config.sip.tcp_idle_timeout,
        tcp_message_timeout: config.sip.tcp_message_timeout,
        inbound_queue: 4096,
    }
}

/// Everything built at start-up, handed to the service tree.
struct Services {
    /// One engine per shard of the SIP core.
    engines: Vec<Engine>,
    /// Call events the forwarder has handed to the writer (the engines' backlog reads it).
    forwarded: Arc<AtomicU64>,
    sockets: transport::Sockets,
    http: HttpServer,
    resolver: Resolver,
    leases: Arc<LeaseTable>,
    store: StoreSender,
    writer: WriterHandle,
    /// On PostgreSQL: this node's heartbeat and the dead-node takeover (stopped last).
    nodes: Option<crate::store::pg::NodeService>,
    /// One delivery service per export destination.
    exports: Vec<crate::export::service::DeliveryService>,
    /// One status poll per Metrica destination.
    metrica_polls: Vec<crate::export::metrica::poll::MetricaPoll>,
    /// The RTP relay's sockets.
    media: crate::media::MediaService,
    /// Retention of the call recordings.
    recordings: recordings::RecordingsJanitor,
    /// Transcription of recorded calls.
    speech: crate::speech::SpeechService,
    /// The call scorer's nightly training.
    training: scorer_training::ScorerTraining,
}

/// The service tree: SIP driver, HTTP, resolver, CDR forwarding; CDRs are flushed last.
async fn run_services(
    config: Arc<Config>,
    services: Services,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let Services {
        engines,
        forwarded,
        sockets,
        http,
        resolver,
        leases,
        store,
        writer,
        nodes,
        exports,
        metrica_polls,
        media,
        recordings,
        speech,
        training,
    } = services;
    let media_stop = CancellationToken::new();
    let media_task = tokio::spawn(media.run(media_stop.clone()));
    let (events_tx, events_rx) = mpsc::channel(config.store.queue_capacity.max(1));
    let forwarder = tokio::spawn(forward_events(events_rx, store.clone(), forwarded));
    let http_stop = CancellationToken::new();
    let http_task = tokio::spawn(http.run(http_stop.clone()));
    let resolver_task = tokio::spawn(resolver.run(http_stop.clone()));
    let usage_task = tokio::spawn(crate::lease::run_usage_sampler(
        leases.clone(),
        store.clone(),
        config.store.pool_usage_retention,
        jiff::Timestamp::now,
        http_stop.clone(),
    ));
    let freeze_task = tokio::spawn(freeze::run_freeze(
        config.sites.clone(),
        leases.clone(),
        (
            crate::store::StoreReader::new(&config.store.path),
            crate::store::BackendReader::of_config(&config),
        ),
        jiff::Timestamp::now,
        http_stop.clone(),
    ));
    let accuracy_task = tokio::spawn(accuracy::run_accuracy(
        config.sites.clone(),
        crate::store::BackendReader::of_config(&config),
        jiff::Timestamp::now,
        http_stop.clone(),
    ));
    let sweeper_task = spawn_sweeper(&config, leases, store, http_stop.clone());
    let upkeep_task = tokio::spawn(ops_metrics::run_upkeep(http_stop.clone()));
    let janitor_task = tokio::spawn(recordings.run(std::time::SystemTime::now, http_stop.clone()));
    let speech_task = tokio::spawn(speech.run(jiff::Timestamp::now, http_stop.clone()));
    let training_task = tokio::spawn(training.run(jiff::Timestamp::now, http_stop.clone()));
    let export_stop = CancellationToken::new();
    let export_tasks: Vec<_> = exports
        .into_iter()
        .map(|service| tokio::spawn(service.run(export_stop.clone())))
        .chain(
            metrica_polls
                .into_iter()
                .map(|poll| tokio::spawn(poll.run(export_stop.clone()))),
        )
        .collect();
    let grace = config.calls.shutdown_grace + BYE_SETTLE;
    let driver =
        transport::driver::run_shards(engines, sockets, events_tx.clone(), shutdown, grace).await;
    for mut engine in driver? {
        engine.b2bua.abandon_all(Instant::now());
        while let Some(event) = engine.poll_event() {
            if events_tx.send(event).await.is_err() {
                break;
            }
        }
    }
    media_stop.cancel();
    drop(events_tx);
    http_stop.cancel();
    forwarder.await?;
    // Everything that writes through the store (HTTP edits, the last lease snapshot) finishes
    // before the writer is shut down; the writer flushes last.
    let http_result = http_task.await;
    let sweeper_result = sweeper_task.await;
    let usage_result = usage_task.await;
    resolver_task.await?;
    upkeep_task.await?;
    accuracy_task.await?;
    freeze_task.await?;
    media_task.await?;
    janitor_task.await?;
    speech_task.await?;
    training_task.await?;
    // Delivery settles through the writer too; what is still pending is sent after restart.
    export_stop.cancel();
    for task in export_tasks {
        task.await?;
    }
    let stats = tokio::task::spawn_blocking(move || writer.shutdown()).await??;
    // The node beats until its CDRs are flushed, then leaves the heartbeat table.
    if let Some(nodes) = nodes {
        tokio::task::spawn_blocking(move || nodes.stop()).await?;
    }
    tracing::info!(cdrs = stats.cdrs_written, "CDRs flushed; calltrack stopped");
    http_result??;
    sweeper_result?;
    usage_result?;
    Ok(())
}

/// The driver's clock (tokio's, so a paused test clock drives the core too).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How many shards the SIP core runs: `[sip] workers`, else the number of CPUs.
fn core_shards(config: &Config) -> usize {
    config.sip.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

/// The lease sweeper, saving its snapshots through the writer on SQLite, or to the node's own
/// SQLite file when the store is on PostgreSQL (`store::lease_file`).
fn spawn_sweeper(
    config: &Config,
    leases: Arc<LeaseTable>,
    store: crate::store::StoreSender,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let history = config.tracking.lease_history;
    match &config.store.backend {
        crate::config::StoreBackend::Sqlite => {
            tokio::spawn(crate::lease::run_sweeper(leases, store, history, stop))
        }
        crate::config::StoreBackend::Postgres(_) => {
            let file = crate::store::lease_file::LeaseFile::new(&config.store.path);
            tokio::spawn(crate::lease::run_sweeper(leases, file, history, stop))
        }
    }
}
