//! Keeping answered calls' dialogs in the store, so that a restart after a crash can end
//! them (see `recovered.rs`): a [`CallEvent::Dialogs`] when a call is answered and again
//! whenever what a BYE needs has changed. The check after each input is a hash of a few
//! fields; an event (one batched row update) only follows a change, i.e. an answer or an
//! in-dialog request calltrack sent, never an ordinary message.

use crate::b2bua::{B2bua, CallEvent, CallKey};

impl B2bua {
    pub(super) fn keep_dialogs(&mut self, key: CallKey) {
        let Some(session) = self.sessions.get(&key) else {
            return;
        };
        let Some(fingerprint) = session.dialogs_fingerprint() else {
            return;
        };
        if self.kept.get(&key) == Some(&fingerprint) {
            return;
        }
        if let Some(dialogs) = session.dialogs(&self.local) {
            self.kept.insert(key, fingerprint);
            self.events.push_back(CallEvent::Dialogs {
                id: session.call_uid().to_string(),
                dialogs,
            });
        }
    }
}
