//! Transcript search and the keyword-tag counts on PostgreSQL, with the answers SQLite's
//! FTS5 index gives (`store::transcripts::search`, `tag_counts`): every word in either
//! channel, a trailing `*` a prefix, accents folded, best match first, the passage found.
//!
//! Schema version 9 keeps a `tsvector` of both channels in a generated column of
//! `transcripts` (so every writer keeps it, and the migration fills it for the transcripts
//! already stored) under a GIN index. Its text search configuration `calltrack_search` is
//! `simple` (transcripts are in any language: no stemming, no stop words) behind the
//! `unaccent` dictionary, as FTS5's `remove_diacritics` folds accents; `unaccent` ships with
//! PostgreSQL (Debian's `postgresql-15`) and is a trusted extension, so the database's
//! owner may create it.

use postgres::GenericClient;

use super::cells::time_text;
use crate::store::StoreError;
use crate::store::search_words::{SearchWords, with_ellipses};
use crate::store::transcripts::{MAX_HITS, TagCount, TranscriptHit};

/// Version 9: the search vector of both channels with its GIN index, the configuration it is
/// made with, and the nightly training's claims (`store::pg::scoring::claim_training`).
pub(super) const V9_TRANSCRIPT_SEARCH: &str = "
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION calltrack_search (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION calltrack_search
    ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword,
        hword_asciipart, hword_part, hword_numpart
    WITH unaccent, simple;
ALTER TABLE transcripts ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('calltrack_search', caller || ' ' || agent)) STORED;
CREATE INDEX transcripts_search ON transcripts USING gin (search);
CREATE TABLE scoring_claims (
    night      date PRIMARY KEY,
    node_id    text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
";

/// `ts_headline`'s options: the found words in `[` `]`, one fragment of 12 words around
/// them (as FTS5's `snippet(…, 12)` centres its window; `…` is added where the passage was
/// cut, see [`with_ellipses`]).
const HEADLINE: &str =
    "StartSel=\"[\", StopSel=\"]\", MaxFragments=1, MaxWords=12, MinWords=6, ShortWord=0";

/// Calls whose done transcript has every word of `words`, best match first (`ts_rank`,
/// length-normalised as FTS5's bm25 is), with the passage of the channel that matches best.
pub fn search(
    client: &mut impl GenericClient,
    words: &SearchWords,
    limit: usize,
) -> Result<Vec<TranscriptHit>, StoreError> {
    let sql = format!(
        "SELECT t.call_id, {}, c.site, c.source, p.text, \
         ts_headline('calltrack_search', p.text, q, '{HEADLINE}') \
         FROM to_tsquery('calltrack_search', $1) q, transcripts t \
         JOIN cdr c ON c.id = t.call_id \
         CROSS JOIN LATERAL (SELECT CASE \
             WHEN ts_rank(to_tsvector('calltrack_search', t.agent), q) \
                > ts_rank(to_tsvector('calltrack_search', t.caller), q) \
             THEN t.agent ELSE t.caller END AS text) p \
         WHERE t.search @@ q AND t.status = 'done' \
         ORDER BY ts_rank(t.search, q, 1) DESC, t.seq LIMIT $2",
        time_text("c.started_at")
    );
    let limit = i64::try_from(limit.min(MAX_HITS)).unwrap_or(1);
    let rows = client.query(&sql, &[&words.tsquery(), &limit])?;
    rows.iter()
        .map(|r| {
            let text: String = r.try_get(4)?;
            let headline: String = r.try_get(5)?;
            Ok(TranscriptHit {
                call_id: r.try_get(0)?,
                started_at: r.try_get(1)?,
                site: r.try_get(2)?,
                source: r.try_get(3)?,
                snippet: with_ellipses(&text, &headline),
            })
        })
        .collect()
}

/// Calls started in `[from, to)` (RFC 3339) per tag and source, optionally of one site; most
/// tagged first, then by tag and source (no source first), as on SQLite.
pub fn tag_counts(
    client: &mut impl GenericClient,
    from: &str,
    to: &str,
    site: Option<&str>,
) -> Result<Vec<TagCount>, StoreError> {
    let rows = client.query(
        "SELECT j.tag, c.source, count(*) FROM transcripts t \
         JOIN cdr c ON c.id = t.call_id \
         CROSS JOIN LATERAL jsonb_array_elements_text(t.tags) j(tag) \
         WHERE c.started_at >= $1::text::timestamptz AND c.started_at < $2::text::timestamptz \
         AND ($3::text IS NULL OR c.site = $3) \
         GROUP BY j.tag, c.source \
         ORDER BY count(*) DESC, j.tag COLLATE \"C\", c.source COLLATE \"C\" NULLS FIRST",
        &[&from, &to, &site],
    )?;
    rows.iter()
        .map(|r| {
            let calls: i64 = r.try_get(2)?;
            Ok(TagCount {
                tag: r.try_get(0)?,
                source: r.try_get(1)?,
                calls: u64::try_from(calls).unwrap_or(0),
            })
        })
        .collect()
}
