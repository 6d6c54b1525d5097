//! The call scorer's features and model as kept and applied: word n-grams (1-2) of each
//! channel of the redacted transcript, prefixed by the party (`c:` caller, `a:` agent), plus
//! the conversation facts (talk ratio, silence share, time to the agent's first word, length),
//! and a logistic model over them (`speech::train` fits it; `store::scoring` keeps it).
//! Pure: scoring a transcript is a dot product over the model's own vocabulary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::transcript::ConversationFacts;

/// The feature scheme's version; a model made under another one is not applied.
pub const FEATURES_VERSION: u32 = 1;

/// Names of the conversation-fact features (they never collide with n-grams, which carry a
/// party prefix).
pub const FACT_FEATURES: [&str; 4] = [
    "#caller_talk_ratio",
    "#silence_share",
    "#agent_first_word",
    "#length",
];

/// A call's features by name, as the model reads them.
pub type Features = BTreeMap<String, f64>;

/// Words of `text`: lower case, letters, digits and inner apostrophes; masked digits (`*`)
/// and punctuation split words and are dropped.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The unigrams and bigrams of one party's words, each with the party's prefix.
pub fn ngrams(prefix: &str, words: &[String]) -> Vec<String> {
    let unigrams = words.iter().map(|w| format!("{prefix}:{w}"));
    let bigrams = words
        .windows(2)
        .map(|pair| format!("{prefix}:{}_{}", pair[0], pair[1]));
    unigrams.chain(bigrams).collect()
}

/// A call's features: each distinct n-gram once, weighted so that every call's n-grams
/// together have unit length (long and short calls weigh alike), and the facts in 0..1.
pub fn features(caller: &str, agent: &str, facts: &ConversationFacts) -> Features {
    let mut grams: Vec<String> = ngrams("c", &words(caller));
    grams.extend(ngrams("a", &words(agent)));
    grams.sort_unstable();
    grams.dedup();
    let weight = if grams.is_empty() {
        0.0
    } else {
        1.0 / (grams.len() as f64).sqrt()
    };
    let mut out: Features = grams.into_iter().map(|g| (g, weight)).collect();
    for (name, value) in FACT_FEATURES.iter().zip(fact_values(facts)) {
        out.insert((*name).to_owned(), value);
    }
    out
}

/// The facts in [`FACT_FEATURES`] order, each in 0..1.
fn fact_values(f: &ConversationFacts) -> [f64; 4] {
    let talk = f64::from(f.caller_talk_ms) + f64::from(f.agent_talk_ms);
    let length_ms = (talk - f64::from(f.overlap_ms)).max(0.0) + f64::from(f.silence_ms);
    let silence = if length_ms > 0.0 {
        f64::from(f.silence_ms) / length_ms
    } else {
        1.0
    };
    let first_word = f
        .agent_first_speech_ms
        .map_or(1.0, |ms| (f64::from(ms) / 30_000.0).min(1.0));
    let length = ((length_ms / 1000.0).ln_1p() / 600f64.ln_1p()).min(1.0);
    [
        f.caller_talk_ratio.unwrap_or(0.0).clamp(0.0, 1.0),
        silence.clamp(0.0, 1.0),
        first_word,
        length,
    ]
}

/// How well a model did under k-fold cross-validation (target is the positive class).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub folds: u32,
    /// Labelled calls it was trained and validated on, and how many were target.
    pub labels: u32,
    pub targets: u32,
}

/// A fitted logistic model: P(target) = σ(intercept + Σ weight·feature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringModel {
    pub features_version: u32,
    /// Feature names, in the order of `weights`.
    pub vocabulary: Vec<String>,
    pub weights: Vec<f64>,
    pub intercept: f64,
    pub metrics: Metrics,
}

impl ScoringModel {
    /// The probability (0..1) that a call with these features is a target call.
    pub fn probability(&self, features: &Features) -> f64 {
        let z: f64 = self
            .vocabulary
            .iter()
            .zip(&self.weights)
            .filter_map(|(name, w)| features.get(name).map(|x| w * x))
            .sum();
        sigmoid(self.intercept + z)
    }

    /// Whether this model reads the current features.
    pub fn applies(&self) -> bool {
        self.features_version == FEATURES_VERSION && self.vocabulary.len() == self.weights.len()
    }
}

/// A call's score as stored beside it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub target_probability: f64,
    pub target: bool,
    /// The id of the model that scored it.
    pub model_id: i64,
}

impl Score {
    /// `model` (stored as `model_id`) applied to `features` with the `threshold`.
    pub fn of(model: &ScoringModel, model_id: i64, features: &Features, threshold: f64) -> Score {
        let p = model.probability(features);
        Score {
            target_probability: p,
            target: p >= threshold,
            model_id,
        }
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_case_and_masks_split_them() {
        assert_eq!(
            words("How much is it? Card ****-1234, don't"),
            ["how", "much", "is", "it", "card", "1234", "don't"]
        );
        assert!(words("  ...  ").is_empty());
    }

    #[test]
    fn ngrams_are_prefixed_unigrams_then_bigrams() {
        let w = words("how much now");
        assert_eq!(
            ngrams("c", &w),
            ["c:how", "c:much", "c:now", "c:how_much", "c:much_now"]
        );
        assert!(ngrams("a", &[]).is_empty());
    }

    #[test]
    fn features_have_unit_text_length_and_facts_in_range() {
        let facts = ConversationFacts {
            caller_talk_ms: 3_000,
            agent_talk_ms: 1_000,
            caller_talk_ratio: Some(0.75),
            silence_ms: 4_000,
            agent_first_speech_ms: Some(60_000),
            ..ConversationFacts::default()
        };
        let f = features("price price", "hello", &facts);
        let text: f64 = f
            .iter()
            .filter(|(k, _)| !k.starts_with('#'))
            .map(|(_, v)| v * v)
            .sum();
        assert!((text - 1.0).abs() < 1e-9, "{f:?}");
        assert_eq!(f["#caller_talk_ratio"], 0.75);
        assert_eq!(f["#silence_share"], 0.5);
        assert_eq!(f["#agent_first_word"], 1.0);
        assert!(f["#length"] > 0.0 && f["#length"] < 1.0);
        assert!(f.contains_key("c:price_price") && f.contains_key("a:hello"));
    }

    #[test]
    fn the_model_is_a_logistic_over_its_vocabulary() {
        let model = ScoringModel {
            features_version: FEATURES_VERSION,
            vocabulary: vec!["c:price".into(), "#length".into()],
            weights: vec![4.0, 0.0],
            intercept: -2.0,
            metrics: Metrics {
                accuracy: 1.0,
                precision: 1.0,
                recall: 1.0,
                folds: 5,
                labels: 50,
                targets: 25,
            },
        };
        let mut f = Features::new();
        assert!(model.probability(&f) < 0.2);
        f.insert("c:price".into(), 1.0);
        f.insert("c:unknown".into(), 1.0);
        let score = Score::of(&model, 7, &f, 0.5);
        assert!(score.target && score.target_probability > 0.8);
        assert_eq!(score.model_id, 7);
        assert!(model.applies());
    }
}
