//! A prompt: audio calltrack plays to a caller. Loaded once from a WAV file or a built-in
//! (`prompt_builtin.rs`): any channel count is mixed down to mono, any rate resampled to
//! 8 kHz (`resample.rs`), any integer or float sample format scaled to 16 bits; then encoded
//! for the codec the call negotiated (PCMU or PCMA, `g711.rs`) and handed to the player.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use hound::{SampleFormat, WavReader};

use super::g711;
use super::prompt_builtin;
use super::resample::{PROMPT_RATE_HZ, ResampleError, to_prompt_rate};

/// The G.711 codecs a prompt is encoded for (RFC 3551 §4.5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The codec of static payload type `pt`, if it is G.711.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
}

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("not a WAV file: {0}")]
    NotWav(#[from] hound::Error),
    #[error("{0}")]
    Resample(#[from] ResampleError),
    #[error("no built-in prompt {name:?} in language {language:?}")]
    UnknownBuiltin { language: String, name: String },
    #[error("the file holds no audio")]
    Empty,
}

/// Mono 16-bit audio at 8 kHz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    samples: Vec<i16>,
}

impl Prompt {
    /// A setting's prompt: a built-in name in `language`, or a WAV file (`prompt_builtin::is_path`).
    pub fn load(setting: &str, language: &str) -> Result<Prompt, PromptError> {
        if prompt_builtin::is_path(setting) {
            return Prompt::from_file(Path::new(setting));
        }
        let wav = prompt_builtin::builtin(language, setting).ok_or_else(|| {
            PromptError::UnknownBuiltin {
                language: language.to_owned(),
                name: setting.to_owned(),
            }
        })?;
        Prompt::from_wav(wav)
    }

    pub fn from_file(path: &Path) -> Result<Prompt, PromptError> {
        let bytes = std::fs::read(path).map_err(|source| PromptError::Unreadable {
            path: path.display().to_string(),
            source,
        })?;
        Prompt::from_wav(&bytes)
    }

    /// A WAV file's bytes: mixed to mono, resampled to 8 kHz.
    pub fn from_wav(bytes: &[u8]) -> Result<Prompt, PromptError> {
        let mut reader = WavReader::new(Cursor::new(bytes))?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let interleaved = read_normalised(&mut reader)?;
        let mono: Vec<f32> = interleaved
            .chunks(channels)
            .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
            .collect();
        if mono.is_empty() {
            return Err(PromptError::Empty);
        }
        let resampled = to_prompt_rate(&mono, spec.sample_rate)?;
        Ok(Prompt::from_samples(
            resampled.iter().map(|s| to_i16(*s)).collect(),
        ))
    }

    /// 8 kHz mono samples as they are.
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        Prompt { samples }
    }

    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(PROMPT_RATE_HZ))
    }

    /// The prompt as `codec` bytes, one per sample.
    pub fn encode(&self, codec: Codec) -> Vec<u8> {
        let encode = match codec {
            Codec::Pcmu => g711::encode_ulaw,
            Codec::Pcma => g711::encode_alaw,
        };
        self.samples.iter().map(|s| encode(*s)).collect()
    }
}

/// Every sample of the file, interleaved, scaled to [-1, 1].
fn read_normalised(reader: &mut WavReader<Cursor<&[u8]>>) -> Result<Vec<f32>, hound::Error> {
    let spec = reader.spec();
    match spec.sample_format {
        SampleFormat::Float => reader.samples::<f32>().collect(),
        SampleFormat::Int => {
            let full_scale = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / full_scale))
                .collect()
        }
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
