//! Takeover: a live node closes the calls of a dead one, exactly once between all survivors.
//! The claim of the dead node's row ([`nodes::claim`]) and the interrupted CDRs with their
//! `call.ended` outbox rows ([`close_calls`]) share one transaction; a second survivor waits
//! on the row lock and then finds the node claimed. `ON CONFLICT DO NOTHING` on the CDR id
//! stays the last guard (against the dead node's own writer, should it come back).
//!
//! Each call is ended at the dead node's last heartbeat (or its start or answer, if later):
//! the closest bound on when it was cut off that the store knows.

use std::time::Duration;

use jiff::Timestamp;
use postgres::Client;

use super::liveness::{self, NodeBeat};
use super::nodes;
use super::recovery::close_calls;
use crate::call::record::LiveCall;
use crate::store::StoreError;
use crate::store::outbox::Subscription;
use crate::store::outbox::enqueue::Enqueue;

/// One dead node whose calls this node closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    pub node: String,
    /// Interrupted CDRs written.
    pub calls: usize,
    /// Outbox rows added for them.
    pub facts: usize,
}

/// One look at the `nodes` table: the live nodes seen and the dead ones taken over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    pub live_nodes: usize,
    pub taken_over: Vec<TakenOver>,
}

/// Reads every heartbeat and takes over each dead node (other than `me`) nobody took yet.
pub fn sweep(
    client: &mut Client,
    me: &str,
    dead_after: Duration,
    subscriptions: &[Subscription],
) -> Result<Sweep, StoreError> {
    let (now_ms, beats) = nodes::read(client)?;
    let mut sweep = Sweep {
        live_nodes: liveness::live_count(&beats, now_ms, dead_after),
        taken_over: Vec::new(),
    };
    for dead in liveness::to_take_over(&beats, me, now_ms, dead_after) {
        if let Some(done) = take_over(client, dead, me, subscriptions)? {
            sweep.taken_over.push(done);
        }
    }
    Ok(sweep)
}

/// Claims `dead` and closes its calls in one transaction; None if another node claimed it
/// first or it beat again since it was read.
pub fn take_over(
    client: &mut Client,
    dead: &NodeBeat,
    me: &str,
    subscriptions: &[Subscription],
) -> Result<Option<TakenOver>, StoreError> {
    let mut tx = client.transaction()?;
    if !nodes::claim(&mut tx, dead, me)? {
        return Ok(None);
    }
    let last_beat = crate::store::outbox::from_millis(dead.heartbeat_at_ms);
    let mut events = Enqueue::new(subscriptions, Timestamp::now());
    let end = |l: &LiveCall| last_beat.max(l.answered_at.unwrap_or(l.started_at));
    let closed = close_calls(&mut tx, &dead.node_id, &end, &mut events)?;
    tx.commit()?;
    Ok(Some(TakenOver {
        node: dead.node_id.clone(),
        calls: closed.recorded,
        facts: events.added,
    }))
}
