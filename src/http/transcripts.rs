//! Transcripts through the calls API (admin role, like the recordings they come from):
//! `GET /v1/calls/{id}/transcript` (the call's transcript, or where it stands in the queue)
//! and `GET /v1/transcripts?q=words&limit=N` (calls whose transcript has every word; a
//! trailing `*` matches a prefix; best match first, with the passage found).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::calls::{parse_query, read_failed};
use super::errors::ApiError;
use axum::extract::RawQuery;

use crate::call::record::rfc3339;
use crate::config::SharedConfig;
use crate::store::BackendReader;
use crate::store::search_words::SearchWords;
use crate::store::transcripts::{self, TagCount, TranscriptHit, TranscriptView};

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
    State(reader): State<BackendReader>,
    Path(id): Path<String>,
) -> Result<Json<TranscriptView>, ApiError> {
    reader
        .read_speech(move |r| r.transcript(&id))
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
    State(reader): State<BackendReader>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let mut problems = Vec::new();
    let query = SearchWords::parse(&params.q);
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
        .read_speech(move |r| r.search_transcripts(&query, limit))
        .await
        .map_err(read_failed)?;
    Ok(Json(SearchAnswer { calls }))
}

/// `GET /v1/transcripts/tags` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagsAnswer {
    pub from: String,
    pub to: String,
    /// Calls per keyword tag and source, most first.
    pub tags: Vec<TagCount>,
}

/// The period of `GET /v1/transcripts/tags` (documentation; parsed like `GET /v1/calls`).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TagsParams {
    /// Calls started at or after: RFC 3339 or `YYYY-MM-DD`; default: 30 days ago.
    from: Option<String>,
    /// Started before: RFC 3339 or `YYYY-MM-DD` (that whole day included); default: now.
    to: Option<String>,
    site: Option<String>,
}

/// Length of the default period.
const DEFAULT_DAYS: i64 = 30;

/// `GET /v1/transcripts/tags`
#[utoipa::path(
    get,
    path = "/v1/transcripts/tags",
    tag = "reports",
    params(TagsParams),
    responses(
        (status = 200, description = "Calls per keyword tag and source in the period", body = TagsAnswer),
        (status = 400, description = "A bad period or an unknown parameter; every problem listed", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong bearer token")
    )
)]
pub async fn tags(
    State(reader): State<BackendReader>,
    State(config): State<SharedConfig>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TagsAnswer>, ApiError> {
    let unknown: Vec<String> = url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .filter(|(name, _)| !matches!(name.as_ref(), "from" | "to" | "site"))
        .map(|(name, _)| format!("{name}: unknown parameter; allowed: from, to, site"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Invalid {
            code: "invalid_query",
            problems: unknown,
        });
    }
    let filter = parse_query(&config, raw.as_deref())?.filter;
    let to = filter.to.unwrap_or_else(jiff::Timestamp::now);
    let from = filter.from.unwrap_or_else(|| {
        to.saturating_sub(jiff::SignedDuration::from_hours(24 * DEFAULT_DAYS))
            .unwrap_or(to)
    });
    let (from, to) = (rfc3339::format(from), rfc3339::format(to));
    let (f, t, site) = (from.clone(), to.clone(), filter.site);
    let tags = reader
        .read_speech(move |r| r.transcript_tags(&f, &t, site.as_deref()))
        .await
        .map_err(read_failed)?;
    Ok(Json(TagsAnswer { from, to, tags }))
}
