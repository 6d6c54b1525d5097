//! The voice menu (`strategy = "menu"`), sans-IO: greeting, one key, branch. A key that names
//! a choice takes its branch; a key that does not is answered with the "invalid choice"
//! prompt and the greeting again; silence replays the greeting; after `retries` replays the
//! default branch is taken. Built on the reusable `Collector`; the engine plays what the
//! menu asks (`MenuAction::Play`) and routes where it says (`MenuAction::Route`).

use std::time::{Duration, Instant};

use super::collector::{CollectSpec, Collected, Collector};
use super::dtmf::Digit;

/// A menu as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuSpec {
    /// Key → the branch (a step or scheme name).
    pub choices: Vec<(Digit, String)>,
    /// The branch taken after the retries.
    pub default: String,
    /// How long after the greeting ends the caller has to press a key.
    pub timeout: Duration,
    /// How many times the greeting is replayed after a timeout or an invalid key.
    pub retries: u32,
}

/// What the engine plays next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuPrompt {
    Greeting,
    /// "Sorry, that choice is not valid", then the greeting.
    InvalidThenGreeting,
}

/// Why a branch was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceReason {
    Key(Digit),
    /// No key after the last replay.
    Timeout,
    /// An invalid key after the last replay.
    Invalid(Digit),
}

/// The branch the menu chose, for the routing trail and the CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub branch: String,
    pub reason: ChoiceReason,
}

impl Choice {
    /// The routing trail's entry: `menu 1>sales`, `menu timeout>main`, `menu invalid 9>main`.
    pub fn trail(&self) -> String {
        match self.reason {
            ChoiceReason::Key(d) => format!("menu {d}>{}", self.branch),
            ChoiceReason::Timeout => format!("menu timeout>{}", self.branch),
            ChoiceReason::Invalid(d) => format!("menu invalid {d}>{}", self.branch),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    /// Stop whatever plays and play this; call `prompt_finished` when it ends.
    Play(MenuPrompt),
    /// The menu is over: route the call to this branch.
    Route(Choice),
}

/// One caller's pass through a menu.
#[derive(Debug, Clone)]
pub struct Menu {
    spec: MenuSpec,
    collector: Collector,
    /// Greetings played so far.
    plays: u32,
    chosen: bool,
}

impl Menu {
    /// A menu starting now, with the action that starts it.
    pub fn start(spec: MenuSpec) -> (Menu, MenuAction) {
        let collector = Collector::new(CollectSpec::one_key(spec.timeout));
        let menu = Menu {
            spec,
            collector,
            plays: 1,
            chosen: false,
        };
        (menu, MenuAction::Play(MenuPrompt::Greeting))
    }

    /// The prompt the menu asked for ended at `now`.
    pub fn prompt_finished(&mut self, now: Instant) {
        self.collector.prompt_finished(now);
    }

    /// A key at `now` (barge-in allowed).
    pub fn on_digit(&mut self, now: Instant, digit: Digit) -> Option<MenuAction> {
        let collected = self.collector.on_digit(now, digit)?;
        Some(self.decide(collected))
    }

    /// The clock reached `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<MenuAction> {
        let collected = self.collector.handle_timeout(now)?;
        Some(self.decide(collected))
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.collector.poll_timeout().filter(|_| !self.chosen)
    }

    fn decide(&mut self, collected: Collected) -> MenuAction {
        let key = match collected {
            Collected::Digits(keys) => keys.chars().next().and_then(Digit::from_char),
            Collected::Timeout(_) => None,
        };
        if let Some((key, branch)) = key.and_then(|k| self.branch_of(k).map(|b| (k, b))) {
            return self.route(branch, ChoiceReason::Key(key));
        }
        if self.plays <= self.spec.retries {
            self.plays += 1;
            self.collector = Collector::new(CollectSpec::one_key(self.spec.timeout));
            let prompt = match key {
                Some(_) => MenuPrompt::InvalidThenGreeting,
                None => MenuPrompt::Greeting,
            };
            return MenuAction::Play(prompt);
        }
        let reason = key.map_or(ChoiceReason::Timeout, ChoiceReason::Invalid);
        self.route(self.spec.default.clone(), reason)
    }

    fn branch_of(&self, key: Digit) -> Option<String> {
        let (_, branch) = self.spec.choices.iter().find(|(k, _)| *k == key)?;
        Some(branch.clone())
    }

    fn route(&mut self, branch: String, reason: ChoiceReason) -> MenuAction {
        self.chosen = true;
        MenuAction::Route(Choice { branch, reason })
    }
}

#[cfg(test)]
#[path = "menu_tests.rs"]
mod tests;
