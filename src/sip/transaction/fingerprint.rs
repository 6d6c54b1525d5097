//! 128-bit fingerprints of transaction keys, the layer's index entries: a transaction held
//! 32 s after its call (Timers J, L, M) keeps 16 bytes per key instead of the key's strings
//! (branch, sent-by, Call-ID, tags) in shared allocations (issue 12).
//!
//! Two SipHash functions with random keys (std's `RandomState`, as every `HashMap` here)
//! make a fingerprint; two different keys share one with probability 2^-128 per pair, and a
//! peer that does not know the random keys cannot aim at a collision. Matching stays exactly
//! RFC 3261 §17.1.3 / §17.2.3: equal keys always give equal fingerprints.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::num::NonZeroU64;

/// A key's fingerprint. The second half is never zero (its lowest bit is set: 127 bits in
/// all), so an `Option<Fingerprint>` is 16 bytes like the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint(u64, NonZeroU64);

impl Fingerprint {
    /// Its first half: already a keyed hash, used as the index hash as it is.
    pub(crate) fn hash(self) -> u64 {
        self.0
    }
}

impl Hash for Fingerprint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The layer's maps by fingerprint: its first half is already a keyed hash, so the map uses
/// it as it is instead of hashing it again.
pub(crate) type FingerprintMap<V> = HashMap<Fingerprint, V, BuildHasherDefault<PassThrough>>;

/// A `Hasher` that keeps the last `u64` written (a fingerprint's first half).
#[derive(Debug, Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Makes fingerprints; one per layer, random per process.
#[derive(Debug, Clone)]
pub(crate) struct Fingerprinter {
    first: RandomState,
    second: RandomState,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Fingerprinter {
            first: RandomState::new(),
            second: RandomState::new(),
        }
    }
}

impl Fingerprinter {
    pub(crate) fn of<K: Hash>(&self, key: &K) -> Fingerprint {
        let second = NonZeroU64::new(self.second.hash_one(key) | 1).unwrap_or(NonZeroU64::MIN);
        Fingerprint(self.first.hash_one(key), second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_match_and_different_keys_do_not() {
        let f = Fingerprinter::default();
        let mut map = FingerprintMap::default();
        for n in 0..10_000u32 {
            map.insert(f.of(&("z9hG4bK", n)), n);
        }
        for n in 0..10_000u32 {
            assert_eq!(map.get(&f.of(&("z9hG4bK", n))), Some(&n));
        }
        assert_eq!(map.get(&f.of(&("z9hG4bK", 10_000u32))), None);
        assert_ne!(
            f.of(&"a"),
            Fingerprinter::default().of(&"a"),
            "random per layer"
        );
    }
}
