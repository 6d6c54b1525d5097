//! Google Analytics 4 Measurement Protocol: one `event_name` event per qualifying call, sent
//! to `{endpoint}/mp/collect?measurement_id=...&api_secret=...` as
//! `{"client_id", "timestamp_micros", "events": [{"name", "timestamp_micros", "params"}]}`.
//!
//! What Google documents for web streams (developers.google.com, "Send Measurement Protocol
//! events", "Measurement Protocol use cases", and GA4 "Event collection limits") and how it
//! shapes this encoder:
//! - `client_id` is the `_ga` cookie's last two fields (`GA1.1.123.456` gives `123.456`,
//!   what `gtag('get')` returns); the snippet already sends that form, a raw cookie value is
//!   normalised here.
//! - `session_id` and `engagement_time_msec` in the params let the event land in the
//!   visitor's session (and the Realtime report); `session_id` is the `_ga_<stream>` cookie's
//!   session number the snippet reports as `ga_session_id`.
//! - Timestamps follow a hierarchy: an event's own `timestamp_micros` wins over the
//!   request's, which wins over the time of the request. Each event therefore carries its
//!   call's time, so calls of one client with different times may share a request; the
//!   request-level value is the first event's. Events may be backdated up to 72 hours: an
//!   older call is refused (a dead letter with the reason), not sent. Google joins an event
//!   to its session only if the request arrives within 24 hours of the session's start;
//!   later events still count, outside the session.
//! - At most 25 events per request, 25 params per event, param names of at most 40 and
//!   values of at most 100 characters (longer text values are cut, char-safe).
//! - The endpoint answers 2xx even to events it drops (only `/debug/mp/collect` validates),
//!   so 2xx is delivered and other statuses read as usual.
//! - Never the caller's phone number: personal data is against Google's terms.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::{Body, Destination, HttpRequest, Method};
use crate::call::record::rfc3339;
use crate::config::exports::{Ga4Config, Secret, ValueFrom};
use crate::store::deal::{DealStatus, MINOR_DIGITS, parse_minor};
use crate::store::outbox::{CallFact, OutboxEvent};

/// Most events in one Measurement Protocol request.
pub const MAX_EVENTS: usize = 25;
/// Most params per event.
pub const MAX_PARAMS: usize = 25;
/// Longest param name, in characters.
pub const MAX_NAME_CHARS: usize = 40;
/// Longest param value, in characters.
pub const MAX_VALUE_CHARS: usize = 100;
/// How far back an event's timestamp may lie.
pub const MAX_BACKDATE: SignedDuration = SignedDuration::from_hours(72);
/// The dead letter's reason for a call older than [`MAX_BACKDATE`].
pub const TOO_OLD: &str = "older than 72 hours (GA4 accepts events up to 72 h back)";
/// `engagement_time_msec`: present and non-zero so the event counts in the session, small so
/// calls do not inflate the site's engagement time.
pub const ENGAGEMENT_TIME_MSEC: u64 = 1;

/// One GA4 web stream.
#[derive(Debug)]
pub struct Ga4 {
    id: String,
    endpoint: String,
    measurement_id: String,
    api_secret: Secret,
    event_name: String,
    value_from: ValueFrom,
    /// `[reports] currency`, the currency of a fixed value.
    currency: String,
}

impl Ga4 {
    pub fn new(config: &Ga4Config, currency: &str) -> Ga4 {
        Ga4 {
            id: config.id.clone(),
            endpoint: config.endpoint.clone(),
            measurement_id: config.measurement_id.clone(),
            api_secret: config.api_secret.clone(),
            event_name: config.event_name.clone(),
            value_from: config.value_from.clone(),
            currency: currency.to_owned(),
        }
    }

    /// `{endpoint}/mp/collect?measurement_id=...&api_secret=...` (built per request so the
    /// secret never sits in a printable field).
    fn url(&self) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("measurement_id", &self.measurement_id)
            .append_pair("api_secret", self.api_secret.expose())
            .finish();
        format!("{}/mp/collect?{query}", self.endpoint)
    }

    /// The GA4 event for one outbox event.
    fn hit(&self, event: &OutboxEvent) -> Result<Hit, String> {
        let call: CallFact = serde_json::from_str(&event.payload)
            .map_err(|e| format!("stored payload is not a call: {e}"))?;
        let client_id = call
            .attribution
            .ga_client_id
            .as_deref()
            .and_then(client_id)
            .ok_or("the call carries no GA client id")?;
        let at = rfc3339::parse(&call.started_at).unwrap_or(event.occurred_at);
        let params = params(&call, self.value(&call));
        Ok(Hit {
            client_id,
            at,
            params,
        })
    }

    /// The event's value and currency, if it has one.
    fn value(&self, call: &CallFact) -> Option<(f64, String)> {
        match &self.value_from {
            ValueFrom::Fixed(minor) => minor.map(|m| (major(m), self.currency.clone())),
            ValueFrom::Deal => {
                let deal = call.deal.as_ref().filter(|d| d.status == DealStatus::Won)?;
                let text = match &deal.amount {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((major(parse_minor(&text)?), deal.currency.clone()))
            }
        }
    }
}

/// What one call becomes.
#[derive(Debug, Clone, PartialEq)]
struct Hit {
    client_id: String,
    /// The call's time (its start): `timestamp_micros`.
    at: Timestamp,
    params: Map<String, Value>,
}

impl Destination for Ga4 {
    fn id(&self) -> &str {
        &self.id
    }

    fn max_batch(&self) -> usize {
        MAX_EVENTS
    }

    /// One request carries one client's events (`client_id` is request-level); their
    /// timestamps may differ (each event carries its own).
    fn same_request(&self, a: &OutboxEvent, b: &OutboxEvent) -> bool {
        match (self.hit(a), self.hit(b)) {
            (Ok(a), Ok(b)) => a.client_id == b.client_id,
            _ => false,
        }
    }

    fn refuse(&self, event: &OutboxEvent, now: Timestamp) -> Option<String> {
        match self.hit(event) {
            Err(error) => Some(error),
            Ok(hit) if now.duration_since(hit.at) > MAX_BACKDATE => Some(TOO_OLD.to_owned()),
            Ok(_) => None,
        }
    }

    fn request(&self, events: &[OutboxEvent], now: Timestamp) -> Result<HttpRequest, String> {
        let hits = events
            .iter()
            .take(MAX_EVENTS)
            .map(|e| self.hit(e))
            .collect::<Result<Vec<_>, _>>()?;
        let first = hits.first().ok_or("no event")?;
        // A call's time is never in the future for GA (clock skew between hosts).
        let micros = |at: Timestamp| at.min(now).as_microsecond();
        let body = json!({
            "client_id": first.client_id,
            "timestamp_micros": micros(first.at),
            "events": hits.iter().map(|h| json!({
                "name": self.event_name,
                "timestamp_micros": micros(h.at),
                "params": h.params,
            })).collect::<Vec<_>>(),
        });
        Ok(HttpRequest {
            method: Method::Post,
            url: self.url(),
            headers: Vec::new(),
            body: Body::Json(serde_json::to_vec(&body).map_err(|e| e.to_string())?),
        })
    }
}

/// The `_ga` cookie's client id: `GA1.1.123.456` (or a bare `123.456`) gives `123.456`.
pub fn client_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let parts: Vec<&str> = raw.split('.').collect();
    let id = match parts.as_slice() {
        [version, .., random, time] if parts.len() >= 4 && version.starts_with("GA") => {
            format!("{random}.{time}")
        }
        _ => raw.to_owned(),
    };
    (!id.is_empty()).then_some(id)
}

/// The event's params (at most [`MAX_PARAMS`], values within [`MAX_VALUE_CHARS`]).
fn params(call: &CallFact, value: Option<(f64, String)>) -> Map<String, Value> {
    let a = &call.attribution;
    let mut p = Params(Map::new());
    let session = a.ga_session_id.as_deref().map(str::trim);
    if let Some(s) = session.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())) {
        p.text("session_id", s);
    }
    p.number("engagement_time_msec", ENGAGEMENT_TIME_MSEC);
    p.text("call_id", &call.id);
    p.text("tracking_number", &call.tracking_number);
    p.text("number_kind", &call.number_kind);
    p.maybe("source", &a.source);
    p.maybe("medium", &a.medium);
    p.maybe("campaign", &a.campaign);
    p.maybe("term", &a.term);
    p.maybe("content", &a.content);
    p.maybe("disposition", &call.disposition);
    if let Some(secs) = call.talk_secs {
        p.number("talk_secs", secs.into());
    }
    if let Some(secs) = call.wait_secs {
        p.number("wait_secs", secs.into());
    }
    p.number("first_time", call.first_time_caller.into());
    if let Some(quality) = call.quality {
        p.number("quality", quality.into());
    }
    if let Some((amount, currency)) = value {
        p.0.insert("value".into(), json!(amount));
        p.text("currency", &currency);
    }
    p.0
}

/// Params under construction.
struct Params(Map<String, Value>);

impl Params {
    fn text(&mut self, name: &str, value: &str) {
        self.0.insert(name.into(), Value::String(cut(value)));
    }

    fn maybe(&mut self, name: &str, value: &Option<String>) {
        if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
            self.text(name, v);
        }
    }

    fn number(&mut self, name: &str, value: u64) {
        self.0.insert(name.into(), Value::from(value));
    }
}

/// `text` cut to [`MAX_VALUE_CHARS`] characters (never inside a character).
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// Minor units (kopecks, cents) as the decimal amount GA4's `value` takes.
fn major(minor: i64) -> f64 {
    minor as f64 / 10f64.powi(MINOR_DIGITS as i32)
}

#[cfg(test)]
#[path = "ga4_tests.rs"]
mod tests;
