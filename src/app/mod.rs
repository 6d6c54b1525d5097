//! The composition root: builds every component from the validated config, wires them, and
//! runs the task tree until shutdown. The only place that constructs and connects things.

mod backlog;
pub mod diff;
mod forward;
mod gate;
mod opening;
mod relay_latency;
pub mod reload;
mod resolver;
pub mod watchdog;

pub use reload::{ReloadOutcome, Reloader};
pub use watchdog::Heartbeat;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::reload::HostNames;
use crate::app::watchdog::BEAT_EVERY;
use crate::b2bua::Shared;
use crate::b2bua::{B2bua, CallEvent};
use crate::config::{Config, SharedConfig};
use crate::display::{GeoError, GeoResolver};
use crate::edge::flood::Bans;
use crate::health::HealthTable;
use crate::http::{Gauges, HttpError, HttpServer, HttpState};
use crate::lease::LeaseTable;
use crate::routing::HostTable;
use crate::sip::dialog::LocalEndpoint;
use crate::sip::message::Limits;
use crate::sip::{Peer, Transmit};
use crate::store::{StoreCommand, StoreError, StoreSender, WriterHandle};
use crate::telemetry::metrics::{self as ops_metrics, CoreMetrics};
use crate::transport::driver::Core;
use crate::transport::{self, Inbound, LocalAddrs, TransportConfig, TransportError};
use backlog::StoreBacklog;
use forward::forward_events;
use relay_latency::RelayLatency;
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
        let restored = crate::lease::load_on_start(&leases, opened.saved_leases, Timestamp::now());
        tracing::info!(restored, "visitor leases restored");
        let bans = Bans::default();
        let mut sockets = transport::bind(&transport_config(&config)).await?;
        sockets.set_gate(Arc::new(gate::EdgeGate {
            config: live.clone(),
            bans: bans.clone(),
        }));
        let sip = sockets.local_addrs();
        let gauges = Arc::new(Gauges::default());
        let health = HealthTable::default();
        let reader = crate::store::StoreReader::new(&config.store.path);
        let exports = crate::export::build::services(
            &config.exports,
            &config.reports_currency,
            &reader,
            &store,
            &opened.outbox,
        )?;
        let metrica_polls = crate::export::build::metrica_polls(
            &config.exports,
            &config.reports_currency,
            &reader,
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
        };
        let http = HttpServer::bind(config.http.listen, http_state).await?;
        let http_addr = http.local_addr();
        let hosts = HostTable::default();
        let names: HostNames = Arc::new(ArcSwap::from_pointee(HostTable::names_in(&config)));
        resolve_hosts(&hosts, &names.load()).await;
        let media = Arc::new(crate::media::MediaTable::new(&config.media));
        let shared = Shared {
            media: media.clone(),
            hosts: hosts.clone(),
            leases: leases.clone(),
            history: opened.history,
            blacklist: blacklist.clone(),
            health,
            bans,
        };
        let heartbeat = Heartbeat::new(now());
        let backlog = StoreBacklog::new(store.clone());
        let mut engine = Engine::new(
            live.clone(),
            shared,
            &sip,
            gauges,
            heartbeat.clone(),
            backlog,
        );
        // BYEs on both legs of the answered calls a crash interrupted, sent by the driver.
        engine.b2bua.recover(now(), opened.interrupted);
        let resolver = Resolver {
            hosts: hosts.clone(),
            names: names.clone(),
        };
        let reloader = Reloader::new(live, hosts, names);
        tracing::info!(udp = ?sip.udp, tcp = ?sip.tcp, http = ?http_addr, "calltrack listening");
        let services = Services {
            engine,
            sockets,
            http,
            resolver,
            leases,
            store,
            writer: opened.writer,
            exports,
            metrica_polls,
            media: crate::media::MediaService::new(media, config.media.bind_ip),
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
    engine: Engine,
    sockets: transport::Sockets,
    http: HttpServer,
    resolver: Resolver,
    leases: Arc<LeaseTable>,
    store: StoreSender,
    writer: WriterHandle,
    /// One delivery service per export destination.
    exports: Vec<crate::export::service::DeliveryService>,
    /// One status poll per Metrica destination.
    metrica_polls: Vec<crate::export::metrica::poll::MetricaPoll>,
    /// The RTP relay's sockets.
    media: crate::media::MediaService,
}

/// The service tree: SIP driver, HTTP, resolver, CDR forwarding; CDRs are flushed last.
async fn run_services(
    config: Arc<Config>,
    services: Services,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let Services {
        engine,
        sockets,
        http,
        resolver,
        leases,
        store,
        writer,
        exports,
        metrica_polls,
        media,
    } = services;
    let media_stop = CancellationToken::new();
    let media_task = tokio::spawn(media.run(media_stop.clone()));
    let (events_tx, events_rx) = mpsc::channel(config.store.queue_capacity.max(1));
    let forwarded = engine.backlog.forwarded();
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
    let sweeper_task = tokio::spawn(crate::lease::run_sweeper(leases, store, http_stop.clone()));
    let upkeep_task = tokio::spawn(ops_metrics::run_upkeep(http_stop.clone()));
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
    let driver = transport::driver::run(engine, sockets, events_tx.clone(), shutdown, grace).await;
    let mut engine = driver?;
    engine.b2bua.abandon_all(Instant::now());
    media_stop.cancel();
    while let Some(event) = engine.poll_event() {
        if events_tx.send(event).await.is_err() {
            break;
        }
    }
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
    media_task.await?;
    // Delivery settles through the writer too; what is still pending is sent after restart.
    export_stop.cancel();
    for task in export_tasks {
        task.await?;
    }
    let stats = tokio::task::spawn_blocking(move || writer.shutdown()).await??;
    tracing::info!(cdrs = stats.cdrs_written, "CDRs flushed; calltrack stopped");
    http_result??;
    sweeper_result?;
    usage_result?;
    Ok(())
}

/// The B2BUA as the transport driver sees it, plus the gauges HTTP reads, its metrics, the
/// live config it follows and the watchdog heartbeat it beats.
#[derive(Debug)]
struct Engine {
    b2bua: B2bua,
    gauges: Arc<Gauges>,
    metrics: CoreMetrics,
    live: SharedConfig,
    /// The config the core runs on; swapped when `live` changes (a reload).
    current: Arc<Config>,
    heartbeat: Heartbeat,
    next_beat: Instant,
    /// Call events not yet taken by the CDR writer: the overload guard's store signal.
    backlog: StoreBacklog,
    relay: RelayLatency,
}

impl Engine {
    fn new(
        live: SharedConfig,
        shared: Shared,
        sip: &LocalAddrs,
        gauges: Arc<Gauges>,
        heartbeat: Heartbeat,
        backlog: StoreBacklog,
    ) -> Engine {
        let config = live.load_full();
        let local = LocalEndpoint {
            udp: sip.udp.first().copied(),
            tcp: sip.tcp.first().copied(),
            advertised_host: config.sip.advertised_host.clone(),
            advertised_port: config.sip.advertised_port,
        };
        let seed = rand::random::<u64>();
        let wall = Timestamp::now();
        let b2bua = B2bua::new(config.clone(), shared, local, now(), wall, seed);
        Engine {
            b2bua,
            gauges,
            metrics: CoreMetrics::default(),
            live,
            current: config,
            heartbeat,
            next_beat: now(),
            backlog,
            relay: RelayLatency::default(),
        }
    }

    /// Before each input: follow a reloaded config (so one input sees one config) and beat.
    fn enter(&mut self, now: Instant) {
        let latest = self.live.load();
        if !Arc::ptr_eq(&latest, &self.current) {
            self.current = Arc::clone(&latest);
            self.b2bua.reload(self.current.clone());
            tracing::debug!("SIP core follows the reloaded config");
        }
        self.heartbeat.beat(now);
        if now >= self.next_beat {
            self.next_beat = now + BEAT_EVERY;
        }
    }

    fn publish(&mut self) {
        self.gauges
            .active_calls
            .store(self.b2bua.active_calls(), Ordering::Relaxed);
        self.metrics.observe(&self.b2bua);
    }
}

/// The driver's clock (tokio's, so a paused test clock drives the core too).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Core for Engine {
    type Event = StoreCommand;

    fn handle_inbound(&mut self, now: Instant, inbound: Inbound) {
        self.enter(now);
        self.b2bua
            .observe_queue_delay(now, now.saturating_duration_since(inbound.received));
        self.b2bua.observe_store_backlog(self.backlog.unwritten());
        let bridged = self.b2bua.stats().calls_bridged;
        self.b2bua.handle_datagram(now, inbound.bytes, inbound.peer);
        let relayed = self.b2bua.stats().calls_bridged - bridged;
        if relayed > 0 {
            self.relay
                .started(inbound.received, u32::try_from(relayed).unwrap_or(u32::MAX));
        }
        self.publish();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        self.b2bua.handle_timeout(now);
        self.publish();
    }

    fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        self.enter(now);
        self.b2bua.handle_transport_error(now, peer);
        self.publish();
    }

    /// When the input's last transmit has gone to the sockets, its relayed INVITEs are timed.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        let transmit = self.b2bua.poll_transmit();
        if transmit.is_none() {
            self.relay.sent(now());
        }
        transmit
    }

    fn poll_event(&mut self) -> Option<StoreCommand> {
        let event = self.b2bua.poll_event()?;
        self.backlog.emitted();
        if let CallEvent::Ended(cdr) = &event {
            ops_metrics::call_recorded(cdr.disposition.as_str());
        }
        Some(store_command(event))
    }

    /// The core's next timer, or the next heartbeat if that comes first.
    fn poll_timeout(&self) -> Option<Instant> {
        let core = self.b2bua.poll_timeout();
        Some(core.map_or(self.next_beat, |t| t.min(self.next_beat)))
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.enter(now);
        self.b2bua.begin_shutdown(now);
    }

    fn is_idle(&self) -> bool {
        self.b2bua.is_idle()
    }
}

fn store_command(event: CallEvent) -> StoreCommand {
    match event {
        CallEvent::Started(live) => StoreCommand::CallStarted(live),
        CallEvent::Answered { id, at } => StoreCommand::CallAnswered {
            id,
            answered_at: at,
        },
        CallEvent::Ended(cdr) => StoreCommand::CallEnded(cdr),
        CallEvent::Dialogs { id, dialogs } => StoreCommand::DialogsChanged { id, dialogs },
    }
}
