//! The CDR insert's `prev_started_at` against the rebuild's, and the row written once.

use std::time::Duration;

use rusqlite::Connection;

use super::insert_cdr;
use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use crate::store::schema;

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

fn cdr(id: &str, site: &str, minute: u32, disposition: Disposition) -> CallDetailRecord {
    let started_at = format!("2026-11-23T03:{minute:02}:00Z").parse().unwrap();
    let mut live = LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: "79161112233".into(),
        destination: "sip:sales@pbx.example".into(),
        started_at,
        answered_at: None,
        attribution: Default::default(),
        first_time_caller: false,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    live.attribution.site = site.into();
    let ended = started_at + Duration::from_secs(30);
    CallDetailRecord::from_live(&live, ended, disposition, 200, HangupSide::Callee)
}

fn prev_by_id(conn: &Connection) -> Vec<(String, Option<String>)> {
    conn.prepare("SELECT id, prev_started_at FROM cdr ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn the_insert_gives_each_call_the_previous_call_a_rebuild_finds() {
    let mut conn = conn();
    // Out of order (c is written after the later b), a rejected call and another site between.
    let calls = [
        cdr("a", "shop", 20, Disposition::Answered),
        cdr("b", "shop", 30, Disposition::Answered),
        cdr("c", "shop", 25, Disposition::NoAnswer),
        cdr("d", "shop", 27, Disposition::Rejected),
        cdr("e", "clinic", 28, Disposition::Answered),
        cdr("f", "shop", 40, Disposition::Answered),
    ];
    for call in &calls {
        assert!(insert_cdr(&conn, call).unwrap());
    }
    let written = prev_by_id(&conn);
    crate::store::rollup::bulk_load(&mut conn, |_| Ok(())).unwrap();
    assert_eq!(written, prev_by_id(&conn));
    let minute = |prev: &Option<String>| prev.as_ref().map(|p| p[14..16].to_string());
    let minutes: Vec<Option<String>> = written.iter().map(|(_, p)| minute(p)).collect();
    let at = |m: &str| Some(m.to_string());
    assert_eq!(minutes, [None, at("25"), at("20"), None, None, at("30")]);
}

#[test]
fn a_repeat_call_is_written_once_with_its_rollup() {
    let conn = conn();
    insert_cdr(&conn, &cdr("a", "shop", 20, Disposition::Answered)).unwrap();
    let before = conn.total_changes();
    insert_cdr(&conn, &cdr("b", "shop", 30, Disposition::Answered)).unwrap();
    // The CDR and its rollup line; V9's trigger also rewrote the new row for its previous call.
    assert_eq!(conn.total_changes() - before, 2);
}
