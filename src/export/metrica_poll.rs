//! The Metrica status poll: a named background service per Metrica destination that finds
//! the uploads its delivery service made (outbox rows keeping an upload id), asks Metrica
//! how each is processed (`GET .../offline_conversions/calls_uploading/{id}`) and stores
//! every answer through the writer, until the upload is final (`PROCESSED`,
//! `LINKAGE_FAILURE`) or older than [`FOLLOW_FOR`].
//!
//! It wakes when the writer rings the outbox (an upload was just settled: its row appears
//! within about a second), and at least every `every_secs`; an upload is asked about at most
//! once per `every_secs`.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::{Metrica, Uploading};
use crate::export::Destination;
use crate::export::client::Client;
use crate::store::operator_reads::MetricaDue;
use crate::store::outbox::Outbox;
use crate::store::outbox::metrica_uploads::UploadRecord;
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

/// How long an upload's status is followed (Metrica says processing takes up to two hours).
pub const FOLLOW_FOR: Duration = Duration::from_secs(86_400);

/// Shortest pause between two rounds (the outbox rings on every commit).
const MIN_GAP: Duration = Duration::from_secs(1);

/// Most uploads looked at per round.
const ROUND_LIMIT: usize = 100;

/// Everything one destination's poll needs.
pub struct MetricaPoll {
    pub metrica: Metrica,
    /// The configured backend's (on PostgreSQL: every node's uploads).
    pub reader: BackendReader,
    pub store: StoreSender,
    pub outbox: Arc<Outbox>,
    pub client: Client,
}

impl MetricaPoll {
    /// Runs until `stop` is cancelled (a check in flight is dropped; it is asked again after
    /// a restart).
    pub async fn run(self, stop: CancellationToken) {
        let every = self.metrica.linger().max(MIN_GAP);
        tracing::info!(
            destination = self.metrica.id(),
            "metrica status poll started"
        );
        loop {
            let rung = self.outbox.rung();
            tokio::pin!(rung);
            rung.as_mut().enable();
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                result = self.round(every) => {
                    if let Err(error) = result {
                        tracing::warn!(%error, destination = self.metrica.id(), "metrica status poll failed");
                    }
                }
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = &mut rung => {}
                () = tokio::time::sleep(every) => {}
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = tokio::time::sleep(MIN_GAP) => {}
            }
        }
        tracing::info!(
            destination = self.metrica.id(),
            "metrica status poll stopped"
        );
    }

    /// Records new uploads, checks the ones due, stores what Metrica said.
    async fn round(&self, every: Duration) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let id = self.metrica.id().to_owned();
        let (since, checked_before) = (before(now, FOLLOW_FOR), before(now, every));
        let due = MetricaDue {
            limit: ROUND_LIMIT,
            since,
            checked_before,
        };
        let due = self
            .reader
            .read_operator(move |r| r.metrica_due(&id, due))
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let mut checked = Vec::with_capacity(due.len());
        for upload in due {
            let status = self.status_of(&upload.upload_id).await;
            checked.push(UploadRecord {
                status,
                checked_at: Some(Timestamp::now()),
                ..upload
            });
        }
        for u in checked.iter().filter(|u| final_status(u).is_some()) {
            tracing::info!(
                destination = %u.destination,
                upload = %u.upload_id,
                rows = u.rows,
                status = final_status(u).unwrap_or_default(),
                "metrica upload processed"
            );
        }
        self.store
            .request(|done| StoreCommand::MetricaUploads {
                uploads: checked,
                done,
            })
            .await
    }

    /// What Metrica says about the upload (None: no usable answer this time).
    async fn status_of(&self, upload_id: &str) -> Option<String> {
        let request = self.metrica.status_request(upload_id);
        let answer = match self.client.send(&request).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(%error, upload = upload_id, "metrica status check failed");
                return None;
            }
        };
        if !(200..300).contains(&answer.status) {
            tracing::debug!(
                status = answer.status,
                body = %crate::export::snippet(&answer.body),
                upload = upload_id,
                "metrica status check refused"
            );
            return None;
        }
        Uploading::parse(&answer.body)
            .map(|u| u.status)
            .filter(|s| !s.is_empty())
    }
}

fn final_status(u: &UploadRecord) -> Option<&str> {
    u.status.as_deref().filter(|s| Uploading::is_final(s))
}

/// `now` minus `d` (clamped at the epoch's range).
fn before(now: Timestamp, d: Duration) -> Timestamp {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    crate::store::outbox::from_millis(now.as_millisecond().saturating_sub(ms))
}
