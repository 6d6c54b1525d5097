//! "Play a prompt, collect N digits with a timeout", sans-IO and reusable: the voice menu
//! collects one key, the overflow code and voicemail PINs several. The engine plays the
//! prompt (`player.rs`), tells the collector when it ended, and feeds it keys from RTP
//! (`dtmf.rs`) or SIP INFO (`dtmf_info.rs`) and the clock (`handle_timeout(now)`). A key
//! pressed during the prompt counts (barge-in: the engine stops the prompt).

use std::time::{Duration, Instant};

use super::dtmf::Digit;

/// What to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSpec {
    /// Collection ends once this many keys were pressed (at least 1).
    pub max_digits: usize,
    /// From the end of the prompt to the first key.
    pub first_timeout: Duration,
    /// From one key to the next.
    pub inter_digit_timeout: Duration,
    /// A key that ends the collection early and is not part of the result (`#` usually).
    pub terminator: Option<Digit>,
}

impl CollectSpec {
    /// One key, as a menu wants it.
    pub fn one_key(timeout: Duration) -> CollectSpec {
        CollectSpec {
            max_digits: 1,
            first_timeout: timeout,
            inter_digit_timeout: timeout,
            terminator: None,
        }
    }
}

/// How a collection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// `max_digits` keys, or fewer ended by the terminator.
    Digits(String),
    /// The caller stopped pressing (or never started): what was pressed, maybe nothing.
    Timeout(String),
}

/// One collection.
#[derive(Debug, Clone)]
pub struct Collector {
    spec: CollectSpec,
    digits: String,
    /// Armed once the prompt ended or a key came; `None` while the prompt plays.
    deadline: Option<Instant>,
    done: bool,
}

impl Collector {
    /// A collection whose prompt is playing now.
    pub fn new(spec: CollectSpec) -> Collector {
        Collector {
            spec,
            digits: String::new(),
            deadline: None,
            done: false,
        }
    }

    /// The prompt ended at `now`: the caller has `first_timeout` to start.
    pub fn prompt_finished(&mut self, now: Instant) {
        if !self.done && self.deadline.is_none() {
            self.deadline = Some(now + self.spec.first_timeout);
        }
    }

    /// A key at `now`; `Some` once the collection is complete.
    pub fn on_digit(&mut self, now: Instant, digit: Digit) -> Option<Collected> {
        if self.done {
            return None;
        }
        if Some(digit) == self.spec.terminator {
            return Some(self.finish(Collected::Digits));
        }
        self.digits.push(digit.as_char());
        if self.digits.chars().count() >= self.spec.max_digits.max(1) {
            return Some(self.finish(Collected::Digits));
        }
        self.deadline = Some(now + self.spec.inter_digit_timeout);
        None
    }

    /// The clock reached `now`; `Some` if the collection timed out.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Collected> {
        let deadline = self.deadline.filter(|_| !self.done)?;
        (now >= deadline).then(|| self.finish(Collected::Timeout))
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline.filter(|_| !self.done)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self, how: fn(String) -> Collected) -> Collected {
        self.done = true;
        self.deadline = None;
        how(std::mem::take(&mut self.digits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    fn code_spec() -> CollectSpec {
        CollectSpec {
            max_digits: 4,
            first_timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(3),
            terminator: Digit::from_char('#'),
        }
    }

    #[test]
    fn no_timeout_runs_while_the_prompt_plays_and_a_key_may_barge_in() {
        let t0 = Instant::now();
        let mut c = Collector::new(CollectSpec::one_key(Duration::from_secs(5)));
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(60)), None);
        assert_eq!(
            c.on_digit(t0, key('2')),
            Some(Collected::Digits("2".into()))
        );
        assert!(c.is_done());
        assert_eq!(
            c.on_digit(t0, key('3')),
            None,
            "keys after the end are ignored"
        );
    }

    #[test]
    fn the_first_timeout_starts_when_the_prompt_ends() {
        let t0 = Instant::now();
        let mut c = Collector::new(CollectSpec::one_key(Duration::from_secs(5)));
        c.prompt_finished(t0);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(c.handle_timeout(t0 + Duration::from_millis(4999)), None);
        let end = c.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(end, Some(Collected::Timeout(String::new())));
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + Duration::from_secs(9)), None);
    }

    #[test]
    fn several_digits_with_an_inter_digit_timeout_and_a_terminator() {
        let t0 = Instant::now();
        let mut c = Collector::new(code_spec());
        c.prompt_finished(t0);
        assert_eq!(c.on_digit(t0 + Duration::from_secs(1), key('4')), None);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(4)));
        assert_eq!(c.on_digit(t0 + Duration::from_secs(2), key('1')), None);
        assert_eq!(c.on_digit(t0 + Duration::from_secs(3), key('7')), None);
        let end = c.on_digit(t0 + Duration::from_secs(4), key('#'));
        assert_eq!(end, Some(Collected::Digits("417".into())));

        let mut c = Collector::new(code_spec());
        c.prompt_finished(t0);
        c.on_digit(t0, key('4'));
        c.on_digit(t0, key('1'));
        let end = c.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(end, Some(Collected::Timeout("41".into())));

        let mut c = Collector::new(code_spec());
        let keys = ['1', '2', '3', '4'].map(|k| c.on_digit(t0, key(k)));
        assert_eq!(keys[3], Some(Collected::Digits("1234".into())));
    }
}
