//! The `http` engine: any server with the OpenAI-compatible `POST /v1/audio/transcriptions`
//! API (whisper.cpp's server, faster-whisper servers, hosted services). One request per
//! channel: the mono WAV as `file`, `model`, `response_format = verbose_json` and
//! `timestamp_granularities[] = word` (servers without word times still give the text), and
//! `language` when configured. A bearer key is sent when configured and never logged.

use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::SpeechError;
use super::audio::MonoWav;
use super::transcript::Heard;
use crate::config::SpeechHttpConfig;

/// Longest error text kept from a server's answer.
const MAX_ERROR_CHARS: usize = 300;

/// A client for one configured server.
#[derive(Debug, Clone)]
pub struct HttpEngine {
    client: reqwest::Client,
    config: SpeechHttpConfig,
}

#[derive(Debug, Deserialize)]
struct Answer {
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    words: Vec<AnswerWord>,
}

#[derive(Debug, Deserialize)]
struct AnswerWord {
    word: String,
    start: f64,
    end: f64,
}

impl HttpEngine {
    pub fn new(config: SpeechHttpConfig) -> Result<HttpEngine, SpeechError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| SpeechError::Unavailable(e.to_string()))?;
        Ok(HttpEngine { client, config })
    }

    /// The configuration this client was made from (a reload makes a new one when it changes).
    pub fn config(&self) -> &SpeechHttpConfig {
        &self.config
    }

    /// What the server heard in one party's audio.
    pub async fn transcribe(&self, audio: &MonoWav) -> Result<Heard, SpeechError> {
        let file = Part::bytes(audio.bytes.clone())
            .file_name(format!("{}.wav", audio.channel.as_str()))
            .mime_str("audio/wav")
            .map_err(|e| SpeechError::Refused(e.to_string()))?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.config.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "word");
        if let Some(language) = &self.config.language {
            form = form.text("language", language.clone());
        }
        let mut request = self.client.post(&self.config.url).multipart(form);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        let body = response.text().await.map_err(unavailable)?;
        if status.is_success() {
            return heard(&body, self.config.language.as_deref());
        }
        let why = format!("{status}: {}", shorten(&body));
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            Err(SpeechError::Unavailable(why))
        } else {
            Err(SpeechError::Refused(why))
        }
    }
}

/// A transport failure; the URL is left out of the text (it may carry a key).
fn unavailable(e: reqwest::Error) -> SpeechError {
    SpeechError::Unavailable(e.without_url().to_string())
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// Reads a `verbose_json` (or plain `json`) answer.
fn heard(body: &str, configured: Option<&str>) -> Result<Heard, SpeechError> {
    let answer: Answer = serde_json::from_str(body)
        .map_err(|e| SpeechError::Refused(format!("not a transcription answer: {e}")))?;
    let ms = |secs: f64| (secs.max(0.0) * 1000.0).round().min(f64::from(u32::MAX)) as u32;
    let words = answer
        .words
        .into_iter()
        .filter(|w| w.start.is_finite() && w.end.is_finite())
        .map(|w| (w.word.trim().to_owned(), ms(w.start), ms(w.end)))
        .filter(|(w, _, _)| !w.is_empty())
        .collect();
    Ok(Heard {
        text: answer.text.trim().to_owned(),
        words,
        language: answer.language.or_else(|| configured.map(str::to_owned)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_and_plain_answers_are_read_and_garbage_is_refused() {
        let body = r#"{"task":"transcribe","language":"english","duration":2.1,
            "text":" Hello there ","words":[{"word":" Hello","start":0.12,"end":0.5},
            {"word":"there","start":0.52,"end":0.9},{"word":"x","start":"NaN","end":1}]}"#;
        // A word with a non-number time makes the whole answer unreadable: refused, not panicked.
        assert!(matches!(heard(body, None), Err(SpeechError::Refused(_))));
        let body = r#"{"language":"english","text":" Hello there ","words":[
            {"word":" Hello","start":0.12,"end":0.5},{"word":"there","start":0.52,"end":0.9}]}"#;
        let h = heard(body, None).unwrap();
        assert_eq!(h.text, "Hello there");
        assert_eq!(
            h.words,
            [("Hello".into(), 120, 500), ("there".into(), 520, 900)]
        );
        assert_eq!(h.language.as_deref(), Some("english"));
        let plain = heard(r#"{"text":"привет"}"#, Some("ru")).unwrap();
        assert_eq!(
            (plain.text.as_str(), plain.language.as_deref()),
            ("привет", Some("ru"))
        );
        assert!(plain.words.is_empty());
        assert!(heard("<html>502</html>", None).is_err());
    }
}
