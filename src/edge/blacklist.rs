//! The caller blacklist: exact numbers and `prefix*` patterns, from the config file and the
//! admin API, in one table the core reads on every new INVITE and the HTTP side edits.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::Serialize;

use crate::config::BlacklistConfig;

/// Where an entry came from: config entries are removed by editing the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Api,
}

/// One entry as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub pattern: String,
    pub origin: Origin,
}

/// Why an entry cannot be removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    #[error("{0:?} is not on the blacklist")]
    Missing(String),
    #[error("{0:?} comes from the config file; remove it there")]
    FromConfig(String),
}

/// The shared table; cheap to read (a few map lookups per INVITE).
#[derive(Debug, Default)]
pub struct Blacklist {
    entries: RwLock<BTreeMap<String, Origin>>,
}

impl Blacklist {
    /// The config file's entries.
    pub fn from_config(config: &BlacklistConfig) -> Blacklist {
        let list = Blacklist::default();
        for pattern in &config.numbers {
            list.insert(pattern, Origin::Config);
        }
        list
    }

    /// Adds `pattern` (already normalised by `config::blacklist_pattern`); false if present.
    /// A config entry stays a config entry.
    pub fn insert(&self, pattern: &str, origin: Origin) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.contains_key(pattern) {
            return false;
        }
        entries.insert(pattern.to_owned(), origin);
        true
    }

    /// A reloaded config file: its entries replace the old file's; API entries stay.
    pub fn replace_config(&self, config: &BlacklistConfig) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, origin| *origin == Origin::Api);
        for pattern in &config.numbers {
            entries.insert(pattern.clone(), Origin::Config);
        }
    }

    /// Another node's view of the API entries (the shared store's): they replace this
    /// table's API entries; config entries stay. Returns how many entries came and went.
    pub fn replace_api(&self, patterns: &[String]) -> (usize, usize) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let shared: std::collections::HashSet<&String> = patterns.iter().collect();
        let before = entries.len();
        entries.retain(|pattern, origin| *origin == Origin::Config || shared.contains(pattern));
        let gone = before - entries.len();
        let mut came = 0;
        for pattern in patterns {
            if !entries.contains_key(pattern) {
                entries.insert(pattern.clone(), Origin::Api);
                came += 1;
            }
        }
        (came, gone)
    }

    /// Removes an API entry.
    pub fn remove(&self, pattern: &str) -> Result<(), RemoveError> {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        match entries.get(pattern) {
            None => Err(RemoveError::Missing(pattern.to_owned())),
            Some(Origin::Config) => Err(RemoveError::FromConfig(pattern.to_owned())),
            Some(Origin::Api) => {
                entries.remove(pattern);
                Ok(())
            }
        }
    }

    pub fn list(&self) -> Vec<Entry> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|(pattern, origin)| Entry {
                pattern: pattern.clone(),
                origin: *origin,
            })
            .collect()
    }

    /// The pattern that refuses `caller` (E.164 digits), if any: the exact number or any of
    /// its prefixes followed by `*`.
    pub fn matching(&self, caller: &str) -> Option<String> {
        if caller.is_empty() || !caller.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        if entries.is_empty() {
            return None;
        }
        if entries.contains_key(caller) {
            return Some(caller.to_owned());
        }
        // One buffer for every `prefix*` tried (this runs on every new INVITE).
        let mut pattern = String::with_capacity(caller.len() + 1);
        (1..=caller.len()).find_map(|n| {
            pattern.clear();
            pattern.push_str(&caller[..n]);
            pattern.push('*');
            entries.contains_key(&pattern).then(|| pattern.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(numbers: &[&str]) -> Blacklist {
        Blacklist::from_config(&BlacklistConfig {
            numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
            status: 403,
        })
    }

    #[test]
    fn exact_and_prefix_matches() {
        let b = list(&["79990000000", "7800*"]);
        assert_eq!(b.matching("79990000000").as_deref(), Some("79990000000"));
        assert_eq!(b.matching("78001234567").as_deref(), Some("7800*"));
        assert_eq!(b.matching("7800").as_deref(), Some("7800*"));
        assert_eq!(b.matching("79990000001"), None);
        assert_eq!(b.matching("780"), None);
        assert_eq!(b.matching("alice"), None);
        assert_eq!(b.matching(""), None);
    }

    #[test]
    fn api_entries_come_and_go_config_entries_stay() {
        let b = list(&["7800*"]);
        assert!(b.insert("71112223344", Origin::Api));
        assert!(!b.insert("71112223344", Origin::Api));
        assert!(b.matching("71112223344").is_some());
        assert_eq!(b.remove("71112223344"), Ok(()));
        assert!(b.matching("71112223344").is_none());
        assert!(matches!(b.remove("7800*"), Err(RemoveError::FromConfig(_))));
        assert!(matches!(b.remove("7"), Err(RemoveError::Missing(_))));
        assert_eq!(b.list().len(), 1);
    }

    #[test]
    fn shared_api_entries_replace_local_ones_and_config_entries_stay() {
        let b = list(&["7800*"]);
        b.insert("71112223344", Origin::Api);
        let shared = vec!["7800*".to_owned(), "79990000000".to_owned()];
        assert_eq!(b.replace_api(&shared), (1, 1));
        assert!(b.matching("71112223344").is_none());
        assert!(b.matching("79990000000").is_some());
        assert!(matches!(b.remove("7800*"), Err(RemoveError::FromConfig(_))));
        assert_eq!(b.replace_api(&shared), (0, 0));
        assert_eq!(b.replace_api(&[]), (0, 1));
        assert_eq!(b.list().len(), 1);
    }

    #[test]
    fn a_reload_replaces_config_entries_and_keeps_api_entries() {
        let b = list(&["7800*"]);
        b.insert("71112223344", Origin::Api);
        b.replace_config(&BlacklistConfig {
            numbers: vec!["7999*".into()],
            status: 403,
        });
        assert_eq!(b.matching("78001234567"), None);
        assert!(b.matching("79990000000").is_some());
        assert!(b.matching("71112223344").is_some());
    }
}
