//! The OpenAPI 3.1 document of the whole HTTP API, generated from the handlers'
//! `#[utoipa::path]` annotations, served at `GET /v1/openapi.json` so API users and CRM
//! integrators can generate clients. `tests/openapi.rs` checks that every route in the
//! router is in the document.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document. Each handler is listed in `paths(...)`; each body or answer type in
/// `components(schemas(...))`. One entry per line.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "calltrack",
        description = "Self-hosted call tracking built into a SIP B2BUA: the website snippet API, \
                       the calls, leads and reports API, and the admin API."
    ),
    modifiers(&AdminToken),
    paths(
        document,
        super::health,
        super::metrics::scrape,
        super::snippet::script,
        super::snippet::demo,
        super::sessions::create,
        super::sessions::heartbeat,
        super::sessions::release,
        super::sessions::release_beacon,
        super::leads::create,
        super::leads_api::list,
        super::leads_api::patch,
        super::admin::pools,
        super::numbers::list,
        super::numbers::restore,
        super::blacklist::list,
        super::blacklist::add,
        super::blacklist::remove_body,
        super::blacklist::remove_path,
        super::target_health::list,
        super::outbox::status,
        super::outbox::events,
        super::outbox::replay,
        super::calls::list,
        super::calls::get_one,
        super::calls::patch,
        super::transcripts::transcript,
        super::transcripts::search,
        super::transcripts::tags,
        super::recording::recording,
        super::calls_csv::export,
        super::reports::report,
        super::report_tags::tag_report,
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
        ErrorBody,
        ErrorDetail,
        super::HealthView,
        super::LeaseBackendView,
        super::StoreBackendView,
        super::sessions::CreateSession,
        super::sessions::SessionView,
        super::leads::LeadBody,
        super::leads::LeadCreated,
        super::leads_api::LeadView,
        super::leads_api::LeadList,
        super::leads_api::LeadPatchBody,
        crate::store::deal::DealView,
        crate::store::deal::DealStatus,
        super::admin::PoolStatsView,
        super::admin::PoolsView,
        super::numbers::NumberView,
        super::numbers::NumbersView,
        super::blacklist::BlacklistView,
        super::blacklist::NumberBody,
        crate::edge::blacklist::Entry,
        crate::edge::blacklist::Origin,
        super::target_health::TargetHealthView,
        super::target_health::TargetsHealthView,
        super::outbox::OutboxStatusView,
        super::outbox::DestinationView,
        super::outbox::OutboxEventsView,
        super::outbox::OutboxEventView,
        super::outbox::ReplayBody,
        super::outbox::Replayed,
        super::calls::CallsAnswer,
        crate::store::calls::CallView,
        crate::store::calls::AttributionView,
        crate::store::calls::CallPatch,
        crate::store::calls::RecordingView,
        crate::store::scoring::Scoring,
        crate::store::transcripts::TranscriptView,
        crate::store::transcripts::TranscriptHit,
        super::transcripts::SearchAnswer,
        super::transcripts::TagsAnswer,
        crate::store::transcripts::TagCount,
        crate::call::transcript::ConversationFacts,
        crate::call::trail::TrailStep,
        crate::call::trail::TrailOutcome,
        crate::report::Report,
        crate::report::tags::TagReport,
        crate::report::tags::TagRow,
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
    )),
    tags(
        (name = "snippet", description = "What the website snippet calls (CORS, rate limited)"),
        (name = "leads", description = "Leads for marketers and CRMs"),
        (name = "admin", description = "Operator routes (admin token)"),
        (name = "meta", description = "Health, metrics, this document, the snippet itself"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token the admin and reader routes name as `admin_token`.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`[http] admin_token`: `Authorization: Bearer <token>`",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every error answer: `{"error": {"code", "message", "problems"?}}`.
#[derive(Debug, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`unknown_session`, `invalid_lead`, `rate_limited`, ...).
    #[schema(example = "invalid_lead")]
    pub code: String,
    pub message: String,
    /// Every problem found, on 400 answers that check several fields.
    pub problems: Option<Vec<String>>,
}

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
