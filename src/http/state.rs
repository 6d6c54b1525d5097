//! The router's state and the parts a handler may take from it (`State<Part>` through
//! `FromRef`), so each handler names only what it reads and no handler imports the router.
//!
//! The `FromRef` impls are written by hand (axum's `macros` feature, which would derive
//! them, is not enabled).

use std::sync::Arc;

use axum::extract::FromRef;

use super::access::AccessGate;
use super::limits::RateLimiter;
use super::sign_ins::SignIns;
use super::{Gauges, HttpState};
use crate::config::SharedConfig;
use crate::display::GeoResolver;
use crate::edge::blacklist::Blacklist;
use crate::health::HealthTable;
use crate::lease::LeaseTable;
use crate::store::{BackendReader, StoreReader, StoreSender};

/// Everything the routes can reach. axum clones it per request, so it is one `Arc`: a clone
/// costs one reference count however many parts it holds.
#[derive(Clone)]
pub(crate) struct RouterState(Arc<Parts>);

struct Parts {
    http: HttpState,
    limiter: Arc<RateLimiter>,
    sign_ins: Arc<SignIns>,
}

impl RouterState {
    /// The public state plus the snippet API's rate limiter (sized from the config now).
    pub(crate) fn new(http: HttpState) -> RouterState {
        let per_minute = http.config.load().http.rate_limit_per_minute;
        let limiter = Arc::new(RateLimiter::per_minute(per_minute));
        let sign_ins = Arc::new(SignIns::default());
        RouterState(Arc::new(Parts {
            http,
            limiter,
            sign_ins,
        }))
    }
}

/// What creating a snippet session reads: the site config, the leases it grants from, the
/// visitor's region and the counter it bumps. `pub` because the public `sessions::create`
/// names it; the `state` module itself is private.
#[derive(Clone)]
pub struct SessionApi {
    pub config: SharedConfig,
    pub leases: Arc<LeaseTable>,
    pub geo: Arc<GeoResolver>,
    pub gauges: Arc<Gauges>,
}

impl FromRef<RouterState> for SessionApi {
    fn from_ref(state: &RouterState) -> SessionApi {
        let http = &state.0.http;
        SessionApi {
            config: http.config.clone(),
            leases: http.leases.clone(),
            geo: http.geo.clone(),
            gauges: http.gauges.clone(),
        }
    }
}

impl FromRef<RouterState> for SharedConfig {
    fn from_ref(state: &RouterState) -> SharedConfig {
        state.0.http.config.clone()
    }
}

impl FromRef<RouterState> for Arc<LeaseTable> {
    fn from_ref(state: &RouterState) -> Arc<LeaseTable> {
        state.0.http.leases.clone()
    }
}

impl FromRef<RouterState> for Arc<GeoResolver> {
    fn from_ref(state: &RouterState) -> Arc<GeoResolver> {
        state.0.http.geo.clone()
    }
}

impl FromRef<RouterState> for Arc<Gauges> {
    fn from_ref(state: &RouterState) -> Arc<Gauges> {
        state.0.http.gauges.clone()
    }
}

impl FromRef<RouterState> for Arc<Blacklist> {
    fn from_ref(state: &RouterState) -> Arc<Blacklist> {
        state.0.http.blacklist.clone()
    }
}

impl FromRef<RouterState> for HealthTable {
    fn from_ref(state: &RouterState) -> HealthTable {
        state.0.http.health.clone()
    }
}

impl FromRef<RouterState> for StoreSender {
    fn from_ref(state: &RouterState) -> StoreSender {
        state.0.http.store.clone()
    }
}

impl FromRef<RouterState> for Arc<RateLimiter> {
    fn from_ref(state: &RouterState) -> Arc<RateLimiter> {
        state.0.limiter.clone()
    }
}

impl FromRef<RouterState> for StoreReader {
    fn from_ref(state: &RouterState) -> StoreReader {
        state.0.http.reader.clone()
    }
}

impl FromRef<RouterState> for BackendReader {
    fn from_ref(state: &RouterState) -> BackendReader {
        state.0.http.reads.clone()
    }
}

impl FromRef<RouterState> for AccessGate {
    fn from_ref(state: &RouterState) -> AccessGate {
        AccessGate {
            config: state.0.http.config.clone(),
            sign_ins: state.0.sign_ins.clone(),
        }
    }
}
