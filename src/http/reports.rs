//! `GET /v1/reports`: the report of `calltrack report` as JSON (or CSV with `format=csv`),
//! built from the facts of the period and of the one before, read from the configured
//! backend ([`BackendReader`]: SQLite or PostgreSQL, the same answers).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use crate::config::SharedConfig;
use crate::report::{self, Report, ReportInput, ReportRequest, Zones, render};
use crate::store::BackendReader;

/// `GET /v1/reports?from=&to=&by=&site=&format=json|csv`
#[utoipa::path(
    get,
    path = "/v1/reports",
    tag = "reports",
    params(ReportInput),
    responses(
        (status = 200, description = "Rows, total and previous_total (CSV with format=csv)", body = Report),
        (status = 400, description = "Unknown field, bad date or site: every problem, naming what is allowed")
    ),
    security(("bearer" = []))
)]
pub async fn report(
    State(config): State<SharedConfig>,
    State(reader): State<BackendReader>,
    Query(input): Query<ReportInput>,
) -> Result<Response, ApiError> {
    let config = config.load_full();
    let zones = Zones::of_config(&config);
    let mut request = ReportRequest::parse(&input, &zones, &config.reports_currency);
    let csv = match input.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            let problem = format!("format: {other:?} is not a format; allowed: json, csv");
            request = Err(match request {
                Ok(_) => report::RequestError {
                    problems: vec![problem],
                },
                Err(mut e) => {
                    e.problems.push(problem);
                    e
                }
            });
            false
        }
    };
    let request = request.map_err(|e| ApiError::Invalid {
        code: "invalid_report",
        problems: e.problems,
    })?;
    let report = reader
        .read(move |r| {
            let facts = r.facts(&request.queries(&zones))?;
            let previous = request.previous();
            let before = r.facts(&previous.queries(&zones))?;
            Ok(report::build(&request, &zones, facts, before))
        })
        .await
        .map_err(|error| {
            tracing::error!(%error, "report query failed");
            ApiError::Rejected {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "store_failed",
                message: "the report could not be read".to_owned(),
            }
        })?;
    if !csv {
        return Ok(Json(report).into_response());
    }
    let body = render::csv(&report).map_err(|error| ApiError::Rejected {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "csv_failed",
        message: error.to_string(),
    })?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}
