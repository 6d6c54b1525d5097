//! PostgreSQL's report rollup (schema V8, kept by triggers) against the calls themselves, on
//! a PostgreSQL server the harness starts:
//! - two nodes' writers writing CDRs of the same hours (and of the same callers) at once give
//!   the rollup lines and the reports one writer gives, and the rollup path answers what
//!   summing the calls answers;
//! - an `interrupted` CDR (a node's calls closed by recovery or a takeover) replaced by the
//!   call's real CDR leaves the rollup as if only the real one had been written;
//! - two nodes' batches released at once, each upserting the rollup line the other's next
//!   statement needs (opposite orders), do not deadlock and report as one writer.
//!
//! Without PostgreSQL the tests skip loudly (and fail under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use calltrack::call::attribution::{Attribution, NumberKindTag};
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::report::build::total_of;
use calltrack::report::{ReportInput, ReportRequest, Sums, Zones};
use calltrack::store::StoreCommand;
use calltrack::store::outbox::Outbox;
use calltrack::store::reads::Reads;
use jiff::{SignedDuration, Timestamp};
use support::pg_server::PgServer;
use support::pg_store;

const CALLS: usize = 600;

/// Call `i`: 600 calls over three UTC hours, 40 callers (so callers call again, on either
/// node), three sources, answered, missed and refused calls.
fn call(i: usize) -> CallDetailRecord {
    let live = live(i);
    let (disposition, status) = match (i % 11 == 3, live.answered_at.is_some()) {
        (true, _) => (Disposition::Rejected, 403),
        (false, true) => (Disposition::Answered, 200),
        (false, false) => (Disposition::NoAnswer, 480),
    };
    let end = live.answered_at.unwrap_or(live.started_at) + SignedDuration::from_secs(40);
    CallDetailRecord::from_live(&live, end, disposition, status, HangupSide::Caller)
        .judge_quality(Duration::from_secs(30))
}

/// Call `i` while it was live (answered three seconds in, but one in four).
fn live(i: usize) -> LiveCall {
    let base: Timestamp = "2026-11-20T08:00:00Z".parse().unwrap();
    let started_at = base + SignedDuration::from_secs(i64::try_from(i * 17).unwrap());
    let source = [Some("google"), Some("yandex"), None][i % 3];
    LiveCall {
        id: format!("call{i:04}"),
        call_id: format!("{i}@carrier"),
        tracking_number: "74950000100".into(),
        caller: format!("7916000{:04}", i % 40),
        destination: "sip:127.0.0.1:5080".into(),
        started_at,
        answered_at: (i % 4 != 1).then(|| started_at + SignedDuration::from_secs(3)),
        attribution: Attribution {
            site: "demo".into(),
            number_kind: NumberKindTag::Dynamic,
            source: source.map(str::to_owned),
            campaign: Some(format!("c{}", i % 5)),
            device: Some(if i % 2 == 0 { "mobile" } else { "desktop" }.into()),
            ..Attribution::default()
        },
        first_time_caller: false,
        scheme: Some("forward_to".into()),
        answered_step: None,
        answered_target: None,
    }
}

fn zones() -> Zones {
    let mut zones = Zones::default();
    zones.0.insert("demo".into(), jiff::tz::TimeZone::UTC);
    zones
}

/// The total of a report of 2026-11-20 by `by` (`source,campaign` and `hour` are rolled up,
/// `device` sums the calls).
fn total(client: &mut postgres::Client, by: &str) -> Sums {
    let input = ReportInput {
        from: Some("2026-11-20".into()),
        to: Some("2026-11-20".into()),
        by: Some(by.into()),
        ..ReportInput::default()
    };
    let zones = zones();
    let request = ReportRequest::parse(&input, &zones, "RUB").unwrap();
    total_of(client.facts(&request.queries(&zones)).unwrap())
}

/// Every rollup line with something in it, in key order.
fn rollup(client: &mut postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT r::text FROM report_rollup AS r WHERE calls <> 0 OR leads <> 0 \
             ORDER BY hour, site, source, medium, campaign, number_kind, currency",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The rollup a from-scratch sum of the stored calls gives (the migration's backfill).
fn rebuilt(client: &mut postgres::Client) -> Vec<String> {
    client
        .batch_execute(
            "CREATE TEMP TABLE kept AS SELECT * FROM report_rollup;
             DELETE FROM report_rollup;",
        )
        .unwrap();
    client
        .batch_execute(
            "INSERT INTO report_rollup SELECT
                date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', site,
                coalesce(source, ''), coalesce(medium, ''), coalesce(campaign, ''), number_kind,
                CASE WHEN deal_status = 'won' THEN coalesce(deal_currency, '') ELSE '' END,
                count(*), sum(first_time_caller), count(answered_at), sum(missed),
                count(*) FILTER (WHERE missed = 1 AND called_back_at IS NULL), sum(quality),
                coalesce(sum(wait_secs) FILTER (WHERE answered_at IS NOT NULL), 0),
                coalesce(sum(talk_secs) FILTER (WHERE answered_at IS NOT NULL), 0), 0,
                coalesce(sum(deal_amount_minor) FILTER (WHERE deal_status = 'won'), 0),
                count(*) FILTER (WHERE deal_status = 'won'), count(confidence),
                coalesce(sum(floor(confidence * 1000 + 0.5)), 0), count(target),
                coalesce(sum(target), 0)
             FROM cdr WHERE disposition <> 'rejected' GROUP BY 1, 2, 3, 4, 5, 6, 7",
        )
        .unwrap();
    let fresh = rollup(client);
    client
        .batch_execute(
            "DELETE FROM report_rollup; INSERT INTO report_rollup SELECT * FROM kept;
             DROP TABLE kept;",
        )
        .unwrap();
    fresh
}

/// `prev_started_at` of every call, as a from-scratch window over the calls gives it.
fn prev_started_agrees(client: &mut postgres::Client) {
    let wrong: i64 = client
        .query_one(
            "SELECT count(*) FROM cdr LEFT JOIN (
                SELECT seq, lag(started_at) OVER (PARTITION BY caller, site ORDER BY started_at)
                    AS prev FROM cdr WHERE disposition <> 'rejected') AS p USING (seq)
             WHERE cdr.prev_started_at IS DISTINCT FROM p.prev",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0, "calls with a wrong previous call");
}

/// A day's answers a database gives: totals by rolled-up fields and by a summed one.
fn answers(client: &mut postgres::Client) -> Vec<Sums> {
    let rolled = total(client, "source,campaign");
    assert_eq!(rolled, total(client, "hour"), "by hour");
    assert_eq!(
        rolled,
        total(client, "device"),
        "the rollup path sums what the calls do"
    );
    ["source,campaign", "hour,source", ""]
        .iter()
        .map(|by| total(client, by))
        .collect()
}

#[test]
fn two_nodes_writing_the_same_hours_report_as_one_writer() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_report_rollup") else {
        return;
    };
    let one = server.create_db("one_writer");
    let (sender, handle) = pg_store::writer(&one, "node-a", Outbox::new(Vec::new()));
    for i in 0..CALLS {
        sender.try_send(StoreCommand::CallEnded(call(i))).unwrap();
    }
    drop(sender);
    assert_eq!(handle.shutdown().unwrap().cdrs_written, CALLS as u64);

    let two = server.create_db("two_writers");
    let writers: Vec<_> = ["node-a", "node-b"]
        .into_iter()
        .enumerate()
        .map(|(n, node)| {
            let url = two.clone();
            std::thread::spawn(move || {
                let (sender, handle) = pg_store::writer(&url, node, Outbox::new(Vec::new()));
                for i in (n..CALLS).step_by(2) {
                    sender.try_send(StoreCommand::CallEnded(call(i))).unwrap();
                    if i % 16 == n {
                        // Small batches interleaved with the other node's.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                drop(sender);
                handle.shutdown().unwrap().cdrs_written
            })
        })
        .collect();
    let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(written, CALLS as u64);

    let mut a = pg_store::client(&one);
    let mut b = pg_store::client(&two);
    for client in [&mut a, &mut b] {
        prev_started_agrees(client);
        let kept = rollup(client);
        assert!(kept.len() > 10, "{kept:?}");
        assert_eq!(
            kept,
            rebuilt(client),
            "the triggers keep what a rebuild sums"
        );
    }
    // First-time judgements follow the order the nodes wrote in; every other sum is alike.
    let strip = |mut sums: Vec<Sums>| {
        for s in &mut sums {
            s.first_time_calls = 0;
        }
        sums
    };
    let (by_one, by_two) = (answers(&mut a), answers(&mut b));
    assert!(
        by_one[2].unique_callers == 40 && by_one[2].calls > 500,
        "{by_one:?}"
    );
    assert_eq!(strip(by_one), strip(by_two));
}

/// Call 42 (a repeat of call 2's caller) started on node A, which went away while it rang:
/// closed as `interrupted`, then A's own (answered) CDR arrives and takes its place.
#[test]
fn an_interrupted_cdr_replaced_by_the_real_one_leaves_the_rollup_right() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_report_rollup") else {
        return;
    };
    let url = server.create_db("takeover");
    let (sender, handle) = pg_store::writer(&url, "node-b", Outbox::new(Vec::new()));
    for i in 2..40 {
        sender.try_send(StoreCommand::CallEnded(call(i))).unwrap();
    }
    drop(sender);
    handle.shutdown().unwrap();
    let real = call(42);
    assert_eq!(real.disposition, Disposition::Answered);
    let mut ringing = live(42);
    ringing.answered_at = None;
    let (sender, handle) = pg_store::writer(&url, "node-a", Outbox::new(Vec::new()));
    sender.try_send(StoreCommand::CallStarted(ringing)).unwrap();
    drop(sender);
    handle.shutdown().unwrap();

    let mut client = pg_store::client(&url);
    let before = total(&mut client, "source");
    let now = real.ended_at + SignedDuration::from_secs(60);
    let found =
        calltrack::store::pg::recover_interrupted_calls(&mut client, "node-a", now).unwrap();
    assert_eq!(found.recorded, 1);
    let interrupted = total(&mut client, "source");
    assert_eq!(interrupted.calls, before.calls + 1);
    assert_eq!(
        interrupted.answered, before.answered,
        "rang, never answered"
    );

    let (sender, handle) = pg_store::writer(&url, "node-a", Outbox::new(Vec::new()));
    sender
        .try_send(StoreCommand::CallEnded(real.clone()))
        .unwrap();
    drop(sender);
    assert_eq!(handle.shutdown().unwrap().cdrs_written, 1);
    let replaced = total(&mut client, "source");
    assert_eq!(replaced.calls, before.calls + 1, "one call, not two");
    assert_eq!(replaced.answered, before.answered + 1);
    assert_eq!(
        replaced.talk_secs,
        before.talk_secs + i64::from(real.talk_secs)
    );
    assert_eq!(
        replaced,
        total(&mut client, "device"),
        "rollup and calls agree"
    );
    prev_started_agrees(&mut client);
    assert_eq!(rollup(&mut client), rebuilt(&mut client));
}

/// A call of `caller` from `source`, `minute`s after 08:00 on 2026-11-20: answered, or missed.
fn call_of(id: &str, caller: &str, source: &str, minute: i64, answered: bool) -> CallDetailRecord {
    let mut live = live(0);
    live.id = id.into();
    live.call_id = format!("{id}@carrier");
    live.caller = caller.into();
    live.started_at += SignedDuration::from_mins(minute);
    live.answered_at = answered.then(|| live.started_at + SignedDuration::from_secs(3));
    live.attribution.source = Some(source.into());
    let (disposition, status) = if answered {
        (Disposition::Answered, 200)
    } else {
        (Disposition::NoAnswer, 480)
    };
    let end = live.started_at + SignedDuration::from_secs(40);
    CallDetailRecord::from_live(&live, end, disposition, status, HangupSide::Caller)
}

/// Node A's and node B's calls: each calls back the other's missed caller, so each batch
/// inserts a CDR on one rollup line (its source's) and marks a missed call on the other's:
/// A holds the `google` line and needs the `yandex` one, B the other way round.
fn crossed_calls() -> (Vec<CallDetailRecord>, [CallDetailRecord; 2]) {
    let missed = vec![
        call_of("missed-p", "79160000001", "google", 0, false),
        call_of("missed-q", "79160000002", "yandex", 1, false),
    ];
    let a = call_of("back-q", "79160000002", "google", 30, true);
    let b = call_of("back-p", "79160000001", "yandex", 31, true);
    (missed, [a, b])
}

/// Writes `calls` through node `node`'s writer and waits until they are committed.
fn write_all(url: &str, node: &str, calls: Vec<CallDetailRecord>) -> u64 {
    let (sender, handle) = pg_store::writer(url, node, Outbox::new(Vec::new()));
    for c in calls {
        sender.try_send(StoreCommand::CallEnded(c)).unwrap();
    }
    drop(sender);
    handle.shutdown().unwrap().cdrs_written
}

/// Backends of the current database waiting for a lock.
fn waiting(client: &mut postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .unwrap()
        .get(0)
}

/// Two nodes' batches released at the same instant (both held at the rollup by a third
/// connection's table lock until both wait), each upserting the lines the other needs next,
/// in opposite orders: no deadlock (the server logs none), and the rollup and the reports
/// are one writer's.
#[test]
fn two_nodes_upserting_the_same_lines_in_opposite_orders_do_not_deadlock() {
    let _serial = support::serial();
    let Some(server) = PgServer::start("pg_report_rollup") else {
        return;
    };
    let (missed, [a, b]) = crossed_calls();
    let one = server.create_db("crossed_one");
    let mut all = missed.clone();
    all.extend([a.clone(), b.clone()]);
    assert_eq!(write_all(&one, "node-a", all), 4);

    let two = server.create_db("crossed_two");
    assert_eq!(write_all(&two, "node-a", missed), 2);
    let mut holder = pg_store::client(&two);
    let mut hold = holder.transaction().unwrap();
    hold.batch_execute("LOCK TABLE report_rollup IN EXCLUSIVE MODE")
        .unwrap();
    let writers: Vec<_> = [("node-a", a), ("node-b", b)]
        .into_iter()
        .map(|(node, c)| {
            let url = two.clone();
            std::thread::spawn(move || write_all(&url, node, vec![c]))
        })
        .collect();
    let mut watch = pg_store::client(&two);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while waiting(&mut watch) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "both writers should wait at the rollup"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    hold.commit().unwrap();
    let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(written, 2);
    assert!(
        !server.log().contains("deadlock detected"),
        "the writers deadlocked:\n{}",
        server.log()
    );

    let mut by_one = pg_store::client(&one);
    let mut by_two = pg_store::client(&two);
    for client in [&mut by_one, &mut by_two] {
        assert_eq!(rollup(client), rebuilt(client));
        prev_started_agrees(client);
    }
    assert_eq!(rollup(&mut by_one), rollup(&mut by_two));
    let (one_sums, two_sums) = (total(&mut by_one, "source"), total(&mut by_two, "source"));
    assert_eq!(one_sums, two_sums);
    assert_eq!(
        (
            two_sums.calls,
            two_sums.missed,
            two_sums.missed_not_called_back
        ),
        (4, 2, 0),
        "both missed calls called back"
    );
}
