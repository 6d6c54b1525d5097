//! `strategy = "menu"`: a scheme step that is a voice menu. calltrack answers, plays the
//! `prompt`, and the caller's key picks the scheme the call goes on to (`choices`, key →
//! scheme id); silence or a wrong key replays the prompt up to `retries` times, then
//! `default` is taken. A menu step is the scheme's only step; its branches are other
//! schemes without a menu of their own; the scheme needs `media = "relay"` (or `record`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::routing_file::{StepFile, StrategyFile};
use super::validate::Problems;
use super::{Config, MediaMode};

/// Defaults of a menu step.
const DEFAULT_PROMPT: &str = "menu";
const DEFAULT_TIMEOUT_SECS: u64 = 5;
const DEFAULT_RETRIES: u32 = 2;
/// Most replays accepted.
const MAX_RETRIES: u32 = 10;

/// A validated menu step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuConfig {
    /// The greeting: a built-in prompt name or a WAV file.
    pub prompt: String,
    /// From the end of the greeting to the key.
    pub timeout: Duration,
    /// Replays after silence or a wrong key before `default` is taken.
    pub retries: u32,
    /// The scheme taken after the retries.
    pub default: String,
    /// Key (`0`-`9`, `*`, `#`) → scheme id.
    pub choices: Vec<(char, String)>,
}

/// Takes the menu step out of a scheme's steps: `(menu, the other steps)`.
pub(super) fn take(
    path: &str,
    steps: Vec<StepFile>,
    p: &mut Problems,
) -> (Option<MenuConfig>, Vec<StepFile>) {
    let Some(at) = steps
        .iter()
        .position(|s| matches!(s.strategy, StrategyFile::Menu))
    else {
        for (j, step) in steps.iter().enumerate() {
            menu_keys_unused(&format!("{path}.steps[{j}]"), step, p);
        }
        return (None, steps);
    };
    if steps.len() > 1 {
        p.push(
            format!("{path}.steps"),
            "a menu step must be the scheme's only step",
        );
    }
    let step_path = format!("{path}.steps[{at}]");
    let step = steps.into_iter().nth(at);
    (step.map(|s| menu(&step_path, s, p)), Vec::new())
}

fn menu(path: &str, f: StepFile, p: &mut Problems) -> MenuConfig {
    if !f.targets.is_empty() {
        p.push(
            format!("{path}.targets"),
            "a menu step rings no targets (its choices name schemes)",
        );
    }
    let timeout_secs = f.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
    p.within(&format!("{path}.timeout_secs"), timeout_secs, 1, 60);
    let retries = f.retries.unwrap_or(DEFAULT_RETRIES);
    p.within(&format!("{path}.retries"), retries, 0, MAX_RETRIES);
    let default = f.default.unwrap_or_default();
    if default.trim().is_empty() {
        p.push(
            format!("{path}.default"),
            "required: the scheme taken without a valid key",
        );
    }
    MenuConfig {
        prompt: f.prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_owned()),
        timeout: Duration::from_secs(timeout_secs),
        retries,
        default,
        choices: choices(path, f.choices, p),
    }
}

fn choices(path: &str, map: BTreeMap<String, String>, p: &mut Problems) -> Vec<(char, String)> {
    if map.is_empty() {
        p.push(
            format!("{path}.choices"),
            "a menu needs at least one choice",
        );
    }
    let mut out = Vec::new();
    for (key, scheme) in map {
        let mut chars = key.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => out.push((c, scheme)),
            _ => p.push(
                format!("{path}.choices.{key:?}"),
                "a key is one of 0-9, * or #",
            ),
        }
    }
    out
}

/// Menu keys on a step that is not a menu.
fn menu_keys_unused(path: &str, f: &StepFile, p: &mut Problems) {
    let set = [
        ("prompt", f.prompt.is_some()),
        ("timeout_secs", f.timeout_secs.is_some()),
        ("retries", f.retries.is_some()),
        ("default", f.default.is_some()),
        ("choices", !f.choices.is_empty()),
    ];
    for (key, _) in set.iter().filter(|(_, on)| *on) {
        p.push(
            format!("{path}.{key}"),
            "only a step with strategy = \"menu\" takes this key",
        );
    }
}

/// The menus' branches name schemes without menus; the greeting is a usable prompt; the
/// scheme relays its calls.
pub(super) fn check(config: &Config, p: &mut Problems) {
    let schemes = &config.routing.schemes;
    let plain = |id: &str| schemes.iter().any(|s| s.id == id && s.menu.is_none());
    for (i, scheme) in schemes.iter().enumerate() {
        let Some(menu) = &scheme.menu else { continue };
        let path = format!("schemes[{i}].steps[0]");
        super::voice::check_prompt(&format!("{path}.prompt"), &menu.prompt, p);
        let relayed = scheme.media == Some(MediaMode::Relay) || scheme.record == Some(true);
        if !relayed {
            p.push(
                format!("schemes[{i}].media"),
                "a menu needs media = \"relay\" (or record = true)",
            );
        }
        let branches = menu
            .choices
            .iter()
            .map(|(k, s)| (format!("choices.\"{k}\""), s));
        for (key, target) in branches.chain([("default".to_owned(), &menu.default)]) {
            if !target.is_empty() && !plain(target) {
                p.push(
                    format!("{path}.{key}"),
                    format!("{target:?} is not a scheme without a menu"),
                );
            }
        }
    }
}
