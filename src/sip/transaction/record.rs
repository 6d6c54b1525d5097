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

use super::TxId;
use super::TxState;
use super::answer::KeptResponse;
use super::fingerprint::Fingerprint;
use super::leg::Legs;
use super::peers::{PeerRef, Peers};

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
