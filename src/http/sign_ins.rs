//! The dashboard's sign-ins: a server-side table of session ids (random 128-bit, sent only in
//! the HttpOnly `calltrack_session` cookie) with the digest of the token that signed in and
//! the expiry. The role is looked up from the digest on every request, so removing a token
//! from the config (and reloading) ends its sign-ins at once. Kept in memory: a restart
//! signs everyone out. Sans-IO: `now` is a parameter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// SHA-256 of the token a sign-in was opened with (the token itself is not kept).
pub type TokenDigest = [u8; 32];

/// Most sign-ins kept at once; past it the one closest to expiry is dropped.
const MAX_SIGN_INS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SignIn {
    token: TokenDigest,
    expires_at: Timestamp,
}

/// Session id → token digest and expiry.
#[derive(Debug, Default)]
pub struct SignIns {
    table: Mutex<HashMap<String, SignIn>>,
}

impl SignIns {
    /// Opens a sign-in for the token with digest `token`, lasting `ttl` from `now`; returns
    /// its new id (32 hex digits from the thread-local CSPRNG) and when it expires.
    pub fn open(&self, token: TokenDigest, ttl: Duration, now: Timestamp) -> (String, Timestamp) {
        let id = format!("{:032x}", rand::random::<u128>());
        let ttl = SignedDuration::try_from(ttl).unwrap_or(SignedDuration::from_hours(12));
        let expires_at = now.checked_add(ttl).unwrap_or(Timestamp::MAX);
        let mut table = self.lock();
        table.retain(|_, s| s.expires_at > now);
        if table.len() >= MAX_SIGN_INS {
            let oldest = table
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                table.remove(&oldest);
            }
        }
        table.insert(id.clone(), SignIn { token, expires_at });
        (id, expires_at)
    }

    /// The token digest of a live sign-in; an expired one is forgotten.
    pub fn token(&self, id: &str, now: Timestamp) -> Option<TokenDigest> {
        let mut table = self.lock();
        let sign_in = *table.get(id)?;
        if sign_in.expires_at <= now {
            table.remove(id);
            return None;
        }
        Some(sign_in.token)
    }

    /// Ends a sign-in; true if it existed.
    pub fn close(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Live and expired-but-unswept sign-ins.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SignIn>> {
        // A panic while holding the lock leaves a consistent map (every update is one call).
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: TokenDigest = [1; 32];
    const VIEWER: TokenDigest = [2; 32];

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_sign_in_lives_until_its_expiry() {
        let sign_ins = SignIns::default();
        let (id, expires) = sign_ins.open(VIEWER, Duration::from_secs(60), at(0));
        assert_eq!(id.len(), 32);
        assert_eq!(expires, at(60));
        assert_eq!(sign_ins.token(&id, at(59)), Some(VIEWER));
        assert_eq!(sign_ins.token(&id, at(60)), None);
        assert_eq!(sign_ins.count(), 0, "expired sign-in forgotten");
    }

    #[test]
    fn ids_are_random_and_close_ends_one() {
        let sign_ins = SignIns::default();
        let (a, _) = sign_ins.open(ADMIN, Duration::from_secs(60), at(0));
        let (b, _) = sign_ins.open(VIEWER, Duration::from_secs(60), at(0));
        assert_ne!(a, b);
        assert!(sign_ins.close(&a));
        assert!(!sign_ins.close(&a));
        assert_eq!(sign_ins.token(&a, at(1)), None);
        assert_eq!(sign_ins.token(&b, at(1)), Some(VIEWER));
        assert_eq!(sign_ins.token("not-an-id", at(1)), None);
    }

    #[test]
    fn opening_sweeps_expired_sign_ins() {
        let sign_ins = SignIns::default();
        sign_ins.open(ADMIN, Duration::from_secs(10), at(0));
        sign_ins.open(ADMIN, Duration::from_secs(10), at(20));
        assert_eq!(sign_ins.count(), 1);
    }
}
