//! The prompts a configuration uses, loaded, resampled and held in memory once per config:
//! every built-in prompt in `[media] prompt_language`, every `announce` and voicemail file. Built where
//! I/O is allowed (the app, at start and on reload); the SIP core only looks prompts up.

use std::collections::HashMap;
use std::sync::Arc;

use super::prompt::{Prompt, PromptError};
use super::prompt_builtin;
use crate::config::Config;

/// Prompts by their setting (a built-in name or a file path as configured).
#[derive(Debug, Default)]
pub struct PromptSet {
    prompts: HashMap<String, Arc<Prompt>>,
}

/// A prompt that could not be loaded, with the key that names it.
#[derive(Debug)]
pub struct PromptProblem {
    pub key: String,
    pub error: PromptError,
}

impl PromptSet {
    /// Loads what `config` names; what fails is left out and reported (config validation has
    /// already checked the files, so this only fails when one changed since).
    pub fn load(config: &Config) -> (PromptSet, Vec<PromptProblem>) {
        let language = config.prompt_language.as_str();
        let mut set = PromptSet::default();
        let mut problems = Vec::new();
        let builtins = prompt_builtin::NAMES
            .iter()
            .map(|n| ("builtin".to_owned(), (*n).to_owned()));
        for (key, setting) in builtins.chain(settings(config)) {
            if set.prompts.contains_key(&setting) {
                continue;
            }
            match Prompt::load(&setting, language) {
                Ok(prompt) => {
                    set.prompts.insert(setting, Arc::new(prompt));
                }
                Err(error) => problems.push(PromptProblem { key, error }),
            }
        }
        (set, problems)
    }

    /// The prompt of a setting, if it was loaded.
    pub fn get(&self, setting: &str) -> Option<Arc<Prompt>> {
        self.prompts.get(setting).cloned()
    }
}

/// Every prompt setting of `config`, with its key path.
fn settings(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, site) in config.sites.iter().enumerate() {
        if let Some(a) = &site.announce {
            out.push((format!("sites[{i}].announce"), a.clone()));
        }
        if let Some(v) = &site.voicemail {
            out.push((format!("sites[{i}].voicemail.prompt"), v.prompt.clone()));
        }
        for (j, n) in site.static_numbers.iter().enumerate() {
            if let Some(a) = &n.announce {
                out.push((
                    format!("sites[{i}].static_numbers[{j}].announce"),
                    a.clone(),
                ));
            }
        }
    }
    for (i, scheme) in config.routing.schemes.iter().enumerate() {
        if let Some(a) = &scheme.announce {
            out.push((format!("schemes[{i}].announce"), a.clone()));
        }
        if let Some(menu) = &scheme.menu {
            out.push((format!("schemes[{i}].steps[0].prompt"), menu.prompt.clone()));
        }
        if let Some(v) = &scheme.voicemail {
            out.push((format!("schemes[{i}].voicemail.prompt"), v.prompt.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_lists_the_same_builtin_names_as_the_assets() {
        assert_eq!(crate::config::voice::BUILTIN_PROMPTS, prompt_builtin::NAMES);
        assert_eq!(
            crate::config::voice::PROMPT_LANGUAGES,
            prompt_builtin::LANGUAGES
        );
    }

    #[test]
    fn every_builtin_and_every_announce_is_loaded() {
        let config = Config::from_toml_str(
            "[[sites]]\nid = \"demo\"\nforward_to = \"sip:127.0.0.1:5080\"\nmedia = \"relay\"\nannounce = \"recorded\"\n",
        )
        .unwrap();
        let (set, problems) = PromptSet::load(&config);
        assert!(problems.is_empty(), "{problems:?}");
        for name in prompt_builtin::NAMES {
            assert!(set.get(name).is_some(), "{name}");
        }
        assert!(set.get("nope").is_none());
    }
}
