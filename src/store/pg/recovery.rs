//! Crash recovery on PostgreSQL: the calls this node left live become `interrupted` CDRs, in
//! one transaction, once (a second run finds no live rows; a CDR already stored is kept).
//! Other nodes' live calls are theirs: they are not touched here ([`super::takeover`] closes
//! a dead node's through [`close_calls`]).

use jiff::Timestamp;
use postgres::{Client, Transaction};

use super::outbox::NewEvents;
use super::{cdr, live};
use crate::call::live_dialog::{CallDialogs, InterruptedCall};
use crate::call::record::LiveCall;
use crate::store::StoreError;
use crate::store::calls::view::{CallView, Extras};
use crate::store::outbox::enqueue::Enqueue;
use crate::store::outbox::{CallFact, EventKind};
use crate::store::recovery::{Recovery, interrupted};

/// Closes every call `node` left live; answered ones with both dialogs kept come back to be
/// hung up.
pub fn recover_interrupted_calls(
    client: &mut Client,
    node: &str,
    now: Timestamp,
) -> Result<Recovery, StoreError> {
    let mut tx = client.transaction()?;
    let mut idle = Enqueue::new(&[], now);
    let found = close_calls(&mut tx, node, &|_| now, &mut idle)?;
    tx.commit()?;
    if found.recorded > 0 {
        tracing::warn!(
            recovered = found.recorded,
            node,
            "calls interrupted by this node's previous run recorded"
        );
    }
    Ok(found)
}

/// Closes every call `node` holds live in `tx`: each becomes an `interrupted` CDR ended at
/// `end(call)` (on `node`'s name), its live row goes, and each CDR written gets its
/// `call.ended` fact for every destination in `events`. A CDR already stored is kept and not
/// counted. Answered calls with both dialogs kept come back to be hung up.
pub(super) fn close_calls(
    tx: &mut Transaction<'_>,
    node: &str,
    end: &dyn Fn(&LiveCall) -> Timestamp,
    events: &mut Enqueue<'_>,
) -> Result<Recovery, StoreError> {
    super::batch::lock_rollup(tx)?;
    let left = live::of_node(tx, node)?;
    let cdrs: Vec<_> = left.iter().map(|(l, _)| interrupted(l, end(l))).collect();
    let rows = cdrs
        .iter()
        .zip(&left)
        .map(|(c, (l, _))| cdr::row(c, l.first_time_caller, node))
        .collect::<Result<Vec<_>, _>>()?;
    let written = cdr::insert(tx, &rows)?;
    let ids: Vec<&str> = left.iter().map(|(l, _)| l.id.as_str()).collect();
    live::delete(tx, &ids)?;
    let mut found = Recovery::default();
    let mut facts = NewEvents::default();
    for (c, (l, dialogs)) in cdrs.into_iter().zip(left) {
        if !written.contains_key(&l.id) {
            continue;
        }
        found.recorded += 1;
        if let (Some(_), Some(d)) = (l.answered_at, dialogs) {
            found.to_hang_up.extend(parse(&l.id, &d));
        }
        if !events.is_idle() {
            let at = c.ended_at;
            let fact = CallFact::from(CallView::new(c, Extras::default()));
            facts.call(events, EventKind::CallEnded, &fact, at)?;
        }
    }
    facts.insert(tx, events.now)?;
    Ok(found)
}

fn parse(id: &str, (a, b): &(String, String)) -> Option<InterruptedCall> {
    let dialogs = serde_json::from_str(a).and_then(|a| {
        Ok(CallDialogs {
            a,
            b: serde_json::from_str(b)?,
        })
    });
    match dialogs {
        Ok(dialogs) => Some(InterruptedCall {
            id: id.to_owned(),
            dialogs,
        }),
        Err(error) => {
            tracing::warn!(call = %id, %error, "stored dialogs unreadable; no BYE for this call");
            None
        }
    }
}
