//! The compact records of completed transactions (issue 12): once a transaction only absorbs
//! retransmissions, the layer drops its state machine and timer slots and keeps one of these,
//! queued by expiry in a [`RecordQueue`](super::fifo::RecordQueue) per kind:
//!
//! - server INVITE, Accepted after the ACK for its 2xx (RFC 6026 §7.1: "The server transaction
//!   MUST NOT generate 2xx retransmissions on its own. Any retransmission of the 2xx response
//!   passed from the TU to the transaction while in the Accepted state MUST be passed to the
//!   transport", and INVITE retransmissions are absorbed), until Timer L;
//! - server non-INVITE, Completed (RFC 3261 §17.2.2: "While in the Completed state, the server
//!   transaction MUST pass the final response to the transport layer for retransmission
//!   whenever a retransmission of the request is received"), until Timer J;
//! - client INVITE, Accepted (RFC 6026 §7.2: 2xx retransmissions are passed up, and each is
//!   re-ACKed; §13.2.2.4), until Timer M;
//! - client non-INVITE, Completed (RFC 3261 §17.1.2.2: "buffer any additional response
//!   retransmissions that may be received"), until Timer K.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use super::TxId;
use super::TxState;
use super::answer::KeptResponse;
use super::fingerprint::Fingerprint;
use super::leg::Legs;
use super::peers::{PeerRef, Peers};
use crate::sip::peer::{Peer, Transport};

/// Which queue a record is in.
// The four kinds are RFC 3261's role x method pairs; the common suffix is the point.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    ServerInvite,
    ServerNonInvite,
    ClientInvite,
    ClientNonInvite,
}

impl RecordKind {
    /// The state the transaction rests in while it is a record.
    pub(crate) fn state(self) -> TxState {
        match self {
            RecordKind::ServerInvite | RecordKind::ClientInvite => TxState::Accepted,
            RecordKind::ServerNonInvite | RecordKind::ClientNonInvite => TxState::Completed,
        }
    }

    pub(crate) fn is_client(self) -> bool {
        matches!(self, RecordKind::ClientInvite | RecordKind::ClientNonInvite)
    }
}

/// Where a record is: its queue and sequence number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef {
    pub kind: RecordKind,
    pub seq: u64,
}

/// The bits of a handle that hold the sequence number (the two above them hold the kind): a
/// queue never holds 2^30 records at once, so the low bits name one unambiguously.
pub(crate) const SEQ_BITS: u32 = (1 << 30) - 1;

impl RecordRef {
    /// The 4-byte form the indexes hold: the kind and the sequence number's low 30 bits.
    pub(crate) fn handle(self) -> u32 {
        let kind = match self.kind {
            RecordKind::ServerInvite => 0,
            RecordKind::ServerNonInvite => 1,
            RecordKind::ClientInvite => 2,
            RecordKind::ClientNonInvite => 3,
        };
        (kind << 30) | (self.seq as u32 & SEQ_BITS)
    }

    /// The kind a handle names (its sequence number is resolved against its queue).
    pub(crate) fn kind_of(handle: u32) -> RecordKind {
        match handle >> 30 {
            0 => RecordKind::ServerInvite,
            1 => RecordKind::ServerNonInvite,
            2 => RecordKind::ClientInvite,
            _ => RecordKind::ClientNonInvite,
        }
    }
}

/// A server INVITE that sent a 2xx and got its ACK: INVITE retransmissions are absorbed,
/// ACK retransmissions go to the TU tied to it.
#[derive(Debug)]
pub(crate) struct ServerInviteRecord {
    pub id: TxId,
    pub key: Fingerprint,
    pub ack_key: Option<Fingerprint>,
    /// For a 2xx the TU still passes down (RFC 6026 §7.1).
    pub peer: PeerRef,
    /// For the 200 to a late CANCEL (§9.2: the same To tag SHOULD be used).
    pub to_tag: Option<Box<str>>,
}

/// A server non-INVITE that sent its final response.
#[derive(Debug)]
pub(crate) struct ServerNonInviteRecord {
    pub id: TxId,
    pub key: Fingerprint,
    pub peer: PeerRef,
    pub last: KeptResponse,
}

/// A client INVITE that received a 2xx: its 2xx legs (forks), each with what re-ACKs it.
#[derive(Debug)]
pub(crate) struct ClientInviteRecord {
    pub id: TxId,
    pub key: Fingerprint,
    pub legs: Legs,
}

/// A client non-INVITE that received its final response: only absorbs.
#[derive(Debug)]
pub(crate) struct ClientNonInviteRecord {
    pub id: TxId,
    pub key: Fingerprint,
}

/// A transaction handed over as a record (see `ServerTx::retire`, `ClientTx::retire`).
#[allow(clippy::enum_variant_names)]
#[derive(Debug)]
pub(crate) enum Retired {
    ServerInvite(ServerInviteRecord),
    ServerNonInvite(ServerNonInviteRecord),
    ClientInvite(ClientInviteRecord),
    ClientNonInvite(ClientNonInviteRecord),
}

impl Retired {
    pub(crate) fn id(&self) -> TxId {
        match self {
            Retired::ServerInvite(r) => r.id,
            Retired::ServerNonInvite(r) => r.id,
            Retired::ClientInvite(r) => r.id,
            Retired::ClientNonInvite(r) => r.id,
        }
    }

    /// The key the transaction was matched by (RFC 3261 §17.1.3, §17.2.3).
    pub(crate) fn key(&self) -> Fingerprint {
        match self {
            Retired::ServerInvite(r) => r.key,
            Retired::ServerNonInvite(r) => r.key,
            Retired::ClientInvite(r) => r.key,
            Retired::ClientNonInvite(r) => r.key,
        }
    }

    /// Gives back the peers the record names (it is being dropped).
    pub(crate) fn release(self, peers: &mut Peers) {
        match self {
            Retired::ServerInvite(r) => peers.release(r.peer),
            Retired::ServerNonInvite(r) => peers.release(r.peer),
            Retired::ClientInvite(r) => r.legs.release(peers),
            Retired::ClientNonInvite(_) => {}
        }
    }

    /// The dialog key of an accepted server INVITE, for its 2xx ACKs.
    pub(crate) fn ack_key(&self) -> Option<Fingerprint> {
        match self {
            Retired::ServerInvite(r) => r.ack_key,
            _ => None,
        }
    }
}

/// A [`Peer`] in 24 bytes instead of 36 (records name one through [`Peers`]): the address as 16 bytes (IPv4 mapped), the port, the
/// IPv6 scope and the transport (the IPv6 flow label is not kept: we send with none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CompactPeer {
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
