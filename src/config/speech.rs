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
    /// CMU PocketSphinx, embedded, offline (English).
    Pocketsphinx,
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
    pub pocketsphinx: SpeechSphinxFile,
    /// Keyword tags: a call gets a tag when one of its phrases was said.
    pub tags: Vec<SpeechTagFile>,
    /// Labelled calls (with a transcript) needed before the call scorer is trained (2..=100000).
    pub min_labels: usize,
    /// A scored call is a target call when its probability is at least this (0..1).
    pub target_threshold: f64,
    /// The hour (UTC, 0..=23) of the daemon's nightly training when new labels arrived;
    /// absent: no nightly training (run `calltrack speech train`).
    pub train_hour_utc: Option<u8>,
}

/// Which party's words a tag looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagParty {
    #[default]
    Any,
    Caller,
    Agent,
}

/// `[[speech.tags]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechTagFile {
    /// The tag's name, e.g. `price`.
    pub name: String,
    /// Words or phrases; `*` matches any letters (`deliver*`, `*price*`); case does not matter.
    pub phrases: Vec<String>,
    /// `"any"` (default), `"caller"` or `"agent"`.
    #[serde(default)]
    pub party: TagParty,
}

/// A validated keyword tag: each phrase as lower-case word patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechTag {
    pub name: String,
    pub phrases: Vec<Vec<String>>,
    pub party: TagParty,
}

/// `[speech.pocketsphinx]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechSphinxFile {
    /// The shared library, a name the dynamic loader finds or a path.
    pub library: String,
    /// The model: `en-us/` (acoustic), `en-us.lm.bin` and `cmudict-en-us.dict` inside.
    pub model_dir: String,
}

impl Default for SpeechSphinxFile {
    fn default() -> Self {
        SpeechSphinxFile {
            library: "libpocketsphinx.so.3".to_owned(),
            model_dir: "/usr/share/pocketsphinx/model/en-us".to_owned(),
        }
    }
}

/// The validated `[speech.pocketsphinx]` (present when `engine = "pocketsphinx"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechSphinxConfig {
    pub library: String,
    pub model_dir: std::path::PathBuf,
}

impl SpeechSphinxConfig {
    /// The acoustic model directory, the language model and the dictionary.
    pub fn model_files(&self) -> [std::path::PathBuf; 3] {
        ["en-us", "en-us.lm.bin", "cmudict-en-us.dict"].map(|name| self.model_dir.join(name))
    }
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
            pocketsphinx: SpeechSphinxFile::default(),
            tags: Vec::new(),
            min_labels: 50,
            target_threshold: 0.5,
            train_hour_utc: None,
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

/// The call scorer's settings from `[speech]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoringConfig {
    pub min_labels: usize,
    pub target_threshold: f64,
    pub train_hour_utc: Option<u8>,
}

/// The validated `[speech]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechConfig {
    pub engine: SpeechEngine,
    pub workers: usize,
    pub redact: bool,
    pub max_attempts: u32,
    pub retry: Duration,
    pub poll: Duration,
    pub http: Option<SpeechHttpConfig>,
    pub pocketsphinx: Option<SpeechSphinxConfig>,
    pub tags: Vec<SpeechTag>,
    pub scoring: ScoringConfig,
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
    p.within("speech.min_labels", f.min_labels, 2, 100_000);
    if !(f.target_threshold > 0.0 && f.target_threshold < 1.0) {
        p.push("speech.target_threshold", "must be between 0 and 1");
    }
    if let Some(hour) = f.train_hour_utc {
        p.within("speech.train_hour_utc", hour, 0, 23);
    }
    let http = (f.engine == SpeechEngine::Http).then(|| speech_http(&f.http, p));
    let pocketsphinx =
        (f.engine == SpeechEngine::Pocketsphinx).then(|| speech_sphinx(&f.pocketsphinx, p));
    SpeechConfig {
        engine: f.engine,
        workers: f.workers.clamp(1, 16),
        redact: f.redact,
        max_attempts: f.max_attempts.max(1),
        retry: Duration::from_secs(f.retry_secs.max(1)),
        poll: Duration::from_secs(f.poll_secs.max(1)),
        http,
        pocketsphinx,
        tags: tags(&f.tags, p),
        scoring: ScoringConfig {
            min_labels: f.min_labels.max(2),
            target_threshold: f.target_threshold,
            train_hour_utc: f.train_hour_utc,
        },
    }
}

/// Most tags, and phrases per tag.
const MAX_TAGS: usize = 200;
const MAX_PHRASES: usize = 200;

fn tags(files: &[SpeechTagFile], p: &mut Problems) -> Vec<SpeechTag> {
    if files.len() > MAX_TAGS {
        p.push("speech.tags", format!("at most {MAX_TAGS} tags"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let at = format!("speech.tags[{i}]");
        let name = f.name.trim().to_owned();
        if p.non_blank(&format!("{at}.name"), &name) && !seen.insert(name.to_lowercase()) {
            p.push(format!("{at}.name"), format!("{name:?} is already a tag"));
        }
        if f.phrases.is_empty() || f.phrases.len() > MAX_PHRASES {
            p.push(
                format!("{at}.phrases"),
                format!("give 1 to {MAX_PHRASES} phrases"),
            );
        }
        let mut phrases = Vec::new();
        for (j, phrase) in f.phrases.iter().enumerate() {
            let words: Vec<String> = phrase.split_whitespace().map(str::to_lowercase).collect();
            let only_stars = words.iter().all(|w| w.chars().all(|c| c == '*'));
            if words.is_empty() || only_stars {
                p.push(format!("{at}.phrases[{j}]"), "must name a word");
            } else {
                phrases.push(words);
            }
        }
        out.push(SpeechTag {
            name,
            phrases,
            party: f.party,
        });
    }
    out
}

/// The model files must be there (the library is loaded when the engine starts).
fn speech_sphinx(f: &SpeechSphinxFile, p: &mut Problems) -> SpeechSphinxConfig {
    p.non_blank("speech.pocketsphinx.library", &f.library);
    let config = SpeechSphinxConfig {
        library: f.library.trim().to_owned(),
        model_dir: std::path::PathBuf::from(f.model_dir.trim()),
    };
    for file in config.model_files() {
        if !file.exists() {
            let why = format!(
                "{} is missing (apt-get install pocketsphinx-en-us, or point model_dir at a model)",
                file.display()
            );
            p.push("speech.pocketsphinx.model_dir", why);
        }
    }
    config
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
        let missing = "[speech]\nengine = \"pocketsphinx\"\n[speech.pocketsphinx]\nmodel_dir = \"/nonexistent\"\n";
        assert_eq!(problems(missing), ["speech.pocketsphinx.model_dir"]);
        let tags = "[[speech.tags]]\nname = \"price\"\nphrases = [\"how much\", \" \"]\n[[speech.tags]]\nname = \"Price\"\nphrases = []\n";
        assert_eq!(
            problems(tags),
            [
                "speech.tags[0].phrases[1]",
                "speech.tags[1].name",
                "speech.tags[1].phrases"
            ]
        );
        let scoring = "[speech]\nmin_labels = 1\ntarget_threshold = 1.5\ntrain_hour_utc = 24\n";
        assert_eq!(
            problems(scoring),
            [
                "speech.min_labels",
                "speech.target_threshold",
                "speech.train_hour_utc"
            ]
        );
        let good = "[speech]\nengine = \"http\"\n[speech.http]\nurl = \"http://127.0.0.1:9/v1/audio/transcriptions\"\n";
        let config = Config::from_toml_str(good).unwrap();
        assert_eq!(
            config.speech.http.map(|h| h.model),
            Some("whisper-1".to_owned())
        );
    }
}
