//! `[speech]`: transcription of recorded calls (off by default): the engine, the worker pool,
//! retries and redaction. The engines themselves live in `speech/`; this file owns what the
//! admin writes and its checks.

use std::time::Duration;

use serde::Deserialize;

use super::exports::Secret;
use super::exports_check::{http_url, secret};
use super::validate::Problems;

/// Which engine transcribes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeechEngine {
    /// No transcription (recordings wait in the queue until an engine is configured).
    #[default]
    Off,
    /// An OpenAI-compatible `POST /v1/audio/transcriptions` server (whisper.cpp's server,
    /// faster-whisper servers, hosted services).
    Http,
}

/// `[speech]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechFile {
    /// `"off"` or `"http"`.
    pub engine: SpeechEngine,
    /// Recordings transcribed at once (1..=16).
    pub workers: usize,
    /// Card and phone numbers are masked in stored text.
    pub redact: bool,
    /// Attempts per recording before it is marked failed (1..=100).
    pub max_attempts: u32,
    /// The first retry waits this long, each next one twice as long (capped at an hour).
    pub retry_secs: u64,
    /// How often the queue is looked at when it was empty.
    pub poll_secs: u64,
    pub http: SpeechHttpFile,
}

impl Default for SpeechFile {
    fn default() -> Self {
        SpeechFile {
            engine: SpeechEngine::Off,
            workers: 1,
            redact: true,
            max_attempts: 5,
            retry_secs: 60,
            poll_secs: 5,
            http: SpeechHttpFile::default(),
        }
    }
}

/// `[speech.http]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechHttpFile {
    /// The full endpoint, e.g. `http://127.0.0.1:8081/v1/audio/transcriptions`.
    pub url: String,
    /// The `model` form field (`whisper-1`, a whisper.cpp model name, ...).
    pub model: String,
    /// Bearer token, or `env:NAME`; absent: no `Authorization` header.
    pub api_key: Option<String>,
    /// The `language` form field (ISO 639-1, e.g. `ru`); absent: the server detects it.
    pub language: Option<String>,
    /// One request's limit, in seconds.
    pub timeout_secs: u64,
}

impl Default for SpeechHttpFile {
    fn default() -> Self {
        SpeechHttpFile {
            url: String::new(),
            model: "whisper-1".to_owned(),
            api_key: None,
            language: None,
            timeout_secs: 120,
        }
    }
}

/// The validated `[speech]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechConfig {
    pub engine: SpeechEngine,
    pub workers: usize,
    pub redact: bool,
    pub max_attempts: u32,
    pub retry: Duration,
    pub poll: Duration,
    pub http: Option<SpeechHttpConfig>,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        speech(SpeechFile::default(), &mut Problems::default())
    }
}

/// The validated `[speech.http]` (present when `engine = "http"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechHttpConfig {
    pub url: String,
    pub model: String,
    pub api_key: Option<Secret>,
    pub language: Option<String>,
    pub timeout: Duration,
}

pub(super) fn speech(f: SpeechFile, p: &mut Problems) -> SpeechConfig {
    p.within("speech.workers", f.workers, 1, 16);
    p.within("speech.max_attempts", f.max_attempts, 1, 100);
    p.within("speech.retry_secs", f.retry_secs, 1, 86_400);
    p.within("speech.poll_secs", f.poll_secs, 1, 3_600);
    let http = (f.engine == SpeechEngine::Http).then(|| speech_http(&f.http, p));
    SpeechConfig {
        engine: f.engine,
        workers: f.workers.clamp(1, 16),
        redact: f.redact,
        max_attempts: f.max_attempts.max(1),
        retry: Duration::from_secs(f.retry_secs.max(1)),
        poll: Duration::from_secs(f.poll_secs.max(1)),
        http,
    }
}

fn speech_http(f: &SpeechHttpFile, p: &mut Problems) -> SpeechHttpConfig {
    let url = if f.url.trim().is_empty() {
        p.push("speech.http.url", "is required with engine = \"http\"");
        String::new()
    } else {
        http_url(f.url.trim(), "speech.http.url", p)
    };
    p.non_blank("speech.http.model", &f.model);
    p.within("speech.http.timeout_secs", f.timeout_secs, 1, 3_600);
    let language = f.language.as_deref().map(str::trim).map(str::to_owned);
    if let Some(lang) = &language {
        let ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
        if !ok {
            p.push(
                "speech.http.language",
                format!("{lang:?} is not an ISO 639 code"),
            );
        }
    }
    SpeechHttpConfig {
        url,
        model: f.model.trim().to_owned(),
        api_key: f
            .api_key
            .as_deref()
            .map(|k| secret(k, "speech.http.api_key", p)),
        language,
        timeout: Duration::from_secs(f.timeout_secs.clamp(1, 3_600)),
    }
}

#[cfg(test)]
mod tests {
    use super::SpeechEngine;
    use crate::config::Config;

    /// The key paths of the problems in `text`'s `[speech]`.
    fn problems(text: &str) -> Vec<String> {
        match Config::from_toml_str(text) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .to_string()
                .lines()
                .filter_map(|l| l.split_once(':').map(|(path, _)| path.trim().to_owned()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn off_by_default_and_http_needs_a_url() {
        let config = Config::from_toml_str("").unwrap();
        assert_eq!(config.speech.engine, SpeechEngine::Off);
        assert!(config.speech.redact);
        let bad =
            "[speech]\nengine = \"http\"\nworkers = 0\n[speech.http]\nlanguage = \"Russian\"\n";
        assert_eq!(
            problems(bad),
            ["speech.http.language", "speech.http.url", "speech.workers"]
        );
        let good = "[speech]\nengine = \"http\"\n[speech.http]\nurl = \"http://127.0.0.1:9/v1/audio/transcriptions\"\n";
        let config = Config::from_toml_str(good).unwrap();
        assert_eq!(
            config.speech.http.map(|h| h.model),
            Some("whisper-1".to_owned())
        );
    }
}
