//! Resampling a loaded prompt to the 8 kHz of G.711, with `rubato`'s FFT resampler (done
//! once, at load: never on the packet path).

use rubato::{FftFixedIn, Resampler};

/// The rate every prompt is played at (G.711, RFC 3551 §4.5.14).
pub const PROMPT_RATE_HZ: u32 = 8000;

/// Frames handed to the resampler at a time.
const CHUNK_FRAMES: usize = 1024;

#[derive(Debug, thiserror::Error)]
#[error("cannot resample from {rate_hz} Hz: {reason}")]
pub struct ResampleError {
    pub rate_hz: u32,
    pub reason: String,
}

/// `samples` (mono, in [-1, 1]) at `rate_hz`, as 8 kHz samples of the same duration.
pub fn to_prompt_rate(samples: &[f32], rate_hz: u32) -> Result<Vec<f32>, ResampleError> {
    resample(samples, rate_hz, PROMPT_RATE_HZ)
}

/// `samples` (mono, in [-1, 1]) at `rate_hz`, as samples at `to_hz` of the same duration
/// (also used by speech engines whose models want 16 kHz).
pub fn resample(samples: &[f32], rate_hz: u32, to_hz: u32) -> Result<Vec<f32>, ResampleError> {
    if rate_hz == to_hz || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let fail = |reason: String| ResampleError { rate_hz, reason };
    let from = usize::try_from(rate_hz).map_err(|e| fail(e.to_string()))?;
    let to = usize::try_from(to_hz).map_err(|e| fail(e.to_string()))?;
    let mut resampler =
        FftFixedIn::<f32>::new(from, to, CHUNK_FRAMES, 1, 1).map_err(|e| fail(e.to_string()))?;
    let expected = samples.len() * to / from;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + CHUNK_FRAMES);
    let mut rest = samples;
    while rest.len() >= resampler.input_frames_next() {
        let (chunk, tail) = rest.split_at(resampler.input_frames_next());
        let produced = resampler
            .process(&[chunk], None)
            .map_err(|e| fail(e.to_string()))?;
        out.extend(produced.into_iter().flatten());
        rest = tail;
    }
    // The tail, then silence until the resampler's delay has come out too.
    let mut tail: Option<&[f32]> = Some(rest);
    while out.len() < expected + delay {
        let produced = resampler
            .process_partial(tail.map(|t| [t]).as_ref().map(|a| &a[..]), None)
            .map_err(|e| fail(e.to_string()))?;
        out.extend(produced.into_iter().flatten());
        tail = None;
    }
    Ok(out.into_iter().skip(delay).take(expected).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        let n = (rate as f32 * secs) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn eight_khz_passes_untouched() {
        let t = tone(8000, 440.0, 0.1);
        assert_eq!(to_prompt_rate(&t, 8000).ok(), Some(t));
    }

    #[test]
    fn a_tone_keeps_its_duration_and_pitch() {
        for rate in [16_000, 22_050, 44_100, 48_000] {
            let out = to_prompt_rate(&tone(rate, 440.0, 1.0), rate).unwrap_or_default();
            assert_eq!(out.len(), 8000, "{rate} Hz");
            let expected = tone(8000, 440.0, 1.0);
            // Away from the edges, the resampled tone is the 8 kHz tone (within a fraction
            // of a sample of alignment).
            let (a, b) = (&out[400..7600], &expected[400..7600]);
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let correlation = dot / (norm(a) * norm(b));
            assert!(correlation > 0.98, "{rate} Hz: correlation {correlation}");
        }
    }

    #[test]
    fn short_and_empty_inputs_do_not_fail() {
        assert_eq!(to_prompt_rate(&[], 16_000).map(|v| v.len()).ok(), Some(0));
        assert_eq!(
            to_prompt_rate(&[0.1; 10], 16_000).map(|v| v.len()).ok(),
            Some(5)
        );
    }
}
