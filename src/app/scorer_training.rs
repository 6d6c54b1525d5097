//! The nightly training of the call scorer: a named service that, every ten minutes, asks
//! whether `[speech] train_hour_utc` has come with labels set since the last training
//! (`speech::train::nightly_due`, read from the shared model table on PostgreSQL), claims the
//! night (on PostgreSQL the first node to claim it trains, the others skip), and then trains
//! on a blocking thread (off the call path), stores the model through the one writer and
//! makes it current only when it is not worse; every node's speech service picks the new
//! model up on its next pass. Off while `train_hour_utc` is absent. The wall clock is a
//! parameter.

use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::call::record::rfc3339;
use crate::config::SharedConfig;
use crate::speech::train::{self, TrainError};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

/// How often the hour is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(600);

/// The service's handles.
pub struct ScorerTraining {
    pub config: SharedConfig,
    pub store: StoreSender,
    /// The configured backend's reads (`[store] backend`).
    pub reader: BackendReader,
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
            .read_speech(|r| {
                let last = r.last_training()?;
                let new = r.labels_since(last.as_deref())?;
                Ok((last, new))
            })
            .await?;
        let last = last.and_then(|l| rfc3339::parse(&l).ok());
        if !train::nightly_due(hour, now, last, new_labels) {
            return Ok(None);
        }
        let node = self.config.load().node.id.clone();
        let night = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let claim = node.clone();
        if !self
            .reader
            .read_speech(move |r| r.claim_training(night, &claim))
            .await?
        {
            tracing::debug!(%night, %node, "another node trains the scorer tonight");
            return Ok(None);
        }
        let (calls, current) = self
            .reader
            .read_speech(|r| Ok((r.training_set()?, r.current_model()?)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::writer::{WriterOptions, spawn_writer};

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// `n` transcribed calls labelled at `at`, every other one a buyer.
    fn seed(path: &std::path::Path, from: usize, n: usize, at: &str) {
        let conn = crate::store::open(path).unwrap();
        for i in from..from + n {
            let target = i % 2 == 0;
            let caller = if target {
                "how much is the sofa"
            } else {
                "sorry wrong number"
            };
            conn.execute(
                "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, \
                 started_at, ended_at, wait_secs, talk_secs, disposition, sip_status, \
                 hangup_side, label, label_by, label_at) VALUES (?1, ?1, '1', '79', 'sip:x', \
                 '2026-12-06T10:00:00Z', '2026-12-06T10:01:00Z', 0, 9, 'answered', 200, \
                 'caller', ?2, 'admin:bearer', ?3)",
                rusqlite::params![
                    format!("c{i:03}"),
                    if target { "target" } else { "not_target" },
                    at
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO transcripts (call_id, status, engine, caller, agent, attempts, \
                 created_at) VALUES (?1, 'done', 'http', ?2, 'hello', 1, ?3)",
                rusqlite::params![format!("c{i:03}"), caller, at],
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn the_nightly_training_runs_in_its_hour_once_and_only_after_new_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.db");
        let (store, handle) = spawn_writer(&path, WriterOptions::default()).unwrap();
        seed(&path, 0, 60, "2026-12-06T12:00:00Z");
        let config =
            crate::config::Config::from_toml_str("[speech]\ntrain_hour_utc = 3\n").unwrap();
        let training = ScorerTraining {
            config: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(config)),
            store,
            reader: crate::store::BackendReader::Sqlite(crate::store::StoreReader::new(&path)),
        };
        assert_eq!(
            training.pass(3, t("2026-12-07T02:55:00Z")).await.unwrap(),
            None
        );
        assert_eq!(
            training.pass(3, t("2026-12-07T03:05:00Z")).await.unwrap(),
            Some(true)
        );
        let conn = crate::store::open(&path).unwrap();
        assert!(
            crate::store::scoring::current_model(&conn)
                .unwrap()
                .is_some()
        );
        // Not twice in one night, and not without new labels.
        assert_eq!(
            training.pass(3, t("2026-12-07T03:15:00Z")).await.unwrap(),
            None
        );
        assert_eq!(
            training.pass(3, t("2026-12-08T03:05:00Z")).await.unwrap(),
            None
        );
        seed(&path, 60, 2, "2026-12-08T12:00:00Z");
        assert_eq!(
            training.pass(3, t("2026-12-09T03:05:00Z")).await.unwrap(),
            Some(true)
        );
        drop(training);
        tokio::task::spawn_blocking(move || handle.shutdown())
            .await
            .unwrap()
            .unwrap();
    }
}
