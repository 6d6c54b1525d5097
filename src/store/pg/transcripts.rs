//! Transcripts and the speech queue on PostgreSQL, as `store::transcripts` keeps them on
//! SQLite: a trigger queues every CDR whose recording becomes a `recorded` WAV and drops the
//! job and transcript when the recording expires (schema version 7); the speech service
//! reads its due jobs and reports each attempt through the writer ([`apply`]).
//!
//! A job carries the CDR's `node_id`: the recording is on that node's disk, so only that
//! node's speech service takes it ([`due`]). Full-text search of transcripts and the tag
//! counts are in `transcript_search`.

use jiff::Timestamp;
use postgres::GenericClient;

use super::cells::time_text;
use crate::call::record::rfc3339;
use crate::store::StoreError;
use crate::store::transcripts::{SpeechJob, SpeechOutcome, TranscriptView};

/// Applies one attempt's outcome for `call_id` at `at`; whether the call was scored (then
/// `call.scored` is owed, once: the job is gone after). A job that is gone is not brought
/// back.
pub fn apply(
    client: &mut impl GenericClient,
    call_id: &str,
    outcome: &SpeechOutcome,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let row = client.query_opt(
        "SELECT attempts FROM speech_jobs WHERE call_id = $1 FOR UPDATE",
        &[&call_id],
    )?;
    let Some(row) = row else { return Ok(false) };
    let attempts: i64 = row.try_get(0)?;
    let attempts = attempts.saturating_add(1);
    let at = rfc3339::format(at);
    let mut scored = false;
    match outcome {
        SpeechOutcome::Retry { due_at, error } => {
            client.execute(
                "UPDATE speech_jobs SET attempts = $2, due_at = $3::text::timestamptz, \
                 last_error = $4 WHERE call_id = $1",
                &[&call_id, &attempts, due_at, error],
            )?;
            return Ok(false);
        }
        SpeechOutcome::Done {
            transcript,
            engine,
            score,
        } => {
            client.execute(
                "INSERT INTO transcripts (call_id, status, engine, language, caller, agent, \
                 words, facts, tags, attempts, created_at) VALUES ($1, 'done', $2, $3, $4, $5, \
                 $6::text::jsonb, $7::text::jsonb, $8::text::jsonb, $9, $10::text::timestamptz)",
                &[
                    &call_id,
                    engine,
                    &transcript.language,
                    &transcript.caller,
                    &transcript.agent,
                    &serde_json::to_string(&transcript.words)?,
                    &serde_json::to_string(&transcript.facts)?,
                    &serde_json::to_string(&transcript.tags)?,
                    &attempts,
                    &at,
                ],
            )?;
            if let Some(score) = score {
                scored = super::scoring::set_score(client, call_id, score)?;
            }
        }
        SpeechOutcome::Failed { error, engine } => {
            client.execute(
                "INSERT INTO transcripts (call_id, status, engine, error, attempts, created_at) \
                 VALUES ($1, 'failed', $2, $3, $4, $5::text::timestamptz)",
                &[&call_id, engine, error, &attempts, &at],
            )?;
        }
    }
    client.execute("DELETE FROM speech_jobs WHERE call_id = $1", &[&call_id])?;
    Ok(scored)
}

/// Node `node`'s jobs due at `now`, oldest due first.
pub fn due(
    client: &mut impl GenericClient,
    node: &str,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<SpeechJob>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(
        "SELECT call_id, path, attempts FROM speech_jobs \
         WHERE node_id = $1 AND due_at <= $2::text::timestamptz ORDER BY due_at LIMIT $3",
        &[&node, &rfc3339::format(now), &limit],
    )?;
    rows.iter()
        .map(|r| {
            let attempts: i64 = r.try_get(2)?;
            Ok(SpeechJob {
                call_id: r.try_get(0)?,
                path: r.try_get(1)?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// Node `node`'s jobs waiting and when the oldest was queued (RFC 3339).
pub fn queue(
    client: &mut impl GenericClient,
    node: &str,
) -> Result<(u64, Option<String>), StoreError> {
    let sql = format!(
        "SELECT count(*), {} FROM speech_jobs WHERE node_id = $1",
        time_text("min(enqueued_at)")
    );
    let row = client.query_one(&sql, &[&node])?;
    let n: i64 = row.try_get(0)?;
    Ok((u64::try_from(n).unwrap_or(0), row.try_get(1)?))
}

/// Call `id`'s transcript, or its place in the queue; `None` when it has neither.
pub fn of_call(
    client: &mut impl GenericClient,
    id: &str,
) -> Result<Option<TranscriptView>, StoreError> {
    let sql = format!(
        "SELECT status, engine, language, caller, agent, words::text, error, attempts, {}, \
         facts::text, tags::text FROM transcripts WHERE call_id = $1",
        time_text("created_at")
    );
    if let Some(r) = client.query_opt(&sql, &[&id])? {
        return TranscriptView::from_row(&r).map(Some);
    }
    let queued = client.query_opt(
        "SELECT last_error, attempts FROM speech_jobs WHERE call_id = $1",
        &[&id],
    )?;
    queued
        .map(|r| {
            let attempts: i64 = r.try_get(1)?;
            Ok(TranscriptView::queued(
                r.try_get(0)?,
                u32::try_from(attempts).unwrap_or(u32::MAX),
            ))
        })
        .transpose()
}
