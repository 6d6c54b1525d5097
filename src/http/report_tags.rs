//! `GET /v1/reports/tags`: calls per keyword tag and source (or medium, campaign, site) over
//! the report's local days, with the counts that reconcile its lines with the calls (a call
//! with several tags is on several lines).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;

use super::errors::ApiError;
use crate::config::SharedConfig;
use crate::report::tags::{self, TagReport};
use crate::report::{ReportInput, ReportRequest, Zones};
use crate::store::BackendReader;

/// The query of `GET /v1/reports/tags`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagReportInput {
    /// First local day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last local day (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Besides the tag, comma separated: source, medium, campaign, site (none: per tag).
    pub by: Option<String>,
    /// One site's id; all sites without it.
    pub site: Option<String>,
}

/// `GET /v1/reports/tags?from=&to=&by=&site=`
#[utoipa::path(
    get,
    path = "/v1/reports/tags",
    tag = "reports",
    params(TagReportInput),
    responses(
        (status = 200, description = "Calls per keyword tag and key; a call with several tags counts once per tag, so `calls = calls_with_tags + untagged_calls` reconciles, not the lines", body = TagReport),
        (status = 400, description = "Unknown or unsupported field, bad date or site: every problem, naming what is allowed", body = super::openapi::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn tag_report(
    State(config): State<SharedConfig>,
    State(reader): State<BackendReader>,
    Query(input): Query<TagReportInput>,
) -> Result<Json<TagReport>, ApiError> {
    let config = config.load_full();
    let zones = Zones::of_config(&config);
    let request = checked(&input, &zones, &config.reports_currency).map_err(|problems| {
        ApiError::Invalid {
            code: "invalid_report",
            problems,
        }
    })?;
    let report = reader
        .read(move |r| {
            let facts = r.tag_facts(&request.queries(&zones))?;
            Ok(tags::build_tags(&request, facts))
        })
        .await
        .map_err(|error| {
            tracing::error!(%error, "tag report query failed");
            ApiError::Rejected {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "store_failed",
                message: "the tag report could not be read".to_owned(),
            }
        })?;
    Ok(Json(report))
}

/// The report request, or every problem with it (dates, site, and fields a tag report
/// cannot group by).
fn checked(
    input: &TagReportInput,
    zones: &Zones,
    currency: &str,
) -> Result<ReportRequest, Vec<String>> {
    let report_input = ReportInput {
        from: input.from.clone(),
        to: input.to.clone(),
        by: input.by.clone(),
        site: input.site.clone(),
        format: None,
    };
    let request = ReportRequest::parse(&report_input, zones, currency);
    match request {
        Ok(request) => {
            let problems = tags::check_fields(&request.by);
            if problems.is_empty() {
                Ok(request)
            } else {
                Err(problems)
            }
        }
        Err(e) => Err(e.problems),
    }
}
