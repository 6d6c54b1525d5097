//! Bitrix24 telephony through an inbound webhook: `call.ringing` registers the call
//! (`telephony.externalcall.register`, which pops the call card and finds or creates the lead
//! or contact by the caller's number, with the call's CRM source), `call.ended` finishes it
//! (`telephony.externalcall.finish`: talk time, the SIP-like status code, the recording), so
//! the call lands on the card as an activity.
//!
//! The register's answer `result.CALL_ID` is kept with the outbox row
//! ([`Verdict::Delivered`] `keep`); the subject's `call.ended` reads it back as
//! [`OutboxEvent::kept`]. A `call.ended` without one (its register was dead-lettered, or the
//! destination was added while the call rang) is refused with that reason, without a request.
//!
//! The webhook URL carries the secret: it appears only in the request's URL, never in an
//! error (the client drops URLs from its errors; judge names the method, not the URL).
//! Bodies are JSON, which the REST API takes like form fields.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Body, Destination, HttpAnswer, HttpRequest, Method, Verdict, snippet};
use crate::config::exports::{Bitrix24Config, EventKind, Secret};
use crate::store::outbox::{CallFact, OutboxEvent};

/// `telephony.externalcall.register`, relative to the webhook URL.
pub const REGISTER: &str = "telephony.externalcall.register";
/// `telephony.externalcall.finish`, relative to the webhook URL.
pub const FINISH: &str = "telephony.externalcall.finish";
/// `TYPE` of an inbound call.
const INBOUND: u8 = 2;

/// Error codes Bitrix24 answers when trying again later can succeed (rate limit, a method
/// that ran out of time, the portal's own failures); any other code is a dead letter unless
/// the HTTP status says to retry.
const RETRY_CODES: [&str; 4] = [
    "QUERY_LIMIT_EXCEEDED",
    "OPERATION_TIME_LIMIT",
    "INTERNAL_SERVER_ERROR",
    "ERROR_UNEXPECTED_ANSWER",
];

/// One Bitrix24 destination.
#[derive(Debug)]
pub struct Bitrix24 {
    id: String,
    /// The inbound webhook URL, ending with `/`.
    webhook_url: Secret,
    user_id: u64,
    create_crm: bool,
    show_card: bool,
    /// Lowercased calltrack source to the CRM's source `STATUS_ID`.
    crm_sources: BTreeMap<String, String>,
}

impl Bitrix24 {
    pub fn new(config: &Bitrix24Config, _currency: &str) -> Bitrix24 {
        Bitrix24 {
            id: config.id.clone(),
            webhook_url: config.webhook_url.clone(),
            user_id: config.user_id,
            create_crm: config.create_crm,
            show_card: config.show_card,
            crm_sources: config.crm_sources.clone(),
        }
    }

    /// The parameters of `telephony.externalcall.register` for a ringing call.
    pub fn register(&self, call: &CallFact) -> Value {
        let mut params = json!({
            "USER_ID": self.user_id,
            "PHONE_NUMBER": call.caller,
            "TYPE": INBOUND,
            "CALL_START_DATE": iso8601(&call.started_at),
            "CRM_CREATE": u8::from(self.create_crm),
            "SHOW": u8::from(self.show_card),
            "LINE_NUMBER": call.tracking_number,
        });
        if let Some(source) = self.crm_source(call) {
            params["CRM_SOURCE"] = source.into();
        }
        params
    }

    /// The parameters of `telephony.externalcall.finish` for an ended call registered as
    /// `call_id`.
    pub fn finish(&self, call: &CallFact, call_id: &str) -> Value {
        let code = status_code(call);
        let mut params = json!({
            "CALL_ID": call_id,
            "USER_ID": self.user_id,
            "DURATION": call.talk_secs.unwrap_or(0),
            "STATUS_CODE": code,
        });
        if code != "200" {
            let what = call.disposition.as_deref().unwrap_or("ended");
            params["FAILED_REASON"] = match call.sip_status {
                Some(status) => format!("{what} (SIP {status})"),
                None => what.to_owned(),
            }
            .into();
        }
        if let Some(url) = &call.recording_url {
            params["RECORD_URL"] = url.as_str().into();
        }
        params
    }

    /// The CRM source for the call's attribution source, if one is configured for it.
    fn crm_source(&self, call: &CallFact) -> Option<&str> {
        let source = call.attribution.source.as_deref()?.to_lowercase();
        self.crm_sources.get(&source).map(String::as_str)
    }

    fn url(&self, method: &str) -> String {
        format!("{}{method}.json", self.webhook_url.expose())
    }
}

/// The method an event is sent with.
fn method_of(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::CallRinging => Some(REGISTER),
        EventKind::CallEnded => Some(FINISH),
        _ => None,
    }
}

impl Destination for Bitrix24 {
    fn id(&self) -> &str {
        &self.id
    }

    fn refuse(&self, event: &OutboxEvent, _now: Timestamp) -> Option<String> {
        match event.kind {
            EventKind::CallEnded if event.kept.is_none() => Some(format!(
                "no Bitrix24 CALL_ID to finish: the call's {REGISTER} was not delivered \
                 (a dead letter, or the destination was added while the call rang)"
            )),
            kind if method_of(kind).is_none() => Some(format!(
                "Bitrix24 takes call.ringing and call.ended, not {}",
                kind.as_str()
            )),
            _ => None,
        }
    }

    fn request(&self, events: &[OutboxEvent], _now: Timestamp) -> Result<HttpRequest, String> {
        let event = events.first().ok_or("no event")?;
        let call: CallFact = serde_json::from_str(&event.payload)
            .map_err(|e| format!("stored payload is not a call: {e}"))?;
        let (method, params) = match event.kind {
            EventKind::CallRinging => (REGISTER, self.register(&call)),
            EventKind::CallEnded => {
                let call_id = event
                    .kept
                    .as_deref()
                    .ok_or("no Bitrix24 CALL_ID to finish")?;
                (FINISH, self.finish(&call, call_id))
            }
            other => return Err(format!("Bitrix24 does not take {}", other.as_str())),
        };
        let body = serde_json::to_vec(&params).map_err(|e| e.to_string())?;
        Ok(HttpRequest {
            method: Method::Post,
            url: self.url(method),
            headers: vec![("accept".into(), "application/json".into())],
            body: Body::Json(body),
        })
    }

    fn judge(&self, events: &[OutboxEvent], answer: &HttpAnswer) -> Verdict {
        let method = events
            .first()
            .and_then(|e| method_of(e.kind))
            .unwrap_or("Bitrix24");
        judge(method, answer)
    }
}

/// What an answer to `method` means: a Bitrix24 error (`{"error", "error_description"}`,
/// whatever the status) is retried for rate limits and the portal's own failures and dead
/// otherwise; a 2xx to `register` must carry `result.CALL_ID`, which is kept.
pub fn judge(method: &str, answer: &HttpAnswer) -> Verdict {
    let status = answer.status;
    let body: Option<Value> = serde_json::from_slice(&answer.body).ok();
    if let Some((code, description)) = body.as_ref().and_then(error_of) {
        let error = format!("{method}: HTTP {status} {code}: {description}");
        let plain = Verdict::of_status(answer);
        let again = RETRY_CODES.contains(&code.as_str())
            || (!(200..300).contains(&status) && matches!(plain, Verdict::Retry { .. }));
        if again {
            return Verdict::Retry {
                error,
                after: answer.retry_after,
            };
        }
        return Verdict::Dead { error };
    }
    match Verdict::of_status(answer) {
        Verdict::Delivered { .. } if method == REGISTER => {
            match body.as_ref().and_then(call_id_of) {
                Some(call_id) => Verdict::Delivered {
                    keep: Some(call_id),
                },
                None => Verdict::Dead {
                    error: format!(
                        "{method}: HTTP {status} without result.CALL_ID: {}",
                        snippet(&answer.body)
                    ),
                },
            }
        }
        Verdict::Delivered { .. } => Verdict::Delivered { keep: None },
        Verdict::Retry { error, after } => Verdict::Retry {
            error: format!("{method}: {error}"),
            after,
        },
        Verdict::Dead { error } => Verdict::Dead {
            error: format!("{method}: {error}"),
        },
    }
}

/// `error` and `error_description` of a Bitrix24 error body.
fn error_of(body: &Value) -> Option<(String, String)> {
    let code = match body.get("error")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((code, snippet(description.as_bytes())))
}

/// `result.CALL_ID` (a string; a number is taken as its digits).
fn call_id_of(body: &Value) -> Option<String> {
    match body.get("result")?.get("CALL_ID")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The status code `finish` expects: 200 answered, 304 missed (nobody answered, the caller
/// gave up while it rang, or left a voicemail), 486 busy, 603 declined, and for failures the callee's
/// code where Bitrix24 knows it (403, 404, 402, 423, 480, 484, 503 for server errors),
/// `OTHER` else.
pub fn status_code(call: &CallFact) -> &'static str {
    let sip = call.sip_status.unwrap_or(0);
    match call.disposition.as_deref() {
        Some("answered") => "200",
        Some("no_answer" | "cancelled" | "voicemail") => "304",
        Some("busy") if sip == 603 => "603",
        Some("busy") => "486",
        Some("interrupted") if call.answered_at.is_some() => "200",
        Some("interrupted") => "304",
        _ => match sip {
            402 => "402",
            403 => "403",
            404 => "404",
            423 => "423",
            480 => "480",
            484 => "484",
            486 | 600 => "486",
            603 => "603",
            500..=599 => "503",
            _ => "OTHER",
        },
    }
}

/// RFC 3339 UTC (`2026-12-05T10:00:00.000Z`) as the ISO 8601 with an offset Bitrix24's
/// examples show (`2026-12-05T10:00:00+00:00`); kept as written if it does not parse.
fn iso8601(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

#[cfg(test)]
#[path = "bitrix24_tests.rs"]
mod tests;
