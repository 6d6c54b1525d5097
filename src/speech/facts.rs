//! Conversation facts from the two channels of a recorded call: how long each party talked,
//! the silence and the overlaps (interruptions) between them, when the agent first spoke, and
//! the phone numbers and e-mail addresses the caller said.
//!
//! Timing comes from the audio itself, not from an engine, so it is the same for every engine:
//! a 20-ms frame is speech when its RMS level is above [`SPEECH_RMS`] (about -40 dBFS), and a
//! party keeps talking through pauses shorter than [`HANGOVER_FRAMES`] frames.

use super::redact::digit_runs;
pub use crate::call::transcript::ConversationFacts;

/// A frame is 20 ms.
const FRAME_MS: u32 = 20;
/// RMS above this is speech (16-bit full scale is 32 767: about -40 dBFS).
const SPEECH_RMS: f64 = 330.0;
/// Pauses up to this many frames (200 ms) are still talking.
const HANGOVER_FRAMES: usize = 10;
/// Both parties talking for at least this many frames (300 ms) is one interruption.
const OVERLAP_FRAMES: usize = 15;

/// Facts of one call: the two channels' samples at `rate` and the caller's text as heard
/// (before redaction: the numbers are kept here on purpose, masked everywhere else).
pub fn conversation(
    caller: &[i16],
    agent: &[i16],
    rate: u32,
    caller_text: &str,
) -> ConversationFacts {
    let (c, a) = (talking(caller, rate), talking(agent, rate));
    let frames = c.len().max(a.len());
    let at = |v: &[bool], i: usize| v.get(i).copied().unwrap_or(false);
    let (mut silence, mut overlap, mut interruptions, mut run) = (0u32, 0u32, 0u32, 0usize);
    for i in 0..frames {
        let (ci, ai) = (at(&c, i), at(&a, i));
        silence += u32::from(!ci && !ai);
        if ci && ai {
            overlap += 1;
            run += 1;
            if run == OVERLAP_FRAMES {
                interruptions += 1;
            }
        } else {
            run = 0;
        }
    }
    let count = |v: &[bool]| v.iter().filter(|&&t| t).count() as u32;
    let (caller_frames, agent_frames) = (count(&c), count(&a));
    let total = caller_frames + agent_frames;
    ConversationFacts {
        caller_talk_ms: caller_frames * FRAME_MS,
        agent_talk_ms: agent_frames * FRAME_MS,
        caller_talk_ratio: (total > 0).then(|| f64::from(caller_frames) / f64::from(total)),
        silence_ms: silence * FRAME_MS,
        overlap_ms: overlap * FRAME_MS,
        interruptions,
        agent_first_speech_ms: a.iter().position(|&t| t).map(|i| i as u32 * FRAME_MS),
        caller_phones: phones(caller_text),
        caller_emails: emails(caller_text),
    }
}

/// Phone numbers in the caller's words: digit runs of 7 to 15 digits (E.164's longest) that
/// are not card numbers (13 to 19 digits passing the Luhn check are never kept).
fn phones(text: &str) -> Vec<String> {
    digit_runs(text)
        .into_iter()
        .filter(|d| d.len() <= 15 && !(d.len() >= 13 && luhn(d)))
        .collect()
}

/// The Luhn check of payment card numbers (ISO/IEC 7812-1).
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Per 20-ms frame: is the party talking (speech, or a short pause inside speech)?
fn talking(samples: &[i16], rate: u32) -> Vec<bool> {
    let frame = (rate as usize * FRAME_MS as usize / 1000).max(1);
    let loud: Vec<bool> = samples
        .chunks(frame)
        .map(|f| {
            let energy: f64 = f.iter().map(|&s| f64::from(s).powi(2)).sum();
            (energy / f.len() as f64).sqrt() > SPEECH_RMS
        })
        .collect();
    let mut out = loud.clone();
    let mut last_loud: Option<usize> = None;
    for (i, &is_loud) in loud.iter().enumerate() {
        if is_loud {
            if let Some(prev) = last_loud.filter(|&p| i - p <= HANGOVER_FRAMES) {
                out[prev..i].iter_mut().for_each(|t| *t = true);
            }
            last_loud = Some(i);
        }
    }
    out
}

/// E-mail addresses written (`a@b.ru`) or spoken (`ivan at mail dot ru`, `иван собака mail
/// точка ru`).
fn emails(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| ",;:!?()\"'".contains(c))
                .to_lowercase()
        })
        .collect();
    let mut found: Vec<String> = words
        .iter()
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| is_email(w))
        .map(str::to_owned)
        .collect();
    for (i, w) in words.iter().enumerate() {
        if !matches!(w.as_str(), "at" | "собака") || i == 0 {
            continue;
        }
        let mut address = format!("{}@", words[i - 1]);
        let mut rest = words[i + 1..].iter();
        let Some(host) = rest.next() else { continue };
        address.push_str(host.trim_end_matches('.'));
        while let (Some(dot), Some(part)) = (rest.next(), rest.clone().next()) {
            if !matches!(dot.as_str(), "dot" | "точка") {
                break;
            }
            address.push('.');
            address.push_str(part.trim_end_matches('.'));
            rest.next();
        }
        if is_email(&address) {
            found.push(address);
        }
    }
    found.dedup();
    found
}

fn is_email(w: &str) -> bool {
    let Some((local, domain)) = w.split_once('@') else {
        return false;
    };
    let fine =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "._-+".contains(c));
    fine(local) && fine(domain) && domain.contains('.') && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a 440 Hz tone (speech stand-in) or silence at 8 kHz.
    fn part(ms: usize, loud: bool) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| {
                let x = (i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin();
                if loud { (x * 8000.0) as i16 } else { 0 }
            })
            .collect()
    }

    fn cat(parts: &[(usize, bool)]) -> Vec<i16> {
        parts
            .iter()
            .flat_map(|&(ms, loud)| part(ms, loud))
            .collect()
    }

    #[test]
    fn talk_silence_overlap_and_first_speech_from_the_audio() {
        // Caller talks 0-2 s, agent from 1.5 s to 3 s (0.5 s overlap), then 1 s of silence.
        let caller = cat(&[(2000, true), (2000, false)]);
        let agent = cat(&[(1500, false), (1500, true), (1000, false)]);
        let f = conversation(&caller, &agent, 8000, "");
        assert_eq!((f.caller_talk_ms, f.agent_talk_ms), (2000, 1500));
        assert_eq!((f.overlap_ms, f.interruptions), (500, 1));
        assert_eq!(f.silence_ms, 1000);
        assert_eq!(f.agent_first_speech_ms, Some(1500));
        assert!((f.caller_talk_ratio.unwrap() - 2000.0 / 3500.0).abs() < 1e-9);
    }

    #[test]
    fn short_pauses_are_still_talking_and_silence_is_nobody() {
        let caller = cat(&[(500, true), (100, false), (500, true)]);
        let f = conversation(&caller, &[], 8000, "");
        assert_eq!(f.caller_talk_ms, 1100);
        assert_eq!((f.agent_talk_ms, f.agent_first_speech_ms), (0, None));
        let quiet = conversation(&[], &[], 8000, "");
        assert_eq!(quiet.caller_talk_ratio, None);
    }

    #[test]
    fn numbers_and_addresses_the_caller_said() {
        let f = conversation(
            &[],
            &[],
            8000,
            "my number is 8 916 111 22 33, mail ivan.petrov@mail.ru or anna at yandex dot ru.",
        );
        assert_eq!(f.caller_phones, ["89161112233"]);
        assert_eq!(f.caller_emails, ["ivan.petrov@mail.ru", "anna@yandex.ru"]);
        let card = conversation(
            &[],
            &[],
            8000,
            "card 4111 1111 1111 1111 and 4000 0000 0000 0002",
        );
        assert!(card.caller_phones.is_empty(), "{:?}", card.caller_phones);
        let ru = conversation(&[], &[], 8000, "пишите иван собака mail точка ru");
        assert_eq!(ru.caller_emails, ["иван@mail.ru"]);
    }
}
