//! A stereo call recording split into one mono WAV per party (caller left, agent right), as
//! transcription engines take them: 16-bit PCM at the recording's rate.

use std::io::Cursor;
use std::path::Path;

use super::SpeechError;
use super::transcript::Channel;

/// One party's audio as a complete mono WAV file in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonoWav {
    pub channel: Channel,
    pub bytes: Vec<u8>,
    /// Samples per second.
    pub rate: u32,
    /// Samples per channel.
    pub samples: usize,
    /// The loudest sample's magnitude.
    pub peak: u16,
}

/// Reads the recording at `path` and splits it. A mono file is taken as the caller alone.
pub fn split_recording(path: &Path) -> Result<Vec<MonoWav>, SpeechError> {
    let reader = hound::WavReader::open(path).map_err(SpeechError::audio)?;
    split(reader)
}

/// Splits a stereo (or mono) 16-bit WAV read from memory.
pub fn split_bytes(bytes: &[u8]) -> Result<Vec<MonoWav>, SpeechError> {
    split(hound::WavReader::new(Cursor::new(bytes)).map_err(SpeechError::audio)?)
}

fn split<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Vec<MonoWav>, SpeechError> {
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(SpeechError::Audio(format!(
            "{}-bit {:?} audio: recordings are 16-bit PCM",
            spec.bits_per_sample, spec.sample_format
        )));
    }
    let channels = usize::from(spec.channels.clamp(1, 2));
    let mut parts: Vec<Vec<i16>> = vec![Vec::new(); channels];
    let width = usize::from(spec.channels.max(1));
    for (i, sample) in reader.into_samples::<i16>().enumerate() {
        let sample = sample.map_err(SpeechError::audio)?;
        if let Some(part) = parts.get_mut(i % width) {
            part.push(sample);
        }
    }
    parts
        .into_iter()
        .zip(Channel::BOTH)
        .map(|(samples, channel)| mono_wav(channel, spec.sample_rate, &samples))
        .collect()
}

fn mono_wav(channel: Channel, rate: u32, samples: &[i16]) -> Result<MonoWav, SpeechError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec).map_err(SpeechError::audio)?;
        for &s in samples {
            writer.write_sample(s).map_err(SpeechError::audio)?;
        }
        writer.finalize().map_err(SpeechError::audio)?;
    }
    Ok(MonoWav {
        channel,
        bytes: bytes.into_inner(),
        rate,
        samples: samples.len(),
        peak: samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0),
    })
}

impl MonoWav {
    /// Whether the party made any sound at all (a silent channel is not sent to an engine).
    pub fn is_silent(&self) -> bool {
        self.peak < SILENCE_PEAK
    }

    /// The samples.
    pub fn pcm(&self) -> Result<Vec<i16>, SpeechError> {
        hound::WavReader::new(Cursor::new(&self.bytes))
            .map_err(SpeechError::audio)?
            .into_samples::<i16>()
            .map(|s| s.map_err(SpeechError::audio))
            .collect()
    }

    /// Seconds of audio.
    pub fn secs(&self) -> f64 {
        self.samples as f64 / f64::from(self.rate.max(1))
    }
}

/// Below this peak (about -50 dBFS) a channel is silence or line noise.
const SILENCE_PEAK: u16 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo(left: &[i16], right: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut bytes = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for (l, r) in left.iter().zip(right) {
            w.write_sample(*l).unwrap();
            w.write_sample(*r).unwrap();
        }
        w.finalize().unwrap();
        bytes.into_inner()
    }

    #[test]
    fn left_is_the_caller_and_right_the_agent() {
        let parts = split_bytes(&stereo(&[1000, -1000, 7], &[0, 0, 0])).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].channel, Channel::Caller);
        assert_eq!(parts[0].samples, 3);
        let caller = hound::WavReader::new(Cursor::new(&parts[0].bytes)).unwrap();
        assert_eq!(caller.spec().channels, 1);
        let samples: Vec<i16> = caller.into_samples().map(Result::unwrap).collect();
        assert_eq!(samples, [1000, -1000, 7]);
        assert!(!parts[0].is_silent());
        assert!(parts[1].is_silent());
    }

    #[test]
    fn what_is_not_a_recording_is_an_error() {
        assert!(split_bytes(b"RIFF....WAVEjunk").is_err());
        assert!(split_bytes(b"").is_err());
    }
}
