//! The edge-security sections: `[security]` (scanner user agents), `[security.flood]`
//! (per-IP rate limit and bans), `[blacklist]` (refused callers), `[pbx]` (where B legs may
//! go and answer from) and the admin token of `[http]`: raw shapes, validated types, checks.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::validate::{Problems, ip_net, not_a_network};

/// Statuses a blacklisted caller may be refused with.
pub const BLACKLIST_STATUSES: &[u16] = &[403, 404, 480, 486, 603];

/// User agents of SIP scanners dropped by default (case-insensitive substrings).
pub const DEFAULT_SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sundayddr",
    "iwar",
    "vaxsipuseragent",
    "smap",
    "pplsip",
];

/// `[security]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityFile {
    /// Requests whose User-Agent contains one of these (case-insensitive) are dropped silently.
    pub scanner_user_agents: Vec<String>,
    /// Per-source-IP message rate limit with temporary bans.
    pub flood: FloodFile,
}

impl Default for SecurityFile {
    fn default() -> Self {
        Self {
            scanner_user_agents: DEFAULT_SCANNERS.iter().map(|s| (*s).to_owned()).collect(),
            flood: FloodFile::default(),
        }
    }
}

/// `[security.flood]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FloodFile {
    /// Turn the flood guard on.
    pub enabled: bool,
    /// Sustained SIP messages per second allowed from one source IP.
    pub messages_per_sec: u32,
    /// Messages one source IP may send at once above the sustained rate.
    pub burst: u32,
    /// A source over the limit is banned (all its packets dropped) for this many seconds.
    pub ban_secs: u64,
    /// Most source IPs tracked (rate state and bans); the oldest are forgotten beyond it.
    pub max_tracked_ips: usize,
    /// Trusted carrier and PBX networks are not rate limited.
    pub exempt_trusted: bool,
}

impl Default for FloodFile {
    fn default() -> Self {
        Self {
            enabled: true,
            messages_per_sec: 50,
            burst: 100,
            ban_secs: 300,
            max_tracked_ips: 65_536,
            exempt_trusted: true,
        }
    }
}

/// `[blacklist]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlacklistFile {
    /// Caller numbers refused before any B-leg: exact digits, or a prefix ending with '*'.
    pub numbers: Vec<String>,
    /// Status a blacklisted caller gets (403, 404, 480, 486 or 603).
    pub status: u16,
}

impl Default for BlacklistFile {
    fn default() -> Self {
        Self {
            numbers: Vec::new(),
            status: 403,
        }
    }
}

/// `[pbx]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PbxFile {
    /// Networks the PBX side lives in: B legs go only there, and answer only from there.
    pub trusted: Vec<String>,
}

impl Default for PbxFile {
    fn default() -> Self {
        Self {
            trusted: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
        }
    }
}

/// `[security]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Lowercase substrings of scanner User-Agents.
    pub scanner_user_agents: Vec<String>,
    pub flood: FloodConfig,
}

/// `[security.flood]`, validated; invariant: `messages_per_sec >= 1`, `burst >= 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodConfig {
    pub enabled: bool,
    pub messages_per_sec: u32,
    pub burst: u32,
    pub ban: Duration,
    pub max_tracked_ips: usize,
    pub exempt_trusted: bool,
}

/// `[blacklist]`, validated: patterns are digits with an optional trailing '*'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlacklistConfig {
    pub numbers: Vec<String>,
    pub status: u16,
}

/// `[pbx]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbxConfig {
    pub trusted: Vec<IpNet>,
}

/// The admin API bearer token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn new(token: String) -> AdminToken {
        AdminToken(token)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Shortest admin token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

pub(super) fn security(f: SecurityFile, p: &mut Problems) -> SecurityConfig {
    let mut scanners = Vec::with_capacity(f.scanner_user_agents.len());
    for (i, ua) in f.scanner_user_agents.iter().enumerate() {
        if p.non_blank(&format!("security.scanner_user_agents[{i}]"), ua) {
            scanners.push(ua.trim().to_ascii_lowercase());
        }
    }
    SecurityConfig {
        scanner_user_agents: scanners,
        flood: flood(&f.flood, p),
    }
}

fn flood(f: &FloodFile, p: &mut Problems) -> FloodConfig {
    p.at_least("security.flood.messages_per_sec", f.messages_per_sec, 1);
    p.at_least("security.flood.burst", f.burst, 1);
    p.at_least("security.flood.ban_secs", f.ban_secs, 1);
    p.within(
        "security.flood.max_tracked_ips",
        f.max_tracked_ips,
        16,
        10_000_000,
    );
    FloodConfig {
        enabled: f.enabled,
        messages_per_sec: f.messages_per_sec.max(1),
        burst: f.burst.max(1),
        ban: Duration::from_secs(f.ban_secs.max(1)),
        max_tracked_ips: f.max_tracked_ips.max(16),
        exempt_trusted: f.exempt_trusted,
    }
}

pub(super) fn blacklist(f: BlacklistFile, p: &mut Problems) -> BlacklistConfig {
    if !BLACKLIST_STATUSES.contains(&f.status) {
        p.push(
            "blacklist.status",
            format!("{} is not one of {BLACKLIST_STATUSES:?}", f.status),
        );
    }
    let mut numbers = Vec::with_capacity(f.numbers.len());
    for (i, text) in f.numbers.iter().enumerate() {
        match blacklist_pattern(text) {
            Ok(pattern) => numbers.push(pattern),
            Err(message) => p.push(format!("blacklist.numbers[{i}]"), message),
        }
    }
    BlacklistConfig {
        numbers,
        status: f.status,
    }
}

/// A blacklist pattern: `+7 999 000-00-00` -> `79990000000`, `7800*` stays a prefix.
/// Visual separators are dropped; a bare `*` (everyone) is refused.
pub fn blacklist_pattern(text: &str) -> Result<String, String> {
    let text = text.trim();
    let (body, prefix) = match text.strip_suffix('*') {
        Some(body) => (body, true),
        None => (text, false),
    };
    let visual = |c: char| c.is_ascii_digit() || "+-.() ".contains(c);
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || !body.chars().all(visual) {
        return Err(format!(
            "{text:?} is not a number or prefix (\"79990000000\", \"7800*\")"
        ));
    }
    Ok(if prefix { format!("{digits}*") } else { digits })
}

pub(super) fn pbx(f: &PbxFile, p: &mut Problems) -> PbxConfig {
    let mut trusted = Vec::with_capacity(f.trusted.len());
    for (i, text) in f.trusted.iter().enumerate() {
        match ip_net(text) {
            Some(net) => trusted.push(net),
            None => p.push(format!("pbx.trusted[{i}]"), not_a_network(text)),
        }
    }
    PbxConfig { trusted }
}

/// `http.admin_token` or the first line of `http.admin_token_file` (not both).
pub(super) fn admin_token(
    token: Option<&str>,
    file: Option<&str>,
    p: &mut Problems,
) -> Option<AdminToken> {
    let (path, text) = match (token, file) {
        (Some(_), Some(_)) => {
            p.push(
                "http.admin_token",
                "set admin_token or admin_token_file, not both",
            );
            return None;
        }
        (Some(token), None) => ("http.admin_token", token.to_owned()),
        (None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => ("http.admin_token_file", text),
            Err(error) => {
                p.push(
                    "http.admin_token_file",
                    format!("cannot read {file:?}: {error}"),
                );
                return None;
            }
        },
        (None, None) => return None,
    };
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    token_shape(path, token, p)
}

/// `http.viewer_tokens`: each a well-formed token, none repeated and none equal to the admin
/// token (a token names one role).
pub(super) fn viewer_tokens(
    tokens: &[String],
    admin: Option<&AdminToken>,
    p: &mut Problems,
) -> Vec<AdminToken> {
    let mut valid: Vec<AdminToken> = Vec::with_capacity(tokens.len());
    for (i, text) in tokens.iter().enumerate() {
        let path = format!("http.viewer_tokens[{i}]");
        if admin.is_some_and(|a| a.expose() == text) {
            p.push(path, "must differ from the admin token");
        } else if valid.iter().any(|v| v.expose() == text) {
            p.push(path, "repeats an earlier viewer token");
        } else if let Some(token) = token_shape(&path, text.clone(), p) {
            valid.push(token);
        }
    }
    valid
}

fn token_shape(path: &str, token: String, p: &mut Problems) -> Option<AdminToken> {
    let printable = token.chars().all(|c| c.is_ascii_graphic());
    if token.chars().count() < MIN_TOKEN_CHARS || !printable {
        p.push(
            path,
            format!("must be at least {MIN_TOKEN_CHARS} printable ASCII characters without spaces"),
        );
        return None;
    }
    Some(AdminToken::new(token))
}

/// Targets with a literal IP outside `[pbx] trusted` (site `forward_to`, gateways, scheme
/// URI targets); no admin token on a non-loopback listener.
pub(super) fn warnings(config: &super::Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if config.http.admin_token.is_none() && !config.http.listen.ip().is_loopback() {
        warnings.push(
            "http.admin_token: not set and http.listen is not loopback; the admin API is disabled"
                .to_owned(),
        );
    }
    for (path, uri) in target_uris(config) {
        if let Some(ip) = literal_ip(&uri).filter(|ip| !in_nets(&config.pbx.trusted, *ip)) {
            warnings.push(format!(
                "{path}: {ip} is outside [pbx] trusted; calls to it will be refused"
            ));
        }
    }
    warnings
}

/// Every configured B-leg destination URI with its key path.
fn target_uris(config: &super::Config) -> Vec<(String, String)> {
    let mut uris = Vec::new();
    for (i, site) in config.sites.iter().enumerate() {
        uris.push((format!("sites[{i}].forward_to"), site.forward_to.clone()));
    }
    let routing = &config.routing;
    for (i, gateway) in routing.gateways.iter().enumerate() {
        uris.push((format!("gateways[{i}].uri"), gateway.uri.clone()));
    }
    for (i, scheme) in routing.schemes.iter().enumerate() {
        for (j, step) in scheme.steps.iter().enumerate() {
            for (k, target) in step.targets.iter().enumerate() {
                if let super::TargetDest::Uri(uri) = &target.dest {
                    let path = format!("schemes[{i}].steps[{j}].targets[{k}].uri");
                    uris.push((path, uri.clone()));
                }
            }
        }
        if let Some(super::TargetDest::Uri(uri)) = scheme.fallback.as_ref().map(|t| &t.dest) {
            uris.push((format!("schemes[{i}].fallback"), uri.clone()));
        }
    }
    uris
}

fn literal_ip(uri: &str) -> Option<IpAddr> {
    match crate::sip::message::SipUri::parse(uri).ok()?.host {
        crate::sip::message::Host::Ip(ip) => Some(ip),
        crate::sip::message::Host::Name(_) => None,
    }
}

/// Whether `ip` lies in one of `nets`; IPv4-mapped IPv6 matches IPv4 networks.
pub fn in_nets(nets: &[IpNet], ip: IpAddr) -> bool {
    let mapped = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    nets.iter()
        .any(|net| net.contains(&ip) || mapped.is_some_and(|v4| net.contains(&v4)))
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
