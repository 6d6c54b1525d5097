//! TEMPORARY API shim: replaced by the real transaction layer when branch `txn` lands.
#![allow(dead_code, unused_variables, missing_docs)]

use std::time::{Duration, Instant};

use crate::sip::{Peer, SipMessage, Transmit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}
impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(u64);
#[derive(Debug)]
pub enum TxEvent {
    Request {
        tx: TxId,
        request: SipMessage,
        peer: Peer,
    },
    Cancel {
        invite_tx: TxId,
        cancel: SipMessage,
        peer: Peer,
    },
    Ack {
        request: SipMessage,
        peer: Peer,
        invite_tx: Option<TxId>,
    },
    Response {
        tx: TxId,
        response: SipMessage,
        retransmission: bool,
    },
    Timeout {
        tx: TxId,
    },
    AckTimeout {
        tx: TxId,
    },
}
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("unknown transaction")]
    UnknownTransaction(TxId),
}
#[derive(Debug, Default)]
pub struct TransactionLayer;
impl TransactionLayer {
    pub fn new(timers: TimerConfig) -> Self {
        TransactionLayer
    }
    pub fn handle_request(&mut self, now: Instant, request: SipMessage, peer: Peer) {}
    pub fn handle_response(&mut self, now: Instant, response: SipMessage, peer: Peer) {}
    pub fn handle_timeout(&mut self, now: Instant) {}
    pub fn handle_transport_error(&mut self, now: Instant, peer: Peer) {}
    pub fn respond(&mut self, now: Instant, tx: TxId, response: SipMessage) -> Result<(), TxError> {
        Ok(())
    }
    pub fn send_request(
        &mut self,
        now: Instant,
        request: SipMessage,
        peer: Peer,
    ) -> Result<TxId, TxError> {
        Ok(TxId(0))
    }
    pub fn send_ack(
        &mut self,
        now: Instant,
        invite_tx: TxId,
        ack: SipMessage,
        peer: Peer,
    ) -> Result<(), TxError> {
        Ok(())
    }
    pub fn send_stateless(&mut self, message: SipMessage, peer: Peer) {}
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        None
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    pub fn len(&self) -> usize {
        0
    }
    pub fn is_empty(&self) -> bool {
        true
    }
    pub fn server_request(&self, tx: TxId) -> Option<(&SipMessage, Peer)> {
        None
    }
}
