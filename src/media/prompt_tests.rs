//! Loading prompts: formats, channels, rates, and files that are not prompts.

use super::*;

fn wav(spec: hound::WavSpec, frames: usize, sample: impl Fn(usize, u16) -> i32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = hound::WavWriter::new(Cursor::new(&mut bytes), spec).unwrap();
    for i in 0..frames {
        for ch in 0..spec.channels {
            writer.write_sample(sample(i, ch)).unwrap();
        }
    }
    writer.finalize().unwrap();
    bytes
}

fn spec(channels: u16, rate: u32, bits: u16) -> hound::WavSpec {
    hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    }
}

#[test]
fn an_8khz_mono_16bit_file_loads_sample_for_sample() {
    let bytes = wav(spec(1, 8000, 16), 160, |i, _| i as i32 * 100 - 8000);
    let prompt = Prompt::from_wav(&bytes).unwrap();
    assert_eq!(prompt.samples().len(), 160);
    assert_eq!(prompt.samples()[0], -7999);
    assert_eq!(prompt.duration(), Duration::from_millis(20));
}

#[test]
fn stereo_is_mixed_down_and_8bit_is_scaled() {
    let bytes = wav(
        spec(2, 8000, 16),
        80,
        |_, ch| if ch == 0 { 10_000 } else { 0 },
    );
    let prompt = Prompt::from_wav(&bytes).unwrap();
    assert!(prompt.samples().iter().all(|s| (s - 5000).abs() <= 1));
    let bytes = wav(spec(1, 8000, 8), 80, |_, _| 64);
    let prompt = Prompt::from_wav(&bytes).unwrap();
    assert!(prompt.samples().iter().all(|s| (s - 16_383).abs() <= 2));
}

#[test]
fn a_48khz_file_is_resampled_to_the_same_duration() {
    let bytes = wav(spec(1, 48_000, 16), 48_000, |i, _| {
        (8000.0 * (i as f32 * 0.05).sin()) as i32
    });
    let prompt = Prompt::from_wav(&bytes).unwrap();
    assert_eq!(prompt.samples().len(), 8000);
}

#[test]
fn encoding_follows_the_codec() {
    let prompt = Prompt::from_samples(vec![0, 1000, -1000]);
    assert_eq!(prompt.encode(Codec::Pcmu)[0], 0xff);
    assert_eq!(prompt.encode(Codec::Pcma)[0], 0xd5);
    let back: Vec<i16> = prompt
        .encode(Codec::Pcmu)
        .iter()
        .map(|b| g711::ulaw(*b))
        .collect();
    assert!((back[1] - 1000).abs() < 40 && (back[2] + 1000).abs() < 40);
    assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
    assert_eq!(Codec::from_payload_type(18), None);
}

#[test]
fn files_that_are_not_prompts_are_errors_not_panics() {
    assert!(matches!(
        Prompt::from_wav(b"RIFF\0\0"),
        Err(PromptError::NotWav(_))
    ));
    assert!(matches!(Prompt::from_wav(b""), Err(PromptError::NotWav(_))));
    let empty = wav(spec(1, 8000, 16), 0, |_, _| 0);
    assert!(matches!(Prompt::from_wav(&empty), Err(PromptError::Empty)));
    let missing = Prompt::load("/nonexistent/prompt.wav", "en");
    assert!(matches!(missing, Err(PromptError::Unreadable { .. })));
    assert!(matches!(
        Prompt::load("nope", "en"),
        Err(PromptError::UnknownBuiltin { .. })
    ));
    assert!(Prompt::load("recorded", "ru").is_ok());
}
