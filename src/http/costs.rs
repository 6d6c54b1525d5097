//! `POST /v1/costs`: ad cost rows, all or nothing (every bad row listed), written through the
//! one store writer; each `(day, site)` named is replaced wholly, so a repeat is a no-op.

use super::commit::committed;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Deserialize;

use super::errors::{ApiError, ApiJson};
use crate::config::SharedConfig;
use crate::store::costs::{self, CostInput, CostsReplaced};
use crate::store::{StoreCommand, StoreSender};

/// The body of `POST /v1/costs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostsBody {
    pub rows: Vec<CostInput>,
}

/// `POST /v1/costs`
#[utoipa::path(
    post,
    path = "/v1/costs",
    tag = "reports",
    request_body = CostsBody,
    responses(
        (status = 200, description = "Every (day, site) named was replaced", body = CostsReplaced),
        (status = 400, description = "Nothing imported: every bad row with its index and reason"),
        (status = 429, description = "The store queue is full; retry")
    ),
    security(("bearer" = []))
)]
pub async fn import(
    State(config): State<SharedConfig>,
    State(store): State<StoreSender>,
    ApiJson(body): ApiJson<CostsBody>,
) -> Result<Json<CostsReplaced>, ApiError> {
    let sites: Vec<String> = config.load().sites.iter().map(|s| s.id.clone()).collect();
    let labels: Vec<String> = (0..body.rows.len()).map(|i| format!("rows[{i}]")).collect();
    let mut checked = costs::check(&body.rows, &labels, Some(&sites));
    if body.rows.is_empty() {
        checked = Err(vec!["rows: no cost rows".to_owned()]);
    }
    let rows = checked.map_err(|problems| ApiError::Invalid {
        code: "invalid_costs",
        problems,
    })?;
    let done = CostsReplaced::of(&rows);
    let imported_at = Timestamp::now();
    let request = store.try_request(|done| StoreCommand::ReplaceCosts {
        rows,
        imported_at,
        done,
    });
    committed("costs", request).await?;
    Ok(Json(done))
}
