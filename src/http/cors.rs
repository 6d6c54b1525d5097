//! CORS for the snippet API: a site's routes accept that site's `origins`; session routes
//! (whose id names no site before a lookup) accept the origins of any site. Same-origin
//! requests (the demo page) always pass. Other origins are refused with 403 JSON, preflight
//! included, so a foreign page cannot drain a pool through visitors' browsers.
//!
//! The response headers come from `tower-http`'s CORS layer. The decision stays ours, because
//! `tower-http` can say which origins are allowed (`AllowOrigin::predicate` sees the request
//! parts, so a per-site rule is expressible) but cannot refuse: an unlisted origin only loses
//! the `Access-Control-Allow-Origin` header while the handler still runs, so a simple
//! cross-site POST would still take a pool number. It also answers every `OPTIONS` as a
//! preflight, on any path, with 200. So this middleware keeps three small things: it acts on
//! the snippet API paths only, refuses unlisted origins with 403 JSON (preflight included),
//! and answers an allowed preflight with 204; everything it lets through goes to the layer,
//! which mirrors the (already checked) origin.

use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::errors::ApiError;
use crate::config::SharedConfig;

const MAX_AGE_SECS: u64 = 600;

/// Path prefixes of the snippet API.
const API_PREFIXES: [&str; 2] = ["/v1/sites/", "/v1/sessions/"];

/// The response headers of an allowed cross-origin request or preflight.
static HEADERS: LazyLock<CorsLayer> = LazyLock::new(|| {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .expose_headers([HeaderName::from_static("retry-after")])
        .max_age(std::time::Duration::from_secs(MAX_AGE_SECS))
});

/// Middleware around the whole router; acts on the snippet API paths only.
pub async fn cors(State(config): State<SharedConfig>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let origin = req.headers().get(header::ORIGIN);
    let Some(origin) = origin.filter(|_| API_PREFIXES.iter().any(|p| path.starts_with(p))) else {
        return next.run(req).await;
    };
    let text = origin.to_str().unwrap_or_default();
    if !allowed(&config, text, path, req.headers()) {
        return ApiError::OriginNotAllowed(text.to_owned()).into_response();
    }
    let preflight = req.method() == Method::OPTIONS;
    let Ok(mut response) = HEADERS.layer(next).oneshot(req).await;
    if preflight {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

fn allowed(config: &SharedConfig, origin: &str, path: &str, headers: &HeaderMap) -> bool {
    if same_origin(origin, headers) {
        return true;
    }
    let config = config.load();
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
    use axum::http::HeaderValue;

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
