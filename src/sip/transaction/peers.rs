//! The peers records answer to, each kept once for all the records that name it (issue 12):
//! an ended call's records name the carrier or the PBX it came through, a handful of
//! addresses for thousands of records, so a record holds a 4-byte [`PeerRef`] instead of a
//! 24-byte peer. Each reference is counted; the last one released frees its slot.
//!
//! A `PeerRef` is neither `Clone` nor `Copy`: it is given back exactly once, by
//! [`Peers::release`], so no slot is freed while a record still names it.

use std::collections::HashMap;

use super::record::CompactPeer;
use crate::sip::peer::Peer;

/// A counted reference to a peer in [`Peers`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PeerRef(u32);

#[derive(Debug)]
struct Slot {
    peer: CompactPeer,
    refs: u32,
}

/// The peers named by records.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_peer: HashMap<CompactPeer, u32>,
}

impl Peers {
    /// A reference to `peer`, counted until released.
    pub(crate) fn hold(&mut self, peer: Peer) -> PeerRef {
        let peer = CompactPeer::from(peer);
        if let Some(&at) = self.by_peer.get(&peer)
            && let Some(slot) = self.slots.get_mut(at as usize)
        {
            slot.refs += 1;
            return PeerRef(at);
        }
        let slot = Slot { peer, refs: 1 };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = slot;
                at
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_peer.insert(peer, at);
        PeerRef(at)
    }

    /// The peer a reference names.
    pub(crate) fn get(&self, peer: &PeerRef) -> Option<Peer> {
        let slot = self.slots.get(peer.0 as usize)?;
        (slot.refs > 0).then(|| Peer::from(slot.peer))
    }

    /// Gives a reference back; the last one frees its peer's slot.
    pub(crate) fn release(&mut self, peer: PeerRef) {
        let Some(slot) = self.slots.get_mut(peer.0 as usize) else {
            return;
        };
        slot.refs = slot.refs.saturating_sub(1);
        if slot.refs == 0 {
            self.by_peer.remove(&slot.peer);
            self.free.push(peer.0);
        }
    }

    /// Peers still named by some record.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_peer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::peer::Transport;

    fn peer(addr: &str) -> Peer {
        Peer::new(Transport::Udp, addr.parse().unwrap())
    }

    #[test]
    fn each_reference_names_its_peer_until_the_last_is_released() {
        let mut peers = Peers::default();
        let (a, b) = (peer("192.0.2.1:5060"), peer("[2001:db8::2]:5062"));
        let a1 = peers.hold(a);
        let b1 = peers.hold(b);
        let a2 = peers.hold(a);
        assert_eq!(a1, a2, "one slot per peer");
        assert_eq!(
            (peers.get(&a1), peers.get(&b1), peers.len()),
            (Some(a), Some(b), 2)
        );
        peers.release(a1);
        assert_eq!(peers.get(&a2), Some(a), "still named once");
        peers.release(a2);
        assert_eq!(peers.len(), 1);
        // The freed slot is reused for another peer; `b` is untouched.
        let c = peer("198.51.100.9:5060");
        let c1 = peers.hold(c);
        assert_eq!((peers.get(&c1), peers.get(&b1)), (Some(c), Some(b)));
        assert_eq!(peers.slots.len(), 2);
        peers.release(b1);
        peers.release(c1);
        assert_eq!(peers.len(), 0);
    }
}
