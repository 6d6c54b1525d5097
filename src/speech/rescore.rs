//! Re-scoring: calls transcribed while no scoring model applied get scored once one is kept
//! (by `calltrack speech train` or the nightly job), so their `call.scored` reaches the
//! destinations (with `send = "target"`: delivered once if target, a dropped dead letter if
//! not). Bounded batches of [`BATCH`] calls: read and scored on a blocking thread, stored
//! through the one writer, which stores a score only on a call still unscored. Calls already
//! scored, by an older model, keep their verdict: it may have been exported already.

use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::service::CurrentModel;
use crate::call::scoring::{Score, features};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

/// Calls read and scored per batch.
pub const BATCH: usize = 200;
/// Scores handed to the writer before waiting for their commits: a small share of the
/// writer's queue, which the call path shares.
const IN_FLIGHT: usize = 50;

/// Scores every unscored transcribed call with `model`, batch by batch until none is left
/// or `stop`; answers how many calls got a score.
pub async fn rescore_unscored<C>(
    reader: &BackendReader,
    store: &StoreSender,
    model: Arc<CurrentModel>,
    threshold: f64,
    clock: C,
    stop: &CancellationToken,
) -> Result<usize, StoreError>
where
    C: Fn() -> Timestamp,
{
    let (mut after, mut stored) = (0, 0);
    while !stop.is_cancelled() {
        let batch = next_batch(reader, Arc::clone(&model), threshold, after).await?;
        let Some(&(last, _, _)) = batch.last() else {
            break;
        };
        after = last;
        let full = batch.len() == BATCH;
        let mut batch = batch.into_iter();
        loop {
            let chunk: Vec<_> = batch.by_ref().take(IN_FLIGHT).collect();
            if chunk.is_empty() {
                break;
            }
            stored += store_chunk(store, chunk, clock()).await?;
        }
        if !full {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(stored)
}

/// The next unscored calls after transcript `after`, each with its score.
async fn next_batch(
    reader: &BackendReader,
    model: Arc<CurrentModel>,
    threshold: f64,
    after: i64,
) -> Result<Vec<(i64, String, Score)>, StoreError> {
    reader
        .read_speech(move |r| {
            let (id, model) = &*model;
            let calls = r.unscored(after, BATCH)?;
            Ok(calls
                .into_iter()
                .map(|c| {
                    let f = features(&c.caller, &c.agent, &c.facts);
                    (c.rowid, c.call_id, Score::of(model, *id, &f, threshold))
                })
                .collect())
        })
        .await
}

/// Hands every score to the writer, then waits for all their commits.
async fn store_chunk(
    store: &StoreSender,
    batch: Vec<(i64, String, Score)>,
    at: Timestamp,
) -> Result<usize, StoreError> {
    let mut answers = Vec::with_capacity(batch.len());
    for (_, call_id, score) in batch {
        let verdict = if score.target { "target" } else { "not_target" };
        let (done, answer) = oneshot::channel();
        store
            .send(StoreCommand::Rescored {
                call_id,
                score,
                at,
                done,
            })
            .await?;
        answers.push((verdict, answer));
    }
    let stored = answers.len();
    for (verdict, answer) in answers {
        answer.await.map_err(|_| StoreError::NotCommitted)?;
        metrics::counter!("calltrack_speech_scored_total", "verdict" => verdict).increment(1);
    }
    Ok(stored)
}
