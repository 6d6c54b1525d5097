//! `[exports]`: where facts are delivered (webhooks, GA4, Yandex Metrica, Bitrix24) and how
//! hard delivery tries: the file shapes and the validated [`ExportsConfig`]. Checks live in
//! `exports_check.rs`.

use std::time::Duration;

use serde::Deserialize;

/// `[exports]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportsFile {
    /// Attempts before an event becomes a dead letter.
    pub max_attempts: u32,
    /// Age (since the event was written) after which it becomes a dead letter, in hours.
    pub max_age_hours: u64,
    /// Delay before the first retry, doubled per attempt (with jitter), in milliseconds.
    pub retry_min_ms: u64,
    /// Longest delay between two attempts, in seconds.
    pub retry_max_secs: u64,
    /// Requests in flight per destination.
    pub concurrency: usize,
    /// Time one request may take before it counts as failed (and is retried), in seconds.
    pub timeout_secs: u64,
    /// Delivered events are kept this long (for `outbox list` and `replay --since`), in days.
    pub keep_delivered_days: u64,
    /// Signed JSON webhooks (Standard Webhooks), for CRMs and anything else.
    pub webhooks: Vec<WebhookFile>,
    /// Google Analytics 4 Measurement Protocol.
    pub ga4: Vec<Ga4File>,
    /// Yandex Metrica offline calls.
    pub metrica: Vec<MetricaFile>,
    /// Bitrix24 telephony (`telephony.externalcall.*`) through an inbound webhook.
    pub bitrix24: Vec<Bitrix24File>,
}

impl Default for ExportsFile {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            max_age_hours: 72,
            retry_min_ms: 1000,
            retry_max_secs: 600,
            concurrency: 4,
            timeout_secs: 10,
            keep_delivered_days: 7,
            webhooks: Vec::new(),
            ga4: Vec::new(),
            metrica: Vec::new(),
            bitrix24: Vec::new(),
        }
    }
}

/// `[[exports.webhooks]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// Names the destination in the outbox, the CLI and metrics (unique across `[exports]`).
    pub id: String,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Event types sent (default: all of `call.ringing`, `call.answered`, `call.ended`,
    /// `call.updated`, `lead.created`).
    #[serde(default)]
    pub events: Vec<String>,
    /// Sites whose events are sent (default: all).
    #[serde(default)]
    pub sites: Vec<String>,
    /// The signing secret, `whsec_` and base64 (Standard Webhooks), or `env:NAME`.
    pub secret: String,
}

/// `[[exports.ga4]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ga4File {
    pub id: String,
    /// The web stream's measurement id (`G-XXXXXXX`).
    pub measurement_id: String,
    /// The Measurement Protocol API secret, or `env:NAME`.
    pub api_secret: String,
    /// The event's name (default `phone_call`).
    #[serde(default = "default_ga4_event")]
    pub event_name: String,
    /// Which calls: `all`, `first_time` or `quality` (default `all`).
    #[serde(default = "default_send")]
    pub send: String,
    /// The event's value: `deal` (the call's won deal, else none) or `fixed` (default).
    #[serde(default = "default_value_from")]
    pub value_from: String,
    /// The fixed value in `[reports] currency`, e.g. `500.0` (default none).
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub sites: Vec<String>,
    /// Base URL (default `https://www.google-analytics.com`); `/mp/collect` is appended.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// `[[exports.metrica]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricaFile {
    pub id: String,
    /// The Metrica counter (tag) id.
    pub counter_id: u64,
    /// An OAuth token with `metrika:write`, or `env:NAME`.
    pub oauth_token: String,
    /// How often pending calls are uploaded as one CSV, in seconds (default 300).
    #[serde(default = "default_every_secs")]
    pub every_secs: u64,
    /// Which calls: `all`, `first_time` or `quality` (default `all`).
    #[serde(default = "default_send")]
    pub send: String,
    #[serde(default)]
    pub sites: Vec<String>,
    /// Link to the call in calltrack's dashboard (`CallTrackerURL`): this prefix and the
    /// call id (default none).
    #[serde(default)]
    pub call_tracker_url: Option<String>,
    /// Base URL (default `https://api-metrika.yandex.net`).
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// `[[exports.bitrix24]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bitrix24File {
    pub id: String,
    /// The inbound webhook URL (`https://company.bitrix24.ru/rest/1/abc123/`), or `env:NAME`;
    /// it carries the secret.
    pub webhook_url: String,
    /// The Bitrix24 user a call is registered to (`USER_ID`).
    #[serde(default = "default_user_id")]
    pub user_id: u64,
    /// Create a lead for an unknown caller (`CRM_CREATE`, default true).
    #[serde(default = "default_true")]
    pub create_crm: bool,
    /// Show the call card to the user while it rings (`SHOW`, default true).
    #[serde(default = "default_true")]
    pub show_card: bool,
    /// The CRM source (`CRM_SOURCE`, a `STATUS_ID` of the CRM's source list) per calltrack
    /// source (`google = "ADVERTISING"`); calls from other sources are registered without one.
    #[serde(default)]
    pub crm_sources: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub sites: Vec<String>,
}

fn default_ga4_event() -> String {
    "phone_call".into()
}
fn default_send() -> String {
    "all".into()
}
fn default_value_from() -> String {
    "fixed".into()
}
fn default_every_secs() -> u64 {
    300
}
fn default_user_id() -> u64 {
    1
}
fn default_true() -> bool {
    true
}

/// A credential from the config or the environment. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What happened, as destinations subscribe to it (the outbox's event types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    /// The B-leg is being rung (the CRM can pop the caller's card).
    #[serde(rename = "call.ringing")]
    CallRinging,
    #[serde(rename = "call.answered")]
    CallAnswered,
    /// The CDR was written.
    #[serde(rename = "call.ended")]
    CallEnded,
    /// Tags, note, deal or `called_back_at` changed after the CDR was written.
    #[serde(rename = "call.updated")]
    CallUpdated,
    /// The call's transcript was scored by the call scorer (`target_probability`, `target`).
    #[serde(rename = "call.scored")]
    CallScored,
    #[serde(rename = "lead.created")]
    LeadCreated,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::CallRinging,
        EventKind::CallAnswered,
        EventKind::CallEnded,
        EventKind::CallUpdated,
        EventKind::CallScored,
        EventKind::LeadCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallRinging => "call.ringing",
            EventKind::CallAnswered => "call.answered",
            EventKind::CallEnded => "call.ended",
            EventKind::CallUpdated => "call.updated",
            EventKind::CallScored => "call.scored",
            EventKind::LeadCreated => "lead.created",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether the event is about a call.
    pub fn is_call(self) -> bool {
        !matches!(self, EventKind::LeadCreated)
    }
}

/// Which calls a destination takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Send {
    #[default]
    All,
    FirstTime,
    Quality,
    /// Calls the call scorer judged target, once scored (`call.scored`, not `call.ended`).
    Target,
}

/// Where a GA4 event's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueFrom {
    /// The call's won deal (no value without one).
    Deal,
    /// A fixed amount in minor units (None: no value).
    Fixed(Option<i64>),
}

/// How hard delivery tries, for every destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub max_attempts: u32,
    pub max_age: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
    pub keep_delivered: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        super::exports_check::policy(&ExportsFile::default(), &mut Default::default())
    }
}

/// A validated webhook destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub id: String,
    pub url: String,
    pub events: Vec<EventKind>,
    pub sites: Vec<String>,
    /// The HMAC key in base64: the part after `whsec_`.
    pub secret: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ga4Config {
    pub id: String,
    pub measurement_id: String,
    pub api_secret: Secret,
    pub event_name: String,
    pub send: Send,
    pub value_from: ValueFrom,
    pub sites: Vec<String>,
    /// Base URL without a trailing `/`.
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricaConfig {
    pub id: String,
    pub counter_id: u64,
    pub oauth_token: Secret,
    pub every: Duration,
    pub send: Send,
    pub sites: Vec<String>,
    pub call_tracker_url: Option<String>,
    /// Base URL without a trailing `/`.
    pub endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitrix24Config {
    pub id: String,
    /// Ends with `/`; method names are appended (`telephony.externalcall.register.json`).
    pub webhook_url: Secret,
    pub user_id: u64,
    pub create_crm: bool,
    pub show_card: bool,
    /// Calltrack source, lowercased, to the CRM's source `STATUS_ID`.
    pub crm_sources: std::collections::BTreeMap<String, String>,
    pub sites: Vec<String>,
}

/// `[exports]`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportsConfig {
    pub policy: DeliveryPolicy,
    pub webhooks: Vec<WebhookConfig>,
    pub ga4: Vec<Ga4Config>,
    pub metrica: Vec<MetricaConfig>,
    pub bitrix24: Vec<Bitrix24Config>,
}

impl ExportsConfig {
    /// Every destination id, in config order.
    pub fn ids(&self) -> Vec<&str> {
        let webhooks = self.webhooks.iter().map(|d| d.id.as_str());
        let ga4 = self.ga4.iter().map(|d| d.id.as_str());
        let metrica = self.metrica.iter().map(|d| d.id.as_str());
        let bitrix = self.bitrix24.iter().map(|d| d.id.as_str());
        webhooks.chain(ga4).chain(metrica).chain(bitrix).collect()
    }
}
