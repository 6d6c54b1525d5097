//! `voicemail = { max_secs, prompt, beep }` per scheme or site: when every step of the
//! scheme failed (and its fallback, if any), calltrack answers the caller, plays the prompt
//! and a beep, and records the caller's message. The scheme's setting wins over the site's.
//! Voicemail needs the relay at the setting's own level (`media = "relay"` or
//! `record = true`), like `announce`; its prompt is checked like `announce`'s.

use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;
use super::{Config, MediaMode, TrackingNumber};

/// The longest message a caller may leave, in seconds.
pub const MAX_VOICEMAIL_SECS: u64 = 3_600;

/// `voicemail = { ... }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoicemailFile {
    /// The longest message, in seconds (1-3600, default 120): the call ends with a BYE then.
    pub max_secs: u64,
    /// The greeting: a built-in prompt name or a WAV file (default "voicemail").
    pub prompt: String,
    /// A beep after the greeting; the recording starts when it ends (default true).
    pub beep: bool,
}

impl Default for VoicemailFile {
    fn default() -> Self {
        Self {
            max_secs: 120,
            prompt: "voicemail".to_owned(),
            beep: true,
        }
    }
}

/// A validated voicemail setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailConfig {
    pub max: Duration,
    /// A built-in prompt name or a WAV file path.
    pub prompt: String,
    pub beep: bool,
}

/// Validates `path` (`schemes[0].voicemail`); `relayed`: the level's own relay setting.
pub(super) fn voicemail(
    path: &str,
    f: Option<VoicemailFile>,
    relayed: bool,
    p: &mut Problems,
) -> Option<VoicemailConfig> {
    let f = f?;
    if !(1..=MAX_VOICEMAIL_SECS).contains(&f.max_secs) {
        let message = format!("{} is not within 1-{MAX_VOICEMAIL_SECS}", f.max_secs);
        p.push(format!("{path}.max_secs"), message);
    }
    super::voice::check_prompt(&format!("{path}.prompt"), &f.prompt, p);
    if !relayed {
        let message = "voicemail needs the relay: set media = \"relay\" (or record = true) here";
        p.push(path, message);
    }
    Some(VoicemailConfig {
        max: Duration::from_secs(f.max_secs),
        prompt: f.prompt,
        beep: f.beep,
    })
}

/// Whether a level's own `media`/`record` relay its calls.
pub(super) fn relayed(media: Option<MediaMode>, record: Option<bool>) -> bool {
    media == Some(MediaMode::Relay) || record == Some(true)
}

impl Config {
    /// The voicemail of this call's scheme, else of its site (`None`: the call just fails).
    pub fn voicemail(&self, tracking: &TrackingNumber, scheme: &str) -> Option<VoicemailConfig> {
        self.most_specific(
            tracking,
            scheme,
            |_| None,
            |s| s.voicemail.clone(),
            |s| s.voicemail.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = r#"
[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:5080"
"#;

    const SCHEME: &str = r#"
[[schemes]]
id = "sales"
media = "relay"
voicemail = { max_secs = 30, prompt = "voicemail", beep = false }
[[schemes.steps]]
targets = [{ uri = "sip:a@127.0.0.1:5080" }]
"#;

    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml_str(text) {
            Ok(_) => Vec::new(),
            Err(super::super::ConfigError::Invalid(p)) => p.iter().map(|p| p.to_string()).collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn the_scheme_wins_over_the_site_and_defaults_fill_in() {
        let text = format!(
            "{SITE}media = \"relay\"\nvoicemail = {{}}\n\
             [[sites.static_numbers]]\nnumber = \"74950000001\"\nsource = \"radio\"\n{SCHEME}"
        );
        let config = Config::from_toml_str(&text).unwrap();
        let number = config.tracking_number("74950000001").unwrap();
        let site = config.voicemail(number, "none").unwrap();
        assert_eq!(
            site,
            VoicemailConfig {
                max: Duration::from_secs(120),
                prompt: "voicemail".into(),
                beep: true
            }
        );
        let scheme = config.voicemail(number, "sales").unwrap();
        assert_eq!(scheme.max, Duration::from_secs(30));
        assert!(!scheme.beep);
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key_path() {
        let text = format!(
            "{SITE}voicemail = {{ max_secs = 0, prompt = \"hello\" }}\n{}",
            SCHEME
                .replace("media = \"relay\"\n", "")
                .replace("prompt = \"voicemail\"", "prompt = \"/nonexistent/vm.wav\"")
        );
        let found = problems(&text);
        let text = found.join("\n");
        for expected in [
            "sites[0].voicemail.max_secs: 0 is not within 1-3600",
            "sites[0].voicemail.prompt: \"hello\" is neither",
            "sites[0].voicemail: voicemail needs the relay",
            "schemes[0].voicemail.prompt: cannot read",
            "schemes[0].voicemail: voicemail needs the relay",
        ] {
            assert!(text.contains(expected), "{expected} missing in:\n{text}");
        }
        assert_eq!(found.len(), 5, "{text}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let found = problems(&format!(
            "{SITE}media = \"relay\"\nvoicemail = {{ max_seconds = 10 }}\n"
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("max_seconds"), "{found:?}");
    }
}
