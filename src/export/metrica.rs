//! Yandex Metrica offline calls: qualifying calls gathered for `every_secs` and uploaded as
//! one CSV ([`calls_csv`]) to
//! `POST {endpoint}/management/v1/counter/{counter_id}/offline_conversions/upload_calls`
//! (`Authorization: OAuth <token>`, `multipart/form-data` with the field `file`).
//!
//! - One upload carries one visitor id type (`client_id_type=CLIENT_ID` with a `ClientId`
//!   column, or `YCLID` with `Yclid`), so calls of the two kinds travel in separate uploads.
//! - Metrica links a call only to visits of the 21 days before; an older call is a dead
//!   letter with that reason and is not uploaded.
//! - The answer `{"uploading": {"id", "status", ...}}` is kept: the upload id is stored with
//!   the calls (`kept`) and the status [`poll`] follows
//!   `GET .../offline_conversions/calls_uploading/{id}` until the upload is `PROCESSED` or
//!   `LINKAGE_FAILURE`.

use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use self::calls_csv::{IdType, RowContext};
use super::{Body, Destination, HttpAnswer, HttpRequest, Method, Verdict};
use crate::call::record::rfc3339;
use crate::config::exports::{MetricaConfig, Secret};
use crate::store::outbox::metrica_uploads::FINAL_STATUSES;
use crate::store::outbox::{CallFact, OutboxEvent};

#[path = "metrica_csv.rs"]
pub mod calls_csv;
#[path = "metrica_poll.rs"]
pub mod poll;

/// Most calls in one upload.
pub const MAX_ROWS: usize = 5000;

/// How far back Metrica links a call to a visit.
pub const MAX_CALL_AGE: Duration = Duration::from_secs(21 * 86_400);

/// One Metrica destination (one counter).
#[derive(Debug)]
pub struct Metrica {
    id: String,
    counter_id: u64,
    token: Secret,
    every: Duration,
    endpoint: String,
    call_tracker_url: Option<String>,
}

impl Metrica {
    /// `_currency` is not used: `Price` carries the won deal's own currency.
    pub fn new(config: &MetricaConfig, _currency: &str) -> Metrica {
        Metrica {
            id: config.id.clone(),
            counter_id: config.counter_id,
            token: config.oauth_token.clone(),
            every: config.every,
            endpoint: config.endpoint.trim_end_matches('/').to_owned(),
            call_tracker_url: config.call_tracker_url.clone(),
        }
    }

    fn counter_url(&self) -> String {
        format!(
            "{}/management/v1/counter/{}/offline_conversions",
            self.endpoint, self.counter_id
        )
    }

    /// The upload URL for calls of `id_type`.
    pub fn upload_url(&self, id_type: IdType) -> String {
        format!(
            "{}/upload_calls?client_id_type={}&comment=calltrack",
            self.counter_url(),
            id_type.query_value()
        )
    }

    /// The request reading an upload's processing status.
    pub fn status_request(&self, upload_id: &str) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url: format!("{}/calls_uploading/{upload_id}", self.counter_url()),
            headers: vec![self.authorization()],
            body: Body::Empty,
        }
    }

    fn authorization(&self) -> (String, String) {
        (
            "Authorization".into(),
            format!("OAuth {}", self.token.expose()),
        )
    }
}

/// What Metrica says about an upload (`uploading` in its answers).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Uploading {
    /// The upload id (a number; kept as text).
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    /// `PREPARED`, `UPLOADED`, `EXPORTED`, `MATCHED`, `PROCESSED` or `LINKAGE_FAILURE`.
    #[serde(default)]
    pub status: String,
    /// Rows that passed Metrica's validation.
    #[serde(default)]
    pub line_quantity: Option<u64>,
}

#[derive(Deserialize)]
struct UploadingAnswer {
    uploading: Uploading,
}

fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Ok(s),
        other => Err(serde::de::Error::custom(format!("upload id {other}"))),
    }
}

impl Uploading {
    /// Reads `{"uploading": {...}}`.
    pub fn parse(body: &[u8]) -> Option<Uploading> {
        serde_json::from_slice::<UploadingAnswer>(body)
            .ok()
            .map(|a| a.uploading)
    }

    /// Whether Metrica is done with the upload (no more polling).
    pub fn is_final(status: &str) -> bool {
        FINAL_STATUSES.contains(&status)
    }
}

fn call_of(event: &OutboxEvent) -> Result<CallFact, String> {
    serde_json::from_str(&event.payload).map_err(|e| format!("stored payload is not a call: {e}"))
}

/// The call's start from its payload (the event time if the payload cannot say).
fn call_time(event: &OutboxEvent) -> Timestamp {
    call_of(event)
        .ok()
        .and_then(|c| rfc3339::parse(&c.started_at).ok())
        .unwrap_or(event.occurred_at)
}

impl Destination for Metrica {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_batch(&self) -> usize {
        MAX_ROWS
    }

    /// At most one upload per `every_secs`.
    fn linger(&self) -> Duration {
        self.every
    }

    fn same_request(&self, a: &OutboxEvent, b: &OutboxEvent) -> bool {
        let id_type = |e: &OutboxEvent| call_of(e).ok().and_then(|c| IdType::of(&c));
        id_type(a) == id_type(b)
    }

    fn refuse(&self, event: &OutboxEvent, now: Timestamp) -> Option<String> {
        let call = match call_of(event) {
            Ok(call) => call,
            Err(error) => return Some(error),
        };
        if IdType::of(&call).is_none() {
            return Some("the call has no Metrica client id or yclid".into());
        }
        let age = now.duration_since(call_time(event));
        let too_old = Duration::try_from(age).is_ok_and(|age| age > MAX_CALL_AGE);
        too_old.then(|| {
            "call older than 21 days: Metrica links calls to visits of the last 21 days only"
                .to_owned()
        })
    }

    fn request(&self, events: &[OutboxEvent], _now: Timestamp) -> Result<HttpRequest, String> {
        let calls = events.iter().map(call_of).collect::<Result<Vec<_>, _>>()?;
        let first = calls.first().ok_or("no event")?;
        let id_type = IdType::of(first).ok_or("the call has no Metrica client id or yclid")?;
        let context = RowContext {
            call_tracker_url: self.call_tracker_url.as_deref(),
        };
        let bytes = calls_csv::write(id_type, &calls, context)?;
        Ok(HttpRequest {
            method: Method::Post,
            url: self.upload_url(id_type),
            headers: vec![self.authorization()],
            body: Body::Multipart {
                field: "file".into(),
                file_name: "calls.csv".into(),
                content_type: "text/csv".into(),
                bytes,
            },
        })
    }

    /// 2xx: uploaded; the upload id is kept with the calls (the status poll follows it).
    /// Other statuses read as usual (an answer that is not JSON still means uploaded: sending
    /// the calls again would count them twice).
    fn judge(&self, _events: &[OutboxEvent], answer: &HttpAnswer) -> Verdict {
        match Verdict::of_status(answer) {
            Verdict::Delivered { .. } => Verdict::Delivered {
                keep: Uploading::parse(&answer.body).map(|u| u.id),
            },
            other => other,
        }
    }
}

#[cfg(test)]
#[path = "metrica_tests.rs"]
mod tests;
