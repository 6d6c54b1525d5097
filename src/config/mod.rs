//! The validated configuration: the types the rest of calltrack reads, and how they are loaded.
//!
//! Loading is TOML text -> `toml::Table` (syntax) -> `file::ConfigFile` (shape, unknown keys,
//! types) -> [`Config`] (semantics). Every problem found along the way is reported at once in
//! [`ConfigError::Invalid`], each with its key path (`sites[0].pools[1].numbers[3]`).

mod big_ints;
mod decode;
pub mod dialing;
pub mod exports;
mod exports_check;
mod file;
mod health;
mod leases;
mod media;
pub mod menu;
mod node;
mod number;
mod paths;
mod problem;
mod routing;
mod routing_check;
mod routing_file;
mod rules;
mod schedule_check;
mod security;
mod site_file;
mod sites;
mod speech;
mod store_backend;
mod target_check;
mod tracking;
mod uri;
mod validate;
pub mod voice;
pub mod voice_code;
pub mod voicemail;
mod web;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use health::HealthConfig;
pub use leases::{LeasesConfig, RedisLeasesConfig};
pub use media::{MediaConfig, MediaMode, OnNoPorts, RecordingLimits};
pub use node::NodeConfig;
pub use problem::ConfigProblem;
pub use routing::{
    AfterHours, GatewayConfig, RouteConfig, RoutingConfig, ScheduleConfig, SchemeConfig,
    StepConfig, TargetConfig, TargetDest,
};
pub use security::{
    AdminToken, BlacklistConfig, FloodConfig, PbxConfig, SecurityConfig, blacklist_pattern,
};
pub use speech::{
    SpeechConfig, SpeechEngine, SpeechHttpConfig, SpeechSphinxConfig, SpeechTag, TagParty,
};
pub use store_backend::{PostgresConfig, StoreBackend};
pub use voice::AnswerMode;

/// The live config shared by the services; a reload swaps it atomically (readers `load()`).
pub type SharedConfig = std::sync::Arc<arc_swap::ArcSwap<Config>>;

/// Everything calltrack needs to run, checked as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub sip: SipConfig,
    pub carriers: CarriersConfig,
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub node: NodeConfig,
    pub calls: CallsConfig,
    pub log: LogConfig,
    pub tracking: TrackingConfig,
    pub geo: GeoConfig,
    pub health: HealthConfig,
    /// `[leases]`: the lease table in this process or on Redis.
    pub leases: LeasesConfig,
    pub sites: Vec<SiteConfig>,
    pub security: SecurityConfig,
    pub blacklist: BlacklistConfig,
    pub pbx: PbxConfig,
    /// `[reports]`: the currency costs and revenue are summed in ("RUB").
    pub reports_currency: String,
    /// Gateways, distribution schemes, schedules and the routes that pick a scheme per call.
    pub routing: RoutingConfig,
    /// `[exports]`: webhooks, GA4, Metrica and Bitrix24 destinations and the delivery policy.
    pub exports: exports::ExportsConfig,
    /// `[media]`: the RTP relay's ports and addresses.
    pub media: MediaConfig,
    /// `[media] prompt_language`: the language of the built-in prompts ("en", "ru").
    pub prompt_language: String,
    /// `[speech]`: transcription of recorded calls.
    pub speech: SpeechConfig,
    /// `[voice]`: the overflow code's entry timeouts.
    pub voice: voice_code::VoiceConfig,
    /// Every tracking number of every site, by its digits; each number has exactly one place.
    numbers: HashMap<String, TrackingNumber>,
}

/// `[sip]`: listeners, message limits and RFC 3261 timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    pub udp_listen: Vec<SocketAddr>,
    pub tcp_listen: Vec<SocketAddr>,
    /// Host for Via/Contact/Record-Route when behind NAT; `None` means the socket address.
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
    pub max_message_bytes: usize,
    pub max_headers: usize,
    /// Requests larger than this move to TCP (RFC 3261 §18.1.1).
    pub udp_max_request_bytes: usize,
    pub tcp_max_connections: usize,
    /// Percent of `tcp_max_connections` reserved for trusted sources (0..=100).
    pub tcp_reserved_trusted_percent: u32,
    pub tcp_max_connections_per_source: usize,
    pub tcp_idle_timeout: Duration,
    pub tcp_message_timeout: Duration,
    pub user_agent: String,
    /// Shards of the SIP core; `None`: one per CPU (the app counts them at start).
    pub workers: Option<usize>,
    pub timers: TimerConfig,
}

impl SipConfig {
    /// The inbound TCP slots only trusted sources may take (the percentage, rounded down).
    pub fn tcp_reserved_trusted_connections(&self) -> usize {
        let percent = usize::try_from(self.tcp_reserved_trusted_percent.min(100)).unwrap_or(100);
        self.tcp_max_connections.saturating_mul(percent) / 100
    }
}

/// RFC 3261 §17 timer base values; invariant: `t1 <= t2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// `[carriers]`: networks allowed to send us calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriersConfig {
    pub trusted: Vec<ipnet::IpNet>,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Snippet API requests per client IP per minute; at least 1.
    pub rate_limit_per_minute: u32,
    pub max_body_bytes: usize,
    /// X-Forwarded-For is honoured only from these peers.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The admin API bearer token; `None`: the admin API answers only loopback clients.
    pub admin_token: Option<AdminToken>,
    /// Read-only (viewer) tokens: the reader API and the dashboard, no writes.
    pub viewer_tokens: Vec<AdminToken>,
    /// How long a dashboard sign-in (session cookie) lasts.
    pub session_ttl: Duration,
    /// The session cookie carries `Secure`.
    pub secure_cookies: bool,
}

/// `[tracking]`: what forwarded calls carry and how calls are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingConfig {
    /// An HTTP/SIP header-name token ending with '-', e.g. "X-CT-".
    pub header_prefix: String,
    pub diversion: bool,
    /// The carrier's Diversion headers stay below calltrack's on the B-leg INVITE.
    pub keep_carrier_diversion: bool,
    /// Longest header value (and From display name) forwarded from one leg to the other.
    pub max_forwarded_header_bytes: usize,
    /// First-time-caller window; `None` means forever.
    pub unique_window: Option<Duration>,
    pub quality_min_talk: Duration,
    /// A missed call is called back by an answered call from the same caller within this.
    pub callback_window: Duration,
    /// Leak detection: this many unheld calls to a pool number (0: off) ...
    pub leak_calls: u32,
    /// ... within this window quarantine it.
    pub leak_window: Duration,
    /// How long ended leases are kept in the lease history (`lease_history_days`).
    pub lease_history: Duration,
}

/// `[geo]`: visitor region lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoConfig {
    /// An existing MaxMind database file (checked at load time).
    pub mmdb_path: Option<PathBuf>,
    /// Networks and their regions (lowercase), in file order.
    pub networks: Vec<(ipnet::IpNet, String)>,
}

/// `[store]`: the SQLite CDR store; invariant: `1 <= batch_max_records <= queue_capacity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Where calls are kept: the SQLite file at `path` or a PostgreSQL server.
    pub backend: StoreBackend,
    pub path: PathBuf,
    /// Where the PostgreSQL store spools commands while the server is unreachable.
    pub spool_path: PathBuf,
    pub queue_capacity: usize,
    pub batch_max_records: usize,
    pub flush_interval: Duration,
    /// Pool usage samples older than this are pruned.
    pub pool_usage_retention: Duration,
}

/// `[calls]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallsConfig {
    pub ring_timeout: Duration,
    pub max_call_duration: Duration,
    pub max_concurrent_calls: usize,
    pub shutdown_grace: Duration,
    /// New INVITEs are refused statelessly while messages wait this long for the core.
    pub overload_queue_delay: Duration,
    /// Retry-After of the overload 503, in seconds.
    pub overload_retry_after_secs: u32,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing `EnvFilter` directive, already checked to parse.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `[[sites]]`: one tracked website or business line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    pub id: String,
    pub name: Option<String>,
    /// A `sip:` or `sips:` URI.
    pub forward_to: String,
    /// Calls taking `forward_to` count towards quality calls.
    pub forward_to_counted: bool,
    /// This site's quality threshold; `None`: `[tracking] quality_min_talk_secs`.
    pub quality_min_talk: Option<Duration>,
    pub default_number: Option<String>,
    pub reserve_number: Option<String>,
    /// Lease freeze time after the last heartbeat.
    pub freeze: Duration,
    pub static_numbers: Vec<StaticNumber>,
    pub pools: Vec<PoolConfig>,
    /// Web origins allowed for the snippet API, normalised ("https://shop.example").
    pub origins: Vec<String>,
    pub utc_offset: jiff::tz::Offset,
    /// `time_zone` (IANA) if set, else `utc_offset` as a fixed zone: where report days start.
    pub report_zone: jiff::tz::TimeZone,
    /// A released pool number rests this long before it is leased again.
    pub lease_cooldown: Duration,
    /// The freeze follows the call delay after leaving seen in the lease history (at most
    /// `freeze`, see `lease::freeze`).
    pub adapt_freeze: bool,
    /// A call to a pool number nobody holds goes to its last holder when that lease ended at
    /// most this long ago (nobody held the number since); zero: never.
    pub last_holder: Duration,
    /// Snippet heartbeat interval; invariant: `heartbeat < freeze`.
    pub heartbeat: Duration,
    /// With the pools exhausted, show the reserve number plus a code bound to the visit.
    pub overflow_code: bool,
    /// Display conditions in file order; the first match wins.
    pub rules: Vec<DisplayRule>,
    /// `media`: this site's calls are relayed or direct (`None`: direct unless overridden).
    pub media: Option<MediaMode>,
    /// `record`: this site's answered calls are recorded (`None`: not unless overridden).
    pub record: Option<bool>,
    /// `announce`: the prompt played before bridging (a built-in name or a WAV path).
    pub announce: Option<String>,
    /// `answer`: how the caller is answered before a prompt.
    pub answer: Option<voice::AnswerMode>,
    /// `voicemail`: a message is recorded when the scheme fails (a scheme's own wins).
    pub voicemail: Option<voicemail::VoicemailConfig>,
}

/// A number bound to one ad source for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticNumber {
    pub number: String,
    pub source: String,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    /// `media`: overrides the scheme's and the site's choice for calls to this number.
    pub media: Option<MediaMode>,
    /// `record`: overrides the scheme's and the site's choice for calls to this number.
    pub record: Option<bool>,
    /// `announce`: the prompt played before bridging (a built-in name or a WAV path).
    pub announce: Option<String>,
    /// `answer`: how the caller is answered before a prompt.
    pub answer: Option<voice::AnswerMode>,
}

/// A dynamic pool; `numbers` holds every number with ranges expanded, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    pub id: String,
    pub numbers: Vec<String>,
    /// Visitors from this region (lowercase) prefer this pool.
    pub region: Option<String>,
}

/// `[[sites.rules]]`: which number a visitor sees. Empty lists are no condition; a non-empty list
/// matches if any pattern matches (case-insensitive, '*' wildcard); all conditions must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayRule {
    pub utm_source: Vec<String>,
    pub utm_medium: Vec<String>,
    pub utm_campaign: Vec<String>,
    pub utm_term: Vec<String>,
    pub utm_content: Vec<String>,
    pub referrer_host: Vec<String>,
    pub landing_path: Vec<String>,
    pub region: Vec<String>,
    /// Site-local `[start, end)`; `start > end` wraps midnight; never `start == end`.
    pub time_of_day: Option<(jiff::civil::Time, jiff::civil::Time)>,
    pub action: DisplayAction,
}

/// What a matching rule shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayAction {
    /// Lease from these pools of the site (non-empty, each exists).
    Pools(Vec<String>),
    /// Show this static number of the site.
    Number(String),
    /// Show the site's default number.
    Default,
}

/// What calltrack knows about a dialled number before any lease lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingNumber {
    pub number: String,
    /// The owning site's id.
    pub site: String,
    pub forward_to: String,
    pub kind: NumberKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberKind {
    Static {
        source: String,
        medium: Option<String>,
        campaign: Option<String>,
    },
    Dynamic {
        pool: String,
    },
    Default,
    Reserve,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, "line L, column C: message".
    #[error("TOML syntax error at {0}")]
    Syntax(String),
    /// Every problem found, one per line when displayed.
    #[error("{}", problem::lines(.0))]
    Invalid(Vec<ConfigProblem>),
}

impl Config {
    /// The embedded default used when no `--config` is given.
    pub const DEFAULT_TOML: &'static str = include_str!("../../config/default.toml");

    /// Parses and validates TOML text, reporting every problem at once; relative paths
    /// stay relative to the current directory.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_toml_in(text, None)
    }

    /// [`Config::from_toml_str`] for text read from a file in `dir`: relative paths in it
    /// (`store.path`, `geo.mmdb_path`, `http.admin_token_file`) are taken from `dir`.
    pub fn from_toml_in(text: &str, dir: Option<&Path>) -> Result<Config, ConfigError> {
        let table = decode::parse_table(text)?;
        let (file, mut problems) = decode::decode(table);
        let Some(mut file) = file else {
            return Err(ConfigError::Invalid(problems));
        };
        if let Some(dir) = dir {
            paths::resolve(&mut file, dir);
        }
        let (config, semantic) = validate::validate(file);
        problem::merge(&mut problems, semantic);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Loads a config file, or the embedded default when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Self::embedded_default();
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_in(&text, Some(&paths::base_of(path)))
    }

    pub fn embedded_default() -> Result<Config, ConfigError> {
        Self::from_toml_str(Self::DEFAULT_TOML)
    }

    /// The site with this id.
    pub fn site(&self, id: &str) -> Option<&SiteConfig> {
        self.sites.iter().find(|site| site.id == id)
    }

    /// The talk time that makes a call to `site` a quality call (its own or `[tracking]`'s).
    pub fn quality_min_talk(&self, site: &str) -> Duration {
        self.site(site)
            .and_then(|s| s.quality_min_talk)
            .unwrap_or(self.tracking.quality_min_talk)
    }

    /// The tracking number with these E.164 digits (no '+'), if any site owns it.
    pub fn tracking_number(&self, digits: &str) -> Option<&TrackingNumber> {
        self.numbers.get(digits)
    }

    /// How many tracking numbers all sites own together.
    pub fn tracking_number_count(&self) -> usize {
        self.numbers.len()
    }

    /// Whether `ip` lies in a trusted carrier network; IPv4-mapped IPv6 matches IPv4 networks.
    pub fn is_trusted_carrier(&self, ip: IpAddr) -> bool {
        security::in_nets(&self.carriers.trusted, ip)
    }

    /// Whether `ip` lies in a `[pbx] trusted` network.
    pub fn is_trusted_pbx(&self, ip: IpAddr) -> bool {
        security::in_nets(&self.pbx.trusted, ip)
    }

    /// Warnings for `check-config` and start-up: forwarding targets given as IP literals
    /// outside `[pbx] trusted` (calls to them would be refused), an admin API left disabled.
    pub fn security_warnings(&self) -> Vec<String> {
        security::warnings(self)
    }
}

#[cfg(test)]
mod routing_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tracking_tests;
