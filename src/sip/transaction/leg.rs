//! The 2xx legs of an accepted client INVITE (RFC 6026 §7.2): one per To tag (forking can
//! bring several), each with the ACK the TU sent for it, re-sent for every retransmission of
//! that 2xx (RFC 3261 §13.2.2.4: "The ACK MUST be passed to the client transport every time
//! a retransmission of the 2xx final response that triggered the ACK arrives"). The ACK is
//! kept as the recipe that rebuilds it from the 2xx (`ack_recipe`), or as its bytes when no
//! recipe rebuilds it exactly.

use bytes::Bytes;

use super::ack_recipe::AckRecipe;
use super::outbox::{Ctx, kept_bytes};
use super::record::{ClientInviteRecord, CompactPeer};
use super::{TxError, TxEvent};
use crate::sip::message::SipMessage;
use crate::sip::peer::Peer;

/// One 2xx dialog of an accepted INVITE.
#[derive(Debug)]
pub(crate) struct AcceptedLeg {
    to_tag: Option<Box<str>>,
    ack: LegAck,
}

/// What re-ACKs a leg's 2xx.
#[derive(Debug)]
enum LegAck {
    /// No ACK yet: the 2xx's bytes (shared with the received datagram), for the recipe.
    Waiting(Bytes),
    /// The ACK, rebuilt from each retransmitted 2xx.
    Rebuilt(AckRecipe, CompactPeer),
    /// The ACK's bytes (no recipe rebuilt them exactly, or the 2xx was not seen).
    Wire(Bytes, CompactPeer),
}

impl AcceptedLeg {
    /// The leg a 2xx opens, before the TU's ACK.
    pub(crate) fn of(response: &SipMessage) -> AcceptedLeg {
        AcceptedLeg {
            to_tag: to_tag(response),
            ack: LegAck::Waiting(response.wire_bytes()),
        }
    }

    /// The ACK to re-send for `response`, a retransmission of this leg's 2xx.
    fn re_ack(&self, response: &SipMessage) -> Option<(Bytes, Peer)> {
        match &self.ack {
            LegAck::Waiting(_) => None,
            LegAck::Rebuilt(recipe, peer) => {
                Some((recipe.rebuild(&response.wire_bytes())?, (*peer).into()))
            }
            LegAck::Wire(bytes, peer) => Some((bytes.clone(), (*peer).into())),
        }
    }
}

impl ClientInviteRecord {
    /// A response in Accepted. RFC 6026 §7.2: every 2xx goes to the TU. A repeat of a 2xx
    /// already seen (same To tag) is flagged as a retransmission and re-ACKed with the TU's
    /// ACK; a 2xx from a new fork opens a new leg; anything else is absorbed.
    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: SipMessage) {
        if !response.status().is_some_and(|s| (200..300).contains(&s)) {
            ctx.absorbed();
            return;
        }
        let tag = to_tag(&response);
        let retransmission = match self.legs.iter().find(|leg| leg.to_tag == tag) {
            Some(leg) => {
                if let Some((ack, peer)) = leg.re_ack(&response) {
                    ctx.resend(peer, ack);
                }
                true
            }
            None => {
                self.add_leg(AcceptedLeg::of(&response));
                false
            }
        };
        ctx.emit(TxEvent::Response {
            tx: ctx.tx,
            response,
            retransmission,
        });
    }

    /// The TU's ACK for a 2xx (§13.2.2.4): sent now and kept for that 2xx's retransmissions,
    /// as its recipe when one rebuilds it from the 2xx byte for byte.
    pub(crate) fn send_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        ack: SipMessage,
        peer: Peer,
    ) -> Result<(), TxError> {
        let tag = to_tag(&ack);
        let bytes = ack.wire_bytes();
        let compact = CompactPeer::from(peer);
        let leg = self.legs.iter_mut().find(|leg| leg.to_tag == tag);
        let recipe = match leg.as_ref().map(|leg| &leg.ack) {
            Some(LegAck::Waiting(response)) => AckRecipe::of(&bytes, response),
            _ => None,
        };
        let kept = match recipe {
            Some(recipe) => {
                ctx.send(peer, bytes);
                LegAck::Rebuilt(recipe, compact)
            }
            None => {
                let bytes = kept_bytes(&ack);
                ctx.send(peer, bytes.clone());
                LegAck::Wire(bytes, compact)
            }
        };
        match leg {
            Some(leg) => leg.ack = kept,
            None => self.add_leg(AcceptedLeg {
                to_tag: tag,
                ack: kept,
            }),
        }
        Ok(())
    }

    /// One more 2xx leg, in a vector of exactly the legs' size: nearly every INVITE has one,
    /// kept for Timer M's 32 s, and a first `push` would reserve four (issue 12).
    fn add_leg(&mut self, leg: AcceptedLeg) {
        self.legs.reserve_exact(1);
        self.legs.push(leg);
    }
}

fn to_tag(message: &SipMessage) -> Option<Box<str>> {
    message.to().ok()?.tag().map(Box::from)
}
