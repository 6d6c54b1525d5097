//! The vocabulary the TU sees: transaction ids and states, events, errors and counters.

use std::fmt;
use std::num::NonZeroU64;

use thiserror::Error;

use crate::sip::message::SipMessage;
use crate::sip::peer::Peer;

/// Names one transaction for the lifetime of the layer (never reused). Never zero, so a
/// record holding one is as small in an `Option` as without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub(super) NonZeroU64);

impl TxId {
    /// The raw number, for logs and metrics.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// The states of Figures 5-8 of RFC 3261, plus Accepted (RFC 6026 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// What the layer tells the transaction user.
#[derive(Debug)]
pub enum TxEvent {
    /// A request that created a new server transaction (any method but ACK; a CANCEL that
    /// matches no INVITE server transaction also arrives here). For INVITE the layer has
    /// already sent 100 Trying (built with `response_to`).
    Request {
        tx: TxId,
        request: SipMessage,
        peer: Peer,
    },
    /// A CANCEL matching a live INVITE server transaction (RFC 3261 §9.2): the layer already
    /// answered 200 OK to the CANCEL itself. If the INVITE transaction has no final response
    /// yet, the TU must answer it 487 (via `respond`) and cancel its own downstream work.
    Cancel {
        invite_tx: TxId,
        cancel: SipMessage,
        peer: Peer,
    },
    /// An ACK that is not absorbed by a server transaction (the ACK for a 2xx, end to end).
    /// `invite_tx` is the accepted INVITE server transaction it acknowledges, when known
    /// (matched by Call-ID + CSeq number + From tag). Retransmitted ACKs arrive here too.
    Ack {
        request: SipMessage,
        peer: Peer,
        invite_tx: Option<TxId>,
    },
    /// A response for a client transaction: provisional or final. `retransmission` is true
    /// for a repeated 2xx to an INVITE (RFC 6026 Accepted state).
    Response {
        tx: TxId,
        response: SipMessage,
        retransmission: bool,
    },
    /// Timer B, C or F fired, an INVITE got no final response 64*T1 after our CANCEL (§9.1),
    /// or a transport error hit the transaction: treat as 408/503 (§17.1.4, §8.1.3.1).
    Timeout { tx: TxId },
    /// A 2xx we sent for an INVITE was never ACKed within 64*T1 (§13.3.1.4): the TU should
    /// end the dialog (BYE).
    AckTimeout { tx: TxId },
}

/// Why a TU call was refused. Nothing is sent when an error is returned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxError {
    #[error("no live transaction {0}")]
    UnknownTransaction(TxId),
    #[error("transaction {0} cannot do that in state {1:?}")]
    InvalidState(TxId, TxState),
    #[error("transaction {0} has the other role (client vs server)")]
    WrongRole(TxId),
    #[error("request has no top Via with an RFC 3261 branch (z9hG4bK...)")]
    MissingBranch,
    #[error("a client transaction with this branch and method is already live")]
    DuplicateBranch,
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
}

/// Counters for metrics; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Requests and responses re-sent by timers or in answer to a retransmission.
    pub retransmissions_sent: u64,
    /// Retransmitted requests and responses the layer absorbed.
    pub retransmissions_absorbed: u64,
    /// Responses that matched no client transaction (§17.1.3, RFC 6026 §7.2).
    pub stray_responses: u64,
    /// Client transactions that failed: Timer B, C or F, the §9.1 wait after a CANCEL, or a
    /// transport error.
    pub timeouts: u64,
    /// Server INVITE transactions whose final response was never ACKed (Timer H, or
    /// Timer L without the 2xx ACK).
    pub ack_timeouts: u64,
    /// Requests without a usable Via or CSeq (the receive path should screen them out).
    pub dropped_requests: u64,
}
