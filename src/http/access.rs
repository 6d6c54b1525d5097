//! Who may do what over HTTP: the two roles (admin: everything; viewer: read the calls,
//! leads, reports and pool usage), found from a bearer token (`[http] admin_token` or one of
//! `[http] viewer_tokens`, compared in constant time) or the dashboard's session cookie, and
//! the middleware on the reader and admin routes.
//!
//! CSRF: the session cookie is `SameSite=Strict`, so other sites' requests do not carry it;
//! on top of that every cookie-authenticated write (any method but GET/HEAD/OPTIONS) must
//! carry an `Origin` whose host is this request's `Host` (403 `cross_origin` otherwise).
//! Bearer-token requests need no such check (a browser never adds the header by itself).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::admin_auth::{self, Denied, bearer, same_secret};
use super::errors::ApiError;
use super::sign_ins::{SignIns, TokenDigest};
use crate::config::{HttpConfig, SharedConfig};

/// The dashboard session cookie's name.
pub const SESSION_COOKIE: &str = "calltrack_session";

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: the admin API, edits, costs.
    Admin,
    /// Reads only: calls, leads, reports, pool usage, the dashboard.
    Viewer,
}

/// How the caller proved its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Credential {
    Bearer,
    Cookie,
    /// No admin token configured and a loopback listener: a local-only deployment.
    Open,
}

/// A caller's role and how it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    pub via: Credential,
}

/// What the access middleware reads: the config (tokens) and the sign-in table.
#[derive(Clone)]
pub struct AccessGate {
    pub config: SharedConfig,
    pub sign_ins: Arc<SignIns>,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No or wrong credentials (401), or the admin API disabled (403).
    Denied(Denied),
    /// A viewer asked for a write or an admin route (403).
    ReadOnly,
    /// A cookie-authenticated write without this host's `Origin` (403).
    CrossOrigin,
}

/// The token's role: the admin token first, then the viewer tokens (each compared in
/// constant time).
pub fn token_role(http: &HttpConfig, token: &str) -> Option<Role> {
    if http
        .admin_token
        .as_ref()
        .is_some_and(|t| same_secret(token, t.expose()))
    {
        return Some(Role::Admin);
    }
    // Every viewer token is compared, so the timing does not tell which one matched.
    let viewer = http
        .viewer_tokens
        .iter()
        .fold(false, |hit, t| same_secret(token, t.expose()) | hit);
    viewer.then_some(Role::Viewer)
}

/// SHA-256 of a token, as a sign-in keeps it.
pub fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The role the token with this digest has in the current config; none once the token has
/// been removed (its sign-ins end with it).
pub fn digest_role(http: &HttpConfig, digest: &TokenDigest) -> Option<Role> {
    let same = |token: &str| -> bool { token_digest(token).ct_eq(digest).into() };
    if http.admin_token.as_ref().is_some_and(|t| same(t.expose())) {
        return Some(Role::Admin);
    }
    let viewer = http
        .viewer_tokens
        .iter()
        .fold(false, |hit, t| same(t.expose()) | hit);
    viewer.then_some(Role::Viewer)
}

/// Who is asking: a bearer token wins over the cookie; without either, only a loopback
/// listener with no admin token lets the caller in (as admin, as the admin API always did).
pub fn identify(
    http: &HttpConfig,
    sign_ins: &SignIns,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<Access, Denied> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    if let Some(token) = presented {
        return token_role(http, token)
            .map(|role| Access {
                role,
                via: Credential::Bearer,
            })
            .ok_or(Denied::Unauthorized);
    }
    if let Some(id) = session_cookie(headers) {
        let token = sign_ins.token(id, now);
        match token.and_then(|token| digest_role(http, &token)) {
            Some(role) => {
                return Ok(Access {
                    role,
                    via: Credential::Cookie,
                });
            }
            // Signed in with a token the config no longer has: that sign-in is over.
            None if token.is_some() => {
                sign_ins.close(id);
            }
            None => {}
        }
    }
    match admin_auth::check(http, headers) {
        Ok(()) => Ok(Access {
            role: Role::Admin,
            via: Credential::Open,
        }),
        // Viewers can sign in even where the admin API is disabled: ask for credentials.
        Err(Denied::Disabled) if !http.viewer_tokens.is_empty() => Err(Denied::Unauthorized),
        Err(denied) => Err(denied),
    }
}

/// The `calltrack_session` cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// True if the request's `Origin` names this request's `Host` (any scheme).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// The rule on the reader routes: either role reads; only the admin writes; a write shown
/// by the cookie must come from this origin.
pub fn reader_rule(access: Access, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    if is_read(method) {
        return Ok(());
    }
    if access.role == Role::Viewer {
        return Err(Refusal::ReadOnly);
    }
    if access.via == Credential::Cookie && !same_origin(headers) {
        return Err(Refusal::CrossOrigin);
    }
    Ok(())
}

/// The rule on the admin routes: the admin role only (cookie writes from this origin).
pub fn admin_rule(access: Access, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    if access.role == Role::Viewer {
        return Err(Refusal::ReadOnly);
    }
    reader_rule(access, method, headers)
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Middleware on the reader routes (calls, leads, reports, costs, pool usage).
pub async fn reader(State(gate): State<AccessGate>, req: Request, next: Next) -> Response {
    guard(gate, req, next, reader_rule).await
}

/// Middleware on the admin routes (pools, blacklist, target health).
pub async fn admin(State(gate): State<AccessGate>, req: Request, next: Next) -> Response {
    guard(gate, req, next, admin_rule).await
}

type Rule = fn(Access, &Method, &HeaderMap) -> Result<(), Refusal>;

async fn guard(gate: AccessGate, mut req: Request, next: Next, rule: Rule) -> Response {
    let config = gate.config.load();
    let access = match identify(
        &config.http,
        &gate.sign_ins,
        req.headers(),
        Timestamp::now(),
    ) {
        Ok(access) => access,
        Err(denied) => return Refusal::Denied(denied).into_response(),
    };
    if let Err(refusal) = rule(access, req.method(), req.headers()) {
        return refusal.into_response();
    }
    req.extensions_mut().insert(access);
    next.run(req).await
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (code, message) = match self {
            Refusal::Denied(denied) => return denied.into_response(),
            Refusal::ReadOnly => (
                "read_only",
                "this token or sign-in is read-only (viewer): it may not change anything here",
            ),
            Refusal::CrossOrigin => (
                "cross_origin",
                "a write with the session cookie must come from this origin (Origin header)",
            ),
        };
        metrics::counter!("calltrack_http_forbidden_total", "reason" => code).increment(1);
        ApiError::Rejected {
            status: StatusCode::FORBIDDEN,
            code,
            message: message.to_owned(),
        }
        .into_response()
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
