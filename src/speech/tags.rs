//! Keyword tags: a call gets each `[[speech.tags]]` whose phrase occurs in its transcript (in
//! the party's words the tag looks at), matched word by word, case-insensitively, with `*`
//! standing for any letters inside a word (`deliver*` matches "delivery" and "delivered").

use wildmatch::WildMatch;

use crate::config::{SpeechTag, TagParty};

/// The names of the tags said in the call, in config order.
pub fn matching(tags: &[SpeechTag], caller_text: &str, agent_text: &str) -> Vec<String> {
    let caller = words(caller_text);
    let agent = words(agent_text);
    tags.iter()
        .filter(|tag| {
            let parties: &[&[String]] = match tag.party {
                TagParty::Any => &[&caller, &agent],
                TagParty::Caller => &[&caller],
                TagParty::Agent => &[&agent],
            };
            tag.phrases
                .iter()
                .any(|phrase| parties.iter().any(|said| contains(said, phrase)))
        })
        .map(|tag| tag.name.clone())
        .collect()
}

/// Lower-case words without the punctuation around them.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `phrase`'s word patterns occur one after another in `said`.
fn contains(said: &[String], phrase: &[String]) -> bool {
    let patterns: Vec<WildMatch> = phrase.iter().map(|p| WildMatch::new(p)).collect();
    said.windows(patterns.len().max(1)).any(|window| {
        window
            .iter()
            .zip(&patterns)
            .all(|(word, pattern)| pattern.matches(word))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, phrases: &[&str], party: TagParty) -> SpeechTag {
        SpeechTag {
            name: name.into(),
            phrases: phrases
                .iter()
                .map(|p| p.split(' ').map(str::to_lowercase).collect())
                .collect(),
            party,
        }
    }

    #[test]
    fn phrases_match_word_by_word_with_wildcards_and_parties() {
        let tags = [
            tag("price", &["how much", "*price*"], TagParty::Any),
            tag("delivery", &["deliver*"], TagParty::Caller),
            tag("wrong number", &["wrong number"], TagParty::Any),
            tag("greeting", &["good afternoon"], TagParty::Agent),
            tag("доставка", &["доставк*"], TagParty::Any),
        ];
        let said = matching(
            &tags,
            "Hello! How much is it, and do you deliver? Доставка есть?",
            "Good afternoon, the prices start at 100.",
        );
        assert_eq!(said, ["price", "delivery", "greeting", "доставка"]);
        // "number" and "wrong" apart are not the phrase; the agent saying it does not tag the
        // caller-only tag.
        let said = matching(&tags, "wrong, the number", "delivered tomorrow");
        assert!(said.is_empty(), "{said:?}");
    }
}
