//! Validation of a site's website side: snippet origins, UTC offset, heartbeat and cooldown.

use std::time::Duration;

use jiff::tz::Offset;
use url::Url;

use super::site_file::SiteFile;
use super::validate::Problems;

/// Longest accepted `lease_cooldown_secs` (one day).
const MAX_COOLDOWN_SECS: u64 = 86_400;
/// Longest accepted `last_holder_secs` (seven days).
const MAX_LAST_HOLDER_SECS: u64 = 7 * 86_400;

/// The validated website settings of one site.
pub(super) struct Web {
    pub(super) origins: Vec<String>,
    pub(super) utc_offset: Offset,
    pub(super) lease_cooldown: Duration,
    pub(super) last_holder: Duration,
    pub(super) heartbeat: Duration,
}

pub(super) fn web(path: &str, f: &SiteFile, p: &mut Problems) -> Web {
    let utc_offset = parse_utc_offset(&f.utc_offset).unwrap_or_else(|message| {
        p.push(format!("{path}.utc_offset"), message);
        Offset::UTC
    });
    p.within(
        &format!("{path}.lease_cooldown_secs"),
        f.lease_cooldown_secs,
        0,
        MAX_COOLDOWN_SECS,
    );
    let last_holder_secs = f
        .last_holder_secs
        .unwrap_or(f.freeze_secs.saturating_mul(2));
    p.within(
        &format!("{path}.last_holder_secs"),
        last_holder_secs,
        0,
        MAX_LAST_HOLDER_SECS,
    );
    let heartbeat_path = format!("{path}.heartbeat_secs");
    if p.at_least(&heartbeat_path, f.heartbeat_secs, 1)
        && f.freeze_secs >= 1
        && f.heartbeat_secs >= f.freeze_secs
    {
        let message = format!(
            "{} must be less than freeze_secs ({})",
            f.heartbeat_secs, f.freeze_secs
        );
        p.push(heartbeat_path, message);
    }
    Web {
        origins: origins(&format!("{path}.origins"), &f.origins, p),
        utc_offset,
        lease_cooldown: Duration::from_secs(f.lease_cooldown_secs),
        last_holder: Duration::from_secs(last_holder_secs),
        heartbeat: Duration::from_secs(f.heartbeat_secs),
    }
}

/// Normalised origins; bad and repeated entries are reported and left out.
fn origins(path: &str, list: &[String], p: &mut Problems) -> Vec<String> {
    let mut origins: Vec<String> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        match parse_origin(text) {
            Ok(origin) if origins.contains(&origin) => {
                p.push(format!("{path}[{i}]"), format!("{origin} is listed twice"));
            }
            Ok(origin) => origins.push(origin),
            Err(message) => p.push(format!("{path}[{i}]"), message),
        }
    }
    origins
}

/// `http(s)://host[:port]` as a browser sends it in `Origin` (lowercase host, no default port).
pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    let bare = url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && !text.ends_with('/')
        && url.query().is_none()
        && url.fragment().is_none();
    if !bare {
        return Err(format!(
            "{text:?} must be scheme://host[:port] without user, path, query or fragment"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// "+HH:MM" or "-HH:MM", hours 00..=23, minutes 00..=59.
pub(super) fn parse_utc_offset(text: &str) -> Result<Offset, String> {
    let bad = || format!("{text:?} is not a UTC offset \"+HH:MM\" or \"-HH:MM\"");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let (hours, minutes) = parse_hh_mm(rest, 23).ok_or_else(bad)?;
    let seconds = sign * (i32::from(hours) * 3600 + i32::from(minutes) * 60);
    Offset::from_seconds(seconds).map_err(|_| bad())
}

/// "HH:MM" with exactly two digits each, hours at most `max_hours`, minutes at most 59.
pub(super) fn parse_hh_mm(text: &str, max_hours: i8) -> Option<(i8, i8)> {
    let (h, m) = text.split_once(':')?;
    let two_digits = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i8>().ok())
            .flatten()
    };
    let (hours, minutes) = (two_digits(h)?, two_digits(m)?);
    (hours <= max_hours && minutes <= 59).then_some((hours, minutes))
}
