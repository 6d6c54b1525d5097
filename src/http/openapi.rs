//! The OpenAPI 3.1 document of the whole HTTP API, generated from the handlers'
//! `#[utoipa::path]` annotations, served at `GET /v1/openapi.json` so API users and CRM
//! integrators can generate clients. `tests/openapi.rs` checks that every route in the
//! router is in the document.

use axum::Json;
use utoipa::OpenApi;

/// The document. Each handler is listed in `paths(...)`; each body or answer type in
/// `components(schemas(...))`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "calltrack",
        description = "Self-hosted call tracking built into a SIP B2BUA: the website snippet API, \
                       the calls, leads and reports API, and the admin API."
    ),
    paths(document, super::reports::report, super::costs::import,),
    components(schemas(
        crate::report::Report,
        crate::report::Row,
        crate::report::Figures,
        crate::report::Skipped,
        crate::store::costs::CostInput,
        crate::store::costs::CostsReplaced,
        super::costs::CostsBody,
    ))
)]
pub struct ApiDoc;

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document of this API", content_type = "application/json"))
)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
