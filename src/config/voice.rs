//! What calltrack says to a caller before bridging: `announce` (a prompt) and `answer`
//! (how the caller is answered to hear it), per site, scheme or static number, the most
//! specific winning like `media`. A prompt is a built-in name or a WAV file; the file is
//! checked here (exists, readable, a WAV) so `check-config` and reload refuse a bad one with
//! its key path. A prompt needs the relay: `media = "relay"` or `record = true` at the
//! setting's own level or above (a number: itself or its site; a scheme: itself).

use std::path::Path;

use serde::Deserialize;

use super::validate::Problems;
use super::{Config, MediaMode, TrackingNumber};

/// How calltrack answers the caller before playing a prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// 200 OK with calltrack's SDP; the prompt starts once the caller's ACK is in.
    #[default]
    Answer,
    /// 183 Session Progress with SDP: the prompt is early media (billing has not started);
    /// the callee's answer later gives the caller its 200.
    Early,
}

/// The names of the built-in prompts (`media::prompt_builtin::NAMES`, kept equal by a test).
pub const BUILTIN_PROMPTS: [&str; 6] = [
    "menu",
    "recorded",
    "invalid",
    "voicemail",
    "beep",
    "enter_code",
];

/// Languages of the built-in prompts (`[media] prompt_language`).
pub const PROMPT_LANGUAGES: [&str; 2] = ["en", "ru"];

/// Whether a prompt setting names a file rather than a built-in prompt.
pub fn is_prompt_path(setting: &str) -> bool {
    setting.contains('/') || setting.to_ascii_lowercase().ends_with(".wav")
}

/// One prompt setting at `path`: a known built-in name, or a readable WAV file.
pub(super) fn check_prompt(path: &str, setting: &str, p: &mut Problems) {
    if !is_prompt_path(setting) {
        if !BUILTIN_PROMPTS.contains(&setting) {
            let names = BUILTIN_PROMPTS.join(", ");
            let message =
                format!("{setting:?} is neither a WAV file path nor a built-in prompt ({names})");
            p.push(path, message);
        }
        return;
    }
    let bytes = match std::fs::read(Path::new(setting)) {
        Ok(bytes) => bytes,
        Err(error) => return p.push(path, format!("cannot read {setting:?}: {error}")),
    };
    match hound::WavReader::new(std::io::Cursor::new(bytes)) {
        Ok(reader) if reader.duration() > 0 => {}
        Ok(_) => p.push(path, format!("{setting:?} holds no audio")),
        Err(error) => p.push(path, format!("{setting:?} is not a WAV file: {error}")),
    }
}

/// `[media] prompt_language`: one of [`PROMPT_LANGUAGES`].
pub(super) fn prompt_language(text: &str, p: &mut Problems) -> String {
    if !PROMPT_LANGUAGES.contains(&text) {
        let message = format!("{text:?} is not one of \"en\", \"ru\"");
        p.push("media.prompt_language", message);
    }
    text.to_owned()
}

/// Every `announce` of the validated config: a usable prompt, and relayed calls to play it to.
pub(super) fn check(config: &Config, p: &mut Problems) {
    let relayed = |media: Option<MediaMode>, record: Option<bool>| {
        (media == Some(MediaMode::Relay) || record == Some(true)).then_some(true)
    };
    for (i, site) in config.sites.iter().enumerate() {
        let site_relay = relayed(site.media, site.record);
        let path = format!("sites[{i}]");
        announce(&path, site.announce.as_deref(), site_relay.is_some(), p);
        for (j, n) in site.static_numbers.iter().enumerate() {
            let own = match (n.media, n.record) {
                (Some(MediaMode::Direct), record) if record != Some(true) => None,
                (media, record) => relayed(media, record).or(site_relay),
            };
            let path = format!("{path}.static_numbers[{j}]");
            announce(&path, n.announce.as_deref(), own.is_some(), p);
        }
    }
    for (i, scheme) in config.routing.schemes.iter().enumerate() {
        let relay = relayed(scheme.media, scheme.record).is_some();
        announce(
            &format!("schemes[{i}]"),
            scheme.announce.as_deref(),
            relay,
            p,
        );
    }
}

fn announce(path: &str, setting: Option<&str>, relayed: bool, p: &mut Problems) {
    let Some(setting) = setting else { return };
    let path = format!("{path}.announce");
    check_prompt(&path, setting, p);
    if !relayed {
        let message =
            "a prompt needs the relay: set media = \"relay\" (or record = true) here or above";
        p.push(path, message);
    }
}

impl Config {
    /// The prompt played before bridging this call (number over scheme over site), if any.
    pub fn announcement(&self, tracking: &TrackingNumber, scheme: &str) -> Option<String> {
        self.most_specific(
            tracking,
            scheme,
            |n| n.announce.clone(),
            |s| s.announce.clone(),
            |s| s.announce.clone(),
        )
    }

    /// How this call's caller is answered before a prompt (number over scheme over site).
    pub fn answer_mode(&self, tracking: &TrackingNumber, scheme: &str) -> AnswerMode {
        self.most_specific(tracking, scheme, |n| n.answer, |s| s.answer, |s| s.answer)
            .unwrap_or_default()
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

    fn problems(extra: &str) -> Vec<String> {
        match Config::from_toml_str(&format!("{SITE}{extra}")) {
            Ok(_) => Vec::new(),
            Err(super::super::ConfigError::Invalid(p)) => p.iter().map(|p| p.to_string()).collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn a_builtin_announcement_on_a_relayed_site_is_valid_and_found() {
        let config = Config::from_toml_str(&format!(
            "{SITE}media = \"relay\"\nannounce = \"recorded\"\nanswer = \"early\"\n\
             [[sites.static_numbers]]\nnumber = \"74950000001\"\nsource = \"radio\"\n"
        ))
        .unwrap();
        let number = config.tracking_number("74950000001").unwrap();
        assert_eq!(
            config.announcement(number, "none").as_deref(),
            Some("recorded")
        );
        assert_eq!(config.answer_mode(number, "none"), AnswerMode::Early);
    }

    #[test]
    fn bad_prompts_and_direct_calls_are_errors_with_their_key_paths() {
        let found = problems(
            "announce = \"hello\"\n[[sites.static_numbers]]\nnumber = \"74950000001\"\n\
             source = \"radio\"\nmedia = \"relay\"\nannounce = \"/nonexistent/x.wav\"\n",
        );
        let text = found.join("\n");
        assert!(
            text.contains("sites[0].announce: \"hello\" is neither"),
            "{text}"
        );
        assert!(
            text.contains("sites[0].announce: a prompt needs the relay"),
            "{text}"
        );
        assert!(
            text.contains("sites[0].static_numbers[0].announce: cannot read"),
            "{text}"
        );
        assert_eq!(found.len(), 3, "{text}");
    }

    #[test]
    fn a_file_that_is_not_a_wav_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        std::fs::write(&path, b"not audio").unwrap();
        let found = problems(&format!(
            "media = \"relay\"\nannounce = {:?}\n",
            path.display().to_string()
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("is not a WAV file"), "{found:?}");
    }
}
