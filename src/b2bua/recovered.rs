//! Calls a crash left answered: at start-up calltrack sends BYE on both of their legs and
//! answers what the peers still send in those dialogs, for a bounded time.
//!
//! - Each leg gets a BYE built from the stored dialog (RFC 3261 §15.1.1, §12.2.1.1): the
//!   stored Call-ID and tags, CSeq = last local + 1, Route from the route set, Request-URI the
//!   remote target, sent to the recorded peer over the recorded transport. It goes through
//!   the transaction layer like any BYE, so retransmissions and Timer F apply; the sends wait
//!   for the first timer (due at once), so start-up never waits for them.
//! - A request that arrives in such a dialog (matched by Call-ID and our tag):
//!   - BYE gets 200 (§15.1.2: the UAS of a BYE answers 2xx; the call is over either way, and
//!     a BYE crossing ours is a normal glare),
//!   - ACK is absorbed (a retransmitted 2xx ACK never gets a response),
//!   - any other request (re-INVITE, UPDATE, INFO, ...) gets 481: there is no session left
//!     for it, and our BYE is on its way (§12.2.2),
//!   - from a source outside the leg's trusted set, 403, like requests of live calls.
//! - A recovered dialog is forgotten 64·T1 after its BYE transaction ended (a BYE the peer
//!   sent before ours arrived is retransmitted for at most 64·T1, §17.1.2.2), so at most
//!   Timer F + 64·T1 after start-up. Later requests get the usual 481.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::sip::dialog::Dialog;
use crate::sip::message::Method;
use crate::sip::transaction::TxId;
use crate::sip::{Peer, SipMessage};

use crate::b2bua::B2bua;
use crate::b2bua::session::Leg;
use crate::call::live_dialog::{InterruptedCall, LegDialog};
use crate::edge;

/// `(Call-ID, our tag)`: how a request finds its dialog.
type DialogKey = (String, String);

/// What is left of the calls the previous process could not end.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    /// BYEs not sent yet, with the dialog they end.
    pending: Vec<(DialogKey, Dialog)>,
    dialogs: HashMap<DialogKey, RecoveredDialog>,
    byes: HashMap<TxId, DialogKey>,
    /// When each dialog whose BYE has ended is forgotten, in time order (BYEs end in order
    /// of `now`, and the linger is the same for all).
    forget: VecDeque<(Instant, DialogKey)>,
}

#[derive(Debug)]
struct RecoveredDialog {
    /// Our CDR id of the call.
    call: String,
    leg: Leg,
}

impl Recovered {
    pub(super) fn owns(&self, tx: TxId) -> bool {
        self.byes.contains_key(&tx)
    }

    /// The earliest moment something is to be done: now while BYEs wait to be sent.
    pub(super) fn poll_timeout(&self, last_now: Instant) -> Option<Instant> {
        if !self.pending.is_empty() {
            return Some(last_now);
        }
        self.forget.front().map(|(at, _)| *at)
    }
}

impl B2bua {
    /// Takes over the answered calls a crash interrupted: a BYE is sent on both legs of each
    /// at the next timer (due at once). The store has already recorded them as `interrupted`.
    pub fn recover(&mut self, now: Instant, calls: Vec<InterruptedCall>) {
        self.last_now = now;
        if calls.is_empty() {
            return;
        }
        tracing::warn!(
            calls = calls.len(),
            "sending BYE on both legs of the calls interrupted by the previous shutdown"
        );
        for call in calls {
            for (leg, stored) in [(Leg::A, &call.dialogs.a), (Leg::B, &call.dialogs.b)] {
                // Each shard is handed every call and ends the legs whose answers reach it.
                if self.seat.owns_call_id(&stored.call_id) {
                    self.take_leg(&call.id, leg, stored);
                }
            }
        }
    }

    fn take_leg(&mut self, call: &str, leg: Leg, stored: &LegDialog) {
        let dialog = match stored.to_dialog() {
            Ok(dialog) => dialog,
            Err(error) => {
                tracing::warn!(%call, ?leg, %error, "stored dialog unusable; no BYE sent");
                return;
            }
        };
        let now_contact = self.local.contact(dialog.transport);
        if stored.local_contact != now_contact {
            tracing::warn!(%call, ?leg, before = %stored.local_contact, now = %now_contact,
                "our Contact changed since the crash; the peer may still send to the old one");
        }
        let key = (dialog.call_id.clone(), dialog.local_tag.clone());
        let entry = RecoveredDialog {
            call: call.to_string(),
            leg,
        };
        self.recovered.dialogs.insert(key.clone(), entry);
        self.recovered.pending.push((key, dialog));
    }

    /// Sends the waiting BYEs and forgets dialogs whose time is up.
    pub(super) fn run_recovered(&mut self, now: Instant) {
        for (key, mut dialog) in std::mem::take(&mut self.recovered.pending) {
            let branch = self.ids.branch();
            let bye = dialog.request(&Method::Bye, &self.local, &branch).finish();
            let call = self.recovered.dialogs.get(&key).map(|d| d.call.clone());
            match self.layer.send_request(now, bye, dialog.peer) {
                Ok(tx) => {
                    tracing::info!(call = call.as_deref().unwrap_or(""), call_id = %key.0,
                        cseq = dialog.local_seq, peer = %dialog.peer, "BYE sent to end an interrupted call");
                    self.recovered.byes.insert(tx, key);
                }
                Err(error) => {
                    tracing::warn!(call = call.as_deref().unwrap_or(""), call_id = %key.0, %error,
                        "BYE for an interrupted call not sent");
                    self.bye_ended(now, &key);
                }
            }
        }
        while let Some((at, key)) = self.recovered.forget.pop_front() {
            if at > now {
                self.recovered.forget.push_front((at, key));
                break;
            }
            self.recovered.dialogs.remove(&key);
        }
    }

    /// The outcome of one of our BYEs: a final response (`Some(status)`) or none (Timer F
    /// or a transport error).
    pub(super) fn on_recovered_bye(&mut self, now: Instant, tx: TxId, status: Option<u16>) {
        if status.is_some_and(|s| s < 200) {
            return;
        }
        let Some(key) = self.recovered.byes.remove(&tx) else {
            return;
        };
        let call = self.recovered.dialogs.get(&key).map(|d| d.call.clone());
        let call = call.as_deref().unwrap_or("");
        match status {
            Some(status) => {
                tracing::info!(call, call_id = %key.0, status, "interrupted call: BYE answered");
            }
            None => tracing::warn!(call, call_id = %key.0, "interrupted call: BYE not answered"),
        }
        self.bye_ended(now, &key);
    }

    fn bye_ended(&mut self, now: Instant, key: &DialogKey) {
        let linger = self.config.sip.timers.t1 * 64;
        self.recovered.forget.push_back((now + linger, key.clone()));
    }

    /// Answers a request in a recovered dialog (see the module doc); false if the request
    /// belongs to none.
    pub(super) fn answer_recovered(
        &mut self,
        now: Instant,
        tx: TxId,
        request: &SipMessage,
        peer: Peer,
    ) -> bool {
        let Some(leg) = self.recovered_leg(request) else {
            return false;
        };
        let status = if !edge::side_source_ok(&self.config, leg.side(), peer) {
            403
        } else if request.method() == Some(&Method::Bye) {
            200
        } else {
            481
        };
        tracing::info!(%peer, ?leg, status, method = ?request.method(),
            "request in the dialog of an interrupted call");
        self.respond_status(now, tx, request, peer, status);
        true
    }

    fn recovered_leg(&self, request: &SipMessage) -> Option<Leg> {
        if self.recovered.dialogs.is_empty() {
            return None;
        }
        let call_id = request.call_id()?;
        let tag = request.to().ok()?.tag()?;
        let key = (call_id.to_string(), tag.to_string());
        self.recovered.dialogs.get(&key).map(|d| d.leg)
    }
}
