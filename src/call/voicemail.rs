//! Voicemail, decided here and carried out by the b2bua: which failed calls go to voicemail
//! ([`takes`]), and the voicemail's course as a sans-IO machine (time in, steps out):
//! the greeting, the beep, then the caller's message from the beep's end until `max_secs`,
//! the caller's '#' or its BYE. The session plays, records and hangs up as told.

use std::time::{Duration, Instant};

use crate::routing::Fault;

/// Whether a call that failed with `fault` goes to voicemail (when its scheme or site has
/// one): every failure of the scheme (busy, no answer, rang out, all targets down or
/// refusing), never a caller that gave up.
pub fn takes(fault: Fault) -> bool {
    !matches!(fault, Fault::CallerCancelled)
}

/// What the session does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Play the greeting (from now).
    Greet,
    /// Play the beep (from now).
    Beep,
    /// Record the caller from now on (the greeting and the beep are over).
    Record,
    /// End the call with a BYE: the message is complete.
    HangUp(Ending),
}

/// Why a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `max_secs` was reached.
    MaxLength,
    /// The caller pressed '#'.
    Hash,
    /// The caller hung up.
    CallerLeft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Greeting(Instant),
    Beeping(Instant),
    Recording { since: Instant, until: Instant },
    Over { secs: Option<u32> },
}

/// One call's voicemail.
#[derive(Debug, Clone)]
pub struct Voicemail {
    stage: Stage,
    /// The beep's length (`None`: no beep).
    beep: Option<Duration>,
    max: Duration,
}

impl Voicemail {
    /// Starts at `now` with a greeting of `greeting` length: the first step is [`Step::Greet`].
    pub fn start(
        now: Instant,
        greeting: Duration,
        beep: Option<Duration>,
        max: Duration,
    ) -> (Voicemail, Step) {
        let stage = Stage::Greeting(now + greeting);
        (Voicemail { stage, beep, max }, Step::Greet)
    }

    /// When [`Self::handle_timeout`] is due next (`None`: over).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.stage {
            Stage::Greeting(at) | Stage::Beeping(at) => Some(at),
            Stage::Recording { until, .. } => Some(until),
            Stage::Over { .. } => None,
        }
    }

    /// The clock reached `now`: the next step, if one is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Step> {
        if self.poll_timeout().is_none_or(|due| now < due) {
            return None;
        }
        match (self.stage, self.beep) {
            (Stage::Greeting(_), Some(beep)) => {
                self.stage = Stage::Beeping(now + beep);
                Some(Step::Beep)
            }
            (Stage::Greeting(_) | Stage::Beeping(_), _) => {
                self.stage = Stage::Recording {
                    since: now,
                    until: now + self.max,
                };
                Some(Step::Record)
            }
            (Stage::Recording { .. }, _) => Some(self.end(now, Ending::MaxLength)),
            (Stage::Over { .. }, _) => None,
        }
    }

    /// The caller pressed `key`: '#' ends a message being recorded.
    pub fn handle_key(&mut self, now: Instant, key: char) -> Option<Step> {
        let recording = matches!(self.stage, Stage::Recording { .. });
        (recording && key == '#').then(|| self.end(now, Ending::Hash))
    }

    /// The caller hung up at `now`.
    pub fn caller_left(&mut self, now: Instant) -> Ending {
        self.end(now, Ending::CallerLeft);
        Ending::CallerLeft
    }

    /// Whether the message is being (or was) recorded: the beep is over.
    pub fn recorded(&self) -> bool {
        match self.stage {
            Stage::Recording { .. } => true,
            Stage::Over { secs } => secs.is_some(),
            _ => false,
        }
    }

    /// The message's length in whole seconds once over (`None`: the caller left before it
    /// started).
    pub fn secs(&self) -> Option<u32> {
        match self.stage {
            Stage::Over { secs } => secs,
            _ => None,
        }
    }

    fn end(&mut self, now: Instant, ending: Ending) -> Step {
        let secs = match self.stage {
            Stage::Recording { since, .. } => {
                let length = now.saturating_duration_since(since).min(self.max);
                Some(u32::try_from(length.as_secs()).unwrap_or(u32::MAX))
            }
            Stage::Over { secs } => secs,
            _ => None,
        };
        self.stage = Stage::Over { secs };
        Step::HangUp(ending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn greeting_then_beep_then_a_message_that_ends_at_max_secs() {
        let t0 = Instant::now();
        let (mut vm, first) = Voicemail::start(t0, 3 * S, Some(S / 2), 10 * S);
        assert_eq!(first, Step::Greet);
        assert_eq!(vm.poll_timeout(), Some(t0 + 3 * S));
        assert_eq!(vm.handle_timeout(t0 + S), None, "not due yet");
        assert_eq!(vm.handle_key(t0 + S, '#'), None, "'#' only ends a message");
        assert_eq!(vm.handle_timeout(t0 + 3 * S), Some(Step::Beep));
        assert!(!vm.recorded());
        let beep_end = t0 + 3 * S + S / 2;
        assert_eq!(vm.handle_timeout(beep_end), Some(Step::Record));
        assert!(vm.recorded());
        assert_eq!(vm.poll_timeout(), Some(beep_end + 10 * S));
        let at_max = beep_end + 10 * S;
        assert_eq!(
            vm.handle_timeout(at_max),
            Some(Step::HangUp(Ending::MaxLength))
        );
        assert_eq!(vm.secs(), Some(10));
        assert_eq!(vm.poll_timeout(), None);
        assert_eq!(vm.handle_timeout(at_max + S), None, "over is over");
    }

    #[test]
    fn without_a_beep_recording_starts_after_the_greeting_and_hash_ends_it() {
        let t0 = Instant::now();
        let (mut vm, _) = Voicemail::start(t0, 2 * S, None, 60 * S);
        assert_eq!(vm.handle_timeout(t0 + 2 * S), Some(Step::Record));
        assert_eq!(vm.handle_key(t0 + 5 * S, '1'), None);
        assert_eq!(
            vm.handle_key(t0 + 7 * S, '#'),
            Some(Step::HangUp(Ending::Hash))
        );
        assert_eq!(vm.secs(), Some(5));
    }

    #[test]
    fn a_caller_who_leaves_during_the_greeting_left_no_message() {
        let t0 = Instant::now();
        let (mut vm, _) = Voicemail::start(t0, 2 * S, Some(S), 60 * S);
        assert_eq!(vm.caller_left(t0 + S), Ending::CallerLeft);
        assert_eq!(vm.secs(), None);
        assert!(!vm.recorded());
        assert_eq!(vm.poll_timeout(), None);
    }

    #[test]
    fn only_a_caller_who_gave_up_skips_voicemail() {
        assert!(takes(Fault::Callee(486)));
        assert!(takes(Fault::RingTimeout));
        assert!(takes(Fault::Unreachable));
        assert!(!takes(Fault::CallerCancelled));
    }
}
