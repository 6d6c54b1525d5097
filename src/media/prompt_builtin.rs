//! calltrack's built-in prompts (`assets/prompts/{en,ru}/*.wav`, made by
//! `assets/prompts/make.sh` with espeak-ng and sox), embedded so that announcements and menus
//! work without any audio file configured. A prompt setting that is not a path (no `/`, no
//! `.wav`) names one of these.

/// The languages the built-in prompts are spoken in.
pub const LANGUAGES: [&str; 2] = ["en", "ru"];

/// The names of the built-in prompts.
pub const NAMES: [&str; 6] = [
    "menu",
    "recorded",
    "invalid",
    "voicemail",
    "beep",
    "enter_code",
];

macro_rules! prompts {
    ($lang:literal) => {
        [
            include_bytes!(concat!("../../assets/prompts/", $lang, "/menu.wav")).as_slice(),
            include_bytes!(concat!("../../assets/prompts/", $lang, "/recorded.wav")).as_slice(),
            include_bytes!(concat!("../../assets/prompts/", $lang, "/invalid.wav")).as_slice(),
            include_bytes!(concat!("../../assets/prompts/", $lang, "/voicemail.wav")).as_slice(),
            include_bytes!(concat!("../../assets/prompts/", $lang, "/beep.wav")).as_slice(),
            include_bytes!(concat!("../../assets/prompts/", $lang, "/enter_code.wav")).as_slice(),
        ]
    };
}

const EN: [&[u8]; 6] = prompts!("en");
const RU: [&[u8]; 6] = prompts!("ru");

/// Whether a prompt setting names a file rather than a built-in prompt.
pub fn is_path(setting: &str) -> bool {
    setting.contains('/') || setting.to_ascii_lowercase().ends_with(".wav")
}

/// The WAV bytes of built-in prompt `name` in `language`.
pub fn builtin(language: &str, name: &str) -> Option<&'static [u8]> {
    let index = NAMES.iter().position(|n| *n == name)?;
    match language {
        "en" => EN.get(index).copied(),
        "ru" => RU.get(index).copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::prompt::Prompt;

    #[test]
    fn every_builtin_loads_as_8khz_audio_of_a_few_seconds_at_most() {
        for language in LANGUAGES {
            for name in NAMES {
                let wav = builtin(language, name).unwrap_or_default();
                let prompt = Prompt::from_wav(wav);
                let secs = prompt.as_ref().map(|p| p.duration().as_secs_f32());
                assert!(
                    matches!(secs, Ok(s) if s > 0.2 && s < 6.0),
                    "{language}/{name}: {secs:?}"
                );
            }
        }
    }

    #[test]
    fn unknown_names_and_paths_are_told_apart() {
        assert!(builtin("en", "nope").is_none());
        assert!(builtin("de", "menu").is_none());
        assert!(is_path("prompts/recorded.wav"));
        assert!(is_path("hello.WAV"));
        assert!(!is_path("recorded"));
    }
}
