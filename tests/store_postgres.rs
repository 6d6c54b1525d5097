//! The call store on PostgreSQL against a real server started by the harness: a call's
//! events become one CDR, a duplicate is ignored, first-time callers are judged across two
//! nodes, crash recovery closes a node's calls once, migrations run once under concurrency,
//! and two claimers share one outbox, each fact claimed and settled exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use calltrack::call::live_dialog::{CallDialogs, LegDialog};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::store::outbox::delivery::{Settled, Settlement};
use calltrack::store::outbox::{Outbox, Subscription};
use calltrack::store::pg::{self, cdr, outbox};
use calltrack::store::{StoreCommand, StoreSender, WriterHandle};
use jiff::Timestamp;
use support::pg_server::PgServer;
use support::pg_store::{client, config};

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn live(id: &str, caller: &str, at: &str) -> LiveCall {
    LiveCall {
        id: id.into(),
        call_id: format!("{id}@carrier"),
        tracking_number: "74951234567".into(),
        caller: caller.into(),
        destination: "sip:sales@pbx.example".into(),
        started_at: ts(at),
        answered_at: None,
        attribution: Default::default(),
        // The node's own (in-memory) judgement; the PostgreSQL writer judges across nodes.
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    }
}

fn ended(live: &LiveCall, disposition: Disposition) -> CallDetailRecord {
    let end = live.started_at + jiff::SignedDuration::from_secs(60);
    CallDetailRecord::from_live(live, end, disposition, 200, HangupSide::Callee)
}

fn writer(url: &str, node: &str, subscriptions: Vec<Subscription>) -> (StoreSender, WriterHandle) {
    support::pg_store::writer(url, node, Outbox::new(subscriptions))
}

fn leg(call_id: &str) -> LegDialog {
    LegDialog {
        call_id: call_id.into(),
        local_tag: "ours".into(),
        remote_tag: Some("theirs".into()),
        local_uri: "<sip:a@x>".into(),
        remote_uri: "<sip:b@y>".into(),
        local_seq: 3,
        remote_target: "sip:b@127.0.0.1:5080".into(),
        route_set: vec![],
        transport: "UDP".into(),
        peer: "127.0.0.1:5080".parse().unwrap(),
        local_contact: "<sip:127.0.0.1:5060>".into(),
    }
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn a_calls_events_become_one_cdr_and_a_duplicate_end_is_ignored() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("one_cdr");
    let (sender, handle) = writer(&url, "node-a", Vec::new());
    let call = live("c1", "79161112233", "2026-12-07T05:00:00Z");
    let answered_at = ts("2026-12-07T05:00:05Z");
    let answered = LiveCall {
        answered_at: Some(answered_at),
        ..call.clone()
    };
    let cdr = ended(&answered, Disposition::Answered);
    sender
        .try_send(StoreCommand::CallStarted(call.clone()))
        .unwrap();
    sender
        .try_send(StoreCommand::CallAnswered {
            id: "c1".into(),
            answered_at,
        })
        .unwrap();
    let dialogs = CallDialogs {
        a: leg("a@carrier"),
        b: leg("b@calltrack"),
    };
    sender
        .try_send(StoreCommand::DialogsChanged {
            id: "c1".into(),
            dialogs,
        })
        .unwrap();
    sender
        .try_send(StoreCommand::CallEnded(cdr.clone()))
        .unwrap();
    sender
        .try_send(StoreCommand::CallEnded(cdr.clone()))
        .unwrap();
    let stats = handle.shutdown().unwrap();
    assert_eq!(
        (stats.cdrs_written, stats.duplicate_cdrs),
        (1, 1),
        "{stats:?}"
    );

    let mut c = client(&url);
    assert_eq!(cdr::count(&mut c).unwrap(), 1);
    let stored = cdr::by_id(&mut c, "c1").unwrap().expect("the CDR");
    assert_eq!(stored.cdr, cdr, "the same record reads back");
    assert_eq!(count(&mut c, "SELECT count(*) FROM live_calls"), 0);
    let node: String = c.query_one("SELECT node_id FROM cdr", &[]).unwrap().get(0);
    assert_eq!(node, "node-a");
}

#[test]
fn first_time_callers_are_judged_across_two_nodes() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("callers");
    let (a, a_handle) = writer(&url, "node-a", Vec::new());
    let (b, b_handle) = writer(&url, "node-b", Vec::new());
    let first = live("x1", "79160000001", "2026-12-07T05:00:00Z");
    a.try_send(StoreCommand::CallEnded(ended(
        &first,
        Disposition::Answered,
    )))
    .unwrap();
    a_handle.shutdown().unwrap();
    // Node B never saw the first call; it still must judge the second a repeat.
    let again = live("x2", "79160000001", "2026-12-07T06:00:00Z");
    let other = live("y1", "79160000002", "2026-12-07T06:00:00Z");
    b.try_send(StoreCommand::CallStarted(again.clone()))
        .unwrap();
    b.try_send(StoreCommand::CallStarted(other.clone()))
        .unwrap();
    b.try_send(StoreCommand::CallEnded(ended(
        &again,
        Disposition::Answered,
    )))
    .unwrap();
    b.try_send(StoreCommand::CallEnded(ended(
        &other,
        Disposition::Answered,
    )))
    .unwrap();
    b_handle.shutdown().unwrap();

    // A new caller on both nodes at once: exactly one of the two calls is first-time.
    let (a, a_handle) = writer(&url, "node-a", Vec::new());
    let (b, b_handle) = writer(&url, "node-b", Vec::new());
    for round in 0..20 {
        let caller = format!("7917{round:07}");
        let on_a = live(&format!("za{round}"), &caller, "2026-12-07T07:00:00Z");
        let on_b = live(&format!("zb{round}"), &caller, "2026-12-07T07:00:01Z");
        a.try_send(StoreCommand::CallEnded(ended(&on_a, Disposition::Answered)))
            .unwrap();
        b.try_send(StoreCommand::CallEnded(ended(&on_b, Disposition::Answered)))
            .unwrap();
    }
    a_handle.shutdown().unwrap();
    b_handle.shutdown().unwrap();

    let mut c = client(&url);
    let first_of = |c: &mut postgres::Client, id: &str| {
        cdr::by_id(c, id).unwrap().expect(id).cdr.first_time_caller
    };
    assert!(first_of(&mut c, "x1"));
    assert!(!first_of(&mut c, "x2"), "a repeat across nodes");
    assert!(first_of(&mut c, "y1"));
    let firsts = count(
        &mut c,
        "SELECT count(*) FROM cdr WHERE id LIKE 'z%' AND first_time_caller = 1",
    );
    assert_eq!(
        firsts, 20,
        "one first-time call per new caller, whichever node won"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM caller_history"), 22);
}

#[test]
fn recovery_closes_this_nodes_live_calls_once_and_leaves_other_nodes_alone() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("recovery");
    let (a, a_handle) = writer(&url, "node-a", Vec::new());
    let (b, b_handle) = writer(&url, "node-b", Vec::new());
    let talking = live("talking", "79160000001", "2026-12-07T05:00:00Z");
    let ringing = live("ringing", "79160000002", "2026-12-07T05:00:10Z");
    a.try_send(StoreCommand::CallStarted(talking)).unwrap();
    a.try_send(StoreCommand::CallStarted(ringing)).unwrap();
    let answered_at = ts("2026-12-07T05:00:03Z");
    a.try_send(StoreCommand::CallAnswered {
        id: "talking".into(),
        answered_at,
    })
    .unwrap();
    let dialogs = CallDialogs {
        a: leg("a@carrier"),
        b: leg("b@calltrack"),
    };
    a.try_send(StoreCommand::DialogsChanged {
        id: "talking".into(),
        dialogs: dialogs.clone(),
    })
    .unwrap();
    b.try_send(StoreCommand::CallStarted(live(
        "elsewhere",
        "79160000003",
        "2026-12-07T05:00:00Z",
    )))
    .unwrap();
    a_handle.shutdown().unwrap();
    b_handle.shutdown().unwrap();

    let mut c = client(&url);
    let now = ts("2026-12-07T05:05:00Z");
    let found = pg::recover_interrupted_calls(&mut c, "node-a", now).unwrap();
    assert_eq!(found.recorded, 2);
    assert_eq!(found.to_hang_up.len(), 1);
    assert_eq!(found.to_hang_up[0].id, "talking");
    assert_eq!(found.to_hang_up[0].dialogs, dialogs);
    let again = pg::recover_interrupted_calls(&mut c, "node-a", now).unwrap();
    assert_eq!(again.recorded, 0, "run twice: no second CDR");
    assert_eq!(cdr::count(&mut c).unwrap(), 2);
    let talking = cdr::by_id(&mut c, "talking").unwrap().unwrap().cdr;
    assert_eq!(talking.disposition, Disposition::Interrupted);
    assert_eq!((talking.sip_status, talking.talk_secs), (200, 297));
    let left: Vec<String> = c
        .query("SELECT id FROM live_calls", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["elsewhere"], "node B's call is node B's");
}

#[test]
fn migrations_run_once_when_several_nodes_start_together() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = Arc::new(server.create_db("migrations"));
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || pg::open(&config(&url)).map(drop))
        })
        .collect();
    for run in runs {
        run.join().unwrap().unwrap();
    }
    let mut c = client(&url);
    let versions = count(&mut c, "SELECT count(*) FROM schema_migrations");
    assert_eq!(versions, pg::schema::latest_version());
    drop(pg::open(&config(&url)).unwrap());
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM schema_migrations"),
        versions
    );
}

/// Fills the outbox of destination `hook` with `calls` calls' ringing and ended events.
fn fill_outbox(url: &str, calls: usize) -> usize {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let (sender, handle) = writer(url, "node-a", vec![Subscription::everything("hook")]);
    for i in 0..calls {
        let l = live(
            &format!("o{i:04}"),
            &format!("7916{i:07}"),
            "2026-12-07T05:00:00Z",
        );
        sender
            .try_send(StoreCommand::CallStarted(l.clone()))
            .unwrap();
        sender
            .try_send(StoreCommand::CallEnded(ended(&l, Disposition::Busy)))
            .unwrap();
    }
    handle.shutdown().unwrap();
    calls * 2
}

#[test]
fn two_claimers_deliver_every_fact_exactly_once_between_them() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("claims");
    let facts = fill_outbox(&url, 150);
    let claimer = |node: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut c = client(&url);
            let mut mine = Vec::new();
            let mut idle = 0;
            // Bounded: at most 2,000 claims or 30 s.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            for _ in 0..2_000 {
                if idle > 20 || std::time::Instant::now() > deadline {
                    break;
                }
                let now = Timestamp::now();
                let claimed =
                    outbox::claim(&mut c, "hook", node, now, Duration::from_secs(60), 7).unwrap();
                if claimed.is_empty() {
                    idle += 1;
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                idle = 0;
                let settled: Vec<Settled> = claimed
                    .iter()
                    .map(|e| Settled {
                        seq: e.seq,
                        at: now,
                        attempted: true,
                        outcome: Settlement::Delivered { kept: None },
                    })
                    .collect();
                outbox::settle(&mut c, &settled).unwrap();
                mine.extend(claimed.into_iter().map(|e| (e.seq, e.subject, e.kind)));
            }
            mine
        })
    };
    let (a, b) = (claimer("node-a"), claimer("node-b"));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both claimed: {} / {}",
        a.len(),
        b.len()
    );
    let all: Vec<i64> = a.iter().chain(&b).map(|(seq, ..)| *seq).collect();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), facts, "every fact claimed once");
    assert_eq!(unique.len(), facts, "none twice");
    let mut c = client(&url);
    let delivered = count(
        &mut c,
        "SELECT count(*) FROM outbox WHERE state = 'delivered' AND attempts = 1",
    );
    assert_eq!(delivered as usize, facts);
}

#[test]
fn a_claim_of_a_dead_node_expires_and_is_taken_over() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("takeover");
    fill_outbox(&url, 3);
    let mut c = client(&url);
    let now = Timestamp::now();
    let lease = Duration::from_secs(30);
    let dead = outbox::claim(&mut c, "hook", "node-a", now, lease, 10).unwrap();
    assert_eq!(
        dead.len(),
        3,
        "each call's ringing; its ended waits behind it"
    );
    assert!(
        outbox::claim(&mut c, "hook", "node-b", now, lease, 10)
            .unwrap()
            .is_empty()
    );
    let later = now + jiff::SignedDuration::from_secs(31);
    let taken = outbox::claim(&mut c, "hook", "node-b", later, lease, 10).unwrap();
    let seqs = |events: &[calltrack::store::outbox::OutboxEvent]| -> Vec<i64> {
        events.iter().map(|e| e.seq).collect()
    };
    assert_eq!(
        seqs(&taken),
        seqs(&dead),
        "node B takes over node A's expired claim"
    );
    assert!(taken.iter().all(|e| e.kind.as_str() == "call.ringing"));
}

/// Waits until everything sent before is committed (a command the writer answers after its
/// batch commits), so the next commands go in a batch of their own.
fn commit(sender: &StoreSender) {
    let (done, committed) = tokio::sync::oneshot::channel();
    sender
        .try_send(StoreCommand::OutboxPrune {
            before: Timestamp::UNIX_EPOCH,
            done,
        })
        .unwrap();
    committed.blocking_recv().expect("batch committed");
}

/// The events of the outbox, oldest first, as (event, subject).
fn outbox_events(c: &mut postgres::Client) -> Vec<(String, String)> {
    c.query("SELECT event, subject FROM outbox ORDER BY seq", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn held_calls_live_rows_are_written_per_batch_and_their_facts_carry_the_whole_call() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("held");
    let (sender, handle) = writer(&url, "node-a", vec![Subscription::everything("hook")]);
    let calls: Vec<LiveCall> = (0..3)
        .map(|i| {
            live(
                &format!("h{i}"),
                &format!("7916000000{i}"),
                "2026-12-07T05:00:00Z",
            )
        })
        .collect();
    for l in &calls {
        sender
            .try_send(StoreCommand::CallStarted(l.clone()))
            .unwrap();
    }
    commit(&sender);
    let mut c = client(&url);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM live_calls WHERE node_id = 'node-a'"
        ),
        3
    );

    // Two of them answer in a batch of their own, with their dialogs; one answer is of a call
    // nobody started.
    let answered_at = ts("2026-12-07T05:00:07Z");
    for id in ["h0", "h2", "nobody"] {
        sender
            .try_send(StoreCommand::CallAnswered {
                id: id.into(),
                answered_at,
            })
            .unwrap();
        sender
            .try_send(StoreCommand::DialogsChanged {
                id: id.into(),
                dialogs: CallDialogs {
                    a: leg(&format!("{id}-a@carrier")),
                    b: leg(&format!("{id}-b@calltrack")),
                },
            })
            .unwrap();
    }
    commit(&sender);
    let rows = c
        .query(
            "SELECT id, answered_at IS NOT NULL, a_dialog->>'call_id' FROM live_calls ORDER BY id",
            &[],
        )
        .unwrap();
    let rows: Vec<(String, bool, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("h0".into(), true, Some("h0-a@carrier".into())),
            ("h1".into(), false, None),
            ("h2".into(), true, Some("h2-a@carrier".into())),
        ]
    );
    // The answer facts carry the call as it was stored (caller, number), not just its id.
    let payloads = c
        .query(
            "SELECT payload::json->>'caller' FROM outbox WHERE event = 'call.answered' ORDER BY subject",
            &[],
        )
        .unwrap();
    let callers: Vec<Option<String>> = payloads.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        callers,
        vec![Some("79160000000".into()), Some("79160000002".into())]
    );

    for l in &calls {
        sender
            .try_send(StoreCommand::CallEnded(ended(l, Disposition::Busy)))
            .unwrap();
    }
    let stats = handle.shutdown().unwrap();
    assert_eq!(
        (stats.cdrs_written, stats.unknown_answers),
        (3, 1),
        "{stats:?}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM live_calls"), 0);
}

#[test]
fn missed_calls_called_back_are_marked_once_and_announced_as_updated() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("store_postgres") else {
        return;
    };
    let url = server.create_db("callback");
    let (sender, handle) = writer(&url, "node-a", vec![Subscription::everything("hook")]);
    let caller = "79165550000";
    let missed = live("m1", caller, "2026-12-07T05:00:00Z");
    let other = live("m2", "79165559999", "2026-12-07T05:00:30Z");
    for l in [&missed, &other] {
        sender
            .try_send(StoreCommand::CallStarted(l.clone()))
            .unwrap();
        sender
            .try_send(StoreCommand::CallEnded(ended(l, Disposition::NoAnswer)))
            .unwrap();
    }
    commit(&sender);
    // Two answered calls of the same caller in one batch: the first marks the missed one.
    let answered = |id: &str, at: &str| {
        let l = live(id, caller, at);
        let l = LiveCall {
            answered_at: Some(l.started_at + jiff::SignedDuration::from_secs(4)),
            ..l
        };
        (l.clone(), ended(&l, Disposition::Answered))
    };
    let (first, first_cdr) = answered("a1", "2026-12-07T06:00:00Z");
    let (second, second_cdr) = answered("a2", "2026-12-07T06:10:00Z");
    for (l, cdr) in [(&first, &first_cdr), (&second, &second_cdr)] {
        sender
            .try_send(StoreCommand::CallStarted(l.clone()))
            .unwrap();
        sender
            .try_send(StoreCommand::CallEnded(cdr.clone()))
            .unwrap();
    }
    handle.shutdown().unwrap();

    let mut c = client(&url);
    let marks = c
        .query(
            "SELECT id, to_char(called_back_at AT TIME ZONE 'UTC', 'HH24:MI:SS') FROM cdr \
             WHERE missed = 1 ORDER BY id",
            &[],
        )
        .unwrap();
    let marks: Vec<(String, Option<String>)> = marks.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        marks,
        vec![("m1".into(), Some("06:00:04".into())), ("m2".into(), None)],
        "the first answered call of the caller marks the missed one; another caller's stays"
    );
    let events = outbox_events(&mut c);
    let updated: Vec<&(String, String)> =
        events.iter().filter(|(e, _)| e == "call.updated").collect();
    assert_eq!(
        updated,
        vec![&("call.updated".to_owned(), "m1".to_owned())],
        "{events:?}"
    );
    let after_first_end = events
        .iter()
        .position(|e| e == &("call.ended".to_owned(), "a1".to_owned()))
        .expect("a1 ended");
    assert_eq!(
        events[after_first_end + 1],
        ("call.updated".into(), "m1".into())
    );
    let payload: String = c
        .query_one(
            "SELECT payload::json->>'called_back_at' FROM outbox WHERE event = 'call.updated'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(payload.starts_with("2026-12-07T06:00:04"), "{payload}");
}
