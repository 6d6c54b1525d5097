//! The routing trail: what each ringing attempt of a call did (which step and target, how it
//! ended, the status it answered, when it was rung), kept on the CDR for the call journal.
//!
//! Pure data filled in by the b2bua session as the dialer's attempts start and end; `now` is
//! always a parameter. Attempt ids are the dialer's (0, 1, 2... in ringing order).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::call::record::{Disposition, rfc3339};

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrailOutcome {
    /// Still ringing when the trail was read (only seen on a live call).
    Ringing,
    /// This target answered: the call's B leg.
    Answered,
    /// The target was busy (486, 600, 603).
    Busy,
    /// Another final status (its `sip_status`).
    Failed,
    /// Rang out: its ring timeout, the step's or the whole call's.
    NoAnswer,
    /// No answer at all (no response, transport error, could not be sent).
    Unreachable,
    /// Cancelled because another attempt answered or the caller hung up.
    Cancelled,
    /// Not an attempt: calltrack's voice menu chose a branch (`target` says how, e.g.
    /// `menu 1>sales`, `menu timeout>main`; `step` is 0).
    Menu,
    /// Not an attempt: the scheme failed and the call went to voicemail (`target` is
    /// `voicemail`, `step` 0).
    Voicemail,
}

/// One attempt as kept on the CDR (`trail` JSON column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrailStep {
    /// When the attempt was rung (RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, example = "2026-11-23T03:20:00.123Z")]
    pub at: Timestamp,
    /// 1-based step of the scheme (the fallback is the step after the last).
    pub step: u32,
    /// The target as named in the config (URI or `number@gateway`).
    pub target: String,
    pub outcome: TrailOutcome,
    /// The final status the target answered with, if any.
    pub sip_status: Option<u16>,
}

/// The trail of one call while it is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trail {
    /// `(attempt id, step)` in ringing order.
    steps: Vec<(usize, TrailStep)>,
}

impl Trail {
    /// Attempt `id` was rung at `at`.
    pub fn rang(&mut self, id: usize, at: Timestamp, step: u32, target: &str) {
        // Most calls ring one or two targets, and a held call keeps its trail: grow exactly.
        self.steps.reserve_exact(1);
        self.steps.push((
            id,
            TrailStep {
                at,
                step,
                target: target.to_owned(),
                outcome: TrailOutcome::Ringing,
                sip_status: None,
            },
        ));
    }

    /// A voice menu chose a branch at `at` (`entry` as `media::menu::Choice::trail` writes it).
    pub fn menu(&mut self, at: Timestamp, entry: String) {
        let step = TrailStep {
            at,
            step: 0,
            target: entry,
            outcome: TrailOutcome::Menu,
            sip_status: None,
        };
        self.steps.push((usize::MAX, step));
    }

    /// The call went to voicemail at `at` (after every attempt ended).
    pub fn voicemail(&mut self, at: Timestamp) {
        let step = TrailStep {
            at,
            step: 0,
            target: "voicemail".to_owned(),
            outcome: TrailOutcome::Voicemail,
            sip_status: None,
        };
        self.steps.push((usize::MAX, step));
    }

    /// Attempt `id` ended; only its first ending counts (a CANCEL after a 486 stays busy).
    pub fn ended(&mut self, id: usize, outcome: TrailOutcome, sip_status: Option<u16>) {
        let open = self
            .steps
            .iter_mut()
            .find(|(i, s)| *i == id && s.outcome == TrailOutcome::Ringing);
        if let Some((_, step)) = open {
            step.outcome = outcome;
            step.sip_status = sip_status;
        }
    }

    /// Attempt `id` answered with a final status.
    pub fn answered_with(&mut self, id: usize, status: u16) {
        let outcome = match status {
            200..=299 => TrailOutcome::Answered,
            486 | 600 | 603 => TrailOutcome::Busy,
            _ => TrailOutcome::Failed,
        };
        self.ended(id, outcome, Some(status));
    }

    /// The trail as recorded when the call ends as `disposition`: attempts still ringing
    /// rang out (the call's ring timeout) or were cancelled (the caller left, shutdown).
    pub fn finish(&self, disposition: Disposition) -> Vec<TrailStep> {
        let pending = match disposition {
            Disposition::NoAnswer => TrailOutcome::NoAnswer,
            _ => TrailOutcome::Cancelled,
        };
        self.steps
            .iter()
            .map(|(_, s)| match s.outcome {
                TrailOutcome::Ringing => TrailStep {
                    outcome: pending,
                    ..s.clone()
                },
                _ => s.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn each_attempt_keeps_its_first_ending() {
        let mut trail = Trail::default();
        trail.rang(0, at("2026-11-23T03:20:00Z"), 1, "sip:a@pbx");
        trail.rang(1, at("2026-11-23T03:20:10Z"), 2, "sip:b@pbx");
        trail.rang(2, at("2026-11-23T03:20:10Z"), 2, "sip:c@pbx");
        trail.answered_with(0, 486);
        trail.ended(0, TrailOutcome::Cancelled, None);
        trail.answered_with(1, 200);
        trail.ended(2, TrailOutcome::Cancelled, None);
        let steps = trail.finish(Disposition::Answered);
        let outcomes: Vec<_> = steps.iter().map(|s| (s.outcome, s.sip_status)).collect();
        assert_eq!(
            outcomes,
            [
                (TrailOutcome::Busy, Some(486)),
                (TrailOutcome::Answered, Some(200)),
                (TrailOutcome::Cancelled, None)
            ]
        );
        assert_eq!((steps[1].step, steps[1].target.as_str()), (2, "sip:b@pbx"));
    }

    #[test]
    fn attempts_still_ringing_end_with_the_call() {
        let mut trail = Trail::default();
        trail.rang(0, at("2026-11-23T03:20:00Z"), 1, "sip:a@pbx");
        trail.answered_with(0, 503);
        trail.rang(1, at("2026-11-23T03:20:01Z"), 2, "sip:b@pbx");
        let timed_out = trail.finish(Disposition::NoAnswer);
        assert_eq!(timed_out[0].outcome, TrailOutcome::Failed);
        assert_eq!(timed_out[1].outcome, TrailOutcome::NoAnswer);
        assert_eq!(
            trail.finish(Disposition::Cancelled)[1].outcome,
            TrailOutcome::Cancelled
        );
        let json = serde_json::to_value(&timed_out[0]).unwrap();
        assert_eq!(json["at"], "2026-11-23T03:20:00.000Z");
        assert_eq!(json["outcome"], "failed");
    }
}
