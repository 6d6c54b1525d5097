//! The serde mirror of the TOML config file: raw shapes, defaults and one doc line per key.
//!
//! Types here are deliberately loose (strings for addresses and URIs, plain integers with
//! units in their names, `Option` for required keys) so that one decoding pass succeeds and
//! `validate.rs` can report every semantic problem with its key path. Unknown keys are
//! rejected at every depth (`deny_unknown_fields`).

use serde::Deserialize;

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
    /// Call limits and timeouts.
    pub calls: CallsFile,
    /// Log filter and output format.
    pub log: LogFile,
    /// Tracked sites with their numbers.
    pub sites: Vec<SiteFile>,
    /// STUB (replaced at merge): visitor region lookup.
    pub geo: GeoFile,
}

/// `[geo]` STUB (replaced at merge)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoFile {
    /// Optional MaxMind database (City or Country).
    pub mmdb_path: Option<String>,
    /// CIDR -> region table.
    pub networks: Vec<GeoNetworkFile>,
}

/// `[[geo.networks]]` STUB (replaced at merge)
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoNetworkFile {
    /// Network in CIDR form.
    pub cidr: String,
    /// Region name for addresses in this network.
    pub region: String,
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
    /// Most simultaneous TCP connections.
    pub tcp_max_connections: usize,
    /// Idle TCP connections are closed after this many seconds.
    pub tcp_idle_timeout_secs: u64,
    /// Value of the User-Agent / Server header.
    pub user_agent: String,
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
            tcp_idle_timeout_secs: 300,
            user_agent: "calltrack".to_owned(),
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
    /// STUB (replaced at merge): snippet API requests per client IP and minute.
    pub rate_limit_per_minute: u32,
    /// STUB (replaced at merge): largest request body, in bytes.
    pub max_body_bytes: usize,
    /// STUB (replaced at merge): X-Forwarded-For is honoured only from these networks.
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpFile {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            rate_limit_per_minute: 120,
            max_body_bytes: 8192,
            trusted_proxies: Vec::new(),
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
}

impl Default for StoreFile {
    fn default() -> Self {
        Self {
            path: "./data/calltrack.db".to_owned(),
            queue_capacity: 10_000,
            batch_max_records: 256,
            flush_interval_ms: 50,
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
}

impl Default for CallsFile {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 60,
            max_call_secs: 14_400,
            max_concurrent_calls: 10_000,
            shutdown_grace_secs: 30,
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

/// `[[sites]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteFile {
    /// Required: unique id, `[a-z0-9_-]+`.
    pub id: Option<String>,
    /// Human-readable name.
    pub name: Option<String>,
    /// Required: where calls to this site's numbers go (`sip:` or `sips:` URI).
    pub forward_to: Option<String>,
    /// Number shown to visitors that need no tracking.
    pub default_number: Option<String>,
    /// Number shown when the pool is exhausted.
    pub reserve_number: Option<String>,
    /// A pool number stays with a visitor this many seconds after the last heartbeat.
    pub freeze_secs: u64,
    /// Numbers bound to one ad source for good.
    pub static_numbers: Vec<StaticNumberFile>,
    /// Dynamic pools leased to website visitors.
    pub pools: Vec<PoolFile>,
    /// STUB (replaced at merge): CORS origins allowed for the snippet API of this site.
    pub origins: Vec<String>,
    /// STUB (replaced at merge): a released number rests this many seconds before reissue.
    pub lease_cooldown_secs: u64,
    /// STUB (replaced at merge): snippet heartbeat interval in seconds.
    pub heartbeat_secs: u64,
}

impl Default for SiteFile {
    fn default() -> Self {
        Self {
            id: None,
            name: None,
            forward_to: None,
            default_number: None,
            reserve_number: None,
            freeze_secs: 1200,
            static_numbers: Vec::new(),
            pools: Vec::new(),
            origins: Vec::new(),
            lease_cooldown_secs: 60,
            heartbeat_secs: 30,
        }
    }
}

/// `[[sites.static_numbers]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticNumberFile {
    /// Required: E.164 digits without '+'.
    pub number: Option<String>,
    /// Required: the ad source ("billboard", "radio").
    pub source: Option<String>,
    /// Marketing medium ("offline", "cpc").
    pub medium: Option<String>,
    /// Campaign name.
    pub campaign: Option<String>,
}

/// `[[sites.pools]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolFile {
    /// Required: id unique within the site, `[a-z0-9_-]+`.
    pub id: Option<String>,
    /// Numbers or inclusive ranges "first-last".
    pub numbers: Vec<String>,
    /// STUB (replaced at merge): pool preferred for visitors from this region.
    pub region: Option<String>,
}
