//! `/dashboard`: the marketer's single-page app, every file of it compiled into the binary
//! (`assets/dashboard/`, uPlot vendored under `vendor/`), so it works offline and needs no
//! CDN. The page itself is public; the data it reads is behind the reader routes (sign-in
//! with `POST /v1/auth/login` sets the session cookie).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::errors::ApiError;

/// Every file the dashboard loads: path under `/dashboard/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        HTML,
        include_bytes!("../../assets/dashboard/index.html"),
    ),
    (
        "style.css",
        CSS,
        include_bytes!("../../assets/dashboard/style.css"),
    ),
    (
        "app.js",
        JS,
        include_bytes!("../../assets/dashboard/app.js"),
    ),
    (
        "api.js",
        JS,
        include_bytes!("../../assets/dashboard/api.js"),
    ),
    ("ui.js", JS, include_bytes!("../../assets/dashboard/ui.js")),
    (
        "charts.js",
        JS,
        include_bytes!("../../assets/dashboard/charts.js"),
    ),
    (
        "overview.js",
        JS,
        include_bytes!("../../assets/dashboard/overview.js"),
    ),
    (
        "sources.js",
        JS,
        include_bytes!("../../assets/dashboard/sources.js"),
    ),
    (
        "journal.js",
        JS,
        include_bytes!("../../assets/dashboard/journal.js"),
    ),
    (
        "missed.js",
        JS,
        include_bytes!("../../assets/dashboard/missed.js"),
    ),
    (
        "pools.js",
        JS,
        include_bytes!("../../assets/dashboard/pools.js"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        JS,
        include_bytes!("../../assets/dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        CSS,
        include_bytes!("../../assets/dashboard/vendor/uPlot.min.css"),
    ),
    (
        "vendor/uPlot.LICENSE",
        TEXT,
        include_bytes!("../../assets/dashboard/vendor/uPlot.LICENSE"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Scripts, styles and data from this origin only; no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The dashboard's routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(index))
        .route("/dashboard/{file}", get(asset))
        .route("/dashboard/vendor/{file}", get(vendor_asset))
}

/// `GET /dashboard`: the app's page.
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "dashboard",
    responses((status = 200, description = "The dashboard (HTML)", content_type = "text/html"))
)]
pub async fn index() -> Response {
    serve("index.html").unwrap_or_else(|| ApiError::NotFound.into_response())
}

/// `GET /dashboard/{file}`: one of the app's scripts or styles.
#[utoipa::path(
    get,
    path = "/dashboard/{file}",
    tag = "dashboard",
    params(("file" = String, Path, description = "A file of the dashboard, e.g. app.js")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file")
    )
)]
pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&file).unwrap_or_else(|| ApiError::NotFound.into_response())
}

/// `GET /dashboard/vendor/{file}`: a vendored library (uPlot, its CSS and licence).
#[utoipa::path(
    get,
    path = "/dashboard/vendor/{file}",
    tag = "dashboard",
    params(("file" = String, Path, description = "A vendored file, e.g. uPlot.iife.min.js")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file")
    )
)]
pub async fn vendor_asset(Path(file): Path<String>) -> Response {
    serve(&format!("vendor/{file}")).unwrap_or_else(|| ApiError::NotFound.into_response())
}

fn serve(name: &str) -> Option<Response> {
    let (_, content_type, bytes) = FILES.iter().find(|(path, _, _)| *path == name)?;
    let mut response = (*bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_names_is_served() {
        let page = std::str::from_utf8(FILES[0].2).unwrap();
        for (path, _, _) in &FILES[1..] {
            if path.ends_with(".js") && !path.starts_with("vendor/") && *path != "app.js" {
                continue; // modules imported by app.js
            }
            if path.ends_with("LICENSE") {
                continue;
            }
            assert!(
                page.contains(&format!("/dashboard/{path}")),
                "{path} not loaded"
            );
        }
    }

    #[test]
    fn modules_import_only_served_files() {
        for (path, _, bytes) in FILES.iter().filter(|(p, _, _)| p.ends_with(".js")) {
            if path.starts_with("vendor/") {
                continue;
            }
            let text = std::str::from_utf8(bytes).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some((_, target)) = line.rsplit_once("'./") else {
                    panic!("{path}: import not relative: {line}");
                };
                let target = target.trim_end_matches(['\'', ';']);
                assert!(
                    FILES.iter().any(|(p, _, _)| *p == target),
                    "{path} imports {target}, which is not served"
                );
            }
        }
    }
}
