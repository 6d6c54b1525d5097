//! The HTTP side: health endpoint for now (the snippet and admin APIs arrive with their issues).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Live facts the HTTP side can read without touching the SIP core.
#[derive(Debug, Default)]
pub struct Gauges {
    pub active_calls: AtomicUsize,
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
#[derive(Debug)]
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    gauges: Arc<Gauges>,
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr, gauges: Arc<Gauges>) -> Result<HttpServer, HttpError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        Ok(HttpServer { listener, gauges })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), HttpError> {
        let app = router(self.gauges);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(HttpError::Serve)
    }
}

fn router(gauges: Arc<Gauges>) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(gauges)
}

async fn health(State(gauges): State<Arc<Gauges>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "active_calls": gauges.active_calls.load(Ordering::Relaxed),
    }))
}
