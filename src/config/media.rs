//! `[media]`: the RTP relay's port range and addresses, and which calls it anchors: the
//! `media = "direct" | "relay"` choice of a site, a scheme or a static number.
//!
//! The most specific choice wins: a static number's `media`, else the scheme that took the
//! call, else the site's, else `direct` (calltrack passes SDP through untouched).

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::routing::SchemeConfig;
use super::validate::Problems;
use super::{Config, NumberKind, SiteConfig, StaticNumber, TrackingNumber};

/// Whether a call's RTP flows through calltrack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// SDP passes untouched; the endpoints send RTP to each other.
    #[default]
    Direct,
    /// calltrack rewrites SDP to its own ports and relays RTP and RTCP.
    Relay,
}

/// What a relayed call gets when no RTP/RTCP port pair is free (`[media] on_no_ports`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNoPorts {
    /// Bridged direct: its SDP passes untouched and RTP flows between the endpoints
    /// (unmeasured, unrecorded).
    #[default]
    Direct,
    /// Refused with 503 and a `Reason` header before any call state is made.
    Refuse,
}

/// `[media]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaFile {
    /// RTP/RTCP ports "first-last"; `first` even (RTP even, RTCP odd, RFC 3550 §11).
    pub rtp_ports: String,
    /// Address the relay's sockets bind to.
    pub bind_ip: String,
    /// Address written into rewritten SDP `c=` lines; default: `bind_ip`.
    pub advertised_ip: Option<String>,
    /// No RTP from one side for this many seconds after the answer is one-way audio.
    pub one_way_audio_secs: u64,
    /// Where recordings (`record = true`) are written, one file per call: `<id>.wav`
    /// (G.711) or `<id>.pcap` (other codecs).
    pub recordings_dir: String,
    /// Recordings older than this many days are removed (absent: kept for ever).
    pub retention_days: Option<u32>,
    /// The recordings may take at most this many gigabytes (10^9 bytes); past it the oldest
    /// are removed (absent: no budget).
    pub max_disk_gb: Option<f64>,
    /// How often the recordings janitor applies the two limits above, in seconds.
    pub retention_check_secs: u64,
    /// `"direct"` or `"refuse"`: a relayed call when the port range is exhausted.
    pub on_no_ports: OnNoPorts,
    /// Language of the built-in prompts: "en" or "ru".
    pub prompt_language: String,
    /// Threads relaying RTP, each serving its share of the streams from one epoll (read at
    /// start; a reload does not change it).
    pub relay_threads: usize,
}

impl Default for MediaFile {
    fn default() -> Self {
        Self {
            rtp_ports: "30000-39999".to_owned(),
            bind_ip: "127.0.0.1".to_owned(),
            advertised_ip: None,
            one_way_audio_secs: 5,
            recordings_dir: "./data/recordings".to_owned(),
            retention_days: None,
            max_disk_gb: None,
            retention_check_secs: 300,
            on_no_ports: OnNoPorts::Direct,
            prompt_language: "en".to_owned(),
            relay_threads: 1,
        }
    }
}

/// The validated `[media]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Even first port; RTP/RTCP pairs are `(p, p + 1)` for even `p` inside the range.
    pub rtp_ports: RangeInclusive<u16>,
    pub bind_ip: IpAddr,
    /// Never unspecified (`0.0.0.0`, `::`).
    pub advertised_ip: IpAddr,
    pub one_way_audio: Duration,
    pub recordings_dir: PathBuf,
    /// `retention_days`, `max_disk_gb` and `retention_check_secs`: applied on reload.
    pub retention: RecordingLimits,
    pub on_no_ports: OnNoPorts,
    pub relay_threads: usize,
}

/// How long recordings are kept and how much disk they may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingLimits {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
    pub check_every: Duration,
}

impl Default for RecordingLimits {
    /// Kept for ever, no budget, checked every five minutes.
    fn default() -> Self {
        RecordingLimits {
            max_age: None,
            max_bytes: None,
            check_every: Duration::from_secs(300),
        }
    }
}

/// Longest retention accepted: a hundred years.
const MAX_RETENTION_DAYS: u32 = 36_500;
/// Largest budget accepted, in GB (a petabyte).
const MAX_DISK_GB: f64 = 1_000_000.0;

fn limits(f: &MediaFile, p: &mut Problems) -> RecordingLimits {
    if let Some(days) = f.retention_days {
        p.within("media.retention_days", days, 1, MAX_RETENTION_DAYS);
    }
    let max_bytes = f.max_disk_gb.and_then(|gb| {
        if gb.is_finite() && gb > 0.0 && gb <= MAX_DISK_GB {
            Some((gb * 1e9).round() as u64)
        } else {
            let why = format!("{gb} must be above 0 and at most {MAX_DISK_GB}");
            p.push("media.max_disk_gb", why);
            None
        }
    });
    p.within(
        "media.retention_check_secs",
        f.retention_check_secs,
        1,
        86_400,
    );
    RecordingLimits {
        max_age: f
            .retention_days
            .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
        max_bytes,
        check_every: Duration::from_secs(f.retention_check_secs),
    }
}

/// Most relay threads accepted.
const MAX_RELAY_THREADS: usize = 256;

/// Fewest ports accepted: one relayed stream needs two RTP/RTCP pairs (one per leg).
const MIN_PORTS: u32 = 4;
/// Lowest first port: the well-known ports are never taken.
const MIN_FIRST_PORT: u16 = 1024;

pub(super) fn media(f: MediaFile, p: &mut Problems) -> MediaConfig {
    let rtp_ports = port_range(&f.rtp_ports, p);
    let bind_ip = ip("media.bind_ip", &f.bind_ip, p);
    let advertised_ip = match &f.advertised_ip {
        Some(text) => ip("media.advertised_ip", text, p),
        None => bind_ip,
    };
    if advertised_ip.is_unspecified() {
        let key = if f.advertised_ip.is_some() {
            "media.advertised_ip"
        } else {
            "media.bind_ip"
        };
        p.push(
            key,
            "the address written into SDP cannot be unspecified; set advertised_ip",
        );
    }
    p.within("media.one_way_audio_secs", f.one_way_audio_secs, 1, 3600);
    p.non_blank("media.recordings_dir", &f.recordings_dir);
    let retention = limits(&f, p);
    p.within("media.relay_threads", f.relay_threads, 1, MAX_RELAY_THREADS);
    MediaConfig {
        rtp_ports,
        bind_ip,
        advertised_ip,
        one_way_audio: Duration::from_secs(f.one_way_audio_secs),
        recordings_dir: PathBuf::from(f.recordings_dir),
        retention,
        on_no_ports: f.on_no_ports,
        relay_threads: f.relay_threads,
    }
}

fn ip(key: &str, text: &str, p: &mut Problems) -> IpAddr {
    text.parse().unwrap_or_else(|_| {
        p.push(key, format!("{text:?} is not an IP address"));
        IpAddr::from([127, 0, 0, 1])
    })
}

/// `"first-last"`, inclusive, `first` even and at least 1024, at least [`MIN_PORTS`] ports.
fn port_range(text: &str, p: &mut Problems) -> RangeInclusive<u16> {
    const KEY: &str = "media.rtp_ports";
    let parsed = text
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)));
    let Some((first, last)) = parsed else {
        p.push(KEY, format!("{text:?} is not a port range \"first-last\""));
        return 30000..=39999;
    };
    if first % 2 != 0 {
        p.push(
            KEY,
            format!("the first port {first} must be even (RTP even, RTCP odd)"),
        );
    }
    if first < MIN_FIRST_PORT {
        p.push(
            KEY,
            format!("the first port {first} is below {MIN_FIRST_PORT}"),
        );
    }
    if last < first || u32::from(last) - u32::from(first) + 1 < MIN_PORTS {
        p.push(KEY, format!("{text:?} holds fewer than {MIN_PORTS} ports"));
    }
    first..=last
}

impl Config {
    /// How this call's media flows: the static number's choice, else the scheme's, else the
    /// site's, else [`MediaMode::Direct`].
    pub fn media_mode(&self, tracking: &TrackingNumber, scheme: &str) -> MediaMode {
        self.most_specific(tracking, scheme, |n| n.media, |s| s.media, |s| s.media)
            .unwrap_or_default()
    }

    /// Whether this call is recorded (`record`, the same precedence as `media`); a recorded
    /// call is relayed whatever its `media` says.
    pub fn records(&self, tracking: &TrackingNumber, scheme: &str) -> bool {
        self.most_specific(tracking, scheme, |n| n.record, |s| s.record, |s| s.record)
            .unwrap_or(false)
    }

    /// A per-call setting by precedence: the static number's, else the scheme's, else the
    /// site's.
    pub(super) fn most_specific<T>(
        &self,
        tracking: &TrackingNumber,
        scheme: &str,
        of_number: impl Fn(&StaticNumber) -> Option<T>,
        of_scheme: impl Fn(&SchemeConfig) -> Option<T>,
        of_site: impl Fn(&SiteConfig) -> Option<T>,
    ) -> Option<T> {
        let site = self.site(&tracking.site);
        let number = match &tracking.kind {
            NumberKind::Static { .. } => site
                .and_then(|s| {
                    s.static_numbers
                        .iter()
                        .find(|n| n.number == tracking.number)
                })
                .and_then(&of_number),
            _ => None,
        };
        number
            .or_else(|| self.routing.scheme(scheme).and_then(&of_scheme))
            .or_else(|| site.and_then(&of_site))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: MediaFile) -> (MediaConfig, Problems) {
        let mut p = Problems::default();
        (media(f, &mut p), p)
    }

    #[test]
    fn the_default_is_valid() {
        let (config, p) = check(MediaFile::default());
        assert_eq!(p.len(), 0);
        assert_eq!(config.rtp_ports, 30000..=39999);
        assert_eq!(config.advertised_ip, config.bind_ip);
    }

    #[test]
    fn the_most_specific_choice_wins() {
        let config = Config::from_toml_str(
            r#"
[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
media = "relay"
[[sites.static_numbers]]
number = "74950000001"
source = "billboard"
[[sites.static_numbers]]
number = "74950000002"
source = "radio"
media = "direct"
record = true
[[sites.pools]]
id = "web"
numbers = ["74950000100-74950000101"]

[[sites]]
id = "plain"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000200"

[[schemes]]
id = "support"
media = "direct"
record = false
[[schemes.steps]]
[[schemes.steps.targets]]
uri = "sip:127.0.0.1:5090"
"#,
        )
        .unwrap();
        let mode = |number: &str, scheme: &str| {
            config.media_mode(config.tracking_number(number).unwrap(), scheme)
        };
        assert_eq!(
            mode("74950000001", "forward_to"),
            MediaMode::Relay,
            "the site's"
        );
        assert_eq!(
            mode("74950000100", "forward_to"),
            MediaMode::Relay,
            "pool numbers too"
        );
        assert_eq!(
            mode("74950000001", "support"),
            MediaMode::Direct,
            "the scheme's"
        );
        assert_eq!(
            mode("74950000002", "forward_to"),
            MediaMode::Direct,
            "the number's"
        );
        assert_eq!(
            mode("74950000200", "forward_to"),
            MediaMode::Direct,
            "the default"
        );
        let records = |number: &str, scheme: &str| {
            config.records(config.tracking_number(number).unwrap(), scheme)
        };
        assert!(
            records("74950000002", "support"),
            "the number's record wins"
        );
        assert!(!records("74950000001", "support"));
        assert!(
            !records("74950000200", "forward_to"),
            "not recorded by default"
        );
        assert_eq!(
            config.media,
            media(MediaFile::default(), &mut Problems::default())
        );
    }

    #[test]
    fn bad_ranges_and_addresses_are_each_reported() {
        for (range, problems) in [
            ("30001-39999", 1),
            ("100-200", 1),
            ("30000-30001", 1),
            ("39999-30000", 2),
            ("nonsense", 1),
            ("30000-70000", 1),
        ] {
            let f = MediaFile {
                rtp_ports: range.into(),
                ..MediaFile::default()
            };
            assert_eq!(check(f).1.len(), problems, "{range}");
        }
        let f = MediaFile {
            bind_ip: "0.0.0.0".into(),
            advertised_ip: None,
            one_way_audio_secs: 0,
            ..MediaFile::default()
        };
        assert_eq!(check(f).1.len(), 2);
        let f = MediaFile {
            bind_ip: "0.0.0.0".into(),
            advertised_ip: Some("192.0.2.10".into()),
            ..MediaFile::default()
        };
        assert_eq!(check(f).1.len(), 0);
    }

    #[test]
    fn retention_limits_are_checked_with_their_keys() {
        let f = MediaFile {
            retention_days: Some(0),
            max_disk_gb: Some(-1.0),
            retention_check_secs: 0,
            ..MediaFile::default()
        };
        let (_, p) = check(f);
        let text = format!("{p:?}");
        assert_eq!(p.len(), 3, "{text}");
        for key in [
            "media.retention_days",
            "media.max_disk_gb",
            "media.retention_check_secs",
        ] {
            assert!(text.contains(key), "{key}: {text}");
        }
        let f = MediaFile {
            retention_days: Some(30),
            max_disk_gb: Some(0.5),
            ..MediaFile::default()
        };
        let (config, p) = check(f);
        assert_eq!(p.len(), 0);
        assert_eq!(config.retention.max_bytes, Some(500_000_000));
        assert_eq!(
            config.retention.max_age,
            Some(Duration::from_secs(30 * 86_400))
        );
        let (config, _) = check(MediaFile::default());
        assert_eq!(
            (config.retention.max_age, config.retention.max_bytes),
            (None, None)
        );
    }
}
