//! The way from the socket loops to the core's shards: each inbound message goes to the shard
//! that owns its Call-ID ([`crate::sip::shard`]); a transport error goes to every shard, since
//! any of them may have transactions towards that peer.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendError, TrySendError};

use super::Inbound;
use crate::sip::Peer;
use crate::sip::shard::shard_of;

/// Transport-error notifications waiting for each shard.
const ERROR_QUEUE: usize = 1024;

/// Senders towards every shard; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    inbound: Arc<[mpsc::Sender<Inbound>]>,
    errors: Arc<[mpsc::Sender<Peer>]>,
}

/// What one shard's driver loop reads.
#[derive(Debug)]
pub(crate) struct Lane {
    pub inbound: mpsc::Receiver<Inbound>,
    pub errors: mpsc::Receiver<Peer>,
}

impl Dispatch {
    /// `shards` lanes (at least one), each with room for `queue` inbound messages.
    pub(crate) fn new(shards: usize, queue: usize) -> (Dispatch, Vec<Lane>) {
        let (mut inbound, mut errors, mut lanes) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..shards.max(1) {
            let (inbound_tx, inbound_rx) = mpsc::channel(queue.max(1));
            let (errors_tx, errors_rx) = mpsc::channel(ERROR_QUEUE);
            inbound.push(inbound_tx);
            errors.push(errors_tx);
            lanes.push(Lane {
                inbound: inbound_rx,
                errors: errors_rx,
            });
        }
        let dispatch = Dispatch {
            inbound: inbound.into(),
            errors: errors.into(),
        };
        (dispatch, lanes)
    }

    /// Queues a message for its shard without waiting (UDP: a full queue drops it).
    pub(crate) fn try_send(&self, message: Inbound) -> Result<(), TrySendError<Inbound>> {
        self.lane_of(&message).try_send(message)
    }

    /// Queues a message for its shard, waiting for room (TCP: flow control).
    pub(crate) async fn send(&self, message: Inbound) -> Result<(), SendError<Inbound>> {
        self.lane_of(&message).send(message).await
    }

    /// Tells every shard that `peer` cannot be reached.
    pub(crate) async fn report(&self, peer: Peer) {
        for lane in self.errors.iter() {
            // A shard that is gone has nothing left to learn.
            let _ = lane.send(peer).await;
        }
    }

    fn lane_of(&self, message: &Inbound) -> &mpsc::Sender<Inbound> {
        &self.inbound[shard_of(&message.bytes, self.inbound.len())]
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::sip::Transport;

    fn message(call_id: &str) -> Inbound {
        let peer = Peer::new(Transport::Udp, "127.0.0.1:5060".parse().unwrap());
        let text = format!("BYE sip:x SIP/2.0\r\nCall-ID: {call_id}\r\n\r\n");
        Inbound::now(peer, Bytes::from(text))
    }

    #[tokio::test]
    async fn messages_follow_their_call_id_and_errors_reach_every_shard() {
        let (dispatch, mut lanes) = Dispatch::new(2, 64);
        for n in 0..20 {
            dispatch.try_send(message(&format!("call-{n}"))).unwrap();
            dispatch.try_send(message(&format!("call-{n}"))).unwrap();
        }
        for (index, lane) in lanes.iter_mut().enumerate() {
            let mut seen = 0;
            while let Ok(m) = lane.inbound.try_recv() {
                assert_eq!(shard_of(&m.bytes, 2), index);
                seen += 1;
            }
            assert!(seen > 0 && seen % 2 == 0, "shard {index}: {seen}");
        }
        let peer = Peer::new(Transport::Tcp, "127.0.0.1:5080".parse().unwrap());
        dispatch.report(peer).await;
        for lane in &mut lanes {
            assert_eq!(lane.errors.try_recv().ok(), Some(peer));
        }
    }
}
