//! The answered call's two dialogs as the store keeps them for crash recovery (see
//! [`crate::call::live_dialog`]), and a cheap fingerprint that tells when they changed.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::call::live_dialog::{CallDialogs, LegDialog};
use crate::sip::dialog::{Dialog, LocalEndpoint};

use crate::b2bua::session::{CallSession, Phase};

impl CallSession {
    /// Both dialogs while the call is answered and nobody has hung up yet: both are then
    /// confirmed (we sent the caller our 2xx, the callee sent us its 2xx).
    pub fn dialogs(&self, local: &LocalEndpoint) -> Option<CallDialogs> {
        self.talking().then(|| CallDialogs {
            a: LegDialog::of(&self.a.dialog, local),
            b: LegDialog::of(&self.b().dialog, local),
        })
    }

    /// A hash of what [`Self::dialogs`] would hold, without allocating: it changes when our
    /// CSeq moves (a request we sent), on a target refresh (re-INVITE, UPDATE) or a new route.
    pub fn dialogs_fingerprint(&self) -> Option<u64> {
        if !self.talking() {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        hash_dialog(&self.a.dialog, &mut hasher);
        hash_dialog(&self.b().dialog, &mut hasher);
        Some(hasher.finish())
    }

    /// Our id of the call (the CDR's and the live row's key).
    pub fn call_uid(&self) -> &str {
        &self.live.id
    }

    fn talking(&self) -> bool {
        self.phase == Phase::Answered && !self.recorded
    }
}

fn hash_dialog(d: &Dialog, h: &mut DefaultHasher) {
    d.call_id.hash(h);
    d.local_tag.hash(h);
    d.remote_tag.hash(h);
    d.local_seq.hash(h);
    d.remote_target.hash(h);
    d.route_set.hash(h);
    d.peer.hash(h);
}
