//! Crash recovery on PostgreSQL: the calls this node left live become `interrupted` CDRs, in
//! one transaction, once (a second run finds no live rows; a CDR already stored is kept).
//! Other nodes' live calls are theirs: they are not touched.

use jiff::Timestamp;
use postgres::Client;

use super::{cdr, live};
use crate::call::live_dialog::{CallDialogs, InterruptedCall};
use crate::store::StoreError;
use crate::store::recovery::{Recovery, interrupted};

/// Closes every call `node` left live; answered ones with both dialogs kept come back to be
/// hung up.
pub fn recover_interrupted_calls(
    client: &mut Client,
    node: &str,
    now: Timestamp,
) -> Result<Recovery, StoreError> {
    let mut tx = client.transaction()?;
    let left = live::of_node(&mut tx, node)?;
    let rows = left
        .iter()
        .map(|(l, _)| cdr::row(&interrupted(l, now), l.first_time_caller, node))
        .collect::<Result<Vec<_>, _>>()?;
    let written = cdr::insert(&mut tx, &rows)?;
    let ids: Vec<&str> = left.iter().map(|(l, _)| l.id.as_str()).collect();
    live::delete(&mut tx, &ids)?;
    tx.commit()?;
    let mut found = Recovery::default();
    for (l, dialogs) in left {
        if !written.contains(&l.id) {
            continue;
        }
        found.recorded += 1;
        if let (Some(_), Some(d)) = (l.answered_at, dialogs) {
            found.to_hang_up.extend(parse(&l.id, &d));
        }
    }
    if found.recorded > 0 {
        tracing::warn!(
            recovered = found.recorded,
            node,
            "calls interrupted by this node's previous run recorded"
        );
    }
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
