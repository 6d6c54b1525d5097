//! Transcripts through the calls API (admin role, like the recordings they come from):
//! `GET /v1/calls/{id}/transcript` (the call's transcript, or where it stands in the queue)
//! and `GET /v1/transcripts?q=words&limit=N` (calls whose transcript has every word; a
//! trailing `*` matches a prefix; best match first, with the passage found).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::calls::read_failed;
use super::errors::ApiError;
use crate::store::StoreReader;
use crate::store::transcripts::{self, TranscriptHit, TranscriptView};

/// `GET /v1/calls/{id}/transcript`
#[utoipa::path(
    get,
    path = "/v1/calls/{id}/transcript",
    tag = "calls",
    params(("id" = String, Path, description = "The call's id")),
    responses(
        (status = 200, description = "The transcript (`done`), why there is none (`failed`), or its place in the queue (`queued`)", body = TranscriptView),
        (status = 401, description = "No or wrong bearer token"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "No such call, or a call without a recording to transcribe", body = super::openapi::ErrorBody)
    ),
    security(("admin_token" = []))
)]
pub async fn transcript(
    State(reader): State<StoreReader>,
    Path(id): Path<String>,
) -> Result<Json<TranscriptView>, ApiError> {
    reader
        .read(move |conn| Ok(transcripts::of_call(conn, &id)?))
        .await
        .map_err(read_failed)?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `GET /v1/transcripts` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words that must all occur (either party); `deliv*` matches a prefix.
    q: String,
    /// 1 to 200, default 50.
    limit: Option<usize>,
}

/// `GET /v1/transcripts` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    pub calls: Vec<TranscriptHit>,
}

/// `GET /v1/transcripts`
#[utoipa::path(
    get,
    path = "/v1/transcripts",
    tag = "calls",
    params(SearchParams),
    responses(
        (status = 200, description = "Calls whose transcript has every word, best match first", body = SearchAnswer),
        (status = 400, description = "No word to search for, or a bad limit", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong bearer token"),
        (status = 403, description = "Not an admin")
    ),
    security(("admin_token" = []))
)]
pub async fn search(
    State(reader): State<StoreReader>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let mut problems = Vec::new();
    let query = transcripts::fts_query(&params.q);
    if query.is_none() {
        problems.push("q: give at least one word to search for".to_owned());
    }
    let limit = params.limit.unwrap_or(50);
    if !(1..=transcripts::MAX_HITS).contains(&limit) {
        problems.push(format!(
            "limit: {limit} is out of range 1..={}",
            transcripts::MAX_HITS
        ));
    }
    let Some(query) = query.filter(|_| problems.is_empty()) else {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            problems,
        });
    };
    let calls = reader
        .read(move |conn| Ok(transcripts::search(conn, &query, limit)?))
        .await
        .map_err(read_failed)?;
    Ok(Json(SearchAnswer { calls }))
}
