//! The audit of live calls against their deadlines: a safety net under the RFC timers. Every
//! call must be over by its ring timeout (never answered) or `max_call_secs` after the answer,
//! plus the time its teardown may take; a call still in memory after that escaped every timer
//! (a bug, or a peer that keeps a transaction alive). The audit runs every
//! [`AUDIT_EVERY`] from `handle_timeout`, frees such calls with their transactions, writes
//! their CDR if none was written, logs each at WARN and counts it
//! (`calltrack_calls_reaped_total`).

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::sip::transaction::TimerConfig;

use super::{B2bua, CallKey};

/// How often the live calls are audited.
pub const AUDIT_EVERY: Duration = Duration::from_secs(10);

/// The transaction timers: `[sip.timers]` and Timer C (see [`timer_c`]).
pub fn layer_timers(config: &Config) -> TimerConfig {
    let t = &config.sip.timers;
    let timers = TimerConfig {
        t1: t.t1,
        t2: t.t2,
        t4: t.t4,
        ..TimerConfig::default()
    };
    TimerConfig {
        c: timer_c(config, timers),
        ..timers
    }
}

/// Timer C for the B2BUA's INVITEs: more than 3 minutes (RFC 3261 §16.6 step 11) and never
/// shorter than the ring timeout plus the §9.1 wait, so an attempt that legitimately rings
/// is ended by the ring timeout and its CANCEL, never by Timer C.
fn timer_c(config: &Config, timers: TimerConfig) -> Duration {
    let ringing = config
        .calls
        .ring_timeout
        .saturating_add(timers.transaction_timeout());
    timers.c.max(ringing)
}

/// How long a call may take to tear down after its last deadline: a relayed re-INVITE may
/// run until Timer C, then a BYE or the wait after a CANCEL (64*T1), and a 2xx that crossed
/// our CANCEL is hung up with one more BYE (64*T1).
pub fn teardown_margin(timers: TimerConfig) -> Duration {
    timers
        .c
        .saturating_add(timers.transaction_timeout().saturating_mul(2))
}

impl B2bua {
    /// When the audit runs next; only while calls are in memory.
    pub(super) fn audit_timeout(&self) -> Option<Instant> {
        (!self.sessions.is_empty()).then_some(self.next_audit)
    }

    /// Reaps every call past its deadlines plus the teardown margin, when the audit is due.
    pub(super) fn run_audit(&mut self, now: Instant) {
        if now < self.next_audit {
            return;
        }
        self.next_audit = now + AUDIT_EVERY;
        let margin = teardown_margin(self.layer.timer_config());
        let mut overdue: Vec<CallKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.lifespan().is_overdue(now, margin))
            .map(|(key, _)| *key)
            .collect();
        overdue.sort_unstable();
        for key in overdue {
            self.reap(key, now);
        }
    }

    /// Frees one call that escaped its timers: its client transactions are dropped, the
    /// session answers what still waits for it and writes its CDR, then it is removed.
    pub(super) fn reap(&mut self, key: CallKey, now: Instant) {
        let Some(mut session) = self.sessions.remove(&key) else {
            return;
        };
        for tx in self.owners.take_call(key) {
            self.layer.abandon(tx);
        }
        {
            let _entered = session.span().clone().entered();
            let (id, call_id) = session.ids();
            tracing::warn!(
                id,
                call_id,
                answered = session.is_answered(),
                "call outlived its deadlines: reaped"
            );
            let mut ctx = self.ctx(now);
            session.reap(&mut ctx);
        }
        self.sessions.insert(key, session);
        self.remove_session(key, now);
        self.stats.calls_reaped += 1;
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
