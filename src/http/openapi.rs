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
    paths(
        document,
        super::calls::list,
        super::calls::get_one,
        super::calls::patch,
        super::calls_csv::export,
        super::reports::report,
        super::costs::import,
        super::login::login,
        super::login::logout,
        super::login::session,
        super::pool_usage::usage,
        super::dashboard::index,
        super::dashboard::asset,
        super::dashboard::vendor_asset,
    ),
    components(schemas(
        super::calls::CallsAnswer,
        crate::store::calls::CallView,
        crate::store::calls::AttributionView,
        crate::store::calls::CallPatch,
        crate::store::deal::DealView,
        crate::store::deal::DealStatus,
        crate::call::trail::TrailStep,
        crate::call::trail::TrailOutcome,
        crate::report::Report,
        crate::report::Row,
        crate::report::Figures,
        crate::report::Skipped,
        crate::store::costs::CostInput,
        crate::store::costs::CostsReplaced,
        super::costs::CostsBody,
        super::login::LoginBody,
        super::login::SignedIn,
        super::access::Role,
        super::access::Credential,
        super::pool_usage::PoolUsageView,
        crate::store::pool_usage::PoolUsage,
        crate::store::pool_usage::UsagePoint,
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
