//! Webhooks signed per the Standard Webhooks specification
//! (<https://www.standardwebhooks.com/>): a JSON body `{"type", "timestamp", "data"}` and the
//! headers `webhook-id` (the event id, stable across retries so receivers deduplicate),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
//! (`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the secret's
//! decoded bytes).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use super::{Body, Destination, HttpRequest, Method};
use crate::call::record::rfc3339;
use crate::config::exports::WebhookConfig;
use crate::store::outbox::OutboxEvent;

/// One webhook destination.
#[derive(Debug)]
pub struct Webhook {
    id: String,
    url: String,
    /// The HMAC key (the decoded part of `whsec_...`).
    key: Vec<u8>,
}

impl Webhook {
    /// Fails only if the secret is not base64 (the config check already refused that).
    pub fn new(config: &WebhookConfig) -> Result<Webhook, base64::DecodeError> {
        Ok(Webhook {
            id: config.id.clone(),
            url: config.url.clone(),
            key: STANDARD.decode(config.secret.expose())?,
        })
    }
}

/// The body: the event type, when it happened, and the call or lead.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: &'a RawValue,
}

impl Destination for Webhook {
    fn id(&self) -> &str {
        &self.id
    }

    fn request(&self, events: &[OutboxEvent], now: Timestamp) -> Result<HttpRequest, String> {
        let event = events.first().ok_or("no event")?;
        let data: &RawValue = serde_json::from_str(&event.payload)
            .map_err(|e| format!("stored payload is not JSON: {e}"))?;
        let body = serde_json::to_vec(&Envelope {
            kind: event.kind.as_str(),
            timestamp: rfc3339::format(event.occurred_at),
            data,
        })
        .map_err(|e| e.to_string())?;
        let timestamp = now.as_second().to_string();
        let signature = sign(&self.key, &event.id, &timestamp, &body);
        Ok(HttpRequest {
            method: Method::Post,
            url: self.url.clone(),
            headers: vec![
                ("webhook-id".into(), event.id.clone()),
                ("webhook-timestamp".into(), timestamp),
                ("webhook-signature".into(), format!("v1,{signature}")),
            ],
            body: Body::Json(body),
        })
    }
}

/// base64(HMAC-SHA256(key, `{id}.{timestamp}.{body}`)).
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::exports::{EventKind, Secret};

    /// The example of the Standard Webhooks reference libraries (`webhooks` in its repo's
    /// test vectors): secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn signature_matches_the_reference_vector() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_request_carries_the_event_and_its_signature() {
        let hook = Webhook::new(&WebhookConfig {
            id: "crm".into(),
            url: "http://127.0.0.1:9/hook".into(),
            events: EventKind::ALL.to_vec(),
            sites: Vec::new(),
            secret: Secret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        })
        .unwrap();
        let event = OutboxEvent {
            seq: 7,
            id: "evt_0123".into(),
            destination: "crm".into(),
            kind: EventKind::CallRinging,
            subject: "c1".into(),
            occurred_at: "2026-12-05T10:00:00Z".parse().unwrap(),
            created_at: "2026-12-05T10:00:00Z".parse().unwrap(),
            attempts: 0,
            payload: r#"{"id":"c1"}"#.into(),
            kept: None,
        };
        let now: Timestamp = "2026-12-05T10:00:01Z".parse().unwrap();
        let req = hook.request(&[event], now).unwrap();
        let Body::Json(body) = &req.body else {
            panic!("json body")
        };
        assert_eq!(
            std::str::from_utf8(body).unwrap(),
            r#"{"type":"call.ringing","timestamp":"2026-12-05T10:00:00.000Z","data":{"id":"c1"}}"#
        );
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n == name)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(header("webhook-id"), "evt_0123");
        assert_eq!(header("webhook-timestamp"), now.as_second().to_string());
        let expected = sign(&hook.key, "evt_0123", &header("webhook-timestamp"), body);
        assert_eq!(header("webhook-signature"), format!("v1,{expected}"));
    }
}
