//! The 2xx legs of an accepted client INVITE (RFC 6026 §7.2): one per To tag (forking can
//! bring several), each with the ACK the TU sent for it, re-sent for every retransmission of
//! that 2xx (RFC 3261 §13.2.2.4: "The ACK MUST be passed to the client transport every time
//! a retransmission of the 2xx final response that triggered the ACK arrives"). The ACK is
//! kept as the recipe that rebuilds it from the 2xx (`ack_recipe`), or as its bytes when no
//! recipe rebuilds it exactly.
//!
//! A leg knows its To tag by a keyed 64-bit hash (`Outbox::tags`, random per layer): it is
//! only compared, and forks of one INVITE are a handful, so a peer cannot aim at a collision
//! and chance one is 2^-64 per pair (issue 12: the tag's own allocation is gone). The first
//! leg sits in the record itself; further forks' legs, rare, in a vector of their own.

use std::hash::BuildHasher;

use bytes::Bytes;

use super::ack_recipe::AckRecipe;
use super::outbox::{Ctx, kept_bytes};
use super::peers::{PeerRef, Peers};
use super::record::ClientInviteRecord;
use super::{TxError, TxEvent};
use crate::sip::message::SipMessage;
use crate::sip::peer::Peer;

/// One 2xx dialog of an accepted INVITE.
#[derive(Debug)]
pub(crate) struct AcceptedLeg {
    /// The keyed hash of its To tag (of `None` when the 2xx had none).
    to_tag: u64,
    ack: LegAck,
}

/// The 2xx legs of an accepted INVITE: nearly always one.
#[derive(Debug, Default)]
pub(crate) struct Legs {
    first: Option<AcceptedLeg>,
    /// Boxed on purpose: 8 bytes in every record for what nearly none has (a vector is 24).
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<AcceptedLeg>>>,
}

impl Legs {
    pub(crate) fn of(first: Option<AcceptedLeg>) -> Legs {
        Legs { first, more: None }
    }

    fn find(&self, tag: u64) -> Option<&AcceptedLeg> {
        let more = self.more.iter().flat_map(|more| more.iter());
        self.first.iter().chain(more).find(|leg| leg.to_tag == tag)
    }

    fn find_mut(&mut self, tag: u64) -> Option<&mut AcceptedLeg> {
        let more = self.more.iter_mut().flat_map(|more| more.iter_mut());
        self.first
            .iter_mut()
            .chain(more)
            .find(|leg| leg.to_tag == tag)
    }

    /// Gives back the peers the legs' ACKs go to (the record is being dropped).
    pub(crate) fn release(self, peers: &mut Peers) {
        let more = self.more.into_iter().flat_map(|more| *more);
        for leg in self.first.into_iter().chain(more) {
            leg.ack.release(peers);
        }
    }

    /// One more 2xx leg (a fork), out of line unless it is the first.
    fn push(&mut self, leg: AcceptedLeg) {
        match &mut self.first {
            None => self.first = Some(leg),
            Some(_) => self.more.get_or_insert_default().push(leg),
        }
    }
}

/// What re-ACKs a leg's 2xx.
#[derive(Debug)]
enum LegAck {
    /// No ACK yet: the 2xx's bytes (shared with the received datagram), for the recipe.
    Waiting(Bytes),
    /// The ACK, rebuilt from each retransmitted 2xx.
    Rebuilt(AckRecipe, PeerRef),
    /// The ACK's bytes (no recipe rebuilt them exactly, or the 2xx was not seen).
    Wire(Bytes, PeerRef),
}

impl AcceptedLeg {
    /// The leg a 2xx opens, before the TU's ACK.
    pub(crate) fn of(ctx: &Ctx<'_>, response: &SipMessage) -> AcceptedLeg {
        AcceptedLeg {
            to_tag: to_tag(ctx, response),
            ack: LegAck::Waiting(response.wire_bytes()),
        }
    }

    /// The ACK to re-send for `response`, a retransmission of this leg's 2xx.
    fn re_ack(&self, peers: &Peers, response: &SipMessage) -> Option<(Bytes, Peer)> {
        match &self.ack {
            LegAck::Waiting(_) => None,
            LegAck::Rebuilt(recipe, peer) => {
                Some((recipe.rebuild(&response.wire_bytes())?, peers.get(peer)?))
            }
            LegAck::Wire(bytes, peer) => Some((bytes.clone(), peers.get(peer)?)),
        }
    }
}

impl LegAck {
    fn release(self, peers: &mut Peers) {
        match self {
            LegAck::Waiting(_) => {}
            LegAck::Rebuilt(_, peer) | LegAck::Wire(_, peer) => peers.release(peer),
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
        let tag = to_tag(ctx, &response);
        let retransmission = match self.legs.find(tag) {
            Some(leg) => {
                if let Some((ack, peer)) = leg.re_ack(&ctx.out.peers, &response) {
                    ctx.resend(peer, ack);
                }
                true
            }
            None => {
                let leg = AcceptedLeg::of(ctx, &response);
                self.legs.push(leg);
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
        let tag = to_tag(ctx, &ack);
        let bytes = ack.wire_bytes();
        let leg = self.legs.find_mut(tag);
        let recipe = match leg.as_ref().map(|leg| &leg.ack) {
            Some(LegAck::Waiting(response)) => AckRecipe::of(&bytes, response),
            _ => None,
        };
        let kept = match recipe {
            Some(recipe) => {
                ctx.send(peer, bytes);
                LegAck::Rebuilt(recipe, ctx.out.peers.hold(peer))
            }
            None => {
                let bytes = kept_bytes(&ack);
                ctx.send(peer, bytes.clone());
                LegAck::Wire(bytes, ctx.out.peers.hold(peer))
            }
        };
        match leg {
            Some(leg) => std::mem::replace(&mut leg.ack, kept).release(&mut ctx.out.peers),
            None => self.legs.push(AcceptedLeg {
                to_tag: tag,
                ack: kept,
            }),
        }
        Ok(())
    }
}

/// The keyed hash of a message's To tag (or of its absence).
fn to_tag(ctx: &Ctx<'_>, message: &SipMessage) -> u64 {
    let to = message.to().ok();
    ctx.out.tags.hash_one(to.as_ref().and_then(|to| to.tag()))
}
