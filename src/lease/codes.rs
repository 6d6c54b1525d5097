//! Overflow codes: when every pool of a site is exhausted, the visitor is shown the reserve
//! number plus a short numeric code bound to its session; a call to the reserve number that
//! enters the code is attributed to that visit (`number_kind = "overflow_code"`).
//!
//! A code lives like a lease: while the snippet heartbeats, then for the site's freeze time
//! (`expires_at = last_seen + freeze`). After that it rests for the site's cool-down before it
//! can be issued again, so a late caller with an old code is never given to someone else.
//!
//! Codes are 3 digits (100-999) while fewer than half of those are taken, then 4 digits
//! (1000-9999). The set of live and resting codes of a site is kept **prefix-free** (no code
//! is the start of another), so a caller's digits name a code the moment they match one, and
//! [`OverflowCodes::lookup`] can answer "wait for more digits" without any terminator key.
//!
//! Sans-IO: `now` and the random source are parameters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::{SignedDuration, Timestamp};
use rand::Rng;

use super::Visit;

/// Three-digit codes, then four-digit ones.
const SHORT: std::ops::RangeInclusive<u16> = 100..=999;
const LONG: std::ops::RangeInclusive<u16> = 1000..=9999;
/// A length is used while fewer than this share of its codes are taken (live or resting),
/// so a random draw rarely collides and a code stays hard to guess.
const FILL_LIMIT_PERCENT: usize = 50;
/// Random draws before the scan for a free code.
const DRAWS: usize = 16;

/// A visitor asks for a code on a site whose pools are exhausted.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeRequest {
    /// A fresh random id chosen by the HTTP layer; it names the code's session.
    pub session_id: String,
    pub site: String,
    pub visitor_id: Option<String>,
    pub visit: Visit,
    /// How long the code stays bound after the last heartbeat (the site's freeze).
    pub freeze: std::time::Duration,
    /// How long an ended code rests before it is issued again (the site's cool-down).
    pub cooldown: std::time::Duration,
}

/// One visitor session holding an overflow code.
#[derive(Debug, Clone, PartialEq)]
pub struct OverflowCode {
    pub session_id: String,
    pub site: String,
    /// The digits the caller enters, e.g. `"417"`.
    pub code: String,
    pub visitor_id: Option<String>,
    pub visit: Arc<Visit>,
    pub issued_at: Timestamp,
    pub last_seen: Timestamp,
    pub expires_at: Timestamp,
    pub freeze: std::time::Duration,
    pub cooldown: std::time::Duration,
}

/// Why no code was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Half of all 3- and 4-digit codes are taken: show the reserve number without a code.
    #[error("no overflow code left for the site")]
    Full,
}

/// What the digits a caller entered so far name, on one site.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeMatch {
    /// A live code: attribute the call to its visit.
    Found(OverflowCode),
    /// The digits start a live or resting code: wait for the next digit.
    Partial,
    /// No code starts with these digits.
    None,
}

/// Every site's codes; share it inside the [`super::LeaseTable`].
#[derive(Debug, Default)]
pub struct OverflowCodes {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sites: HashMap<String, SiteCodes>,
    /// session id -> (site, code) of a live code.
    sessions: HashMap<String, (String, u16)>,
}

/// One site's codes.
#[derive(Debug, Default)]
struct SiteCodes {
    live: HashMap<u16, OverflowCode>,
    /// Ended codes and when they may be issued again.
    resting: HashMap<u16, Timestamp>,
}

impl OverflowCodes {
    /// Issues a code for the visit, or renews the one this visitor (or session) already holds
    /// on the site.
    pub fn issue(
        &self,
        req: CodeRequest,
        now: Timestamp,
        rng: &mut impl Rng,
    ) -> Result<OverflowCode, CodeError> {
        let mut inner = self.lock();
        if let Some(held) = inner.held_by(&req, now) {
            return Ok(inner.renew(&held, now).unwrap_or(held));
        }
        let site = inner.sites.entry(req.site.clone()).or_default();
        let code = site.free_code(now, rng).ok_or(CodeError::Full)?;
        let held = OverflowCode {
            code: code.to_string(),
            session_id: req.session_id,
            site: req.site,
            visitor_id: req.visitor_id,
            visit: Arc::new(req.visit),
            issued_at: now,
            last_seen: now,
            expires_at: after(now, req.freeze),
            freeze: req.freeze,
            cooldown: req.cooldown,
        };
        site.live.insert(code, held.clone());
        inner
            .sessions
            .insert(held.session_id.clone(), (held.site.clone(), code));
        Ok(held)
    }

    /// The snippet is still on the page: the code is kept for another freeze from `now`.
    /// `None` when the session holds no live code (the snippet then asks anew).
    pub fn heartbeat(&self, session_id: &str, now: Timestamp) -> Option<OverflowCode> {
        let mut inner = self.lock();
        let held = inner.session(session_id)?;
        inner.renew(&held, now)
    }

    /// The live code of a session, if it holds one.
    pub fn session(&self, session_id: &str) -> Option<OverflowCode> {
        self.lock().session(session_id)
    }

    /// The page was left: the freeze starts now.
    pub fn release(&self, session_id: &str, now: Timestamp) -> Option<OverflowCode> {
        self.heartbeat(session_id, now)
    }

    /// What `digits` (as entered so far) name on `site` at `now`; no digits name nothing.
    pub fn lookup(&self, site: &str, digits: &str, now: Timestamp) -> CodeMatch {
        if digits.is_empty() {
            return CodeMatch::None;
        }
        let inner = self.lock();
        let Some(codes) = inner.sites.get(site) else {
            return CodeMatch::None;
        };
        if let Some(held) = parse_code(digits)
            .and_then(|code| codes.live.get(&code))
            .filter(|held| held.expires_at > now && held.code == digits)
        {
            return CodeMatch::Found(held.clone());
        }
        // Prefix-free: digits that are a whole code (an ended one) start no other code.
        let started = |code: &u16| {
            let code = code.to_string();
            code.len() > digits.len() && code.starts_with(digits)
        };
        let waiting = codes.live.keys().any(started) || codes.resting.keys().any(started);
        if waiting {
            CodeMatch::Partial
        } else {
            CodeMatch::None
        }
    }

    /// Ends every code whose freeze ran out (it starts resting) and forgets resting codes
    /// whose cool-down is over. Returns how many codes ended.
    pub fn expire(&self, now: Timestamp) -> usize {
        let mut inner = self.lock();
        let Inner { sites, sessions } = &mut *inner;
        let mut ended = 0;
        for codes in sites.values_mut() {
            let due: Vec<u16> = codes
                .live
                .iter()
                .filter(|(_, held)| held.expires_at <= now)
                .map(|(code, _)| *code)
                .collect();
            for code in due {
                if let Some(held) = codes.live.remove(&code) {
                    sessions.remove(&held.session_id);
                    codes
                        .resting
                        .insert(code, after(held.expires_at, held.cooldown));
                    ended += 1;
                }
            }
            codes.resting.retain(|_, until| *until > now);
        }
        sites.retain(|_, codes| !codes.live.is_empty() || !codes.resting.is_empty());
        ended
    }

    /// Live codes of `site` (for the pool metrics).
    pub fn live(&self, site: &str) -> usize {
        self.lock().sites.get(site).map_or(0, |c| c.live.len())
    }

    /// Live codes per site that has live or resting codes (for the metrics).
    pub fn live_by_site(&self) -> Vec<(String, usize)> {
        let inner = self.lock();
        let mut sites: Vec<_> = inner
            .sites
            .iter()
            .map(|(site, codes)| (site.clone(), codes.live.len()))
            .collect();
        sites.sort();
        sites
    }

    /// Every live code, for persistence.
    pub fn snapshot(&self) -> Vec<OverflowCode> {
        let inner = self.lock();
        let mut all: Vec<OverflowCode> = inner
            .sites
            .values()
            .flat_map(|codes| codes.live.values().cloned())
            .collect();
        all.sort_by(|a, b| (a.issued_at, &a.session_id).cmp(&(b.issued_at, &b.session_id)));
        all
    }

    /// Puts persisted codes back after a restart; codes over at `now`, malformed, or
    /// clashing with one already restored are dropped. Returns how many were restored.
    pub fn restore(&self, saved: Vec<OverflowCode>, now: Timestamp) -> usize {
        let mut inner = self.lock();
        let mut restored = 0;
        for held in saved.into_iter().filter(|h| h.expires_at > now) {
            let Some(code) = parse_code(&held.code) else {
                continue;
            };
            if inner.sessions.contains_key(&held.session_id) {
                continue;
            }
            let codes = inner.sites.entry(held.site.clone()).or_default();
            if !codes.is_free(code) {
                continue;
            }
            codes.live.insert(code, held.clone());
            inner
                .sessions
                .insert(held.session_id.clone(), (held.site, code));
            restored += 1;
        }
        restored
    }

    /// A panic elsewhere while holding the lock leaves the maps consistent (every change is
    /// a few inserts and removes), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The live code of this session, or of this visitor on this site.
    fn held_by(&self, req: &CodeRequest, now: Timestamp) -> Option<OverflowCode> {
        if let Some(held) = self.session(&req.session_id) {
            return Some(held);
        }
        let visitor = req.visitor_id.as_deref()?;
        self.sites
            .get(&req.site)?
            .live
            .values()
            .find(|h| h.visitor_id.as_deref() == Some(visitor) && h.expires_at > now)
            .cloned()
    }

    fn session(&self, session_id: &str) -> Option<OverflowCode> {
        let (site, code) = self.sessions.get(session_id)?;
        self.sites.get(site)?.live.get(code).cloned()
    }

    /// Extends a code still live at `now` by its freeze.
    fn renew(&mut self, held: &OverflowCode, now: Timestamp) -> Option<OverflowCode> {
        let code = parse_code(&held.code)?;
        let stored = self.sites.get_mut(&held.site)?.live.get_mut(&code)?;
        if stored.expires_at <= now {
            return None;
        }
        stored.last_seen = now;
        stored.expires_at = after(now, stored.freeze);
        Some(stored.clone())
    }
}

impl SiteCodes {
    /// A random free code: short ones while they last, then long ones.
    fn free_code(&mut self, now: Timestamp, rng: &mut impl Rng) -> Option<u16> {
        self.resting.retain(|_, until| *until > now);
        [SHORT, LONG]
            .into_iter()
            .filter(|range| self.taken(range) * 100 < range.len() * FILL_LIMIT_PERCENT)
            .find_map(|range| self.draw(range, rng))
    }

    /// Codes of this length taken, live or resting.
    fn taken(&self, range: &std::ops::RangeInclusive<u16>) -> usize {
        let keys = self.live.keys().chain(self.resting.keys());
        keys.filter(|code| range.contains(code)).count()
    }

    /// A few random draws, then a scan from a random start.
    fn draw(&self, range: std::ops::RangeInclusive<u16>, rng: &mut impl Rng) -> Option<u16> {
        let (low, high) = (*range.start(), *range.end());
        for _ in 0..DRAWS {
            let code = rng.random_range(low..=high);
            if self.is_free(code) {
                return Some(code);
            }
        }
        let start = rng.random_range(low..=high);
        (start..=high)
            .chain(low..start)
            .find(|&code| self.is_free(code))
    }

    /// Not live or resting, and neither the start of another code nor started by one.
    fn is_free(&self, code: u16) -> bool {
        let used = |c: u16| self.live.contains_key(&c) || self.resting.contains_key(&c);
        if used(code) {
            return false;
        }
        if LONG.contains(&code) {
            !used(code / 10)
        } else {
            !(code * 10..=code * 10 + 9).any(used)
        }
    }
}

/// A stored code's digits as its number: 3 or 4 digits, no leading zero, nothing else.
fn parse_code(digits: &str) -> Option<u16> {
    let code = digits.parse::<u16>().ok()?;
    let canonical = code.to_string() == digits;
    (canonical && (SHORT.contains(&code) || LONG.contains(&code))).then_some(code)
}

fn after(at: Timestamp, span: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(span)
        .ok()
        .and_then(|span| at.checked_add(span).ok())
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
#[path = "codes_tests.rs"]
mod tests;
