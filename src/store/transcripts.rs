//! Transcripts of recorded calls and the queue of recordings waiting for one.
//!
//! The queue is kept by the database itself, so no recording is missed and none is queued
//! twice, whatever path settled it: a trigger queues every CDR whose recording becomes a
//! `recorded` WAV (pcaps of other codecs are not transcribed), and another removes the job,
//! the transcript and its search entry when the recording expires (retention follows the
//! recordings'). Recordings made before this version are queued by the migration. The speech
//! service reads due jobs through the reader and reports each outcome through the one writer
//! ([`apply`]): a transcript (the job goes), a retry later, or a failure kept with its reason.
//! Transcripts are searchable through an FTS5 index of both channels' text.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::search_words::SearchWords;
use super::transcript_rows::VIEW_COLUMNS;
use crate::call::scoring::Score;
use crate::call::transcript::{ConversationFacts, Transcript, Word};

/// Version 17: the speech queue, the transcripts and their full-text index.
pub(super) const V17_TRANSCRIPTS: &str = "
CREATE TABLE speech_jobs (
    call_id     TEXT PRIMARY KEY NOT NULL,
    path        TEXT NOT NULL,
    enqueued_at TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
) WITHOUT ROWID;
CREATE INDEX speech_jobs_due ON speech_jobs (due_at);
CREATE TABLE transcripts (
    call_id    TEXT UNIQUE NOT NULL,
    status     TEXT NOT NULL,
    engine     TEXT NOT NULL,
    language   TEXT,
    caller     TEXT NOT NULL DEFAULT '',
    agent      TEXT NOT NULL DEFAULT '',
    words      TEXT NOT NULL DEFAULT '[]',
    facts      TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',
    error      TEXT,
    attempts   INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE VIRTUAL TABLE transcripts_fts USING fts5(
    caller, agent, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER speech_enqueue AFTER UPDATE OF recording_status ON cdr
WHEN NEW.recording_status = 'recorded' AND NEW.recording_path LIKE '%.wav'
BEGIN
    INSERT OR IGNORE INTO speech_jobs (call_id, path, enqueued_at, due_at)
    VALUES (NEW.id, NEW.recording_path, NEW.ended_at, NEW.ended_at);
END;
CREATE TRIGGER speech_expire AFTER UPDATE OF recording_status ON cdr
WHEN NEW.recording_status = 'expired'
BEGIN
    DELETE FROM speech_jobs WHERE call_id = NEW.id;
    DELETE FROM transcripts_fts WHERE rowid IN (SELECT rowid FROM transcripts WHERE call_id = NEW.id);
    DELETE FROM transcripts WHERE call_id = NEW.id;
END;
INSERT OR IGNORE INTO speech_jobs (call_id, path, enqueued_at, due_at)
SELECT id, recording_path, ended_at, ended_at FROM cdr
WHERE recording_status = 'recorded' AND recording_path LIKE '%.wav';
";

/// A recording waiting for its transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechJob {
    pub call_id: String,
    pub path: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// How one attempt ended, as the writer applies it.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechOutcome {
    Done {
        transcript: Box<Transcript>,
        engine: &'static str,
        /// The current scoring model's verdict (none while no model is trained).
        score: Option<Score>,
    },
    /// Try again at `due_at` (RFC 3339).
    Retry { due_at: String, error: String },
    /// Given up (an unreadable recording, a refusing engine, or every attempt spent).
    Failed { error: String, engine: &'static str },
}

/// The jobs due at `now` (RFC 3339), oldest due first.
pub fn due(conn: &Connection, now: &str, limit: usize) -> rusqlite::Result<Vec<SpeechJob>> {
    let mut stmt = conn.prepare_cached(
        "SELECT call_id, path, attempts FROM speech_jobs WHERE due_at <= ?1 \
         ORDER BY due_at LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let jobs = stmt.query_map(params![now, limit], |r| {
        Ok(SpeechJob {
            call_id: r.get(0)?,
            path: r.get(1)?,
            attempts: r.get(2)?,
        })
    })?;
    jobs.collect()
}

/// Jobs waiting and when the oldest was queued (RFC 3339), for the queue metrics.
pub fn queue(conn: &Connection) -> rusqlite::Result<(u64, Option<String>)> {
    conn.query_row(
        "SELECT count(*), min(enqueued_at) FROM speech_jobs",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Applies one attempt's outcome for `call_id` at `at` (RFC 3339). A job that is gone (its
/// recording expired meanwhile) is not brought back. Answers whether the call was scored
/// (then `call.scored` is owed to the destinations, exactly once: the job is gone after).
pub(super) fn apply(
    conn: &Connection,
    call_id: &str,
    outcome: &SpeechOutcome,
    at: &str,
) -> rusqlite::Result<bool> {
    let attempts: Option<u32> = conn
        .query_row(
            "SELECT attempts FROM speech_jobs WHERE call_id = ?1",
            [call_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(attempts) = attempts else {
        return Ok(false);
    };
    let mut scored = false;
    let attempts = attempts.saturating_add(1);
    match outcome {
        SpeechOutcome::Retry { due_at, error } => {
            conn.execute(
                "UPDATE speech_jobs SET attempts = ?2, due_at = ?3, last_error = ?4 \
                 WHERE call_id = ?1",
                params![call_id, attempts, due_at, error],
            )?;
            return Ok(false);
        }
        SpeechOutcome::Done {
            transcript,
            engine,
            score,
        } => {
            conn.execute(
                "INSERT INTO transcripts (call_id, status, engine, language, caller, agent, \
                 words, facts, tags, attempts, created_at) \
                 VALUES (?1, 'done', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    call_id,
                    engine,
                    transcript.language,
                    transcript.caller,
                    transcript.agent,
                    json(&transcript.words),
                    json(&transcript.facts),
                    json(&transcript.tags),
                    attempts,
                    at
                ],
            )?;
            conn.execute(
                "INSERT INTO transcripts_fts (rowid, caller, agent) VALUES \
                 (last_insert_rowid(), ?1, ?2)",
                params![transcript.caller, transcript.agent],
            )?;
            if let Some(score) = score {
                scored = super::scoring::set_score(conn, call_id, score)?;
            }
        }
        SpeechOutcome::Failed { error, engine } => {
            conn.execute(
                "INSERT INTO transcripts (call_id, status, engine, error, attempts, created_at) \
                 VALUES (?1, 'failed', ?2, ?3, ?4, ?5)",
                params![call_id, engine, error, attempts, at],
            )?;
        }
    }
    conn.execute("DELETE FROM speech_jobs WHERE call_id = ?1", [call_id])?;
    Ok(scored)
}

/// A value as stored JSON (these types always serialise).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// A call's transcript as the calls API serves it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct TranscriptView {
    /// `done`, `failed`, or `queued` (waiting for the engine).
    pub status: String,
    pub engine: Option<String>,
    pub language: Option<String>,
    /// The caller's words (the recording's left channel), card and phone numbers masked.
    pub caller: String,
    /// The agent's words (right channel).
    pub agent: String,
    /// Both channels' words with times from the answer, in order.
    #[schema(value_type = Vec<Object>)]
    pub words: Vec<Word>,
    /// Talk and silence from the audio, and what the caller said to keep (its phone numbers
    /// and e-mail addresses); absent until transcribed.
    pub facts: Option<ConversationFacts>,
    /// The keyword tags (`[[speech.tags]]`) said in the call.
    pub tags: Vec<String>,
    /// Why there is none (`failed`), or the last attempt's error (`queued`).
    pub error: Option<String>,
    pub attempts: u32,
    pub created_at: Option<String>,
}

impl TranscriptView {
    /// A call waiting in the queue: the last attempt's error and the attempts made.
    pub fn queued(error: Option<String>, attempts: u32) -> TranscriptView {
        TranscriptView {
            status: "queued".into(),
            engine: None,
            language: None,
            caller: String::new(),
            agent: String::new(),
            words: Vec::new(),
            facts: None,
            tags: Vec::new(),
            error,
            attempts,
            created_at: None,
        }
    }
}

/// Call `id`'s transcript, or its place in the queue; `None` when it has neither.
pub fn of_call(conn: &Connection, id: &str) -> Result<Option<TranscriptView>, StoreError> {
    let sql = format!(
        "SELECT {} FROM transcripts WHERE call_id = ?1",
        VIEW_COLUMNS.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    if let Some(row) = stmt.query([id])?.next()? {
        return TranscriptView::from_row(row).map(Some);
    }
    let queued = conn
        .query_row(
            "SELECT last_error, attempts FROM speech_jobs WHERE call_id = ?1",
            [id],
            |r| Ok(TranscriptView::queued(r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(queued)
}

/// The SQL condition (one `?`) that keeps calls whose transcript matches an FTS5 query made by
/// [`fts_query`].
pub const MATCHING_CALLS: &str = "id IN (SELECT t.call_id FROM transcripts_fts f \
    JOIN transcripts t ON t.rowid = f.rowid WHERE transcripts_fts MATCH ?)";

/// A user's search words as a safe FTS5 query (see [`SearchWords`]); `None` when there is
/// no word to look for.
pub fn fts_query(text: &str) -> Option<String> {
    SearchWords::parse(text).map(|w| w.fts5())
}

/// One call whose transcript matched a search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TranscriptHit {
    pub call_id: String,
    pub started_at: String,
    pub site: Option<String>,
    pub source: Option<String>,
    /// The matching passage, the words found in `[` `]`.
    pub snippet: String,
}

/// Most hits per search.
pub const MAX_HITS: usize = 200;

/// Calls whose transcript has every word of `words`, best match first.
pub fn search(
    conn: &Connection,
    words: &SearchWords,
    limit: usize,
) -> rusqlite::Result<Vec<TranscriptHit>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.call_id, c.started_at, c.site, c.source, \
         snippet(transcripts_fts, -1, '[', ']', '…', 12) \
         FROM transcripts_fts f JOIN transcripts t ON t.rowid = f.rowid \
         JOIN cdr c ON c.id = t.call_id \
         WHERE transcripts_fts MATCH ?1 ORDER BY rank LIMIT ?2",
    )?;
    let limit = i64::try_from(limit.min(MAX_HITS)).unwrap_or(1);
    let hits = stmt.query_map(params![words.fts5(), limit], |r| {
        Ok(TranscriptHit {
            call_id: r.get(0)?,
            started_at: r.get(1)?,
            site: r.get(2)?,
            source: r.get(3)?,
            snippet: r.get(4)?,
        })
    })?;
    hits.collect()
}

/// Calls per keyword tag and source in a period, as `GET /v1/transcripts/tags` reports them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TagCount {
    pub tag: String,
    /// The call's source (`null`: unattributed or direct).
    pub source: Option<String>,
    pub calls: u64,
}

/// Calls started in `[from, to)` (RFC 3339) per tag and source, optionally of one site; most
/// tagged first.
pub fn tag_counts(
    conn: &Connection,
    from: &str,
    to: &str,
    site: Option<&str>,
) -> rusqlite::Result<Vec<TagCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT j.value, c.source, count(*) FROM transcripts t \
         JOIN cdr c ON c.id = t.call_id, json_each(t.tags) j \
         WHERE c.started_at >= ?1 AND c.started_at < ?2 AND (?3 IS NULL OR c.site = ?3) \
         GROUP BY j.value, c.source ORDER BY count(*) DESC, j.value, c.source",
    )?;
    let rows = stmt.query_map(params![from, to, site], |r| {
        Ok(TagCount {
            tag: r.get(0)?,
            source: r.get(1)?,
            calls: r.get(2)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
#[path = "transcripts_tests.rs"]
mod tests;
