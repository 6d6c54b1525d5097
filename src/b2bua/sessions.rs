//! Running sessions: the context they act through, finding a session by transaction or
//! key, its timers, and removing it once done.

use std::cmp::Reverse;
use std::time::Instant;

use crate::sip::transaction::TxId;

use crate::b2bua::bridge::CopyRules;
use crate::b2bua::session::{CallSession, Ctx};
use crate::b2bua::{B2bua, CallKey};

impl B2bua {
    pub(super) fn ctx(&mut self, now: Instant) -> Ctx<'_> {
        Ctx {
            now,
            layer: &mut self.layer,
            ids: &mut self.ids,
            local: &self.local,
            owners: &mut self.owners,
            events: &mut self.events,
            clock: &self.clock,
            rules: CopyRules {
                reserved_prefix: &self.config.tracking.header_prefix,
                max_value_bytes: self.config.tracking.max_forwarded_header_bytes,
                carrier_diversion: self.config.tracking.keep_carrier_diversion,
            },
            rotation: &mut self.rotation,
            media: &self.media,
        }
    }

    pub(super) fn with_owner(
        &mut self,
        tx: TxId,
        now: Instant,
        f: impl FnOnce(&mut CallSession, &mut Ctx<'_>),
    ) {
        if let Some(key) = self.owners.get(&tx) {
            self.with_session(key, now, f);
        }
    }

    pub(super) fn with_session(
        &mut self,
        key: CallKey,
        now: Instant,
        f: impl FnOnce(&mut CallSession, &mut Ctx<'_>),
    ) {
        let Some(mut session) = self.sessions.remove(&key) else {
            return;
        };
        {
            let _entered = session.span().clone().entered();
            let mut ctx = self.ctx(now);
            f(&mut session, &mut ctx);
        }
        self.sessions.insert(key, session);
        self.after_session(key, now);
    }

    /// Keeps the dialogs of an answered call (`kept.rs`), registers the session's new
    /// dialogs, re-arms its timer, or removes the session once it is done.
    pub(super) fn after_session(&mut self, key: CallKey, now: Instant) {
        self.decide_code(key, now);
        self.route_menu_choice(key, now);
        self.keep_dialogs(key);
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        for (call_id, tag, leg) in session.new_dialog_keys() {
            self.dialogs.insert(call_id, tag, (key, leg));
        }
        if session.is_done() {
            self.remove_session(key, now);
            return;
        }
        if session.is_over() {
            self.over.insert(key);
        }
        match session.next_deadline() {
            Some(due) if self.armed.get(&key) != Some(&due) => {
                self.armed.insert(key, due);
                self.deadlines.push(Reverse((due, key)));
            }
            Some(_) => {}
            None => {
                self.armed.remove(&key);
            }
        }
    }

    pub(super) fn remove_session(&mut self, key: CallKey, now: Instant) {
        // Every way out of a call passes here: its ports are never kept (idempotent).
        self.media.release(key.0, now);
        if let Some(session) = self.sessions.remove(&key) {
            for (call_id, tag, _) in session.dialog_keys() {
                self.dialogs.remove(call_id, tag);
            }
            self.leases
                .call_ended(session.tracking_number(), self.clock.at(now));
        }
        self.owners.remove_call(key);
        self.armed.remove(&key);
        self.prune_deadlines();
        self.kept.remove(&key);
        self.over.remove(&key);
    }

    /// Drops heap entries no session is armed with any more (re-armed, or the call is gone)
    /// once they outnumber the armed ones: otherwise each call's maximum-duration entry would
    /// stay until it is due, hours later, and the heap would grow with the call rate. Amortised
    /// O(1) per removal, like the transaction layer's `prune_timers`.
    fn prune_deadlines(&mut self) {
        if self.deadlines.len() > 64 + 2 * self.armed.len() {
            let armed = &self.armed;
            self.deadlines
                .retain(|Reverse((due, key))| armed.get(key) == Some(due));
        }
    }

    pub(super) fn fire_deadlines(&mut self, now: Instant) {
        while let Some(Reverse((due, key))) = self.deadlines.peek().copied() {
            if due > now {
                break;
            }
            self.deadlines.pop();
            if self.armed.get(&key) == Some(&due) {
                self.armed.remove(&key);
                self.with_session(key, now, |s, ctx| s.on_deadline(ctx));
            }
        }
    }

    pub(super) fn terminate_all(&mut self, now: Instant) {
        let keys: Vec<CallKey> = self.sessions.keys().copied().collect();
        for key in keys {
            self.with_session(key, now, |s, ctx| s.terminate(ctx));
        }
    }
}
