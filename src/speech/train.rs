//! Training the call scorer on the company's own labels: a vocabulary of the n-grams seen in
//! at least two labelled calls (the most frequent [`MAX_VOCABULARY`]), an L2-regularised
//! logistic regression (smartcore, L-BFGS) over them and the conversation facts, k-fold
//! cross-validated accuracy, precision and recall, and whether the new model replaces the
//! current one (only when its CV accuracy is not worse). Pure: samples in, model out.

use std::collections::HashMap;

use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use crate::call::scoring::{FEATURES_VERSION, Features, Metrics, ScoringModel};

/// Most n-grams a model keeps.
pub const MAX_VOCABULARY: usize = 5_000;
/// An n-gram must occur in this many labelled calls to be kept.
pub const MIN_DOCUMENTS: usize = 2;
/// Folds of the cross-validation (fewer when there are fewer calls).
pub const FOLDS: usize = 5;
/// The L2 penalty.
const ALPHA: f64 = 0.05;

/// One labelled call's features.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub call_id: String,
    pub features: Features,
    pub target: bool,
}

/// Why no model was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("{found} labelled calls with a transcript, at least {needed} needed")]
    TooFewLabels { found: usize, needed: usize },
    #[error("every labelled call is {0}; label some calls of the other kind too")]
    OneClass(&'static str),
    #[error("the fit failed: {0}")]
    Fit(String),
}

/// Fits a model on every sample and cross-validates the same procedure with `FOLDS` folds
/// (fold `i` holds the samples at `i`, `i + k`, ... in call-id order, so the split is the
/// same on every run). At least `min_labels` samples of both kinds are needed.
pub fn train(mut samples: Vec<Sample>, min_labels: usize) -> Result<ScoringModel, TrainError> {
    if samples.len() < min_labels.max(2) {
        return Err(TrainError::TooFewLabels {
            found: samples.len(),
            needed: min_labels.max(2),
        });
    }
    let targets = samples.iter().filter(|s| s.target).count();
    if targets == 0 {
        return Err(TrainError::OneClass("not target"));
    }
    if targets == samples.len() {
        return Err(TrainError::OneClass("target"));
    }
    samples.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    let metrics = cross_validate(&samples)?;
    let mut model = fit(&samples)?;
    model.metrics = metrics;
    Ok(model)
}

/// The model fitted on `samples` (metrics left empty).
fn fit(samples: &[Sample]) -> Result<ScoringModel, TrainError> {
    let vocabulary = vocabulary(samples);
    let index: HashMap<&str, usize> = vocabulary
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let rows: Vec<Vec<f64>> = samples.iter().map(|s| row(&s.features, &index)).collect();
    let x = DenseMatrix::from_2d_vec(&rows).map_err(|e| TrainError::Fit(e.to_string()))?;
    let y: Vec<i32> = samples.iter().map(|s| i32::from(s.target)).collect();
    let params = LogisticRegressionParameters::default().with_alpha(ALPHA);
    let lr = LogisticRegression::fit(&x, &y, params).map_err(|e| TrainError::Fit(e.to_string()))?;
    let weights: Vec<f64> = (0..vocabulary.len())
        .map(|j| *smartcore::linalg::basic::arrays::Array::get(lr.coefficients(), (0, j)))
        .collect();
    let intercept = *smartcore::linalg::basic::arrays::Array::get(lr.intercept(), (0, 0));
    Ok(ScoringModel {
        features_version: FEATURES_VERSION,
        vocabulary,
        weights,
        intercept,
        metrics: Metrics {
            accuracy: 0.0,
            precision: 0.0,
            recall: 0.0,
            folds: 0,
            labels: count(samples.len()),
            targets: count(samples.iter().filter(|s| s.target).count()),
        },
    })
}

/// The n-grams in at least [`MIN_DOCUMENTS`] samples, the most frequent first (ties by
/// name), at most [`MAX_VOCABULARY`]; then every fact feature.
fn vocabulary(samples: &[Sample]) -> Vec<String> {
    let mut documents: HashMap<&str, usize> = HashMap::new();
    for s in samples {
        for name in s.features.keys().filter(|k| !k.starts_with('#')) {
            *documents.entry(name).or_default() += 1;
        }
    }
    let mut grams: Vec<(&str, usize)> = documents
        .into_iter()
        .filter(|(_, n)| *n >= MIN_DOCUMENTS)
        .collect();
    grams.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let facts = crate::call::scoring::FACT_FEATURES.iter().copied();
    grams
        .into_iter()
        .take(MAX_VOCABULARY)
        .map(|(g, _)| g)
        .chain(facts)
        .map(str::to_owned)
        .collect()
}

fn row(features: &Features, index: &HashMap<&str, usize>) -> Vec<f64> {
    let mut row = vec![0.0; index.len()];
    for (name, value) in features {
        if let Some(&j) = index.get(name.as_str()) {
            row[j] = *value;
        }
    }
    row
}

/// Accuracy, precision and recall of models fitted on k-1 folds and scored on the one left.
fn cross_validate(samples: &[Sample]) -> Result<Metrics, TrainError> {
    let k = FOLDS.min(samples.len());
    let (mut tp, mut fp, mut tn, mut fn_) = (0u32, 0u32, 0u32, 0u32);
    for fold in 0..k {
        let (held, kept): (Vec<_>, Vec<_>) =
            samples.iter().enumerate().partition(|(i, _)| i % k == fold);
        let kept: Vec<Sample> = kept.into_iter().map(|(_, s)| s.clone()).collect();
        let model = match kept.iter().filter(|s| s.target).count() {
            0 => None,
            n if n == kept.len() => None,
            _ => Some(fit(&kept)?),
        };
        for (_, s) in held {
            let said = model
                .as_ref()
                .is_some_and(|m| m.probability(&s.features) >= 0.5);
            match (said, s.target) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, false) => tn += 1,
                (false, true) => fn_ += 1,
            }
        }
    }
    let ratio = |a: u32, b: u32| {
        if b == 0 {
            0.0
        } else {
            f64::from(a) / f64::from(b)
        }
    };
    Ok(Metrics {
        accuracy: ratio(tp + tn, tp + tn + fp + fn_),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        folds: count(k),
        labels: count(samples.len()),
        targets: count(samples.iter().filter(|s| s.target).count()),
    })
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One training over the stored labelled calls: the model, and whether it replaces `current`.
pub fn from_labels(
    calls: Vec<crate::store::scoring::LabelledCall>,
    current: Option<&Metrics>,
    min_labels: usize,
) -> Result<(ScoringModel, bool), TrainError> {
    let samples = calls
        .into_iter()
        .map(|c| Sample {
            features: crate::call::scoring::features(&c.caller, &c.agent, &c.facts),
            call_id: c.call_id,
            target: c.target,
        })
        .collect();
    let model = train(samples, min_labels)?;
    let kept = replaces(&model.metrics, current);
    Ok((model, kept))
}

/// Whether the nightly training runs at `now`: in the configured UTC `hour`, not again within
/// 20 hours of the last training, and only when labels were set since it.
pub fn nightly_due(
    hour: u8,
    now: jiff::Timestamp,
    last: Option<jiff::Timestamp>,
    new_labels: u64,
) -> bool {
    let in_hour = now.to_zoned(jiff::tz::TimeZone::UTC).hour() == i8::try_from(hour).unwrap_or(-1);
    let rested = last.is_none_or(|l| now.duration_since(l) >= jiff::SignedDuration::from_hours(20));
    in_hour && rested && new_labels > 0
}

/// Whether a newly trained model replaces the current one: when there is none, or when its
/// cross-validated accuracy is not worse.
pub fn replaces(new: &Metrics, current: Option<&Metrics>) -> bool {
    current.is_none_or(|c| new.accuracy >= c.accuracy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::scoring::features;
    use crate::call::transcript::ConversationFacts;

    fn sample(i: usize, target: bool) -> Sample {
        let caller = match (target, i % 3) {
            (true, 0) => "how much does the sofa cost can you deliver it tomorrow",
            (true, 1) => "i would like to order the red sofa what is the price",
            (true, _) => "do you have this table in stock i want to buy it",
            (false, 0) => "sorry wrong number i was calling my friend",
            (false, 1) => "congratulations you have won a free cruise press one",
            (false, _) => "wrong number sorry bye",
        };
        Sample {
            call_id: format!("call{i:03}"),
            features: features(
                caller,
                "hello how can i help you",
                &ConversationFacts::default(),
            ),
            target,
        }
    }

    fn samples(n: usize) -> Vec<Sample> {
        (0..n).map(|i| sample(i, i % 2 == 0)).collect()
    }

    #[test]
    fn separable_calls_are_learnt_and_cross_validated() {
        let model = train(samples(30), 20).unwrap();
        assert!(model.metrics.accuracy >= 0.9, "{:?}", model.metrics);
        assert_eq!((model.metrics.labels, model.metrics.targets), (30, 15));
        assert_eq!(model.metrics.folds, 5);
        assert!(model.probability(&sample(100, true).features) > 0.5);
        assert!(model.probability(&sample(101, false).features) < 0.5);
        assert!(model.vocabulary.iter().any(|v| v == "c:wrong_number"));
        assert!(model.vocabulary.ends_with(&["#length".to_owned()]));
    }

    #[test]
    fn too_few_labels_or_one_kind_make_no_model() {
        assert_eq!(
            train(samples(10), 50).unwrap_err(),
            TrainError::TooFewLabels {
                found: 10,
                needed: 50
            }
        );
        let all: Vec<Sample> = (0..6).map(|i| sample(i, true)).collect();
        assert_eq!(train(all, 2).unwrap_err(), TrainError::OneClass("target"));
    }

    #[test]
    fn the_nightly_training_runs_once_in_its_hour_when_labels_arrived() {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let now = t("2026-12-07T03:10:00Z");
        assert!(nightly_due(3, now, None, 1));
        assert!(!nightly_due(3, now, None, 0), "no new labels");
        assert!(!nightly_due(4, now, None, 5), "not its hour");
        assert!(
            !nightly_due(3, now, Some(t("2026-12-07T03:00:00Z")), 5),
            "ran already"
        );
        assert!(nightly_due(3, now, Some(t("2026-12-06T03:00:00Z")), 5));
    }

    #[test]
    fn a_new_model_replaces_the_current_only_when_not_worse() {
        let m = |accuracy| Metrics {
            accuracy,
            precision: 0.0,
            recall: 0.0,
            folds: 5,
            labels: 50,
            targets: 20,
        };
        assert!(replaces(&m(0.7), None));
        assert!(replaces(&m(0.9), Some(&m(0.9))));
        assert!(replaces(&m(0.95), Some(&m(0.9))));
        assert!(!replaces(&m(0.89), Some(&m(0.9))));
    }
}
