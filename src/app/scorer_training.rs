//! The nightly training of the call scorer: a named service that, every ten minutes, asks
//! whether `[speech] train_hour_utc` has come with labels set since the last training
//! (`speech::train::nightly_due`), and then trains on a blocking thread (off the call path),
//! stores the model through the one writer and makes it current only when it is not worse.
//! Off while `train_hour_utc` is absent. The wall clock is a parameter.

use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::call::record::rfc3339;
use crate::config::SharedConfig;
use crate::speech::train::{self, TrainError};
use crate::store::{StoreCommand, StoreError, StoreReader, StoreSender, scoring};

/// How often the hour is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(600);

/// The service's handles.
pub struct ScorerTraining {
    pub config: SharedConfig,
    pub store: StoreSender,
    pub reader: StoreReader,
}

impl ScorerTraining {
    /// Looks every [`CHECK_EVERY`] until `stop`.
    pub async fn run<C>(self, clock: C, stop: CancellationToken)
    where
        C: Fn() -> Timestamp + Send,
    {
        loop {
            if let Some(hour) = self.config.load().speech.scoring.train_hour_utc {
                match self.pass(hour, clock()).await {
                    Ok(Some(kept)) => tracing::info!(kept, "nightly scorer training done"),
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "nightly scorer training failed"),
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }

    /// Trains if due at `now`; answers whether the new model was kept (`None`: not due, or
    /// too few labels, which is logged).
    pub async fn pass(&self, hour: u8, now: Timestamp) -> Result<Option<bool>, StoreError> {
        let (last, new_labels) = self
            .reader
            .read(|conn| {
                let last = scoring::last_training(conn)?;
                let new = scoring::labels_since(conn, last.as_deref())?;
                Ok((last, new))
            })
            .await?;
        let last = last.and_then(|l| rfc3339::parse(&l).ok());
        if !train::nightly_due(hour, now, last, new_labels) {
            return Ok(None);
        }
        let (calls, current) = self
            .reader
            .read(|conn| Ok((scoring::training_set(conn)?, scoring::current_model(conn)?)))
            .await?;
        let min_labels = self.config.load().speech.scoring.min_labels;
        let fitted = tokio::task::spawn_blocking(move || {
            let current = current.as_ref().map(|(_, m)| &m.metrics);
            train::from_labels(calls, current, min_labels)
        })
        .await
        .map_err(|e| StoreError::Output(std::io::Error::other(e)))?;
        let (model, kept) = match fitted {
            Ok(done) => done,
            Err(error @ (TrainError::TooFewLabels { .. } | TrainError::OneClass(_))) => {
                tracing::info!(%error, "nightly scorer training skipped");
                return Ok(None);
            }
            Err(error) => return Err(StoreError::Output(std::io::Error::other(error))),
        };
        self.store
            .request(|done| StoreCommand::SaveScoringModel {
                model: Box::new(model),
                kept,
                at: now,
                done,
            })
            .await?;
        Ok(Some(kept))
    }
}
