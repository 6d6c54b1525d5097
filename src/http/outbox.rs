//! The outbox admin API, read by `calltrack outbox`: `GET /v1/admin/outbox` (where each
//! configured destination stands), `GET /v1/admin/outbox/events` (events newest first, by
//! destination and state, cursor pages) and `POST /v1/admin/outbox/replay` (dead letters or
//! delivered events back to pending, through the one store writer; the writer then rings the
//! delivery services). On PostgreSQL they read and replay every node's events. Admin role only. Secrets never appear: the views carry none, and any
//! configured credential echoed into an error text is masked.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::commit::committed;
use super::errors::{ApiError, ApiJson};
use crate::call::record::rfc3339;
use crate::config::SharedConfig;
use crate::config::exports::ExportsConfig;
use crate::store::outbox::DeliveryState;
use crate::store::outbox::admin::{DestinationStatus, ListFilter, ListedEvent, Replay};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// One destination's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DestinationView {
    /// `[[exports.*]] id`.
    pub id: String,
    /// `webhook`, `ga4`, `metrica` or `bitrix24`; `unconfigured` for rows of a destination
    /// no longer in the config.
    pub kind: String,
    pub pending: u64,
    pub dead: u64,
    /// Delivered and kept (`keep_delivered_days`).
    pub delivered: u64,
    /// When the oldest pending event was written (RFC 3339).
    pub oldest_pending_at: Option<String>,
    /// Its age in seconds.
    pub oldest_pending_secs: Option<u64>,
    pub last_delivered_at: Option<String>,
    /// The newest error of an event still pending or dead.
    pub last_error: Option<String>,
}

/// `GET /v1/admin/outbox` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxStatusView {
    pub destinations: Vec<DestinationView>,
}

/// One event owed to one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEventView {
    /// The event id receivers deduplicate by (`webhook-id`).
    pub id: String,
    /// Storage order (the cursor counts on it).
    pub seq: i64,
    pub destination: String,
    /// `call.ringing`, `call.answered`, `call.ended`, `call.updated` or `lead.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The call or lead id.
    pub subject: String,
    pub occurred_at: String,
    pub created_at: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: u32,
    /// When a pending event is tried next.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    /// When it was delivered or dead-lettered.
    pub settled_at: Option<String>,
    /// The event's data (with `?payload=true`): the call or lead as webhooks carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// `GET /v1/admin/outbox/events` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEventsView {
    pub events: Vec<OutboxEventView>,
    /// Pass as `cursor` for the next (older) page; null on the last.
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/outbox/replay` body: `destination` and exactly one of `id` and `since`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplayBody {
    #[schema(example = "crm")]
    pub destination: String,
    /// One event by its id.
    pub id: Option<String>,
    /// Every delivered or dead event written at or after this instant (RFC 3339).
    #[schema(example = "2026-12-05T09:00:00Z")]
    pub since: Option<String>,
}

/// `POST /v1/admin/outbox/replay` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Events put back to pending.
    pub replayed: usize,
}

/// `GET /v1/admin/outbox`
#[utoipa::path(
    get,
    path = "/v1/admin/outbox",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every configured destination's queue, also when empty", body = OutboxStatusView),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
        (status = 503, description = "The store cannot be read now", body = super::openapi::ErrorBody),
    )
)]
pub async fn status(
    State(config): State<SharedConfig>,
    State(reader): State<BackendReader>,
) -> Result<Json<OutboxStatusView>, ApiError> {
    let stored = reader
        .read_operator(|r| r.outbox_status())
        .await
        .map_err(unreadable)?;
    let exports = &config.load().exports;
    let now = Timestamp::now();
    let mask = Mask::of(exports);
    let mut destinations: Vec<DestinationView> = kinds(exports)
        .into_iter()
        .map(|(id, kind)| {
            let found = stored.iter().find(|s| s.destination == id);
            let empty = DestinationStatus {
                destination: id.to_owned(),
                ..DestinationStatus::default()
            };
            view(found.unwrap_or(&empty), kind, now, &mask)
        })
        .collect();
    for s in &stored {
        if !destinations.iter().any(|d| d.id == s.destination) {
            destinations.push(view(s, "unconfigured", now, &mask));
        }
    }
    Ok(Json(OutboxStatusView { destinations }))
}

/// Each configured destination's id and kind, in config order.
fn kinds(exports: &ExportsConfig) -> Vec<(&str, &'static str)> {
    let webhooks = exports.webhooks.iter().map(|d| (d.id.as_str(), "webhook"));
    let ga4 = exports.ga4.iter().map(|d| (d.id.as_str(), "ga4"));
    let metrica = exports.metrica.iter().map(|d| (d.id.as_str(), "metrica"));
    let bitrix = exports.bitrix24.iter().map(|d| (d.id.as_str(), "bitrix24"));
    webhooks.chain(ga4).chain(metrica).chain(bitrix).collect()
}

fn view(s: &DestinationStatus, kind: &str, now: Timestamp, mask: &Mask) -> DestinationView {
    let age = |t: Timestamp| u64::try_from(now.duration_since(t).as_secs()).unwrap_or(0);
    DestinationView {
        id: s.destination.clone(),
        kind: kind.to_owned(),
        pending: s.pending,
        dead: s.dead,
        delivered: s.delivered,
        oldest_pending_at: s.oldest_pending.map(rfc3339::format),
        oldest_pending_secs: s.oldest_pending.map(age),
        last_delivered_at: s.last_delivered.map(rfc3339::format),
        last_error: s.last_error.as_deref().map(|e| mask.apply(e)),
    }
}

/// `GET /v1/admin/outbox/events`
#[utoipa::path(
    get,
    path = "/v1/admin/outbox/events",
    tag = "admin",
    params(
        ("destination" = Option<String>, Query, description = "Only this destination's events"),
        ("state" = Option<String>, Query, description = "`pending`, `delivered` or `dead`"),
        ("limit" = Option<usize>, Query, description = "1 to 500, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("payload" = Option<bool>, Query, description = "Include each event's data (default false)"),
    ),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "One page, newest first", body = OutboxEventsView),
        (status = 400, description = "A bad parameter; every problem is listed", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn events(
    State(config): State<SharedConfig>,
    State(reader): State<BackendReader>,
    RawQuery(query): RawQuery,
) -> Result<Json<OutboxEventsView>, ApiError> {
    let filter = parse_list_query(query.as_deref().unwrap_or(""))?;
    let page = reader
        .read_operator(move |r| r.outbox_events(&filter))
        .await
        .map_err(unreadable)?;
    let mask = Mask::of(&config.load().exports);
    Ok(Json(OutboxEventsView {
        events: page.events.into_iter().map(|e| event(e, &mask)).collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
    }))
}

fn event(e: ListedEvent, mask: &Mask) -> OutboxEventView {
    let payload = e
        .payload
        .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)));
    OutboxEventView {
        id: e.id,
        seq: e.seq,
        destination: e.destination,
        kind: e.kind,
        subject: e.subject,
        occurred_at: e.occurred_at,
        created_at: rfc3339::format(e.created_at),
        state: e.state,
        attempts: e.attempts,
        next_attempt_at: e.next_attempt_at.map(rfc3339::format),
        last_error: e.last_error.as_deref().map(|t| mask.apply(t)),
        settled_at: e.settled_at.map(rfc3339::format),
        payload,
    }
}

/// Checks the events query, listing every problem at once.
pub fn parse_list_query(query: &str) -> Result<ListFilter, ApiError> {
    let mut problems = Vec::new();
    let mut filter = ListFilter {
        destination: None,
        state: None,
        limit: DEFAULT_LIMIT,
        before: None,
        payload: false,
    };
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "destination" if !value.is_empty() => filter.destination = Some(value.into_owned()),
            "destination" => {}
            "state" => match DeliveryState::parse(&value) {
                Some(state) => filter.state = Some(state),
                None => problems.push(format!(
                    "state: {value:?} is not one of pending, delivered, dead"
                )),
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => filter.limit = n,
                _ => problems.push(format!("limit: {value:?} is not 1 to {MAX_LIMIT}")),
            },
            "cursor" => match value.parse::<i64>() {
                Ok(seq) if seq > 0 => filter.before = Some(seq),
                _ => problems.push(format!("cursor: {value:?} is not a cursor this API gave")),
            },
            "payload" => match value.as_ref() {
                "true" | "1" => filter.payload = true,
                "false" | "0" => filter.payload = false,
                _ => problems.push(format!("payload: {value:?} is not true or false")),
            },
            other => problems.push(format!(
                "unknown parameter {other:?}; allowed: destination, state, limit, cursor, payload"
            )),
        }
    }
    match problems.is_empty() {
        true => Ok(filter),
        false => Err(ApiError::Invalid {
            code: "invalid_query",
            problems,
        }),
    }
}

/// `POST /v1/admin/outbox/replay`
#[utoipa::path(
    post,
    path = "/v1/admin/outbox/replay",
    tag = "admin",
    request_body = ReplayBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "How many events went back to pending (stored before the answer)", body = Replayed),
        (status = 400, description = "A bad body; every problem is listed", body = super::openapi::ErrorBody),
        (status = 404, description = "No such destination in the config", body = super::openapi::ErrorBody),
        (status = 409, description = "The event was dropped by the destination's filter (a call scored not target with send = \"target\"): never replayed", body = super::openapi::ErrorBody),
        (status = 429, description = "The store is busy", body = super::openapi::ErrorBody),
        (status = 401, description = "No or wrong token", body = super::openapi::ErrorBody),
    )
)]
pub async fn replay(
    State(config): State<SharedConfig>,
    State(reader): State<BackendReader>,
    State(store): State<StoreSender>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Replayed>, ApiError> {
    let replay = parse_replay(&body)?;
    let known = config.load().exports.ids().contains(&replay.destination());
    if !known {
        return Err(ApiError::Rejected {
            status: StatusCode::NOT_FOUND,
            code: "unknown_destination",
            message: format!("no destination {:?} in [exports]", replay.destination()),
        });
    }
    let at = Timestamp::now();
    let asked = replay.clone();
    let (matching, dropped) = reader
        .read_operator(move |r| {
            let dropped = match &asked {
                Replay::Id { destination, id } => r.outbox_dropped(destination, id)?,
                Replay::Since { .. } => false,
            };
            Ok((r.outbox_replayable(&asked, at)?, dropped))
        })
        .await
        .map_err(unreadable)?;
    if dropped {
        return Err(ApiError::Rejected {
            status: StatusCode::CONFLICT,
            code: "dropped_event",
            message: "this event was dropped by the destination's filter (e.g. a call scored \
                      not target with send = \"target\"), never sent; a replay would send it \
                      as if it qualified"
                .to_owned(),
        });
    }
    let stored = replay.clone();
    let changed = committed(
        "outbox replay",
        store.try_request(|done| StoreCommand::OutboxReplay {
            replay: stored,
            at,
            done,
        }),
    )
    .await?;
    let replayed = if changed { matching.max(1) } else { 0 };
    tracing::info!(
        destination = replay.destination(),
        replayed,
        "outbox events replayed through the admin API"
    );
    Ok(Json(Replayed { replayed }))
}

/// Checks a replay body, listing every problem at once.
pub fn parse_replay(body: &Value) -> Result<Replay, ApiError> {
    let invalid = |problems| ApiError::Invalid {
        code: "invalid_replay",
        problems,
    };
    let Some(fields) = body.as_object() else {
        return Err(invalid(vec![
            "the body must be an object: {\"destination\", \"id\" or \"since\"}".to_owned(),
        ]));
    };
    let mut problems = Vec::new();
    let mut text = |key: &str| match fields.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(_) => {
            problems.push(format!("{key}: must be a non-empty string"));
            None
        }
    };
    let (destination, id, since) = (text("destination"), text("id"), text("since"));
    for key in fields.keys() {
        if !["destination", "id", "since"].contains(&key.as_str()) {
            problems.push(format!(
                "unknown field {key:?}; allowed: destination, id, since"
            ));
        }
    }
    if destination.is_none() && !fields.contains_key("destination") {
        problems.push("destination: required".to_owned());
    }
    let since = since.and_then(|s| match rfc3339::parse(&s) {
        Ok(t) => Some(t),
        Err(_) => {
            problems.push(format!("since: {s:?} is not an RFC 3339 time"));
            None
        }
    });
    let asked_since = fields.get("since").is_some_and(|v| !v.is_null());
    let asked_id = fields.get("id").is_some_and(|v| !v.is_null());
    match (asked_id, asked_since) {
        (true, true) => problems.push("give either id or since, not both".to_owned()),
        (false, false) => problems.push("give id (one event) or since (RFC 3339)".to_owned()),
        _ => {}
    }
    match (destination, id, since) {
        (Some(destination), Some(id), None) if problems.is_empty() => {
            Ok(Replay::Id { destination, id })
        }
        (Some(destination), None, Some(since)) if problems.is_empty() => {
            Ok(Replay::Since { destination, since })
        }
        _ => Err(invalid(problems)),
    }
}

/// The configured credentials, masked out of any text shown (an error body a service
/// echoed them into).
struct Mask(Vec<String>);

impl Mask {
    fn of(exports: &ExportsConfig) -> Mask {
        let webhooks = exports.webhooks.iter().map(|d| &d.secret);
        let ga4 = exports.ga4.iter().map(|d| &d.api_secret);
        let metrica = exports.metrica.iter().map(|d| &d.oauth_token);
        let bitrix = exports.bitrix24.iter().map(|d| &d.webhook_url);
        let secrets = webhooks.chain(ga4).chain(metrica).chain(bitrix);
        Mask(
            secrets
                .map(|s| s.expose().to_owned())
                .filter(|s| s.len() >= 6)
                .collect(),
        )
    }

    fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |t, secret| {
            t.replace(secret.as_str(), "<redacted>")
        })
    }
}

fn unreadable(error: StoreError) -> ApiError {
    tracing::warn!(%error, "cannot read the outbox");
    ApiError::Rejected {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "store_unavailable",
        message: "the store cannot be read now".to_owned(),
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
