//! The serde mirror of `[[sites]]` and its nested tables: numbers, pools and display rules.
//!
//! Same conventions as `file.rs`: loose types, units in key names, `deny_unknown_fields`.

use serde::Deserialize;

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
    /// Calls that take `forward_to` (no route matched) count towards quality calls.
    pub forward_to_counted: bool,
    /// Overrides `[tracking] quality_min_talk_secs` for this site's calls.
    pub quality_min_talk_secs: Option<u64>,
    /// Number shown to visitors that need no tracking.
    pub default_number: Option<String>,
    /// Number shown when the pool is exhausted.
    pub reserve_number: Option<String>,
    /// With every pool exhausted, show the reserve number plus a short code bound to the visit.
    pub overflow_code: bool,
    /// A pool number stays with a visitor this many seconds after the last heartbeat.
    pub freeze_secs: u64,
    /// Web origins ("https://shop.example") allowed to call the snippet API for this site.
    pub origins: Vec<String>,
    /// The site's UTC offset ("+03:00") for time-of-day display conditions.
    pub utc_offset: String,
    /// IANA time zone ("Europe/Berlin") for report days, overriding `utc_offset` there.
    pub time_zone: Option<String>,
    /// A released pool number rests this many seconds before it is leased again.
    pub lease_cooldown_secs: u64,
    /// With enough lease history, the freeze becomes the 95th percentile of the observed call
    /// delay after leaving (at least two heartbeats, at most `freeze_secs`).
    pub adapt_freeze: bool,
    /// A call to a pool number nobody holds goes to the number's last holder when its lease
    /// ended at most this many seconds ago and nobody held the number since; 0: never.
    /// Default: twice `freeze_secs`.
    pub last_holder_secs: Option<u64>,
    /// The snippet heartbeats every this many seconds; less than `freeze_secs`.
    pub heartbeat_secs: u64,
    /// Numbers bound to one ad source for good.
    pub static_numbers: Vec<StaticNumberFile>,
    /// Dynamic pools leased to website visitors.
    pub pools: Vec<PoolFile>,
    /// Display conditions, first match wins.
    pub rules: Vec<RuleFile>,
    /// "direct" or "relay" for this site's calls (a scheme or static number may override).
    pub media: Option<super::media::MediaMode>,
    /// Record this site's answered calls (stereo WAV; implies media = "relay").
    pub record: Option<bool>,
    /// A prompt played to the caller before bridging: a built-in name or a WAV file (needs
    /// media = "relay" or record = true at this level or above).
    pub announce: Option<String>,
    /// "answer" (200 OK, then the prompt) or "early" (183 with early media) before a prompt.
    pub answer: Option<super::voice::AnswerMode>,
    /// Voicemail when the scheme fails: `{ max_secs = 120, prompt = "voicemail", beep = true }`
    /// (needs media = "relay" or record = true on the site; a scheme's own voicemail wins).
    pub voicemail: Option<super::voicemail::VoicemailFile>,
}

impl Default for SiteFile {
    fn default() -> Self {
        Self {
            id: None,
            name: None,
            forward_to: None,
            forward_to_counted: true,
            quality_min_talk_secs: None,
            default_number: None,
            reserve_number: None,
            overflow_code: false,
            freeze_secs: 1200,
            origins: Vec::new(),
            utc_offset: "+00:00".to_owned(),
            time_zone: None,
            lease_cooldown_secs: 60,
            adapt_freeze: true,
            last_holder_secs: None,
            heartbeat_secs: 30,
            static_numbers: Vec::new(),
            pools: Vec::new(),
            rules: Vec::new(),
            media: None,
            record: None,
            announce: None,
            answer: None,
            voicemail: None,
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
    /// "direct" or "relay" for calls to this number, overriding its scheme and site.
    pub media: Option<super::media::MediaMode>,
    /// Record calls to this number, overriding its scheme and site.
    pub record: Option<bool>,
    /// A prompt played to the caller before bridging: a built-in name or a WAV file (needs
    /// media = "relay" or record = true at this level or above).
    pub announce: Option<String>,
    /// "answer" (200 OK, then the prompt) or "early" (183 with early media) before a prompt.
    pub answer: Option<super::voice::AnswerMode>,
}

/// `[[sites.pools]]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolFile {
    /// Required: id unique within the site, `[a-z0-9_-]+`.
    pub id: Option<String>,
    /// Numbers or inclusive ranges "first-last".
    pub numbers: Vec<String>,
    /// Region whose visitors prefer this pool.
    pub region: Option<String>,
}

/// `[[sites.rules]]`: conditions (all given must match) and exactly one action.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleFile {
    /// utm_source patterns ('*' wildcard, case-insensitive).
    pub utm_source: Vec<String>,
    /// utm_medium patterns.
    pub utm_medium: Vec<String>,
    /// utm_campaign patterns.
    pub utm_campaign: Vec<String>,
    /// utm_term patterns.
    pub utm_term: Vec<String>,
    /// utm_content patterns.
    pub utm_content: Vec<String>,
    /// Referrer host patterns ("*.google.com").
    pub referrer_host: Vec<String>,
    /// Landing page path patterns ("/promo/*").
    pub landing_path: Vec<String>,
    /// Visitor regions.
    pub region: Vec<String>,
    /// Site-local time window "HH:MM-HH:MM"; may wrap midnight.
    pub time_of_day: Option<String>,
    /// Action: lease from these pools.
    pub pools: Option<Vec<String>>,
    /// Action: show this static number of the site.
    pub number: Option<String>,
    /// Action: show the default number.
    pub default: Option<bool>,
}
