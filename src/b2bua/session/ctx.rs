//! What a session may use while handling one input: the clock reading, the transaction
//! layer, id generation and the outputs it reports to.

use std::collections::VecDeque;
use std::time::Instant;

use crate::sip::dialog::{Ids, LocalEndpoint};
use crate::sip::transaction::{TransactionLayer, TxId};
use crate::sip::{Peer, SipMessage};

use crate::b2bua::bridge::CopyRules;
use crate::b2bua::event::{CallEvent, CallKey};
use crate::b2bua::{Owners, WallClock};
use crate::routing::rotation::Rotation;

/// What a session may use while handling one input.
pub struct Ctx<'a> {
    pub now: Instant,
    pub layer: &'a mut TransactionLayer,
    pub ids: &'a mut Ids,
    pub local: &'a LocalEndpoint,
    pub owners: &'a mut Owners,
    pub events: &'a mut VecDeque<CallEvent>,
    pub clock: &'a WallClock,
    pub rules: CopyRules<'a>,
    /// Round-robin rotation and stickiness shared by every call.
    pub rotation: &'a mut Rotation,
    /// The RTP relay: SDP of relayed calls is rewritten through it.
    pub media: &'a crate::media::MediaTable,
}

impl Ctx<'_> {
    /// Starts a client transaction owned by `key`; a refused send is reported as `None`.
    pub(super) fn send(&mut self, key: CallKey, request: SipMessage, peer: Peer) -> Option<TxId> {
        match self.layer.send_request(self.now, request, peer) {
            Ok(tx) => {
                self.owners.insert(tx, key);
                Some(tx)
            }
            Err(error) => {
                tracing::warn!(%error, "request not sent");
                None
            }
        }
    }

    /// Sends a response on a server transaction; a refusal is only logged.
    pub(super) fn respond(&mut self, tx: TxId, response: SipMessage) {
        if let Err(error) = self.layer.respond(self.now, tx, response) {
            tracing::debug!(%error, "response not sent");
        }
    }

    /// The wall-clock time of this input.
    pub(super) fn wall(&self) -> jiff::Timestamp {
        self.clock.at(self.now)
    }
}
