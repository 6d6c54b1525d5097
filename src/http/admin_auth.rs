//! Who may use the admin API: a bearer token from `[http] admin_token` (or
//! `admin_token_file`), compared in constant time. Without a token the admin API answers
//! only when the HTTP server listens on a loopback address (a local-only deployment);
//! otherwise it is disabled (403), so an exposed listener never serves it unauthenticated.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::errors::ApiError;
use crate::config::HttpConfig;

/// Why a request may not use the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No or wrong bearer token (401).
    Unauthorized,
    /// No token configured and the listener is not loopback (403).
    Disabled,
}

/// Checks the request's `Authorization` header against the configured token.
pub fn check(http: &HttpConfig, headers: &HeaderMap) -> Result<(), Denied> {
    let Some(token) = &http.admin_token else {
        return if http.listen.ip().is_loopback() {
            Ok(())
        } else {
            Err(Denied::Disabled)
        };
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match presented {
        Some(p) if same_secret(p, token.expose()) => Ok(()),
        _ => Err(Denied::Unauthorized),
    }
}

/// `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
pub(super) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Constant-time equality (`subtle`): both sides are hashed first, so neither the length nor
/// the position of the first difference shows in the timing.
pub(super) fn same_secret(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized => {
                metrics::counter!("calltrack_admin_denied_total", "reason" => "unauthorized")
                    .increment(1);
                let mut response = ApiError::Rejected {
                    status: StatusCode::UNAUTHORIZED,
                    code: "unauthorized",
                    message: "a valid bearer token (admin, or viewer for reading) or a dashboard sign-in is required".to_owned(),
                }
                .into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Denied::Disabled => {
                metrics::counter!("calltrack_admin_denied_total", "reason" => "disabled")
                    .increment(1);
                ApiError::Rejected {
                    status: StatusCode::FORBIDDEN,
                    code: "admin_disabled",
                    message:
                        "the admin API is disabled: set http.admin_token (or listen on loopback)"
                            .to_owned(),
                }
                .into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdminToken;

    fn http(listen: &str, token: Option<&str>) -> HttpConfig {
        HttpConfig {
            listen: listen.parse().unwrap(),
            rate_limit_per_minute: 1,
            max_body_bytes: 1024,
            trusted_proxies: Vec::new(),
            admin_token: token.map(|t| AdminToken::new(t.to_owned())),
            viewer_tokens: Vec::new(),
            session_ttl: std::time::Duration::from_secs(3600),
            secure_cookies: false,
        }
    }

    fn auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn token_must_match_exactly() {
        let c = http("0.0.0.0:8080", Some("0123456789abcdef"));
        assert_eq!(check(&c, &auth("Bearer 0123456789abcdef")), Ok(()));
        assert_eq!(check(&c, &auth("bearer 0123456789abcdef")), Ok(()));
        assert_eq!(
            check(&c, &auth("Bearer 0123456789abcdeF")),
            Err(Denied::Unauthorized)
        );
        assert_eq!(
            check(&c, &auth("Bearer 0123456789abcde")),
            Err(Denied::Unauthorized)
        );
        assert_eq!(
            check(&c, &auth("Basic 0123456789abcdef")),
            Err(Denied::Unauthorized)
        );
        assert_eq!(check(&c, &HeaderMap::new()), Err(Denied::Unauthorized));
    }

    #[test]
    fn without_a_token_only_a_loopback_listener_serves() {
        assert_eq!(
            check(&http("127.0.0.1:8080", None), &HeaderMap::new()),
            Ok(())
        );
        assert_eq!(
            check(&http("0.0.0.0:8080", None), &HeaderMap::new()),
            Err(Denied::Disabled)
        );
    }
}
