//! The dashboard's sign-ins: a server-side table of session ids (random 128-bit, sent only in
//! the HttpOnly `calltrack_session` cookie) with their role and expiry. Kept in memory: a
//! restart signs everyone out. Sans-IO: `now` is a parameter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::access::Role;

/// Most sign-ins kept at once; past it the one closest to expiry is dropped.
const MAX_SIGN_INS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SignIn {
    role: Role,
    expires_at: Timestamp,
}

/// Session id → role and expiry.
#[derive(Debug, Default)]
pub struct SignIns {
    table: Mutex<HashMap<String, SignIn>>,
}

impl SignIns {
    /// Opens a sign-in for `role` lasting `ttl` from `now`; returns its new id (32 hex
    /// digits from the thread-local CSPRNG) and when it expires.
    pub fn open(&self, role: Role, ttl: Duration, now: Timestamp) -> (String, Timestamp) {
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
        table.insert(id.clone(), SignIn { role, expires_at });
        (id, expires_at)
    }

    /// The role of a live sign-in; an expired one is forgotten.
    pub fn role(&self, id: &str, now: Timestamp) -> Option<Role> {
        let mut table = self.lock();
        let sign_in = *table.get(id)?;
        if sign_in.expires_at <= now {
            table.remove(id);
            return None;
        }
        Some(sign_in.role)
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

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_sign_in_lives_until_its_expiry() {
        let sign_ins = SignIns::default();
        let (id, expires) = sign_ins.open(Role::Viewer, Duration::from_secs(60), at(0));
        assert_eq!(id.len(), 32);
        assert_eq!(expires, at(60));
        assert_eq!(sign_ins.role(&id, at(59)), Some(Role::Viewer));
        assert_eq!(sign_ins.role(&id, at(60)), None);
        assert_eq!(sign_ins.count(), 0, "expired sign-in forgotten");
    }

    #[test]
    fn ids_are_random_and_close_ends_one() {
        let sign_ins = SignIns::default();
        let (a, _) = sign_ins.open(Role::Admin, Duration::from_secs(60), at(0));
        let (b, _) = sign_ins.open(Role::Viewer, Duration::from_secs(60), at(0));
        assert_ne!(a, b);
        assert!(sign_ins.close(&a));
        assert!(!sign_ins.close(&a));
        assert_eq!(sign_ins.role(&a, at(1)), None);
        assert_eq!(sign_ins.role(&b, at(1)), Some(Role::Viewer));
        assert_eq!(sign_ins.role("not-an-id", at(1)), None);
    }

    #[test]
    fn opening_sweeps_expired_sign_ins() {
        let sign_ins = SignIns::default();
        sign_ins.open(Role::Admin, Duration::from_secs(10), at(0));
        sign_ins.open(Role::Admin, Duration::from_secs(10), at(20));
        assert_eq!(sign_ins.count(), 1);
    }
}
