//! `[voice]`: how long calltrack waits for a reserve-number caller's overflow code
//! (`code_first_digit_secs` from the end of the "enter your code" prompt to the first key,
//! `code_inter_digit_secs` between keys). Read by the session as it asks for the code.

use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;

/// The longest wait for a key, in seconds.
const MAX_KEY_WAIT_SECS: u64 = 60;

/// `[voice]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceFile {
    /// Seconds from the end of the "enter your code" prompt to the first key (1-60, default 5).
    pub code_first_digit_secs: u64,
    /// Seconds from one key of the code to the next (1-60, default 3).
    pub code_inter_digit_secs: u64,
}

impl Default for VoiceFile {
    fn default() -> Self {
        Self {
            code_first_digit_secs: 5,
            code_inter_digit_secs: 3,
        }
    }
}

/// `[voice]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceConfig {
    pub code_first_digit: Duration,
    pub code_inter_digit: Duration,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        voice(VoiceFile::default(), &mut Problems::default())
    }
}

pub(super) fn voice(f: VoiceFile, p: &mut Problems) -> VoiceConfig {
    let keys = [
        ("voice.code_first_digit_secs", f.code_first_digit_secs),
        ("voice.code_inter_digit_secs", f.code_inter_digit_secs),
    ];
    for (key, secs) in keys {
        p.within(key, secs, 1, MAX_KEY_WAIT_SECS);
    }
    VoiceConfig {
        code_first_digit: Duration::from_secs(f.code_first_digit_secs),
        code_inter_digit: Duration::from_secs(f.code_inter_digit_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use super::*;

    const SITE: &str = "[[sites]]\nid = \"demo\"\nforward_to = \"sip:127.0.0.1:5080\"\n";

    #[test]
    fn defaults_are_5_and_3_seconds_and_the_keys_set_them() {
        let config = Config::from_toml_str(SITE).unwrap();
        assert_eq!(config.voice.code_first_digit, Duration::from_secs(5));
        assert_eq!(config.voice.code_inter_digit, Duration::from_secs(3));
        let text = format!("[voice]\ncode_first_digit_secs = 8\ncode_inter_digit_secs = 2\n{SITE}");
        let config = Config::from_toml_str(&text).unwrap();
        assert_eq!(config.voice.code_first_digit, Duration::from_secs(8));
        assert_eq!(config.voice.code_inter_digit, Duration::from_secs(2));
    }

    #[test]
    fn out_of_range_waits_are_errors_with_their_key_paths() {
        let text =
            format!("[voice]\ncode_first_digit_secs = 0\ncode_inter_digit_secs = 61\n{SITE}");
        let Err(ConfigError::Invalid(problems)) = Config::from_toml_str(&text) else {
            panic!("refused");
        };
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("voice.code_first_digit_secs: 0 is out of range"));
        assert!(text[1].starts_with("voice.code_inter_digit_secs: 61 is out of range"));
    }
}
