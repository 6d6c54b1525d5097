//! Our dialogs by (Call-ID, local tag), as in-dialog requests find their call: keyed by a
//! 128-bit fingerprint of the pair instead of a formatted string, so a lookup allocates
//! nothing and a held call keeps 16 bytes per dialog key instead of a string (issue 12).
//!
//! The fingerprint is the transaction layer's (`sip::transaction::fingerprint`: two SipHash
//! functions with random keys): two different pairs share one with probability about 2^-127,
//! and a peer that does not know the keys cannot aim at a collision. Equal pairs always give
//! equal fingerprints, so matching stays exactly RFC 3261 §12.2.2's (Call-ID and tags).

use crate::b2bua::event::CallKey;
use crate::b2bua::session::Leg;
use crate::sip::transaction::fingerprint::{Fingerprint, FingerprintMap, Fingerprinter};

/// Which call and which of its legs a dialog is.
type Entry = (CallKey, Leg);

/// The map from our dialogs to their calls.
#[derive(Debug, Default)]
pub(crate) struct DialogIndex {
    fingerprints: Fingerprinter,
    map: FingerprintMap<Entry>,
}

impl DialogIndex {
    fn key(&self, call_id: &str, local_tag: &str) -> Fingerprint {
        // The pair, not the concatenation: ("ab", "c") and ("a", "bc") differ.
        self.fingerprints.of(&(call_id, local_tag))
    }

    pub(crate) fn insert(&mut self, call_id: &str, local_tag: &str, entry: Entry) {
        let key = self.key(call_id, local_tag);
        self.map.insert(key, entry);
    }

    pub(crate) fn get(&self, call_id: &str, local_tag: &str) -> Option<Entry> {
        self.map.get(&self.key(call_id, local_tag)).copied()
    }

    pub(crate) fn remove(&mut self, call_id: &str, local_tag: &str) {
        let key = self.key(call_id, local_tag);
        self.map.remove(&key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_found_by_both_parts_and_never_by_a_shifted_split() {
        let mut index = DialogIndex::default();
        index.insert("ab", "c", (CallKey(1), Leg::A));
        index.insert("a", "bc", (CallKey(2), Leg::B));
        assert_eq!(index.get("ab", "c"), Some((CallKey(1), Leg::A)));
        assert_eq!(index.get("a", "bc"), Some((CallKey(2), Leg::B)));
        assert_eq!(index.get("abc", ""), None);
        assert_eq!(index.get("ab", "C"), None, "tags compare exactly");
        index.remove("ab", "c");
        assert_eq!((index.get("ab", "c"), index.len()), (None, 1));
    }
}
