//! Status, listings and replay on an in-memory store.

use super::*;
use crate::store::outbox::delivery::{self, Settled, Settlement};
use crate::store::schema;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn conn() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    conn
}

/// Writes an event for `destination` at `created` (seconds); returns its seq.
fn add(conn: &Connection, destination: &str, n: u32, created: i64) -> i64 {
    conn.execute(
        "INSERT INTO outbox (id, destination, event, subject, occurred_at, created_at, \
         payload, next_attempt_at) VALUES (?1, ?2, 'lead.created', ?3, \
         '2027-01-15T08:00:00.000Z', ?4, '{\"id\":1}', ?4)",
        (
            format!("evt_{destination}_{n}"),
            destination,
            format!("lead{n}"),
            millis(at(created)),
        ),
    )
    .unwrap();
    conn.last_insert_rowid()
}

fn settle(conn: &Connection, seq: i64, secs: i64, outcome: Settlement) {
    let settled = Settled {
        seq,
        at: at(secs),
        attempted: true,
        outcome,
    };
    delivery::settle(conn, &[settled]).unwrap();
}

fn dead(error: &str) -> Settlement {
    Settlement::Dead {
        error: error.into(),
    }
}

fn delivered() -> Settlement {
    Settlement::Delivered { kept: None }
}

/// crm: 1 delivered, 2 dead, 1 pending retrying; ga: 1 pending.
fn filled() -> (Connection, Vec<i64>) {
    let conn = conn();
    let seqs: Vec<i64> = (0..4).map(|n| add(&conn, "crm", n, i64::from(n))).collect();
    add(&conn, "ga", 9, 5);
    settle(&conn, seqs[0], 10, delivered());
    settle(&conn, seqs[1], 11, dead("HTTP 400: old"));
    settle(&conn, seqs[2], 12, dead("HTTP 400: bad"));
    let retry = Settlement::Retry {
        at: at(30),
        error: "HTTP 503: busy".into(),
    };
    settle(&conn, seqs[3], 13, retry);
    (conn, seqs)
}

#[test]
fn status_counts_each_state_and_keeps_the_newest_error() {
    let (conn, _) = filled();
    let all = status(&conn).unwrap();
    assert_eq!(all.len(), 2);
    let crm = &all[0];
    assert_eq!(crm.destination, "crm");
    assert_eq!((crm.pending, crm.dead, crm.delivered), (1, 2, 1));
    assert_eq!(crm.oldest_pending, Some(at(3)));
    assert_eq!(crm.last_delivered, Some(at(10)));
    assert_eq!(crm.last_error.as_deref(), Some("HTTP 503: busy"));
    let ga = &all[1];
    assert_eq!((ga.pending, ga.dead, ga.delivered), (1, 0, 0));
    assert_eq!(ga.last_error, None);
    assert!(status(&self::conn()).unwrap().is_empty());
}

#[test]
fn list_pages_newest_first_by_destination_and_state() {
    let (conn, seqs) = filled();
    let mut filter = ListFilter {
        destination: Some("crm".into()),
        state: None,
        limit: 3,
        before: None,
        payload: false,
    };
    let first = list(&conn, &filter).unwrap();
    let got: Vec<i64> = first.events.iter().map(|e| e.seq).collect();
    assert_eq!(got, [seqs[3], seqs[2], seqs[1]]);
    assert_eq!(first.next, Some(seqs[1]));
    assert_eq!(first.events[0].next_attempt_at, Some(at(30)));
    assert_eq!(first.events[0].payload, None);
    filter.before = first.next;
    let second = list(&conn, &filter).unwrap();
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].seq, seqs[0]);
    assert_eq!(second.events[0].settled_at, Some(at(10)));
    assert_eq!(second.events[0].next_attempt_at, None);
    assert_eq!(second.next, None);

    filter.before = None;
    filter.state = Some(DeliveryState::Dead);
    filter.payload = true;
    let dead = list(&conn, &filter).unwrap();
    let errors: Vec<_> = dead.events.iter().map(|e| e.last_error.clone()).collect();
    assert_eq!(
        errors,
        [Some("HTTP 400: bad".into()), Some("HTTP 400: old".into())]
    );
    assert_eq!(dead.events[0].payload.as_deref(), Some("{\"id\":1}"));
    assert_eq!(dead.events[0].state, "dead");
    assert_eq!(dead.events[0].attempts, 1);

    let everyone = ListFilter {
        destination: None,
        state: Some(DeliveryState::Pending),
        limit: 10,
        before: None,
        payload: false,
    };
    assert_eq!(list(&conn, &everyone).unwrap().events.len(), 2);
}

#[test]
fn replay_since_counts_exactly_what_it_puts_back() {
    let (conn, seqs) = filled();
    let since = Replay::Since {
        destination: "crm".into(),
        since: at(1),
    };
    assert_eq!(replayable(&conn, &since, at(40)).unwrap(), 2);
    // Settled after the replay was asked for: neither counted nor replayed.
    assert_eq!(replayable(&conn, &since, at(11)).unwrap(), 1);
    assert_eq!(replay(&conn, &since, at(40)).unwrap(), 2);
    let status = status(&conn).unwrap();
    assert_eq!(
        (status[0].pending, status[0].dead, status[0].delivered),
        (3, 0, 1)
    );
    let back = list(
        &conn,
        &ListFilter {
            destination: Some("crm".into()),
            state: Some(DeliveryState::Pending),
            limit: 10,
            before: None,
            payload: false,
        },
    )
    .unwrap();
    let replayed = back.events.iter().find(|e| e.seq == seqs[2]).unwrap();
    assert_eq!((replayed.attempts, replayed.last_error.clone()), (0, None));
    assert_eq!(replayed.next_attempt_at, Some(at(40)));
    assert_eq!(replayable(&conn, &since, at(40)).unwrap(), 0);
}

#[test]
fn replay_by_id_takes_one_event_of_its_destination() {
    let (conn, _) = filled();
    let one = Replay::Id {
        destination: "crm".into(),
        id: "evt_crm_0".into(),
    };
    assert_eq!(replayable(&conn, &one, at(50)).unwrap(), 1);
    assert_eq!(replay(&conn, &one, at(50)).unwrap(), 1);
    let elsewhere = Replay::Id {
        destination: "ga".into(),
        id: "evt_crm_0".into(),
    };
    assert_eq!(replayable(&conn, &elsewhere, at(50)).unwrap(), 0);
    assert_eq!(one.destination(), "crm");
}

#[tokio::test]
async fn the_prune_command_deletes_old_delivered_events_only() {
    use crate::store::{StoreCommand, WriterOptions, spawn_writer};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdr.db");
    let (store, writer) = spawn_writer(&path, WriterOptions::default()).unwrap();
    {
        let conn = Connection::open(&path).unwrap();
        let seqs: Vec<i64> = (0..3).map(|n| add(&conn, "crm", n, 0)).collect();
        settle(&conn, seqs[0], 10, delivered());
        settle(&conn, seqs[1], 100, delivered());
        settle(&conn, seqs[2], 10, dead("HTTP 400"));
    }
    store
        .request(|done| StoreCommand::OutboxPrune {
            before: at(50),
            done,
        })
        .await
        .unwrap();
    drop(store);
    tokio::task::spawn_blocking(move || writer.shutdown())
        .await
        .unwrap()
        .unwrap();
    let conn = Connection::open(&path).unwrap();
    let crm = &status(&conn).unwrap()[0];
    assert_eq!(
        (crm.delivered, crm.dead),
        (1, 1),
        "the old delivery went, the dead letter stays"
    );
    assert_eq!(crm.last_delivered, Some(at(100)));
}
