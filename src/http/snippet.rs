//! The website snippet (`GET /v1/snippet.js`) and its demo page (`GET /demo`), embedded in the binary.

use axum::http::header;
use axum::response::IntoResponse;

/// The snippet: dependency-free ES2017, no build step.
pub const SNIPPET_JS: &str = include_str!("../../assets/snippet.js");
/// A page showing the demo site's default number in text, in a tel: link and in a no-swap element.
pub const DEMO_HTML: &str = include_str!("../../assets/demo.html");

/// `GET /v1/snippet.js`: cached for 5 minutes so a new release reaches every page soon.
#[utoipa::path(
    get,
    path = "/v1/snippet.js",
    tag = "meta",
    responses((status = 200, description = "The website snippet (ES2017)", content_type = "text/javascript", body = String))
)]
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SNIPPET_JS,
    )
}

/// `GET /demo`
#[utoipa::path(
    get,
    path = "/demo",
    tag = "meta",
    responses((status = 200, description = "A demo page running the snippet", content_type = "text/html", body = String))
)]
pub async fn demo() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DEMO_HTML,
    )
}
