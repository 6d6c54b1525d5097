//! Dashboard sign-in: `POST /v1/auth/login {"token"}` trades an admin or viewer token for
//! the HttpOnly, SameSite=Strict session cookie (nothing secret ever goes in a URL),
//! `POST /v1/auth/logout` ends it, `GET /v1/auth/session` tells the dashboard who it is.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::access::{
    AccessGate, Credential, Refusal, Role, SESSION_COOKIE, identify, same_origin, session_cookie,
    token_digest, token_role,
};
use super::admin_auth::Denied;
use super::errors::{ApiError, ApiJson};

/// `POST /v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The admin token or a viewer token.
    pub token: String,
}

/// Who the caller is (`/v1/auth/login`, `/v1/auth/session`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    pub role: Role,
    pub via: Credential,
    /// When the sign-in ends (RFC 3339); null for a bearer token or an open listener.
    pub expires_at: Option<String>,
}

/// `POST /v1/auth/login`
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; sets the calltrack_session cookie", body = SignedIn),
        (status = 401, description = "Not an admin or viewer token"),
        (status = 403, description = "Origin is another site")
    )
)]
pub async fn login(
    State(gate): State<AccessGate>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Response {
    if headers.contains_key(header::ORIGIN) && !same_origin(&headers) {
        return Refusal::CrossOrigin.into_response();
    }
    let config = gate.config.load();
    let Some(role) = token_role(&config.http, body.token.trim()) else {
        metrics::counter!("calltrack_dashboard_sign_ins_total", "outcome" => "refused")
            .increment(1);
        return ApiError::Rejected {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "not an admin or viewer token".to_owned(),
        }
        .into_response();
    };
    metrics::counter!("calltrack_dashboard_sign_ins_total", "outcome" => "ok").increment(1);
    let ttl = config.http.session_ttl;
    let digest = token_digest(body.token.trim());
    let (id, expires_at) = gate.sign_ins.open(digest, ttl, Timestamp::now());
    let cookie = cookie(&id, ttl.as_secs(), config.http.secure_cookies);
    let body = SignedIn {
        role,
        via: Credential::Cookie,
        expires_at: Some(expires_at.to_string()),
    };
    with_cookie(Json(body).into_response(), &cookie)
}

/// `POST /v1/auth/logout`
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 403, description = "Origin is another site")
    )
)]
pub async fn logout(State(gate): State<AccessGate>, headers: HeaderMap) -> Response {
    if headers.contains_key(header::ORIGIN) && !same_origin(&headers) {
        return Refusal::CrossOrigin.into_response();
    }
    if let Some(id) = session_cookie(&headers) {
        gate.sign_ins.close(id);
    }
    let secure = gate.config.load().http.secure_cookies;
    with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &cookie("", 0, secure),
    )
}

/// `GET /v1/auth/session`
#[utoipa::path(
    get,
    path = "/v1/auth/session",
    tag = "auth",
    responses(
        (status = 200, description = "The caller's role", body = SignedIn),
        (status = 401, description = "Not signed in")
    )
)]
pub async fn session(State(gate): State<AccessGate>, headers: HeaderMap) -> Response {
    let config = gate.config.load();
    match identify(&config.http, &gate.sign_ins, &headers, Timestamp::now()) {
        Ok(access) => Json(SignedIn {
            role: access.role,
            via: access.via,
            expires_at: None,
        })
        .into_response(),
        Err(Denied::Disabled) => Refusal::Denied(Denied::Unauthorized).into_response(),
        Err(denied) => Refusal::Denied(denied).into_response(),
    }
}

/// The `Set-Cookie` value: HttpOnly (no script reads it), SameSite=Strict (no other site's
/// request carries it), Path=/ (the API and the dashboard), Secure when configured.
pub fn cookie(id: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
