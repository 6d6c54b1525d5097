//! The serde mirror of the routing sections: `[[gateways]]`, `[[schemes]]` (with steps and
//! targets), `[[schedules]]` and `[[routes]]`. Loose shapes; `routing_check.rs` validates.

use serde::Deserialize;

/// `[[gateways]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayFile {
    /// Required: id that targets name in `gateway = "..."`.
    pub id: Option<String>,
    /// Required: `sip:host[:port][;params]`, no user part; numbers become the user part.
    pub uri: Option<String>,
    /// Digest user name (with `auth_password`) for 401/407 challenges.
    pub auth_user: Option<String>,
    /// Digest password (with `auth_user`).
    pub auth_password: Option<String>,
    /// Answer only challenges of this realm.
    pub auth_realm: Option<String>,
}

/// `[[schemes]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemeFile {
    /// Required: id that routes name.
    pub id: Option<String>,
    /// Required: at least one step, rung in order.
    pub steps: Vec<StepFile>,
    /// SIP URI rung once every step failed (voicemail...).
    pub fallback: Option<String>,
    /// Phone number rung once every step failed (with `fallback_gateway`).
    pub fallback_number: Option<String>,
    /// Gateway of `fallback_number`.
    pub fallback_gateway: Option<String>,
    /// What moves on: "timeout", a status ("486") or a class ("5xx").
    pub failover_on: Option<Vec<String>>,
    /// Statuses of the last target that end the call instead of ringing the fallback.
    pub final_statuses: Option<Vec<u16>>,
    /// Calls this scheme takes count towards quality calls (false for a support line).
    pub counted: Option<bool>,
    /// "direct" or "relay" for calls this scheme takes, overriding the site's.
    pub media: Option<super::media::MediaMode>,
    /// Record calls this scheme takes, overriding the site's.
    pub record: Option<bool>,
    /// A prompt played to the caller before bridging: a built-in name or a WAV file (needs
    /// media = "relay" or record = true at this level or above).
    pub announce: Option<String>,
    /// "answer" (200 OK, then the prompt) or "early" (183 with early media) before a prompt.
    pub answer: Option<super::voice::AnswerMode>,
    /// Voicemail once every step and the fallback failed: `{ max_secs = 120, prompt =
    /// "voicemail", beep = true }` (needs media = "relay" or record = true on the scheme).
    pub voicemail: Option<super::voicemail::VoicemailFile>,
}

/// `[[schemes.steps]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepFile {
    /// How the targets are rung.
    pub strategy: StrategyFile,
    /// Default ring timeout of each target, in seconds.
    pub ring_timeout_secs: Option<u64>,
    /// The whole step gives up after this many seconds.
    pub step_timeout_secs: Option<u64>,
    /// round_robin: a repeat caller goes first to whoever answered them last time.
    pub sticky: bool,
    /// Required: at least one target (none for a menu step).
    pub targets: Vec<TargetFile>,
    /// Menu step: the greeting (a built-in prompt name or a WAV file; default "menu").
    pub prompt: Option<String>,
    /// Menu step: seconds from the end of the greeting to the key (default 5).
    pub timeout_secs: Option<u64>,
    /// Menu step: replays after silence or a wrong key (default 2).
    pub retries: Option<u32>,
    /// Menu step: the scheme taken after the replays.
    pub default: Option<String>,
    /// Menu step: key ("1", "*", "#") → the scheme it takes.
    pub choices: std::collections::BTreeMap<String, String>,
}

/// `schemes.steps.strategy`
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyFile {
    /// Hunt: one target at a time, in order.
    #[default]
    Sequential,
    /// Ring all; the first answer wins.
    Parallel,
    /// One at a time, the start rotating (weighted).
    RoundRobin,
    /// A voice menu: the caller's key picks the scheme (see `config::menu`).
    Menu,
}

/// `[[schemes.steps.targets]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetFile {
    /// A SIP URI (or `number` + `gateway`).
    pub uri: Option<String>,
    /// A phone number sent through `gateway`.
    pub number: Option<String>,
    /// Gateway id for `number`.
    pub gateway: Option<String>,
    /// round_robin weight, at least 1 (default 1).
    pub weight: Option<u32>,
    /// Overrides the step's ring timeout, in seconds.
    pub ring_timeout_secs: Option<u64>,
}

/// `[[schedules]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleFile {
    /// Required: id that routes name.
    pub id: Option<String>,
    /// Required: IANA time zone ("Europe/Moscow").
    pub time_zone: Option<String>,
    /// Open intervals "HH:MM-HH:MM" per weekday; a missing day is closed.
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
    /// Dates ("YYYY-MM-DD") closed all day.
    pub holidays: Vec<String>,
}

impl ScheduleFile {
    /// The weekday lists, Monday first, with their keys.
    pub fn week(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// `[[routes]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteFile {
    /// Condition: the number's site.
    pub site: Option<String>,
    /// Condition: the dialled tracking number.
    pub number: Option<String>,
    /// Condition: the number's pool.
    pub pool: Option<String>,
    /// Condition: the attributed source (case-insensitive).
    pub source: Option<String>,
    /// Condition: the visitor's region, else the number's pool region.
    pub region: Option<String>,
    /// Required: the scheme taken.
    pub scheme: Option<String>,
    /// Working hours of `scheme` (with `after_hours_scheme`).
    pub schedule: Option<String>,
    /// Taken while `schedule` is closed.
    pub after_hours_scheme: Option<String>,
}
