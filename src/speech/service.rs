//! The speech service: a bounded worker pool that transcribes recorded calls from the
//! store's queue (`store::transcripts`), off the call path. Each pass reads the jobs due now,
//! runs at most `[speech] workers` at a time, and reports each outcome through the store's one
//! writer (a transcript, a retry later, or a failure). The engine and the limits are read from
//! the live config every pass, so a reload applies. Queue depth, lag and outcomes are metrics.

use std::path::PathBuf;
use std::time::Instant;

use jiff::Timestamp;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::SpeechError;
use super::audio::{self, MonoWav};
use super::http_engine::HttpEngine;
use super::retry::{self, Next};
use super::transcript::{Channel, Heard, Transcript};
use crate::call::record::rfc3339;
use crate::config::{SharedConfig, SpeechConfig, SpeechEngine};
use crate::store::transcripts::{self, SpeechJob, SpeechOutcome};
use crate::store::{StoreCommand, StoreError, StoreReader, StoreSender};

/// Jobs read per pass, per worker.
const JOBS_PER_WORKER: usize = 4;

/// The service's handles.
pub struct SpeechService {
    pub config: SharedConfig,
    pub store: StoreSender,
    pub reader: StoreReader,
}

impl SpeechService {
    /// Passes until `stop`: at once after a pass that found work, else every `poll_secs`.
    pub async fn run<C>(self, clock: C, stop: CancellationToken)
    where
        C: Fn() -> Timestamp + Send,
    {
        let mut engine: Option<HttpEngine> = None;
        loop {
            let speech = self.config.load().speech.clone();
            let done = match current_engine(&speech, &mut engine) {
                Some(engine) => match self.pass(&speech, engine, clock(), &stop).await {
                    Ok(done) => done,
                    Err(error) => {
                        tracing::warn!(%error, "speech pass failed");
                        0
                    }
                },
                None => 0,
            };
            if done == 0 {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(speech.poll) => {}
                }
            } else if stop.is_cancelled() {
                break;
            }
        }
    }

    /// One pass as of `now`; returns how many jobs ended an attempt.
    pub async fn pass(
        &self,
        speech: &SpeechConfig,
        engine: &HttpEngine,
        now: Timestamp,
        stop: &CancellationToken,
    ) -> Result<usize, StoreError> {
        let at = rfc3339::format(now);
        let limit = speech.workers * JOBS_PER_WORKER;
        let (jobs, (depth, oldest)) = self
            .reader
            .read(move |conn| {
                Ok((
                    transcripts::due(conn, &at, limit)?,
                    transcripts::queue(conn)?,
                ))
            })
            .await?;
        publish_queue(depth, oldest.as_deref(), now);
        let mut running = JoinSet::new();
        let mut attempts = 0;
        for job in jobs {
            if stop.is_cancelled() {
                break;
            }
            while running.len() >= speech.workers {
                attempts += self.settle_next(&mut running, speech).await?;
            }
            let (engine, redact) = (engine.clone(), speech.redact);
            running.spawn(async move {
                let result = transcribe(&engine, &job, redact).await;
                (job, result)
            });
        }
        while !running.is_empty() {
            attempts += self.settle_next(&mut running, speech).await?;
        }
        Ok(attempts)
    }

    /// Waits for the next job to finish and stores its outcome.
    async fn settle_next(
        &self,
        running: &mut JoinSet<(SpeechJob, Result<Transcript, SpeechError>)>,
        speech: &SpeechConfig,
    ) -> Result<usize, StoreError> {
        let Some(joined) = running.join_next().await else {
            return Ok(0);
        };
        let Ok((job, result)) = joined else {
            tracing::error!("a speech worker panicked; its job is tried again next pass");
            return Ok(0);
        };
        let now = Timestamp::now();
        let outcome = outcome(&job, result, speech, now);
        let result = match &outcome {
            SpeechOutcome::Done { .. } => "done",
            SpeechOutcome::Retry { .. } => "retry",
            SpeechOutcome::Failed { .. } => "failed",
        };
        metrics::counter!("calltrack_speech_attempts_total", "result" => result).increment(1);
        let call_id = job.call_id;
        self.store
            .request(|done| StoreCommand::Transcribed {
                call_id,
                outcome,
                at: now,
                done,
            })
            .await?;
        Ok(1)
    }
}

/// The engine for the live config: kept while its settings stay, remade when they change,
/// none while `engine = "off"` (jobs then wait).
fn current_engine<'e>(
    speech: &SpeechConfig,
    engine: &'e mut Option<HttpEngine>,
) -> Option<&'e HttpEngine> {
    let wanted = match (speech.engine, &speech.http) {
        (SpeechEngine::Http, Some(http)) => http,
        _ => {
            *engine = None;
            return None;
        }
    };
    if engine.as_ref().is_none_or(|e| e.config() != wanted) {
        match HttpEngine::new(wanted.clone()) {
            Ok(made) => *engine = Some(made),
            Err(error) => {
                tracing::warn!(%error, "speech engine not ready");
                *engine = None;
            }
        }
    }
    engine.as_ref()
}

/// What the store keeps of one attempt.
fn outcome(
    job: &SpeechJob,
    result: Result<Transcript, SpeechError>,
    speech: &SpeechConfig,
    now: Timestamp,
) -> SpeechOutcome {
    let error = match result {
        Ok(transcript) => {
            return SpeechOutcome::Done {
                transcript,
                engine: "http",
            };
        }
        Err(error) => error,
    };
    let made = job.attempts.saturating_add(1);
    match retry::after_failure(
        made,
        speech.max_attempts,
        speech.retry,
        error.retryable(),
        now,
    ) {
        Next::RetryAt(at) => {
            tracing::info!(call = %job.call_id, %error, attempt = made, "transcription retried later");
            SpeechOutcome::Retry {
                due_at: rfc3339::format(at),
                error: error.to_string(),
            }
        }
        Next::GiveUp => {
            tracing::warn!(call = %job.call_id, %error, attempt = made, "transcription failed");
            SpeechOutcome::Failed {
                error: error.to_string(),
                engine: "http",
            }
        }
    }
}

/// Transcribes one recording: both parties, silent channels skipped.
async fn transcribe(
    engine: &HttpEngine,
    job: &SpeechJob,
    redact: bool,
) -> Result<Transcript, SpeechError> {
    let path = PathBuf::from(&job.path);
    let parts = tokio::task::spawn_blocking(move || audio::split_recording(&path))
        .await
        .map_err(|e| SpeechError::Unavailable(e.to_string()))??;
    let (mut caller, mut agent) = (Heard::default(), Heard::default());
    for part in parts.iter().filter(|p| !p.is_silent()) {
        let heard = timed(engine, part).await?;
        match part.channel {
            Channel::Caller => caller = heard,
            Channel::Agent => agent = heard,
        }
    }
    Ok(super::transcript::merge(caller, agent, redact))
}

/// One channel through the engine, its audio and engine seconds counted (their ratio is the
/// real-time factor).
async fn timed(engine: &HttpEngine, part: &MonoWav) -> Result<Heard, SpeechError> {
    let started = Instant::now();
    let heard = engine.transcribe(part).await;
    metrics::counter!("calltrack_speech_audio_seconds_total").increment(part.secs() as u64);
    metrics::histogram!("calltrack_speech_engine_seconds").record(started.elapsed().as_secs_f64());
    heard
}

fn publish_queue(depth: u64, oldest: Option<&str>, now: Timestamp) {
    metrics::gauge!("calltrack_speech_queue_depth").set(depth as f64);
    let lag = oldest
        .and_then(|at| rfc3339::parse(at).ok())
        .map_or(0.0, |at| (now - at).get_seconds().max(0) as f64);
    metrics::gauge!("calltrack_speech_lag_seconds").set(lag);
}
