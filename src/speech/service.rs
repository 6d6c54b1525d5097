//! The speech service: a bounded worker pool that transcribes recorded calls from the
//! store's queue (`store::transcripts`), off the call path. Each pass reads the jobs due now,
//! runs at most `[speech] workers` at a time, and reports each outcome through the store's one
//! writer (a transcript, a retry later, or a failure). The engine and the limits are read from
//! the live config every pass, so a reload applies. Queue depth, lag and outcomes are metrics.
//! Each new transcript is scored with the current scoring model (re-read when a training
//! kept a new one) before it is stored.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::SpeechError;
use super::audio::{self, MonoWav};
use super::http_engine::HttpEngine;
use super::pocketsphinx::SphinxEngine;
use super::retry::{self, Next};
use super::transcript::{Channel, Heard, Transcript};
use super::{facts, tags, worker_thread};
use super::{model_watch, rescore};
use crate::call::record::rfc3339;
use crate::call::scoring::{Score, ScoringModel, features};
use crate::config::{SharedConfig, SpeechConfig, SpeechEngine, SpeechTag};
use crate::store::transcripts::{SpeechJob, SpeechOutcome};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

/// Jobs read per pass, per worker.
const JOBS_PER_WORKER: usize = 4;

/// The service's handles.
pub struct SpeechService {
    pub config: SharedConfig,
    pub store: StoreSender,
    /// The configured backend's reads (`[store] backend`).
    pub reader: BackendReader,
}

impl SpeechService {
    /// Passes until `stop`: at once after a pass that found work, else every `poll_secs`.
    pub async fn run<C>(self, clock: C, stop: CancellationToken)
    where
        C: Fn() -> Timestamp + Send,
    {
        let mut engine: Option<Engine> = None;
        let mut model: Option<CurrentModel> = None;
        loop {
            let speech = self.config.load().speech.clone();
            match model_watch::refresh(&self.reader, &mut model).await {
                Ok(true) => self.rescore(model.as_ref(), &speech, &clock, &stop).await,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "scoring model not read; transcripts go unscored");
                }
            }
            let done = match current_engine(&speech, &mut engine).await {
                Some(engine) => match self
                    .pass(&speech, engine, model.as_ref(), clock(), &stop)
                    .await
                {
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

    /// Scores the calls transcribed while no model applied (see [`rescore`]).
    async fn rescore<C>(
        &self,
        model: Option<&CurrentModel>,
        speech: &SpeechConfig,
        clock: &C,
        stop: &CancellationToken,
    ) where
        C: Fn() -> Timestamp,
    {
        let Some(model) = model else {
            return;
        };
        let threshold = speech.scoring.target_threshold;
        let model = Arc::new(model.clone());
        let done =
            rescore::rescore_unscored(&self.reader, &self.store, model, threshold, clock, stop)
                .await;
        match done {
            Ok(0) => {}
            Ok(scored) => tracing::info!(scored, "calls transcribed before the model scored"),
            Err(error) => tracing::warn!(%error, "re-scoring failed; tried with the next model"),
        }
    }

    /// One pass as of `now`, scoring with `model`; returns how many jobs ended an attempt.
    pub async fn pass(
        &self,
        speech: &SpeechConfig,
        engine: &Engine,
        model: Option<&CurrentModel>,
        now: Timestamp,
        stop: &CancellationToken,
    ) -> Result<usize, StoreError> {
        let limit = speech.workers * JOBS_PER_WORKER;
        let node = self.config.load().node.id.clone();
        let (jobs, (depth, oldest)) = self
            .reader
            .read_speech(move |r| Ok((r.speech_due(&node, now, limit)?, r.speech_queue(&node)?)))
            .await?;
        publish_queue(depth, oldest.as_deref(), now);
        let mut running = JoinSet::new();
        let mut attempts = 0;
        for job in jobs {
            if stop.is_cancelled() {
                break;
            }
            while running.len() >= speech.workers {
                attempts += self
                    .settle_next(&mut running, speech, engine.name(), model)
                    .await?;
            }
            let (engine, redact, tags) = (engine.clone(), speech.redact, speech.tags.clone());
            running.spawn(async move {
                let result = transcribe(&engine, &job, redact, &tags).await;
                (job, result)
            });
        }
        while !running.is_empty() {
            attempts += self
                .settle_next(&mut running, speech, engine.name(), model)
                .await?;
        }
        Ok(attempts)
    }

    /// Waits for the next job to finish and stores its outcome.
    async fn settle_next(
        &self,
        running: &mut JoinSet<(SpeechJob, Result<Transcript, SpeechError>)>,
        speech: &SpeechConfig,
        name: &'static str,
        model: Option<&CurrentModel>,
    ) -> Result<usize, StoreError> {
        let Some(joined) = running.join_next().await else {
            return Ok(0);
        };
        let Ok((job, result)) = joined else {
            tracing::error!("a speech worker panicked; its job is tried again next pass");
            return Ok(0);
        };
        let now = Timestamp::now();
        let outcome = outcome(&job, name, result, speech, model, now);
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

/// The current scoring model and its id.
pub type CurrentModel = (i64, ScoringModel);

/// `transcript` scored with `model` (none without a model).
pub fn score(
    model: Option<&CurrentModel>,
    transcript: &Transcript,
    threshold: f64,
) -> Option<Score> {
    let (id, model) = model?;
    let features = features(&transcript.caller, &transcript.agent, &transcript.facts);
    Some(Score::of(model, *id, &features, threshold))
}

/// A configured engine.
#[derive(Debug, Clone)]
pub enum Engine {
    Http(HttpEngine),
    Sphinx(Arc<SphinxEngine>),
}

impl Engine {
    /// The engine `speech` asks for (`None` while off).
    fn from_config(speech: &SpeechConfig) -> Option<Result<Engine, SpeechError>> {
        match (speech.engine, &speech.http, &speech.pocketsphinx) {
            (SpeechEngine::Http, Some(http), _) => {
                Some(HttpEngine::new(http.clone()).map(Engine::Http))
            }
            (SpeechEngine::Pocketsphinx, _, Some(sphinx)) => {
                Some(SphinxEngine::new(sphinx.clone()).map(|e| Engine::Sphinx(Arc::new(e))))
            }
            _ => None,
        }
    }

    /// Whether this engine is what `speech` asks for.
    fn matches(&self, speech: &SpeechConfig) -> bool {
        match self {
            Engine::Http(e) => {
                speech.engine == SpeechEngine::Http && speech.http.as_ref() == Some(e.config())
            }
            Engine::Sphinx(e) => {
                speech.engine == SpeechEngine::Pocketsphinx
                    && speech.pocketsphinx.as_ref() == Some(e.config())
            }
        }
    }

    /// The name kept with each transcript.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Http(_) => "http",
            Engine::Sphinx(_) => "pocketsphinx",
        }
    }

    /// What the engine heard in one party's audio.
    pub async fn transcribe(&self, audio: &MonoWav) -> Result<Heard, SpeechError> {
        match self {
            Engine::Http(e) => e.transcribe(audio).await,
            Engine::Sphinx(e) => {
                let (engine, audio) = (Arc::clone(e), audio.clone());
                worker_thread::run_niced(move || engine.transcribe_blocking(&audio)).await?
            }
        }
    }
}

/// The engine for the live config: kept while its settings stay, remade when they change,
/// none while `engine = "off"` or while it cannot start (jobs then wait; logged).
async fn current_engine<'e>(
    speech: &SpeechConfig,
    engine: &'e mut Option<Engine>,
) -> Option<&'e Engine> {
    if engine.as_ref().is_some_and(|e| e.matches(speech)) {
        return engine.as_ref();
    }
    *engine = None;
    let wanted = speech.clone();
    let made = tokio::task::spawn_blocking(move || Engine::from_config(&wanted))
        .await
        .ok()
        .flatten();
    match made {
        Some(Ok(made)) => *engine = Some(made),
        Some(Err(error)) => tracing::warn!(%error, "speech engine not ready; recordings wait"),
        None => {}
    }
    engine.as_ref()
}

/// What the store keeps of one attempt.
fn outcome(
    job: &SpeechJob,
    engine: &'static str,
    result: Result<Transcript, SpeechError>,
    speech: &SpeechConfig,
    model: Option<&CurrentModel>,
    now: Timestamp,
) -> SpeechOutcome {
    let error = match result {
        Ok(transcript) => {
            let score = score(model, &transcript, speech.scoring.target_threshold);
            if let Some(s) = &score {
                let verdict = if s.target { "target" } else { "not_target" };
                metrics::counter!("calltrack_speech_scored_total", "verdict" => verdict)
                    .increment(1);
            }
            return SpeechOutcome::Done {
                transcript: Box::new(transcript),
                engine,
                score,
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
                engine,
            }
        }
    }
}

/// Transcribes one recording: both parties (silent channels skipped), the conversation facts
/// from their audio, and the keyword tags said.
async fn transcribe(
    engine: &Engine,
    job: &SpeechJob,
    redact: bool,
    tags: &[SpeechTag],
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
    let pcm = |channel| {
        parts
            .iter()
            .find(|p| p.channel == channel)
            .map(MonoWav::pcm)
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let rate = parts.first().map_or(8_000, |p| p.rate);
    let facts = facts::conversation(
        &pcm(Channel::Caller)?,
        &pcm(Channel::Agent)?,
        rate,
        &caller.text,
    );
    let said = tags::matching(tags, &caller.text, &agent.text);
    let mut transcript = super::transcript::merge(caller, agent, redact);
    transcript.facts = facts;
    transcript.tags = said;
    Ok(transcript)
}

/// One channel through the engine, its audio and engine seconds counted (their ratio is the
/// real-time factor).
async fn timed(engine: &Engine, part: &MonoWav) -> Result<Heard, SpeechError> {
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
