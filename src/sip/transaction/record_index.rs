//! An index of records by a 64-bit hash that holds only a 4-byte handle per entry (issue 12):
//! the key itself stays in the record, so a lookup compares through the record and a resize
//! rehashes through it. A `HashMap<Fingerprint, TxId>` entry is 24 bytes plus the map's
//! slack; one here is 4 (hashbrown's `HashTable<u32>`, one control byte each as before).
//!
//! Like a map's `insert`, inserting a key that is already indexed takes its entry over: the
//! newest holder of a key is the one found, the older one is no longer indexed by it.

use hashbrown::HashTable;

/// Handles of records by a hash of one of their keys.
#[derive(Debug, Default)]
pub(crate) struct RecordIndex {
    table: HashTable<u32>,
}

impl RecordIndex {
    /// Indexes `handle` under `hash`; `same_key` tells whether another handle's record has
    /// the same key (that entry is taken over), `rehash` gives any indexed handle's hash.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        handle: u32,
        same_key: impl Fn(u32) -> bool,
        rehash: impl Fn(u32) -> u64,
    ) {
        match self.table.find_mut(hash, |&h| same_key(h)) {
            Some(slot) => *slot = handle,
            None => {
                self.table.insert_unique(hash, handle, |&h| rehash(h));
            }
        }
    }

    /// The handle whose record has the key (`is_key`) hashed to `hash`.
    pub(crate) fn find(&self, hash: u64, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        self.table.find(hash, |&h| is_key(h)).copied()
    }

    /// Removes `handle` from under `hash`; false when it was not indexed there (taken over).
    pub(crate) fn remove(&mut self, hash: u64, handle: u32) -> bool {
        match self.table.find_entry(hash, |&h| h == handle) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// Removes whatever handle `is_key` picks under `hash`.
    pub(crate) fn remove_key(&mut self, hash: u64, is_key: impl Fn(u32) -> bool) {
        if let Ok(entry) = self.table.find_entry(hash, |&h| is_key(h)) {
            entry.remove();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records are strings at their handle; the hash is deliberately weak (first byte), so
    /// keys collide and the lookup must compare through the records.
    fn hash(key: &str) -> u64 {
        u64::from(key.as_bytes()[0])
    }

    fn insert(index: &mut RecordIndex, records: &[String], handle: u32) {
        let key = &records[handle as usize];
        let same = |h: u32| records[h as usize] == *key;
        index.insert(hash(key), handle, same, |h| hash(&records[h as usize]));
    }

    fn find(index: &RecordIndex, records: &[String], key: &str) -> Option<u32> {
        index.find(hash(key), |h| records[h as usize] == key)
    }

    #[test]
    fn finds_each_record_by_its_own_key_through_collisions_and_growth() {
        let records: Vec<String> = (0..5_000).map(|n| format!("k{n}")).collect();
        let mut index = RecordIndex::default();
        for handle in 0..5_000 {
            insert(&mut index, &records, handle);
        }
        assert_eq!(index.len(), 5_000);
        for (handle, key) in records.iter().enumerate() {
            assert_eq!(find(&index, &records, key), Some(handle as u32), "{key}");
        }
        assert_eq!(find(&index, &records, "k5000"), None);
        assert_eq!(find(&index, &records, "x1"), None);
    }

    #[test]
    fn removal_is_by_handle_and_a_newer_holder_takes_a_key_over() {
        let records: Vec<String> = ["a1", "a2", "a1"].map(String::from).to_vec();
        let mut index = RecordIndex::default();
        insert(&mut index, &records, 0);
        insert(&mut index, &records, 1);
        assert_eq!(find(&index, &records, "a1"), Some(0));
        insert(&mut index, &records, 2);
        assert_eq!(find(&index, &records, "a1"), Some(2), "the newest holder");
        assert_eq!(index.len(), 2);
        assert!(!index.remove(hash("a1"), 0), "0 no longer indexed");
        assert_eq!(find(&index, &records, "a1"), Some(2));
        assert!(index.remove(hash("a1"), 2));
        assert_eq!(find(&index, &records, "a1"), None);
        assert_eq!(find(&index, &records, "a2"), Some(1));
        index.remove_key(hash("a2"), |h| records[h as usize] == "a2");
        assert_eq!((find(&index, &records, "a2"), index.len()), (None, 0));
    }
}
