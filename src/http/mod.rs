//! The HTTP side: the website snippet API and script, the admin API, health.
//!
//! Every error is JSON (`errors.rs`); overload is answered with 429 + Retry-After (`limits.rs`).

pub mod access;
pub mod admin;
mod admin_auth;
mod agent;
mod blacklist;
mod calls;
mod calls_csv;
mod client;
mod commit;
mod cors;
pub mod costs;
pub mod dashboard;
pub mod errors;
mod lead_view;
pub mod leads;
pub mod leads_api;
mod limits;
pub mod login;
mod metrics;
mod numbers;
pub mod openapi;
pub mod outbox;
pub mod pool_usage;
pub mod recording;
mod recording_fetch;
mod report_tags;
pub mod reports;
mod router;
pub mod session_id;
pub mod sessions;
pub mod sign_ins;
pub mod snippet;
mod state;
pub mod target_health;
mod transcripts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use tokio_util::sync::CancellationToken;

use crate::config::SharedConfig;
use crate::display::GeoResolver;
use crate::edge::blacklist::Blacklist;
use crate::lease::LeaseTable;

pub use router::router;

/// Live facts the HTTP side can read without touching the SIP core, and its own counters.
#[derive(Debug, Default)]
pub struct Gauges {
    pub active_calls: AtomicUsize,
    /// Snippet sessions created (any kind).
    pub sessions_created: AtomicU64,
    /// Successful snippet heartbeats.
    pub heartbeats: AtomicU64,
    /// The call store's backend and health.
    pub store: Arc<crate::store::status::StoreStatus>,
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The current config: handlers `load()` it per request, so a reload takes effect at once.
    pub config: SharedConfig,
    pub leases: Arc<LeaseTable>,
    pub geo: Arc<GeoResolver>,
    pub gauges: Arc<Gauges>,
    /// Refused callers; the admin API edits it, the SIP core reads it.
    pub blacklist: Arc<Blacklist>,
    /// Forwarding-target health, written by the SIP core's prober.
    pub health: crate::health::HealthTable,
    /// The store's one writer: blacklist edits are committed through it.
    pub store: crate::store::StoreSender,
    /// Read-only connections to the SQLite file (leads, transcripts, recordings, outbox).
    pub reader: crate::store::StoreReader,
    /// The configured backend's reads: the calls API and its CSV, reports (the dashboard's
    /// figures).
    pub reads: crate::store::BackendReader,
}

/// HTTP failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot bind HTTP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A bound HTTP listener, ready to serve.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    state: HttpState,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr, state: HttpState) -> Result<HttpServer, HttpError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        Ok(HttpServer { listener, state })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), HttpError> {
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(HttpError::Serve)
    }
}

/// `GET /health` body.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HealthView {
    /// Always `ok` while the process serves HTTP (see `leases.up` for the lease backend).
    pub status: String,
    pub active_calls: usize,
    pub sessions_created: u64,
    pub heartbeats: u64,
    /// Where the lease table lives and whether it answers.
    pub leases: LeaseBackendView,
    /// Where calls are kept and whether the store answers.
    pub store: StoreBackendView,
}

/// The call store in `GET /health`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoreBackendView {
    /// `sqlite` or `postgres` (`[store] backend`).
    pub backend: String,
    /// Always true on SQLite; on PostgreSQL, whether this node's last heartbeat was written.
    pub reachable: bool,
    /// Milliseconds since the writer last committed a batch (null: nothing written yet).
    pub last_write_age_ms: Option<u64>,
    /// `[node] id`.
    pub node_id: String,
    /// PostgreSQL: nodes with a fresh heartbeat, this one included (null on SQLite).
    pub live_nodes: Option<usize>,
    /// PostgreSQL: store commands waiting in the local spool for PostgreSQL to come back
    /// (0 while it answers; null on SQLite).
    pub spooled: Option<usize>,
}

impl StoreBackendView {
    fn read(status: &crate::store::status::StoreStatus) -> StoreBackendView {
        let health = status.read(jiff::Timestamp::now());
        StoreBackendView {
            backend: health.backend.as_str().into(),
            reachable: health.reachable,
            last_write_age_ms: health
                .last_write_age
                .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            node_id: health.node_id,
            live_nodes: health.live_nodes,
            spooled: health.spooled,
        }
    }
}

/// The lease backend in `GET /health`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LeaseBackendView {
    /// `memory` or `redis` (`[leases] backend`).
    pub backend: String,
    /// Always true in memory; on Redis, whether this node's mirror is subscribed and read.
    pub up: bool,
}

/// `GET /health`: liveness and a few live counters.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    responses((status = 200, description = "The process is up", body = HealthView))
)]
pub async fn health(
    State(gauges): State<Arc<Gauges>>,
    State(leases): State<Arc<LeaseTable>>,
) -> Json<HealthView> {
    let (backend, up) = match leases.backend_up() {
        None => ("memory", true),
        Some(up) => ("redis", up),
    };
    Json(HealthView {
        status: "ok".into(),
        leases: LeaseBackendView {
            backend: backend.into(),
            up,
        },
        store: StoreBackendView::read(&gauges.store),
        active_calls: gauges.active_calls.load(Ordering::Relaxed),
        sessions_created: gauges.sessions_created.load(Ordering::Relaxed),
        heartbeats: gauges.heartbeats.load(Ordering::Relaxed),
    })
}
