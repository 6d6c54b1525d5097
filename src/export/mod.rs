//! Who is told: the delivery of outbox events to export destinations.
//!
//! Each destination is a pure encoder ([`Destination`]: events in, an [`HttpRequest`] out; an
//! [`HttpAnswer`] in, a [`Verdict`] out) driven by one named background service per
//! destination ([`service`]) that reads due events from the store, sends them with bounded
//! concurrency, and settles each through the store writer. What a failure costs is decided
//! in one place ([`retry`]).
//!
//! - [`webhook`]: signed JSON (Standard Webhooks) to any URL.
//! - [`ga4`]: Google Analytics 4 Measurement Protocol events.
//! - [`metrica`]: Yandex Metrica offline calls (CSV uploads).
//! - [`bitrix24`]: Bitrix24 `telephony.externalcall.register` / `finish`.

pub mod bitrix24;
pub mod build;
pub mod client;
pub mod ga4;
pub mod metrica;
pub mod retry;
pub mod service;
pub mod webhook;

use std::time::Duration;

use jiff::Timestamp;

use crate::store::outbox::OutboxEvent;

/// One HTTP request a destination wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    /// The full URL, query included.
    pub url: String,
    /// Extra headers (the body's `Content-Type` is set from [`Body`]).
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Empty,
    /// `application/json`.
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// `multipart/form-data` with one file part.
    Multipart {
        field: String,
        file_name: String,
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// `Retry-After` in seconds, or an HTTP date already turned into a delay.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// What an answer (or a failure to get one) means for the events a request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted; `keep` is stored with the events for later events of their subject.
    Delivered { keep: Option<String> },
    /// Worth trying again (timeouts, 408, 429, 5xx), after `after` if the receiver said.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Will never succeed as it is (other 4xx, a body the service refused): a dead letter.
    Dead { error: String },
}

impl Verdict {
    /// The plain HTTP reading: 2xx delivered; 408, 425, 429 and 5xx retried (honouring
    /// `Retry-After`); any other status dead.
    pub fn of_status(answer: &HttpAnswer) -> Verdict {
        let status = answer.status;
        let error = || format!("HTTP {status}: {}", snippet(&answer.body));
        match status {
            200..=299 => Verdict::Delivered { keep: None },
            408 | 425 | 429 | 500..=599 => Verdict::Retry {
                error: error(),
                after: answer.retry_after,
            },
            _ => Verdict::Dead { error: error() },
        }
    }
}

/// The start of a response body, for error messages (at most 200 characters).
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A destination: how events become requests and what answers mean. Pure: time comes in as
/// `now`, nothing is sent here.
pub trait Destination: Send + Sync + 'static {
    /// The destination id (`[[exports.*]] id`).
    fn id(&self) -> &str;

    /// Most events one request carries (GA4: 25; Metrica: one upload's worth).
    fn max_batch(&self) -> usize {
        1
    }

    /// How long due events wait to be gathered into one request (Metrica: `every_secs`).
    fn linger(&self) -> Duration {
        Duration::ZERO
    }

    /// Whether `b` may travel in the same request as `a` (GA4: the same client id).
    fn same_request(&self, _a: &OutboxEvent, _b: &OutboxEvent) -> bool {
        true
    }

    /// Why `event` must not be sent at all (for example too old for the service): it becomes
    /// a dead letter with this reason, without a request.
    fn refuse(&self, _event: &OutboxEvent, _now: Timestamp) -> Option<String> {
        None
    }

    /// The request carrying `events` (never empty, all accepted by `same_request` with the
    /// first). An error makes them dead letters with that reason.
    fn request(&self, events: &[OutboxEvent], now: Timestamp) -> Result<HttpRequest, String>;

    /// What the answer means for the events of the request.
    fn judge(&self, _events: &[OutboxEvent], answer: &HttpAnswer) -> Verdict {
        Verdict::of_status(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> HttpAnswer {
        HttpAnswer {
            status,
            retry_after: Some(Duration::from_secs(5)),
            body: b"busy".to_vec(),
        }
    }

    #[test]
    fn statuses_read_as_delivered_retried_or_dead() {
        assert_eq!(
            Verdict::of_status(&answer(204)),
            Verdict::Delivered { keep: None }
        );
        for status in [408, 429, 500, 503] {
            assert!(matches!(
                Verdict::of_status(&answer(status)),
                Verdict::Retry { after: Some(d), .. } if d == Duration::from_secs(5)
            ));
        }
        for status in [400, 401, 404, 410] {
            assert!(matches!(
                Verdict::of_status(&answer(status)),
                Verdict::Dead { .. }
            ));
        }
    }

    #[test]
    fn snippets_are_bounded() {
        let long = "x".repeat(500);
        assert_eq!(snippet(long.as_bytes()).chars().count(), 201);
        assert_eq!(snippet(b"  short \n"), "short");
    }
}
