//! The speech service's and the scorer's reads on either backend: a node's due speech jobs and
//! queue depth, a call's transcript (`GET /v1/calls/{id}/transcript`), transcript search and
//! the keyword-tag counts (`GET /v1/transcripts`, `/v1/transcripts/tags`, `calltrack speech
//! tags`), and what scorer training and re-scoring read (with the nightly training's claim). [`SpeechReads`] answers alike on the SQLite file and on PostgreSQL,
//! where the speech queue is per node (a recording is on the disk of the node that recorded
//! it), and [`super::BackendReader::read_speech`] runs a query on the configured one.

use jiff::Timestamp;
use jiff::civil::Date;
use postgres::Client;

use super::reads::SqliteReads;
use super::scoring::{self, LabelledCall, UnscoredCall};
use super::search_words::SearchWords;
use super::transcripts::{self, SpeechJob, TagCount, TranscriptHit, TranscriptView};
use super::{StoreError, pg};
use crate::call::record::rfc3339;
use crate::call::scoring::ScoringModel;

/// What the speech service, scorer training and the transcript API read.
pub trait SpeechReads {
    /// Node `node`'s jobs due at `now`, oldest due first (on SQLite every job is this node's).
    fn speech_due(
        &mut self,
        node: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<SpeechJob>, StoreError>;
    /// Node `node`'s jobs waiting and when the oldest was queued (RFC 3339).
    fn speech_queue(&mut self, node: &str) -> Result<(u64, Option<String>), StoreError>;
    /// Call `id`'s transcript, or its place in the queue.
    fn transcript(&mut self, id: &str) -> Result<Option<TranscriptView>, StoreError>;
    /// Every labelled call that has a done transcript, by call id.
    fn training_set(&mut self) -> Result<Vec<LabelledCall>, StoreError>;
    /// The current model (the newest kept) and its id.
    fn current_model(&mut self) -> Result<Option<(i64, ScoringModel)>, StoreError>;
    /// The id of the current model.
    fn current_model_id(&mut self) -> Result<Option<i64>, StoreError>;
    /// When the last training ran (RFC 3339).
    fn last_training(&mut self) -> Result<Option<String>, StoreError>;
    /// Labels set after `since` (RFC 3339; `None`: all).
    fn labels_since(&mut self, since: Option<&str>) -> Result<u64, StoreError>;
    /// Up to `limit` done transcripts after `after` whose call is unscored, oldest first.
    fn unscored(&mut self, after: i64, limit: usize) -> Result<Vec<UnscoredCall>, StoreError>;
    /// Calls whose transcript has every word, best match first (`GET /v1/transcripts`).
    fn search_transcripts(
        &mut self,
        words: &SearchWords,
        limit: usize,
    ) -> Result<Vec<TranscriptHit>, StoreError>;
    /// Calls started in `[from, to)` (RFC 3339) per keyword tag and source.
    fn transcript_tags(
        &mut self,
        from: &str,
        to: &str,
        site: Option<&str>,
    ) -> Result<Vec<TagCount>, StoreError>;
    /// Whether node `node` trains the scorer on UTC day `night`: the first node to ask, on
    /// PostgreSQL (a row claim); always on SQLite, whose file is one node's.
    fn claim_training(&mut self, night: Date, node: &str) -> Result<bool, StoreError>;
}

impl SpeechReads for SqliteReads<'_> {
    fn speech_due(
        &mut self,
        _node: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<SpeechJob>, StoreError> {
        Ok(transcripts::due(self.0, &rfc3339::format(now), limit)?)
    }

    fn speech_queue(&mut self, _node: &str) -> Result<(u64, Option<String>), StoreError> {
        Ok(transcripts::queue(self.0)?)
    }

    fn transcript(&mut self, id: &str) -> Result<Option<TranscriptView>, StoreError> {
        transcripts::of_call(self.0, id)
    }

    fn training_set(&mut self) -> Result<Vec<LabelledCall>, StoreError> {
        Ok(scoring::training_set(self.0)?)
    }

    fn current_model(&mut self) -> Result<Option<(i64, ScoringModel)>, StoreError> {
        Ok(scoring::current_model(self.0)?)
    }

    fn current_model_id(&mut self) -> Result<Option<i64>, StoreError> {
        Ok(scoring::current_model_id(self.0)?)
    }

    fn last_training(&mut self) -> Result<Option<String>, StoreError> {
        Ok(scoring::last_training(self.0)?)
    }

    fn labels_since(&mut self, since: Option<&str>) -> Result<u64, StoreError> {
        Ok(scoring::labels_since(self.0, since)?)
    }

    fn unscored(&mut self, after: i64, limit: usize) -> Result<Vec<UnscoredCall>, StoreError> {
        Ok(scoring::unscored(self.0, after, limit)?)
    }

    fn search_transcripts(
        &mut self,
        words: &SearchWords,
        limit: usize,
    ) -> Result<Vec<TranscriptHit>, StoreError> {
        Ok(transcripts::search(self.0, words, limit)?)
    }

    fn transcript_tags(
        &mut self,
        from: &str,
        to: &str,
        site: Option<&str>,
    ) -> Result<Vec<TagCount>, StoreError> {
        Ok(transcripts::tag_counts(self.0, from, to, site)?)
    }

    fn claim_training(&mut self, _night: Date, _node: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

impl SpeechReads for Client {
    fn speech_due(
        &mut self,
        node: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<SpeechJob>, StoreError> {
        pg::transcripts::due(self, node, now, limit)
    }

    fn speech_queue(&mut self, node: &str) -> Result<(u64, Option<String>), StoreError> {
        pg::transcripts::queue(self, node)
    }

    fn transcript(&mut self, id: &str) -> Result<Option<TranscriptView>, StoreError> {
        pg::transcripts::of_call(self, id)
    }

    fn training_set(&mut self) -> Result<Vec<LabelledCall>, StoreError> {
        pg::scoring::training_set(self)
    }

    fn current_model(&mut self) -> Result<Option<(i64, ScoringModel)>, StoreError> {
        pg::scoring::current_model(self)
    }

    fn current_model_id(&mut self) -> Result<Option<i64>, StoreError> {
        pg::scoring::current_model_id(self)
    }

    fn last_training(&mut self) -> Result<Option<String>, StoreError> {
        pg::scoring::last_training(self)
    }

    fn labels_since(&mut self, since: Option<&str>) -> Result<u64, StoreError> {
        pg::scoring::labels_since(self, since)
    }

    fn unscored(&mut self, after: i64, limit: usize) -> Result<Vec<UnscoredCall>, StoreError> {
        pg::scoring::unscored(self, after, limit)
    }

    fn search_transcripts(
        &mut self,
        words: &SearchWords,
        limit: usize,
    ) -> Result<Vec<TranscriptHit>, StoreError> {
        pg::transcript_search::search(self, words, limit)
    }

    fn transcript_tags(
        &mut self,
        from: &str,
        to: &str,
        site: Option<&str>,
    ) -> Result<Vec<TagCount>, StoreError> {
        pg::transcript_search::tag_counts(self, from, to, site)
    }

    fn claim_training(&mut self, night: Date, node: &str) -> Result<bool, StoreError> {
        pg::scoring::claim_training(self, night, node)
    }
}

super::reads::backend_reads!(SpeechReads, read_speech, read_speech_blocking);
