//! The peers records answer to, each kept once for all the records that name it (issue 12):
//! an ended call's records name the carrier or the PBX it came through, a handful of
//! addresses for thousands of records, so a record holds a 4-byte [`PeerRef`] instead of a
//! 24-byte peer. Each reference is counted; the last one released frees its slot.
//!
//! A `PeerRef` is neither `Clone` nor `Copy`: it is given back exactly once, by
//! [`Peers::release`], so no slot is freed while a record still names it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::sip::peer::{Peer, Transport};

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

/// A [`Peer`] in 24 bytes instead of 36 (the slots of [`Peers`]): the address as 16 bytes (IPv4 mapped), the port, the
/// IPv6 scope and the transport (the IPv6 flow label is not kept: we send with none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CompactPeer {
    ip: [u8; 16],
    scope_id: u32,
    port: u16,
    /// Bit 0: IPv6; bit 1: TCP.
    flags: u8,
}

impl From<Peer> for CompactPeer {
    fn from(peer: Peer) -> Self {
        let tcp = if peer.transport == Transport::Tcp {
            2
        } else {
            0
        };
        match peer.addr {
            SocketAddr::V4(v4) => CompactPeer {
                ip: v4.ip().to_ipv6_mapped().octets(),
                scope_id: 0,
                port: v4.port(),
                flags: tcp,
            },
            SocketAddr::V6(v6) => CompactPeer {
                ip: v6.ip().octets(),
                scope_id: v6.scope_id(),
                port: v6.port(),
                flags: tcp | 1,
            },
        }
    }
}

impl From<CompactPeer> for Peer {
    fn from(peer: CompactPeer) -> Self {
        let v6 = Ipv6Addr::from(peer.ip);
        let addr = match (peer.flags & 1, v6.to_ipv4_mapped()) {
            (0, Some(v4)) => SocketAddr::new(IpAddr::V4(v4), peer.port),
            (0, None) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), peer.port),
            _ => SocketAddr::V6(SocketAddrV6::new(v6, peer.port, 0, peer.scope_id)),
        };
        let transport = if peer.flags & 2 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        Peer::new(transport, addr)
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

    #[test]
    fn a_compact_peer_gives_back_the_same_peer() {
        for (transport, addr) in [
            (Transport::Udp, "192.0.2.7:5060"),
            (Transport::Tcp, "[2001:db8::1]:5061"),
            (Transport::Udp, "[::ffff:192.0.2.7]:5062"),
            (Transport::Udp, "[fe80::1%3]:5060"),
        ] {
            let peer = Peer::new(transport, addr.parse().unwrap());
            assert_eq!(Peer::from(CompactPeer::from(peer)), peer, "{addr}");
        }
        assert_eq!(std::mem::size_of::<CompactPeer>(), 24);
    }
}
