//! Why calls were missed (`calltrack simulate --explain`): every tracked call that was not
//! attributed right, by when it came and why it was missed, and what each lever would reach
//! if it were perfect (an oracle ceiling at the same pool size, from the same replay).

use serde::Serialize;

use super::tally::Outcome;

/// When a call came, relative to the visit that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// While the page was open.
    During,
    /// After leaving, within `freeze_secs` of leaving.
    InFreeze,
    /// After the freeze, the same day.
    AfterFreeze,
    /// A later day.
    NextDay,
    /// The caller's second call (whenever it came).
    Repeat,
}

impl When {
    pub const ALL: [When; 5] = [
        When::During,
        When::InFreeze,
        When::AfterFreeze,
        When::NextDay,
        When::Repeat,
    ];

    /// Classifies a call at `at` of a visit `start..end` (seconds), with the pool's freeze.
    pub fn of(at: i64, start: i64, end: i64, freeze_secs: i64, repeat: bool) -> When {
        let day = |t: i64| t.div_euclid(super::script::DAY_SECS);
        if repeat {
            When::Repeat
        } else if at <= end {
            When::During
        } else if at <= end.saturating_add(freeze_secs) {
            When::InFreeze
        } else if day(at) == day(start) {
            When::AfterFreeze
        } else {
            When::NextDay
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            When::During => "during",
            When::InFreeze => "in_freeze",
            When::AfterFreeze => "after_freeze",
            When::NextDay => "next_day",
            When::Repeat => "repeat",
        }
    }
}

/// What the replay knew about a missed call that a lever could use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Levers {
    /// A repeat call whose caller's earlier call (to the same number) was attributed right.
    pub repeat_earlier_right: bool,
    /// The number is free and its last holder is the caller.
    pub last_holder: bool,
    /// The caller is among the number's last 8 holders (before the current one, if any).
    pub recent_holder: bool,
}

/// Missed calls by when and why (wrong: reassigned to another visitor; free: nobody held
/// the number; reserve: the pool was exhausted and the caller saw the reserve number).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Missed {
    pub reassigned: u64,
    pub free: u64,
    pub reserve: u64,
}

/// Extra correct calls each lever would win if it were perfect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Gains {
    /// Repeat callers attributed to their earlier (right) attribution: caller history.
    pub repeat_to_earlier: u64,
    /// Every repeat call right (even when its first call was missed).
    pub every_repeat: u64,
    /// A call to a free number given to the number's last holder.
    pub free_to_last_holder: u64,
    /// A perfect pick among the number's recent holders at ring time (wrong and free calls).
    pub best_recent_holder: u64,
    /// Every reserve-number call right (every caller keys in a live overflow code).
    pub every_reserve: u64,
    /// Repeat-to-earlier and free-to-last-holder together (both buildable, exact).
    pub buildable: u64,
    /// Every lever above together.
    pub all: u64,
}

/// The decomposition of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explain {
    /// Missed calls, by [`When`] (index order of [`When::ALL`]).
    pub missed: [Missed; 5],
    /// Tracked calls, by [`When`].
    pub calls: [u64; 5],
    pub gains: Gains,
}

impl Explain {
    /// Notes one tracked call.
    pub fn note(&mut self, when: When, outcome: Outcome, levers: Levers) {
        self.calls[when.index()] += 1;
        let missed = &mut self.missed[when.index()];
        match outcome {
            Outcome::Correct => return,
            Outcome::Wrong => missed.reassigned += 1,
            Outcome::Nobody => missed.free += 1,
            Outcome::Reserve => missed.reserve += 1,
        }
        let g = &mut self.gains;
        let repeat = when == When::Repeat;
        let reserve = outcome == Outcome::Reserve;
        g.repeat_to_earlier += u64::from(levers.repeat_earlier_right);
        g.every_repeat += u64::from(repeat);
        g.free_to_last_holder += u64::from(levers.last_holder);
        g.best_recent_holder += u64::from(levers.recent_holder);
        g.every_reserve += u64::from(reserve);
        g.buildable += u64::from(levers.repeat_earlier_right || levers.last_holder);
        g.all += u64::from(repeat || reserve || levers.last_holder || levers.recent_holder);
    }

    /// Missed calls of one [`When`].
    pub fn missed_at(&self, when: When) -> Missed {
        self.missed[when.index()]
    }

    /// Tracked calls of one [`When`].
    pub fn calls_at(&self, when: When) -> u64 {
        self.calls[when.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_classified_by_when_they_came() {
        // A visit from 100 to 200, freeze 600.
        assert_eq!(When::of(150, 100, 200, 600, false), When::During);
        assert_eq!(When::of(200, 100, 200, 600, false), When::During);
        assert_eq!(When::of(800, 100, 200, 600, false), When::InFreeze);
        assert_eq!(When::of(801, 100, 200, 600, false), When::AfterFreeze);
        assert_eq!(When::of(90_000, 100, 200, 600, false), When::NextDay);
        assert_eq!(When::of(150, 100, 200, 600, true), When::Repeat);
    }

    #[test]
    fn gains_count_each_missed_call_once_per_lever() {
        let mut e = Explain::default();
        let none = Levers::default();
        e.note(When::During, Outcome::Correct, none);
        e.note(When::During, Outcome::Reserve, none);
        let last = Levers {
            last_holder: true,
            recent_holder: true,
            ..none
        };
        e.note(When::AfterFreeze, Outcome::Nobody, last);
        let earlier = Levers {
            repeat_earlier_right: true,
            ..none
        };
        e.note(When::Repeat, Outcome::Wrong, earlier);
        assert_eq!(e.calls_at(When::During), 2);
        assert_eq!(e.missed_at(When::During).reserve, 1);
        assert_eq!(e.missed_at(When::AfterFreeze).free, 1);
        assert_eq!(e.missed_at(When::Repeat).reassigned, 1);
        let g = e.gains;
        assert_eq!((g.repeat_to_earlier, g.every_repeat), (1, 1));
        assert_eq!((g.free_to_last_holder, g.best_recent_holder), (1, 1));
        assert_eq!((g.every_reserve, g.buildable, g.all), (1, 2, 3));
    }
}
