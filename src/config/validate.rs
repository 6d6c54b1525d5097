//! Semantic checks of the decoded file, section by section, building the validated [`Config`].
//!
//! Every check records its problem and carries on with a harmless value, so one run reports
//! everything. Sites and numbers live in `sites.rs`.

use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use super::file::{
    CallsFile, CarriersFile, ConfigFile, HttpFile, LogFile, LogFormatFile, SipFile, StoreFile,
    TimersFile,
};
use super::{
    CallsConfig, CarriersConfig, Config, ConfigProblem, HttpConfig, LogConfig, LogFormat,
    SipConfig, StoreConfig, TimerConfig, routing_check::RoutingSections, security, sites, tracking,
    uri,
};

/// Smallest and largest accepted `sip.max_message_bytes`.
const MESSAGE_BYTES: (usize, usize) = (1500, 1_048_576);
/// Most SIP core shards (`[sip] workers`).
const MAX_WORKERS: usize = 256;

/// Smallest and largest accepted `http.max_body_bytes`.
const HTTP_BODY_BYTES: (usize, usize) = (256, 1_048_576);

/// Collects problems in the order they are found.
#[derive(Debug, Default)]
pub(super) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records `value < min` and returns whether the value is acceptable.
    pub(super) fn at_least<T: PartialOrd + Display>(
        &mut self,
        path: &str,
        value: T,
        min: T,
    ) -> bool {
        let ok = value >= min;
        if !ok {
            self.push(path, format!("{value} is too small, the minimum is {min}"));
        }
        ok
    }

    /// Records a value outside `min..=max`.
    pub(super) fn within<T: PartialOrd + Display>(&mut self, path: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.push(path, format!("{value} is out of range {min}..={max}"));
        }
    }

    /// Records an empty or blank string; returns whether the value is acceptable.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Every problem as `path: message`, in order.
    #[cfg(test)]
    pub(super) fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub(super) fn non_blank(&mut self, path: &str, value: &str) -> bool {
        let ok = !value.trim().is_empty();
        if !ok {
            self.push(path, "must not be empty");
        }
        ok
    }
}

/// Checks every section and builds the config; the config is only meaningful without problems.
pub(super) fn validate(file: ConfigFile) -> (Config, Vec<ConfigProblem>) {
    let mut p = Problems::default();
    let sip = sip(file.sip, &mut p);
    let carriers = carriers(&file.carriers, &mut p);
    let http = http(&file.http, &mut p);
    let store = store(file.store, &mut p);
    let node = super::node::node(file.node, &mut p);
    let calls = calls(&file.calls, &mut p);
    let log = log(file.log, &mut p);
    let tracking = tracking::tracking(file.tracking, &mut p);
    let geo = tracking::geo(file.geo, &mut p);
    let (sites, numbers) = sites::sites(file.sites, &mut p);
    let security = security::security(file.security, &mut p);
    let blacklist = security::blacklist(file.blacklist, &mut p);
    let pbx = security::pbx(&file.pbx, &mut p);
    let health = super::health::health(file.health, &mut p);
    let leases = super::leases::leases(file.leases, &mut p);
    let reports_currency = reports_currency(&file.reports.currency, &mut p);
    let routing = RoutingSections {
        gateways: file.gateways,
        schemes: file.schemes,
        schedules: file.schedules,
        routes: file.routes,
    }
    .check(&sites, &numbers, &mut p);
    let site_names: Vec<&str> = sites.iter().map(|s| s.id.as_str()).collect();
    let exports = super::exports_check::exports(&file.exports, &site_names, &mut p);
    let prompt_language = super::voice::prompt_language(&file.media.prompt_language, &mut p);
    let media = super::media::media(file.media, &mut p);
    let speech = super::speech::speech(file.speech, &mut p);
    let voice = super::voice_code::voice(file.voice, &mut p);
    let config = Config {
        sip,
        carriers,
        http,
        store,
        node,
        calls,
        log,
        tracking,
        geo,
        health,
        leases,
        sites,
        security,
        blacklist,
        pbx,
        reports_currency,
        routing,
        exports,
        media,
        prompt_language,
        voice,
        speech,
        numbers,
    };
    super::voice::check(&config, &mut p);
    super::menu::check(&config, &mut p);
    (config, p.0)
}

fn sip(f: SipFile, p: &mut Problems) -> SipConfig {
    if f.udp_listen.is_empty() && f.tcp_listen.is_empty() {
        p.push(
            "sip",
            "udp_listen and tcp_listen are both empty; list at least one socket",
        );
    }
    if let Some(host) = &f.advertised_host {
        if !uri::is_host(host) {
            p.push(
                "sip.advertised_host",
                format!("{host:?} is not a host name or IP address"),
            );
        }
    }
    if let Some(port) = f.advertised_port {
        p.at_least("sip.advertised_port", port, 1);
    }
    p.within(
        "sip.max_message_bytes",
        f.max_message_bytes,
        MESSAGE_BYTES.0,
        MESSAGE_BYTES.1,
    );
    p.at_least("sip.max_headers", f.max_headers, 1);
    if let Some(workers) = f.workers {
        p.within("sip.workers", workers, 1, MAX_WORKERS);
    }
    sip_sizes(&f, p);
    check_user_agent(&f.user_agent, p);
    SipConfig {
        udp_listen: socket_addrs("sip.udp_listen", &f.udp_listen, p),
        tcp_listen: socket_addrs("sip.tcp_listen", &f.tcp_listen, p),
        advertised_host: f.advertised_host,
        advertised_port: f.advertised_port,
        max_message_bytes: f.max_message_bytes,
        max_headers: f.max_headers,
        udp_max_request_bytes: f.udp_max_request_bytes,
        tcp_max_connections: f.tcp_max_connections,
        tcp_reserved_trusted_percent: f.tcp_reserved_trusted_percent,
        tcp_max_connections_per_source: f.tcp_max_connections_per_source,
        tcp_idle_timeout: Duration::from_secs(f.tcp_idle_timeout_secs),
        tcp_message_timeout: Duration::from_millis(f.tcp_message_timeout_ms),
        user_agent: f.user_agent,
        workers: f.workers,
        timers: timers(&f.timers, p),
    }
}

fn sip_sizes(f: &SipFile, p: &mut Problems) {
    let path = "sip.udp_max_request_bytes";
    if p.at_least(path, f.udp_max_request_bytes, 1) && f.udp_max_request_bytes > f.max_message_bytes
    {
        p.push(path, "must not exceed sip.max_message_bytes");
    }
    p.at_least("sip.tcp_max_connections", f.tcp_max_connections, 1);
    p.at_least("sip.tcp_idle_timeout_secs", f.tcp_idle_timeout_secs, 1);
    let percent = f.tcp_reserved_trusted_percent;
    p.within("sip.tcp_reserved_trusted_percent", percent, 0, 100);
    p.at_least(
        "sip.tcp_max_connections_per_source",
        f.tcp_max_connections_per_source,
        1,
    );
    p.at_least("sip.tcp_message_timeout_ms", f.tcp_message_timeout_ms, 1);
}

/// The User-Agent goes into a header verbatim: no control characters (CR/LF injection).
fn check_user_agent(user_agent: &str, p: &mut Problems) {
    let path = "sip.user_agent";
    if p.non_blank(path, user_agent) && user_agent.chars().any(char::is_control) {
        p.push(path, "must not contain control characters");
    }
}

/// Longest RFC 3261 timer base accepted: 64·T1 and the doubling up to T2 must stay far from
/// `Instant` overflow (the RFC defaults are 500, 4000 and 5000 ms).
const MAX_TIMER_MS: u64 = 60_000;
/// Longest call, ring or grace time accepted (30 days): deadlines are `now + duration`.
const MAX_CALL_TIME_SECS: u64 = 30 * 86_400;
/// Longest queue delay the overload guard may wait for: beyond T1 (500 ms) carriers are
/// already retransmitting every INVITE, the collapse the guard exists to prevent.
const MAX_OVERLOAD_QUEUE_DELAY_MS: u64 = 1_000;
/// Longest Retry-After calltrack asks a carrier to wait (an hour).
const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// Records a value outside `1..=max`; returns whether it is acceptable.
fn positive_up_to(p: &mut Problems, path: &str, value: u64, max: u64) -> bool {
    let ok = (1..=max).contains(&value);
    p.within(path, value, 1, max);
    ok
}

fn timers(f: &TimersFile, p: &mut Problems) -> TimerConfig {
    let t1_ok = positive_up_to(p, "sip.timers.t1_ms", f.t1_ms, MAX_TIMER_MS);
    let t2_ok = positive_up_to(p, "sip.timers.t2_ms", f.t2_ms, MAX_TIMER_MS);
    positive_up_to(p, "sip.timers.t4_ms", f.t4_ms, MAX_TIMER_MS);
    if t1_ok && t2_ok && f.t1_ms > f.t2_ms {
        p.push(
            "sip.timers.t1_ms",
            format!("{} must not exceed t2_ms ({})", f.t1_ms, f.t2_ms),
        );
    }
    TimerConfig {
        t1: Duration::from_millis(f.t1_ms),
        t2: Duration::from_millis(f.t2_ms),
        t4: Duration::from_millis(f.t4_ms),
    }
}

/// Parses each socket address and flags duplicates; bad entries are left out.
fn socket_addrs(path: &str, list: &[String], p: &mut Problems) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let item = format!("{path}[{i}]");
        match socket_addr(text) {
            Ok(addr) if addrs.contains(&addr) => p.push(item, format!("{addr} is listed twice")),
            Ok(addr) => addrs.push(addr),
            Err(message) => p.push(item, message),
        }
    }
    addrs
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not a socket address (\"ip:port\", \"[ipv6]:port\")"))
}

fn carriers(f: &CarriersFile, p: &mut Problems) -> CarriersConfig {
    CarriersConfig {
        trusted: ip_nets("carriers.trusted", &f.trusted, p),
    }
}

/// Parses a list of networks; bad entries are reported at `path[i]` and left out.
fn ip_nets(path: &str, list: &[String], p: &mut Problems) -> Vec<IpNet> {
    let mut nets = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        match ip_net(text) {
            Some(net) => nets.push(net),
            None => p.push(format!("{path}[{i}]"), not_a_network(text)),
        }
    }
    nets
}

pub(super) fn not_a_network(text: &str) -> String {
    format!("{text:?} is not an IP network (\"10.0.0.0/8\") or address")
}

/// A network in CIDR form, or a bare address meaning that one host (/32 or /128).
pub(super) fn ip_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn http(f: &HttpFile, p: &mut Problems) -> HttpConfig {
    let listen = socket_addr(&f.listen).unwrap_or_else(|message| {
        p.push("http.listen", message);
        SocketAddr::from(([127, 0, 0, 1], 0))
    });
    p.at_least("http.rate_limit_per_minute", f.rate_limit_per_minute, 1);
    p.within(
        "http.max_body_bytes",
        f.max_body_bytes,
        HTTP_BODY_BYTES.0,
        HTTP_BODY_BYTES.1,
    );
    p.within("http.session_ttl_hours", f.session_ttl_hours, 1, 24 * 30);
    let admin_token =
        security::admin_token(f.admin_token.as_deref(), f.admin_token_file.as_deref(), p);
    let viewer_tokens = security::viewer_tokens(&f.viewer_tokens, admin_token.as_ref(), p);
    HttpConfig {
        listen,
        rate_limit_per_minute: f.rate_limit_per_minute,
        max_body_bytes: f.max_body_bytes,
        trusted_proxies: ip_nets("http.trusted_proxies", &f.trusted_proxies, p),
        admin_token,
        viewer_tokens,
        session_ttl: Duration::from_secs(f.session_ttl_hours.min(24 * 30) * 3600),
        secure_cookies: f.secure_cookies,
    }
}

fn store(f: StoreFile, p: &mut Problems) -> StoreConfig {
    p.non_blank("store.path", &f.path);
    p.at_least("store.queue_capacity", f.queue_capacity, 1);
    let batch = "store.batch_max_records";
    if p.at_least(batch, f.batch_max_records, 1) && f.batch_max_records > f.queue_capacity {
        p.push(batch, "must not exceed store.queue_capacity");
    }
    p.at_least("store.flush_interval_ms", f.flush_interval_ms, 1);
    let retention_days = f.pool_usage_retention_days;
    p.within("store.pool_usage_retention_days", retention_days, 1, 3650);
    let backend = super::store_backend::BackendFile {
        backend: f.backend,
        url: f.url.as_deref(),
        pool_size: f.pool_size,
        connect_timeout_ms: f.connect_timeout_ms,
    };
    let path = PathBuf::from(&f.path);
    let spool_path = match &f.spool_path {
        Some(spool) => {
            p.non_blank("store.spool_path", spool);
            if std::path::Path::new(spool) == path {
                p.push("store.spool_path", "must not be store.path");
            }
            PathBuf::from(spool)
        }
        None => path.with_extension("spool.db"),
    };
    StoreConfig {
        backend: super::store_backend::backend(backend, p),
        path,
        spool_path,
        queue_capacity: f.queue_capacity,
        batch_max_records: f.batch_max_records,
        flush_interval: Duration::from_millis(f.flush_interval_ms),
        pool_usage_retention: Duration::from_secs(retention_days.min(3650) * 86_400),
    }
}

fn reports_currency(code: &str, p: &mut Problems) -> String {
    let code = code.trim();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        p.push(
            "reports.currency",
            "must be a three-letter ISO 4217 code (\"RUB\")",
        );
    }
    code.to_ascii_uppercase()
}

fn calls(f: &CallsFile, p: &mut Problems) -> CallsConfig {
    positive_up_to(
        p,
        "calls.ring_timeout_secs",
        f.ring_timeout_secs,
        MAX_CALL_TIME_SECS,
    );
    positive_up_to(
        p,
        "calls.max_call_secs",
        f.max_call_secs,
        MAX_CALL_TIME_SECS,
    );
    p.within(
        "calls.shutdown_grace_secs",
        f.shutdown_grace_secs,
        0,
        MAX_CALL_TIME_SECS,
    );
    p.at_least("calls.max_concurrent_calls", f.max_concurrent_calls, 1);
    p.within(
        "calls.overload_queue_delay_ms",
        f.overload_queue_delay_ms,
        1,
        MAX_OVERLOAD_QUEUE_DELAY_MS,
    );
    p.within(
        "calls.overload_retry_after_secs",
        f.overload_retry_after_secs,
        1,
        MAX_RETRY_AFTER_SECS,
    );
    CallsConfig {
        ring_timeout: Duration::from_secs(f.ring_timeout_secs),
        max_call_duration: Duration::from_secs(f.max_call_secs),
        max_concurrent_calls: f.max_concurrent_calls,
        shutdown_grace: Duration::from_secs(f.shutdown_grace_secs),
        overload_queue_delay: Duration::from_millis(f.overload_queue_delay_ms),
        overload_retry_after_secs: u32::try_from(
            f.overload_retry_after_secs.min(MAX_RETRY_AFTER_SECS),
        )
        .unwrap_or(u32::MAX),
    }
}

fn log(f: LogFile, p: &mut Problems) -> LogConfig {
    if p.non_blank("log.level", &f.level) {
        if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&f.level) {
            p.push(
                "log.level",
                format!("{:?} is not a tracing filter: {err}", f.level),
            );
        }
    }
    let format = match f.format {
        LogFormatFile::Text => LogFormat::Text,
        LogFormatFile::Json => LogFormat::Json,
    };
    LogConfig {
        level: f.level,
        format,
    }
}
