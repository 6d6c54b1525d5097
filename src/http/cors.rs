//! CORS for the snippet API: a site's routes accept that site's `origins`; session routes
//! (whose id names no site before a lookup) accept the origins of any site. Same-origin
//! requests (the demo page) always pass. Other origins are refused with 403 JSON, preflight
//! included, so a foreign page cannot drain a pool through visitors' browsers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::router::Shared;

const ALLOW_METHODS: &str = "POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type";
const MAX_AGE_SECS: &str = "600";

/// Path prefixes of the snippet API.
const API_PREFIXES: [&str; 2] = ["/v1/sites/", "/v1/sessions/"];

/// Middleware around the whole router; acts on the snippet API paths only.
pub async fn cors(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let origin = req.headers().get(header::ORIGIN).cloned();
    let Some(origin) = origin.filter(|_| API_PREFIXES.iter().any(|p| path.starts_with(p))) else {
        return next.run(req).await;
    };
    let text = origin.to_str().unwrap_or_default();
    if !allowed(&shared, text, req.uri().path(), req.headers()) {
        return ApiError::OriginNotAllowed(text.to_owned()).into_response();
    }
    let mut response = if req.method() == Method::OPTIONS {
        preflight()
    } else {
        next.run(req).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn preflight() -> Response {
    let headers = [
        (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS),
        (header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS),
    ];
    (StatusCode::NO_CONTENT, headers).into_response()
}

fn allowed(shared: &Shared, origin: &str, path: &str, headers: &HeaderMap) -> bool {
    if same_origin(origin, headers) {
        return true;
    }
    let config = shared.state.config.load();
    let listed = |origins: &[String]| {
        origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    match site_of(path) {
        Some(site) => config.site(site).is_some_and(|s| listed(&s.origins)),
        None => config.sites.iter().any(|s| listed(&s.origins)),
    }
}

/// `/v1/sites/{site}/...` -> the site id.
fn site_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/sites/")?.split('/').next()
}

/// Whether `origin` is this server itself (scheme ignored: TLS may end at a proxy).
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    matches!((host, authority), (Some(h), Some(a)) if h.eq_ignore_ascii_case(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids_come_from_the_path() {
        assert_eq!(site_of("/v1/sites/demo/sessions"), Some("demo"));
        assert_eq!(site_of("/v1/sessions/abc/heartbeat"), None);
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin("http://127.0.0.1:8080", &headers));
        assert!(!same_origin("http://127.0.0.1:8081", &headers));
        assert!(!same_origin("null", &headers));
    }
}
