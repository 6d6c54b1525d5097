//! The serde mirror of the TOML config file: raw shapes, defaults and one doc line per key.
//!
//! Types here are deliberately loose (strings for addresses and URIs, plain integers with
//! units in their names, `Option` for required keys) so that one decoding pass succeeds and
//! `validate.rs` can report every semantic problem with its key path. Unknown keys are
//! rejected at every depth (`deny_unknown_fields`).

use serde::Deserialize;

pub use super::health::HealthFile;
pub use super::routing_file::{GatewayFile, RouteFile, ScheduleFile, SchemeFile};
pub use super::security::{BlacklistFile, PbxFile, SecurityFile};
pub use super::site_file::{PoolFile, SiteFile, StaticNumberFile};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfigFile {
    /// SIP listeners, message limits and transaction timers.
    pub sip: SipFile,
    /// Which peers may send calls to us.
    pub carriers: CarriersFile,
    /// The HTTP server (snippet API, admin API, health, metrics).
    pub http: HttpFile,
    /// The SQLite CDR store and its writer queue.
    pub store: StoreFile,
    /// This node's identity among several sharing one store.
    pub node: super::node::NodeFile,
    /// Call limits and timeouts.
    pub calls: CallsFile,
    /// Log filter and output format.
    pub log: LogFile,
    /// Attribution stamped on forwarded calls, unique and quality call thresholds.
    pub tracking: TrackingFile,
    /// Visitor region lookup: a MaxMind database and a CIDR table.
    pub geo: GeoFile,
    /// OPTIONS probing of forwarding targets.
    pub health: HealthFile,
    /// Where the lease table lives: this process or a Redis server shared by several nodes.
    pub leases: super::leases::LeasesFile,
    /// Tracked sites with their numbers.
    pub sites: Vec<SiteFile>,
    /// Scanner user agents and the per-IP flood guard.
    pub security: SecurityFile,
    /// Caller numbers refused before any B-leg.
    pub blacklist: BlacklistFile,
    /// Where the PBX side lives.
    pub pbx: PbxFile,
    /// Reports: the currency figures are summed in.
    pub reports: ReportsFile,
    /// Outbound gateways: phone-number targets are sent through them.
    pub gateways: Vec<GatewayFile>,
    /// Distribution schemes: steps of targets rung in sequence, in parallel or round robin.
    pub schemes: Vec<SchemeFile>,
    /// Working hours per weekday in a time zone, and holidays.
    pub schedules: Vec<ScheduleFile>,
    /// Which scheme a call takes; the first match wins, no match takes the site's forward_to.
    pub routes: Vec<RouteFile>,
    /// Where facts are delivered: webhooks, GA4, Yandex Metrica, Bitrix24.
    pub exports: super::exports::ExportsFile,
    /// The RTP relay: port range and addresses.
    pub media: super::media::MediaFile,
    /// Transcription of recorded calls.
    pub speech: super::speech::SpeechFile,
    /// What calltrack waits for when it asks a caller for keys (the overflow code).
    pub voice: super::voice_code::VoiceFile,
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipFile {
    /// UDP sockets to listen on ("ip:port", IPv6 as "[::1]:5060").
    pub udp_listen: Vec<String>,
    /// TCP sockets to listen on.
    pub tcp_listen: Vec<String>,
    /// Host written into Via/Contact/Record-Route instead of the socket address (NAT).
    pub advertised_host: Option<String>,
    /// Port written next to `advertised_host`.
    pub advertised_port: Option<u16>,
    /// Largest SIP message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most header fields accepted in one message.
    pub max_headers: usize,
    /// Requests larger than this go over TCP (RFC 3261 §18.1.1), in bytes.
    pub udp_max_request_bytes: usize,
    /// Most simultaneous inbound TCP connections.
    pub tcp_max_connections: usize,
    /// Percent of `tcp_max_connections` only `[carriers]`/`[pbx]` trusted sources may take.
    pub tcp_reserved_trusted_percent: u32,
    /// Most inbound TCP connections one untrusted source (IPv4 address, IPv6 /64) may hold.
    pub tcp_max_connections_per_source: usize,
    /// Idle TCP connections are closed after this many seconds.
    pub tcp_idle_timeout_secs: u64,
    /// A TCP connection that began a message and has not completed it this many milliseconds
    /// later is closed (CR/LF keep-alives between messages begin none).
    pub tcp_message_timeout_ms: u64,
    /// Value of the User-Agent / Server header.
    pub user_agent: String,
    /// Shards of the SIP core, each on its own thread, owning the calls whose Call-ID hashes
    /// to it. Unset: the number of CPUs.
    pub workers: Option<usize>,
    /// RFC 3261 §17 timers.
    pub timers: TimersFile,
}

impl Default for SipFile {
    fn default() -> Self {
        Self {
            udp_listen: vec!["127.0.0.1:5060".to_owned()],
            tcp_listen: vec!["127.0.0.1:5060".to_owned()],
            advertised_host: None,
            advertised_port: None,
            max_message_bytes: 65_535,
            max_headers: 128,
            udp_max_request_bytes: 1300,
            tcp_max_connections: 1024,
            tcp_reserved_trusted_percent: 25,
            tcp_max_connections_per_source: 16,
            tcp_idle_timeout_secs: 300,
            tcp_message_timeout_ms: 10_000,
            user_agent: "calltrack".to_owned(),
            workers: None,
            timers: TimersFile::default(),
        }
    }
}

/// `[sip.timers]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimersFile {
    /// T1, the round-trip time estimate, in milliseconds.
    pub t1_ms: u64,
    /// T2, the longest retransmit interval for non-INVITE requests and INVITE responses, in ms.
    pub t2_ms: u64,
    /// T4, the longest time a message stays in the network, in milliseconds.
    pub t4_ms: u64,
}

impl Default for TimersFile {
    fn default() -> Self {
        Self {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
        }
    }
}

/// `[carriers]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarriersFile {
    /// Networks allowed to send INVITEs ("10.0.0.0/8"; a bare IP is one host).
    pub trusted: Vec<String>,
}

impl Default for CarriersFile {
    fn default() -> Self {
        Self {
            trusted: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpFile {
    /// Socket the HTTP server listens on.
    pub listen: String,
    /// Snippet API requests allowed per client IP per minute.
    pub rate_limit_per_minute: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Peers whose X-Forwarded-For is honoured (CIDR networks or bare addresses).
    pub trusted_proxies: Vec<String>,
    /// Bearer token the admin API requires (at least 16 characters).
    pub admin_token: Option<String>,
    /// File whose first line is the admin token (instead of `admin_token`).
    pub admin_token_file: Option<String>,
    /// Read-only tokens for the dashboard and the reader API (each at least 16 characters).
    pub viewer_tokens: Vec<String>,
    /// How long a dashboard sign-in lasts, in hours.
    pub session_ttl_hours: u64,
    /// Marks the dashboard session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
}

impl Default for HttpFile {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            rate_limit_per_minute: 120,
            max_body_bytes: 8192,
            trusted_proxies: vec!["127.0.0.1/32".to_owned(), "::1/128".to_owned()],
            admin_token: None,
            admin_token_file: None,
            viewer_tokens: Vec::new(),
            session_ttl_hours: 12,
            secure_cookies: false,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreFile {
    /// SQLite database file.
    pub path: String,
    /// Records waiting for the writer thread before new ones are shed.
    pub queue_capacity: usize,
    /// Most records written in one transaction.
    pub batch_max_records: usize,
    /// Longest wait before a partial batch is written, in milliseconds.
    pub flush_interval_ms: u64,
    /// How long per-minute pool usage samples are kept, in days.
    pub pool_usage_retention_days: u64,
    /// `"sqlite"` (the file at `path`) or `"postgres"` (the server at `url`).
    pub backend: super::store_backend::BackendKind,
    /// PostgreSQL URL, `postgres://user@host:5432/database` (with `backend = "postgres"`).
    pub url: Option<String>,
    /// PostgreSQL connections the reads (calls API, reports) may open at once.
    pub pool_size: usize,
    /// How long opening a PostgreSQL connection may take, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Local SQLite file store commands are spooled to while PostgreSQL is unreachable
    /// (default: beside `path`, `<name>.spool.db`).
    pub spool_path: Option<String>,
}

impl Default for StoreFile {
    fn default() -> Self {
        Self {
            path: "./data/calltrack.db".to_owned(),
            queue_capacity: 10_000,
            batch_max_records: 256,
            flush_interval_ms: 50,
            pool_usage_retention_days: 90,
            backend: super::store_backend::BackendKind::Sqlite,
            url: None,
            pool_size: 4,
            connect_timeout_ms: 5000,
            spool_path: None,
        }
    }
}

/// `[reports]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsFile {
    /// ISO 4217 code; costs and deals in other currencies are left out of reports.
    pub currency: String,
}

impl Default for ReportsFile {
    fn default() -> Self {
        Self {
            currency: "RUB".to_owned(),
        }
    }
}

/// `[calls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsFile {
    /// How long a forwarded call may ring before it is given up, in seconds.
    pub ring_timeout_secs: u64,
    /// Longest call; it is hung up after this many seconds.
    pub max_call_secs: u64,
    /// Most calls at once; more get 503.
    pub max_concurrent_calls: usize,
    /// On shutdown, live calls get this many seconds to finish.
    pub shutdown_grace_secs: u64,
    /// New INVITEs get 503 before any state is made while messages have waited at least this
    /// many milliseconds for the SIP core throughout the last 100 ms.
    pub overload_queue_delay_ms: u64,
    /// The Retry-After of that overload 503, in seconds.
    pub overload_retry_after_secs: u64,
}

impl Default for CallsFile {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 60,
            max_call_secs: 14_400,
            max_concurrent_calls: 10_000,
            shutdown_grace_secs: 30,
            overload_queue_delay_ms: 20,
            overload_retry_after_secs: 2,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogFile {
    /// tracing EnvFilter directive ("info", "calltrack=debug,warn"); RUST_LOG overrides it.
    pub level: String,
    /// Output format.
    pub format: LogFormatFile,
}

impl Default for LogFile {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormatFile::Text,
        }
    }
}

/// `log.format`
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormatFile {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[tracking]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingFile {
    /// Prefix of the attribution headers stamped on the forwarded INVITE ("X-CT-").
    pub header_prefix: String,
    /// Also add `Diversion: <sip:TRACKINGNUMBER@host>;reason=unconditional`.
    pub diversion: bool,
    /// Keep the carrier's own Diversion headers below calltrack's (RFC 5806: newest first).
    pub keep_carrier_diversion: bool,
    /// Longest header value forwarded to the other leg, in bytes (longer ones are dropped).
    pub max_forwarded_header_bytes: usize,
    /// A caller is a first-time caller if not seen for this many days; 0 means ever.
    pub unique_window_days: u64,
    /// An answered call with at least this many seconds of talk is a quality call.
    pub quality_min_talk_secs: u64,
    /// A missed call counts as called back when an answered call from the same caller
    /// follows within this many hours.
    pub callback_window_hours: u64,
    /// A pool number is quarantined (taken out of its pool) after this many calls while
    /// nobody held it within `leak_window_hours`; 0 turns leak detection off.
    pub leak_calls: u32,
    /// The window of `leak_calls`, in hours.
    pub leak_window_hours: u64,
    /// Ended leases are kept this many days for `calltrack pool advise` (lease history).
    pub lease_history_days: u64,
}

impl Default for TrackingFile {
    fn default() -> Self {
        Self {
            header_prefix: "X-CT-".to_owned(),
            diversion: true,
            keep_carrier_diversion: true,
            max_forwarded_header_bytes: 1024,
            unique_window_days: 30,
            quality_min_talk_secs: 30,
            callback_window_hours: 24,
            leak_calls: 3,
            leak_window_hours: 24,
            lease_history_days: 30,
        }
    }
}

/// `[geo]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoFile {
    /// MaxMind database file (City or Country edition).
    pub mmdb_path: Option<String>,
    /// Networks mapped to regions, used when the database has no answer.
    pub networks: Vec<GeoNetworkFile>,
}

/// `[[geo.networks]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoNetworkFile {
    /// Required: CIDR network ("10.1.0.0/16") or bare address.
    pub cidr: Option<String>,
    /// Required: region name given to visitors from this network.
    pub region: Option<String>,
}
