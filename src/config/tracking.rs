//! Validation of `[tracking]` (attribution headers, unique and quality calls) and `[geo]`
//! (MaxMind database and CIDR region table).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::file::{GeoFile, GeoNetworkFile, TrackingFile};
use super::validate::{Problems, ip_net, not_a_network};
use super::{GeoConfig, TrackingConfig};

/// Longest accepted `tracking.unique_window_days` (ten years; use 0 for forever).
const MAX_UNIQUE_WINDOW_DAYS: u64 = 3650;
/// Longest accepted `tracking.quality_min_talk_secs` (one hour).
pub(super) const MAX_QUALITY_TALK_SECS: u64 = 3600;
/// Longest accepted `tracking.callback_window_hours` (30 days).
const MAX_CALLBACK_WINDOW_HOURS: u64 = 720;
/// Most accepted `tracking.leak_calls`.
const MAX_LEAK_CALLS: u32 = 1000;
/// Longest accepted `tracking.leak_window_hours` (30 days).
const MAX_LEAK_WINDOW_HOURS: u64 = 720;
/// Longest accepted `tracking.lease_history_days` (ten years).
const MAX_LEASE_HISTORY_DAYS: u64 = 3650;
/// Longest accepted `tracking.header_prefix`.
const MAX_HEADER_PREFIX_BYTES: usize = 32;

/// Bounds of `tracking.max_forwarded_header_bytes`: room for a long SDP Content-Type or a
/// Diversion chain at the low end, and no more than a message may carry at the high end.
const FORWARDED_HEADER_BYTES: (usize, usize) = (64, 65_535);

const SECS_PER_DAY: u64 = 86_400;

pub(super) fn tracking(f: TrackingFile, p: &mut Problems) -> TrackingConfig {
    check_header_prefix(&f.header_prefix, p);
    p.within(
        "tracking.unique_window_days",
        f.unique_window_days,
        0,
        MAX_UNIQUE_WINDOW_DAYS,
    );
    p.within(
        "tracking.quality_min_talk_secs",
        f.quality_min_talk_secs,
        0,
        MAX_QUALITY_TALK_SECS,
    );
    p.within(
        "tracking.callback_window_hours",
        f.callback_window_hours,
        1,
        MAX_CALLBACK_WINDOW_HOURS,
    );
    p.within(
        "tracking.max_forwarded_header_bytes",
        f.max_forwarded_header_bytes,
        FORWARDED_HEADER_BYTES.0,
        FORWARDED_HEADER_BYTES.1,
    );
    p.within("tracking.leak_calls", f.leak_calls, 0, MAX_LEAK_CALLS);
    p.within(
        "tracking.leak_window_hours",
        f.leak_window_hours,
        1,
        MAX_LEAK_WINDOW_HOURS,
    );
    p.within(
        "tracking.lease_history_days",
        f.lease_history_days,
        1,
        MAX_LEASE_HISTORY_DAYS,
    );
    let unique_window = (f.unique_window_days > 0)
        .then(|| Duration::from_secs(f.unique_window_days.saturating_mul(SECS_PER_DAY)));
    TrackingConfig {
        header_prefix: f.header_prefix,
        diversion: f.diversion,
        keep_carrier_diversion: f.keep_carrier_diversion,
        max_forwarded_header_bytes: f.max_forwarded_header_bytes,
        unique_window,
        quality_min_talk: Duration::from_secs(f.quality_min_talk_secs),
        callback_window: Duration::from_secs(f.callback_window_hours.saturating_mul(3600)),
        leak_calls: f.leak_calls,
        leak_window: Duration::from_secs(f.leak_window_hours.saturating_mul(3600)),
        lease_history: Duration::from_secs(
            f.lease_history_days
                .min(MAX_LEASE_HISTORY_DAYS)
                .saturating_mul(SECS_PER_DAY),
        ),
    }
}

/// A header-name token (RFC 7230 §3.2.6, RFC 3261 §25.1) that ends with '-'.
fn check_header_prefix(prefix: &str, p: &mut Problems) {
    let path = "tracking.header_prefix";
    if !p.non_blank(path, prefix) {
        return;
    }
    if !prefix.bytes().all(is_token_byte) {
        p.push(
            path,
            format!("{prefix:?} is not a header-name token (letters, digits, '-', ...)"),
        );
    } else if !prefix.ends_with('-') {
        p.push(path, format!("{prefix:?} must end with '-'"));
    } else if prefix.len() > MAX_HEADER_PREFIX_BYTES {
        p.push(path, format!("longer than {MAX_HEADER_PREFIX_BYTES} bytes"));
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn geo(f: GeoFile, p: &mut Problems) -> GeoConfig {
    let mmdb_path = f.mmdb_path.and_then(|text| mmdb_path(&text, p));
    let networks = f
        .networks
        .iter()
        .enumerate()
        .filter_map(|(i, n)| network(&format!("geo.networks[{i}]"), n, p))
        .collect();
    GeoConfig {
        mmdb_path,
        networks,
    }
}

/// The database must exist now: a typo should fail `check-config`, not every lookup.
fn mmdb_path(text: &str, p: &mut Problems) -> Option<PathBuf> {
    let path = "geo.mmdb_path";
    if !p.non_blank(path, text) {
        return None;
    }
    let file = Path::new(text);
    if !file.is_file() {
        p.push(path, format!("{text:?} does not exist or is not a file"));
    }
    Some(file.to_owned())
}

fn network(path: &str, f: &GeoNetworkFile, p: &mut Problems) -> Option<(ipnet::IpNet, String)> {
    let net = match &f.cidr {
        None => {
            p.push(format!("{path}.cidr"), "required key is missing");
            None
        }
        Some(text) => {
            let net = ip_net(text);
            if net.is_none() {
                p.push(format!("{path}.cidr"), not_a_network(text));
            }
            net
        }
    };
    let region = match &f.region {
        None => {
            p.push(format!("{path}.region"), "required key is missing");
            None
        }
        Some(region) => p
            .non_blank(&format!("{path}.region"), region)
            .then(|| region.trim().to_lowercase()),
    };
    Some((net?, region?))
}
