//! Crash recovery: calls still in `live_calls` at start-up become `interrupted` CDRs, and the
//! answered ones are handed back with their dialogs so the SIP core can send BYE on both legs.

use jiff::Timestamp;
use rusqlite::{Connection, Transaction};

use super::{StoreError, columns};
use crate::call::live_dialog::{CallDialogs, InterruptedCall};
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall, NO_FINAL_RESPONSE};

/// What start-up recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Interrupted CDRs written.
    pub recorded: usize,
    /// The answered ones whose dialogs were kept: both legs are to be hung up.
    pub to_hang_up: Vec<InterruptedCall>,
}

/// Closes every call the previous process left live, in one transaction; returns how many.
/// See [`recover_interrupted_calls`].
pub fn recover_interrupted(conn: &Connection, now: Timestamp) -> Result<usize, StoreError> {
    Ok(recover_interrupted_calls(conn, now)?.recorded)
}

/// Closes every call the previous process left live, in one transaction.
///
/// Each becomes a CDR with disposition `interrupted`, hangup side `system`, `ended_at = now`
/// and `sip_status` 200 if it had been answered, else [`NO_FINAL_RESPONSE`]. A call whose CDR
/// already exists (written just before the crash) keeps that CDR and is not counted. Every
/// newly recorded call whose two dialogs were kept is returned for the BYEs; a dialog that
/// cannot be read is logged and skipped (the CDR is written all the same).
pub fn recover_interrupted_calls(
    conn: &Connection,
    now: Timestamp,
) -> Result<Recovery, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let mut found = Recovery::default();
    for live in columns::all_live(&tx)? {
        if columns::insert_cdr(&tx, &interrupted(&live, now))? {
            found.recorded += 1;
            found.to_hang_up.extend(kept_dialogs(&tx, &live)?);
        }
        columns::delete_live(&tx, &live.id)?;
    }
    tx.commit()?;
    if found.recorded > 0 {
        tracing::warn!(
            recovered = found.recorded,
            to_hang_up = found.to_hang_up.len(),
            "calls interrupted by the previous shutdown recorded"
        );
    }
    Ok(found)
}

fn kept_dialogs(
    tx: &Transaction<'_>,
    live: &LiveCall,
) -> Result<Option<InterruptedCall>, StoreError> {
    if live.answered_at.is_none() {
        return Ok(None);
    }
    let Some((a, b)) = columns::dialogs_text(tx, &live.id)? else {
        return Ok(None);
    };
    let parsed = serde_json::from_str(&a).and_then(|a| {
        Ok(CallDialogs {
            a,
            b: serde_json::from_str(&b)?,
        })
    });
    match parsed {
        Ok(dialogs) => Ok(Some(InterruptedCall {
            id: live.id.clone(),
            dialogs,
        })),
        Err(error) => {
            tracing::warn!(call = %live.id, %error, "stored dialogs unreadable; no BYE for this call");
            Ok(None)
        }
    }
}

/// The `interrupted` CDR of a call left live (shared with the PostgreSQL recovery).
pub(super) fn interrupted(live: &LiveCall, now: Timestamp) -> CallDetailRecord {
    let sip_status = if live.answered_at.is_some() {
        200
    } else {
        NO_FINAL_RESPONSE
    };
    CallDetailRecord::from_live(
        live,
        now,
        Disposition::Interrupted,
        sip_status,
        HangupSide::System,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::live_dialog::LegDialog;
    use crate::store::{query, schema};

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn live(id: &str, answered_at: Option<Timestamp>) -> LiveCall {
        LiveCall {
            id: id.into(),
            call_id: format!("{id}@carrier"),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:sales@pbx.example".into(),
            started_at: ts("2026-11-23T03:20:00Z"),
            answered_at,
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        }
    }

    #[test]
    fn live_rows_become_interrupted_cdrs() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let answered = live("a", Some(ts("2026-11-23T03:20:10Z")));
        columns::insert_live(&conn, &answered, Default::default()).unwrap();
        columns::insert_live(&conn, &live("b", None), Default::default()).unwrap();

        let now = ts("2026-11-23T03:25:00Z");
        assert_eq!(recover_interrupted(&conn, now).unwrap(), 2);

        let cdrs = query::list_recent(&conn, 10).unwrap();
        let a = &cdrs.iter().find(|c| c.cdr.id == "a").unwrap().cdr;
        assert_eq!(a.disposition, Disposition::Interrupted);
        assert_eq!(a.hangup_side, HangupSide::System);
        assert_eq!((a.wait_secs, a.talk_secs, a.sip_status), (10, 290, 200));
        let b = &cdrs.iter().find(|c| c.cdr.id == "b").unwrap().cdr;
        assert_eq!(
            (b.wait_secs, b.talk_secs, b.sip_status),
            (300, 0, NO_FINAL_RESPONSE)
        );
        assert!(columns::all_live(&conn).unwrap().is_empty());
        assert_eq!(recover_interrupted(&conn, now).unwrap(), 0);
    }

    fn leg(call_id: &str, local_seq: u32) -> LegDialog {
        LegDialog {
            call_id: call_id.into(),
            local_tag: "ours".into(),
            remote_tag: Some("theirs".into()),
            local_uri: "<sip:a@x>".into(),
            remote_uri: "<sip:b@y>".into(),
            local_seq,
            remote_target: "sip:b@127.0.0.1:5080".into(),
            route_set: vec!["<sip:127.0.0.1:5070;lr>".into()],
            transport: "UDP".into(),
            peer: "127.0.0.1:5070".parse().unwrap(),
            local_contact: "<sip:127.0.0.1:5060>".into(),
        }
    }

    #[test]
    fn answered_calls_with_kept_dialogs_come_back_to_be_hung_up() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let answered = Some(ts("2026-11-23T03:20:10Z"));
        for id in ["talking", "no-dialogs", "ringing", "garbled"] {
            let at = if id == "ringing" { None } else { answered };
            columns::insert_live(&conn, &live(id, at), Default::default()).unwrap();
        }
        let dialogs = CallDialogs {
            a: leg("a@carrier", 41),
            b: leg("b@calltrack", 7),
        };
        let kept = columns::LiveChange {
            answered_at: None,
            dialogs: Some(&dialogs),
        };
        for id in ["talking", "ringing", "garbled"] {
            columns::update_live(&conn, id, kept).unwrap();
        }
        conn.execute(
            "UPDATE live_calls SET b_dialog = '{' WHERE id = 'garbled'",
            [],
        )
        .unwrap();

        let found = recover_interrupted_calls(&conn, ts("2026-11-23T03:25:00Z")).unwrap();
        assert_eq!(found.recorded, 4);
        assert_eq!(
            found.to_hang_up,
            [InterruptedCall {
                id: "talking".into(),
                dialogs
            }]
        );
        assert!(columns::all_live(&conn).unwrap().is_empty());
    }
}
