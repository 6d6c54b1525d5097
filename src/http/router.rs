//! The route table and the layers around it (in-flight cap, body limit, JSON errors, CORS,
//! rate limit).

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{delete, get, patch, post};
use tokio::sync::Semaphore;

use super::limits;
use super::state::RouterState;
use super::{
    HttpState, access, admin, blacklist, calls, calls_csv, cors, costs, dashboard, errors, health,
    leads, leads_api, login, metrics, numbers, openapi, outbox, pool_usage, recording, report_tags,
    reports, sessions, snippet, target_health, transcripts,
};

/// Builds the whole application.
pub fn router(state: HttpState) -> Router {
    let max_body = state.config.load().http.max_body_bytes;
    let state = RouterState::new(state);
    let slots = Arc::new(Semaphore::new(limits::MAX_IN_FLIGHT));
    Router::new()
        .merge(snippet_api(&state))
        .merge(admin_api(&state))
        .merge(reader_api(&state))
        .merge(auth_api(&state))
        .merge(dashboard::routes())
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/snippet.js", get(snippet::script))
        .route("/demo", get(snippet::demo))
        .route("/health", get(health))
        .route("/metrics", get(metrics::scrape))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state.clone())
        .layer(from_fn_with_state(state, cors::cors))
        .layer(from_fn(errors::json_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(slots, limits::in_flight))
}

/// The routes the website snippet calls. Session creation (the only call that can take a pool
/// number) and leads (each one a row in the store) are rate limited per client IP; heartbeats and releases are not, so one office
/// behind a NAT with many open tabs does not lose its numbers (they need a 128-bit session id
/// and only extend what exists; the in-flight cap bounds them). CORS wraps the whole router
/// (a route layer would not see preflights: axum answers unrouted methods with 405 outside
/// route layers) and acts on these paths only.
fn snippet_api(state: &RouterState) -> Router<RouterState> {
    let create = Router::new()
        .route("/v1/sites/{site}/sessions", post(sessions::create))
        .route("/v1/sessions/{session_id}/leads", post(leads::create))
        .route_layer(from_fn_with_state(state.clone(), limits::rate_limit));
    Router::new()
        .merge(create)
        .route(
            "/v1/sessions/{session_id}/heartbeat",
            post(sessions::heartbeat),
        )
        .route("/v1/sessions/{session_id}", delete(sessions::release))
        .route(
            "/v1/sessions/{session_id}/release",
            post(sessions::release_beacon),
        )
}

/// What marketers and CRMs read (calls, leads, reports, pool usage) and the few writes a CRM
/// makes on them: the reader role (admin or viewer bearer token, or the dashboard session
/// cookie); writes need the admin role (see `access.rs`).
fn reader_api(state: &RouterState) -> Router<RouterState> {
    Router::new()
        .route("/v1/leads", get(leads_api::list))
        .route("/v1/leads/{id}", patch(leads_api::patch))
        .route("/v1/calls", get(calls::list))
        .route("/v1/calls.csv", get(calls_csv::export))
        .route("/v1/calls/{id}", get(calls::get_one).patch(calls::patch))
        .route("/v1/reports", get(reports::report))
        .route("/v1/reports/tags", get(report_tags::tag_report))
        .route("/v1/costs", post(costs::import))
        .route("/v1/pools/usage", get(pool_usage::usage))
        .route("/v1/transcripts/tags", get(transcripts::tags))
        .route_layer(from_fn_with_state(state.clone(), access::reader))
}

/// Dashboard sign-in and sign-out (the session cookie); sign-in attempts are rate limited
/// per client IP like session creation.
fn auth_api(state: &RouterState) -> Router<RouterState> {
    let login = Router::new()
        .route("/v1/auth/login", post(login::login))
        .route_layer(from_fn_with_state(state.clone(), limits::rate_limit));
    Router::new()
        .merge(login)
        .route("/v1/auth/logout", post(login::logout))
        .route("/v1/auth/session", get(login::session))
}

/// Operator routes; every one passes the auth hook.
fn admin_api(state: &RouterState) -> Router<RouterState> {
    Router::new()
        .route("/v1/admin/pools", get(admin::pools))
        .route(
            "/v1/admin/blacklist",
            get(blacklist::list)
                .post(blacklist::add)
                .delete(blacklist::remove_body),
        )
        .route(
            "/v1/admin/blacklist/{pattern}",
            delete(blacklist::remove_path),
        )
        .route("/v1/admin/numbers", get(numbers::list))
        .route("/v1/admin/numbers/{number}/restore", post(numbers::restore))
        .route("/v1/admin/health", get(target_health::list))
        .route("/v1/admin/outbox", get(outbox::status))
        .route("/v1/admin/outbox/events", get(outbox::events))
        .route("/v1/admin/outbox/replay", post(outbox::replay))
        .route("/v1/calls/{id}/recording", get(recording::recording))
        .route("/v1/calls/{id}/transcript", get(transcripts::transcript))
        .route("/v1/transcripts", get(transcripts::search))
        .route_layer(from_fn_with_state(state.clone(), access::admin))
}
