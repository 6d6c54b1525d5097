//! The embedded engine: CMU PocketSphinx with its US English model (Debian
//! `libpocketsphinx3` and `pocketsphinx-en-us`), offline, on the default install. The
//! library is loaded at run time (`pocketsphinx_ffi`); decoders are pooled (one per worker at
//! most; making one loads the model, about a second). Calls are 8 kHz and the model is 16 kHz:
//! each channel is resampled (`rubato`) before decoding.

use std::sync::{Arc, Mutex, PoisonError};

use super::SpeechError;
use super::audio::MonoWav;
use super::pocketsphinx_ffi::{Decoder, Segment, Sphinx};
use super::transcript::Heard;
use crate::config::SpeechSphinxConfig;

/// The model's sample rate.
const MODEL_RATE_HZ: u32 = 16_000;
/// One frame of the decoder, in milliseconds (`-frate 100`).
const FRAME_MS: i32 = 10;

/// The engine: the loaded library, the model and idle decoders.
pub struct SphinxEngine {
    sphinx: Arc<Sphinx>,
    config: SpeechSphinxConfig,
    idle: Mutex<Vec<Decoder>>,
}

impl std::fmt::Debug for SphinxEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SphinxEngine")
            .field("config", &self.config)
            .finish()
    }
}

impl SphinxEngine {
    /// Loads the library and makes a first decoder (which checks the model).
    pub fn new(config: SpeechSphinxConfig) -> Result<SphinxEngine, SpeechError> {
        let sphinx = Sphinx::load(&config.library).map_err(refused)?;
        let engine = SphinxEngine {
            sphinx,
            config,
            idle: Mutex::new(Vec::new()),
        };
        let first = engine.decoder()?;
        engine.put_back(first);
        Ok(engine)
    }

    pub fn config(&self) -> &SpeechSphinxConfig {
        &self.config
    }

    /// What the model hears in one party's audio (blocking: run it off the async threads).
    pub fn transcribe_blocking(&self, audio: &MonoWav) -> Result<Heard, SpeechError> {
        let samples = at_model_rate(audio)?;
        let mut decoder = self.decoder()?;
        let decoded = decoder.decode(&samples);
        self.put_back(decoder);
        let (text, segments) = decoded.map_err(|e| SpeechError::Unavailable(e.to_string()))?;
        Ok(Heard {
            text: text.trim().to_owned(),
            words: words(segments),
            language: Some("en".to_owned()),
        })
    }

    fn decoder(&self) -> Result<Decoder, SpeechError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(decoder) => Ok(decoder),
            None => {
                let [hmm, lm, dict] = self
                    .config
                    .model_files()
                    .map(|p| p.to_string_lossy().into_owned());
                let args = [
                    ("-hmm", hmm.as_str()),
                    ("-lm", lm.as_str()),
                    ("-dict", dict.as_str()),
                    ("-samprate", "16000"),
                    ("-logfn", "/dev/null"),
                    // Telephone audio resampled to 16 kHz leaves the model's filters above
                    // 4 kHz almost empty, and their logarithms then swing with the last bit
                    // of the input (unseeded dither in the source moved the word error rate
                    // between 0.72 and 0.93). Half a bit of seeded noise steadies them and
                    // keeps a decode repeatable: 0.55-0.66 on the same audio (see the test).
                    ("-dither", "yes"),
                    ("-seed", "1"),
                ];
                Decoder::new(self.sphinx.clone(), &args).map_err(refused)
            }
        }
    }

    fn put_back(&self, decoder: Decoder) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(decoder);
    }
}

fn refused(e: super::pocketsphinx_ffi::SphinxError) -> SpeechError {
    SpeechError::Refused(e.to_string())
}

/// The channel's samples at 16 kHz.
fn at_model_rate(audio: &MonoWav) -> Result<Vec<i16>, SpeechError> {
    let pcm: Vec<f32> = audio
        .pcm()?
        .iter()
        .map(|&s| f32::from(s) / 32_768.0)
        .collect();
    let resampled = crate::media::resample::resample(&pcm, audio.rate, MODEL_RATE_HZ)
        .map_err(SpeechError::audio)?;
    Ok(resampled
        .into_iter()
        .map(|s| (s * 32_767.0).clamp(-32_768.0, 32_767.0) as i16)
        .collect())
}

/// Words with their times: fillers (`<s>`, `<sil>`, `[NOISE]`, `++UH++`) dropped, alternate
/// pronunciations (`read(2)`) named by their word.
fn words(segments: Vec<Segment>) -> Vec<(String, u32, u32)> {
    let ms = |frame: i32| u32::try_from(frame.max(0).saturating_mul(FRAME_MS)).unwrap_or(0);
    segments
        .into_iter()
        .filter(|(w, _, _)| !w.starts_with(['<', '[', '+']))
        .map(|(w, start, end)| {
            let word = w.split('(').next().unwrap_or(&w).to_owned();
            (word, ms(start), ms(end + 1))
        })
        .filter(|(w, _, _)| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fillers_go_and_alternates_keep_their_word() {
        let segs = vec![
            ("<s>".to_owned(), 0, 5),
            ("hello".to_owned(), 6, 40),
            ("<sil>".to_owned(), 41, 50),
            ("read(2)".to_owned(), 51, 80),
            ("[NOISE]".to_owned(), 81, 90),
            ("</s>".to_owned(), 91, 99),
        ];
        assert_eq!(
            words(segs),
            [("hello".to_owned(), 60, 410), ("read".to_owned(), 510, 810)]
        );
    }
}
