//! Merging what an engine heard on each channel into the call's transcript
//! ([`crate::call::transcript`]), masking digits on the way.

pub use crate::call::transcript::{Channel, Transcript, Word};

/// What an engine heard on one channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heard {
    pub text: String,
    /// Word times, when the engine gives them (in order).
    pub words: Vec<(String, u32, u32)>,
    /// The language the engine detected or was told.
    pub language: Option<String>,
}

/// Both channels' results merged into a transcript; with `redact`, long digit runs are masked
/// in text and words alike (`speech::redact`) before anything is kept.
pub fn merge(caller: Heard, agent: Heard, redact: bool) -> Transcript {
    let language = caller.language.clone().or_else(|| agent.language.clone());
    let mut words = Vec::new();
    let mut texts = Vec::new();
    for (channel, heard) in [(Channel::Caller, caller), (Channel::Agent, agent)] {
        let mut mine: Vec<Word> = heard
            .words
            .into_iter()
            .map(|(word, start_ms, end_ms)| Word {
                channel,
                word,
                start_ms,
                end_ms,
            })
            .collect();
        let mut text = heard.text.trim().to_owned();
        if redact {
            super::redact::redact_words(mine.iter_mut().map(|w| &mut w.word));
            text = super::redact::redact_text(&text);
        }
        words.extend(mine);
        texts.push(text);
    }
    words.sort_by_key(|w| (w.start_ms, w.channel == Channel::Agent));
    let agent = texts.pop().unwrap_or_default();
    let caller = texts.pop().unwrap_or_default();
    Transcript {
        caller,
        agent,
        language,
        words,
        ..Transcript::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_merge_by_time_and_digits_are_masked_in_both_forms() {
        let caller = Heard {
            text: "My card is 4111 1111 1111 1111.".into(),
            words: [
                ("My", 0),
                ("card", 200),
                ("is", 400),
                ("4111", 600),
                ("1111", 800),
                ("1111", 1000),
                ("1111.", 1200),
            ]
            .into_iter()
            .map(|(w, t)| (w.to_owned(), t, t + 150))
            .collect(),
            language: Some("en".into()),
        };
        let agent = Heard {
            text: "Thank you".into(),
            words: vec![("Thank".into(), 300, 450), ("you".into(), 500, 600)],
            language: None,
        };
        let t = merge(caller, agent, true);
        assert_eq!(t.caller, "My card is **** **** **** ****.");
        assert_eq!(t.agent, "Thank you");
        assert_eq!(t.language.as_deref(), Some("en"));
        let order: Vec<&str> = t.words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(
            order,
            [
                "My", "card", "Thank", "is", "you", "****", "****", "****", "****."
            ]
        );
        assert!(!serde_json::to_string(&t.words).unwrap().contains("4111"));
    }
}
