//! The lease table on Redis, shared by two "nodes" (two `LeaseTable`s on one redis-server
//! started by the test): no number to two live visitors under concurrent grants, every grant
//! seen by the other node's mirror, a stale mirror never names the previous visitor, and
//! leases survive a Redis restart with the append-only file on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calltrack::config::RedisLeasesConfig;
use calltrack::lease::{GrantRequest, LeaseError, LeaseTable, PoolSpec, Visit};
use jiff::{SignedDuration, Timestamp};
use support::redis_server::{RedisServer, skip_without_redis};

const T0: Timestamp = Timestamp::constant(1_796_000_000, 0);

fn pool(id: &str, numbers: &[String], cooldown_secs: u64) -> PoolSpec {
    PoolSpec {
        site: "shop".into(),
        pool: id.into(),
        numbers: numbers.to_vec(),
        freeze: Duration::from_secs(60),
        cooldown: Duration::from_secs(cooldown_secs),
    }
}

fn numbers(first: u64, n: u64) -> Vec<String> {
    (first..first + n).map(|i| format!("7495{i:07}")).collect()
}

fn node(redis: &RedisServer, pools: Vec<PoolSpec>) -> Arc<LeaseTable> {
    let table = Arc::new(LeaseTable::new(pools));
    let config = RedisLeasesConfig {
        url: redis.url(),
        key_prefix: "test:".into(),
        connect_timeout: Duration::from_secs(1),
        command_timeout: Duration::from_secs(1),
    };
    LeaseTable::attach_redis(&table, &config).unwrap();
    wait("the mirror subscribes", || table.backend_up() == Some(true));
    table
}

fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting until {what}");
}

fn request(session: &str, pool: &str, visitor: &str) -> GrantRequest {
    GrantRequest {
        session_id: session.into(),
        site: "shop".into(),
        pool: pool.into(),
        visitor_id: Some(visitor.into()),
        visit: Visit::from_page(&format!("https://shop.example/?utm_source={visitor}"), None),
    }
}

fn holder(table: &LeaseTable, number: &str, now: Timestamp) -> Option<String> {
    table.holder_of(number, now).map(|l| l.session_id)
}

/// Grants `per_thread` sessions from each of 4 threads (2 per node) at `now`; returns
/// number -> session of every grant.
fn grant_round(
    nodes: &[Arc<LeaseTable>; 2],
    round: u32,
    per_thread: u32,
    now: Timestamp,
) -> HashMap<String, String> {
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let table = nodes[(t % 2) as usize].clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..per_thread {
                    let id = format!("r{round}-t{t}-s{i}");
                    match table.grant(request(&id, "web", &format!("v-{id}")), now) {
                        Ok(lease) => got.push((lease.number, lease.session_id)),
                        Err(LeaseError::Exhausted) => {}
                        Err(e) => panic!("grant failed: {e}"),
                    }
                }
                got
            })
        })
        .collect();
    let mut by_number = HashMap::new();
    for thread in threads {
        for (number, session) in thread.join().unwrap() {
            if let Some(other) = by_number.insert(number.clone(), session.clone()) {
                panic!("{number} granted to both {other} and {session}");
            }
        }
    }
    by_number
}

#[test]
fn two_nodes_never_hand_one_number_to_two_live_visitors() {
    if skip_without_redis("two_nodes_never_hand_one_number_to_two_live_visitors") {
        return;
    }
    let redis = RedisServer::start();
    let list = numbers(0, 20);
    let nodes = [
        node(&redis, vec![pool("web", &list, 0)]),
        node(&redis, vec![pool("web", &list, 0)]),
    ];
    for round in 0..3u32 {
        // Each round starts after the previous round's leases froze out and were swept.
        let now = T0 + SignedDuration::from_secs(i64::from(round) * 120);
        nodes[0].expire(now);
        let granted = grant_round(&nodes, round, 10, now);
        assert_eq!(
            granted.len(),
            list.len(),
            "40 asks fill the 20 numbers exactly"
        );
        for table in &nodes {
            wait("both mirrors show every grant", || {
                granted
                    .iter()
                    .all(|(n, s)| holder(table, n, now).as_deref() == Some(s.as_str()))
            });
        }
    }
    // Idle subscriptions answer their PINGs and stay up: no re-read without a drop.
    std::thread::sleep(Duration::from_millis(700));
    for table in &nodes {
        assert_eq!(table.backend_up(), Some(true));
        assert_eq!(
            table.mirror_rebuilds(),
            2,
            "one read at attach, one at subscribing"
        );
    }
}

#[test]
fn a_stale_mirror_never_names_the_previous_visitor() {
    if skip_without_redis("a_stale_mirror_never_names_the_previous_visitor") {
        return;
    }
    let redis = RedisServer::start();
    let (one, other) = (numbers(100, 1), numbers(200, 1));
    let pools = || vec![pool("web", &one, 0), pool("promo", &other, 0)];
    let (a, b) = (node(&redis, pools()), node(&redis, pools()));
    let n = one[0].as_str();
    assert_eq!(a.grant(request("s1", "web", "v1"), T0).unwrap().number, n);
    wait("B sees s1", || holder(&b, n, T0).as_deref() == Some("s1"));

    // B's subscription drops (and is held down); B notices and marks its mirror stale.
    b.hold_mirror_reconnect(true);
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut redis.connection())
        .unwrap();
    assert!(killed >= 1);
    wait("B's mirror is stale", || b.backend_up() == Some(false));

    // Through A: s1 moves to the other pool (its lease on `n` ends at once) and, with a
    // cool-down of 0, `n` goes straight to a new visitor.
    let t1 = T0 + SignedDuration::from_secs(5);
    assert_eq!(
        a.grant(request("s1", "promo", "v1"), t1).unwrap().number,
        other[0]
    );
    assert_eq!(a.grant(request("s2", "web", "v2"), t1).unwrap().number, n);
    assert_eq!(
        b.session("s1").map(|l| l.number).as_deref(),
        Some(n),
        "B's mirror really is behind: it still has s1 on the number"
    );
    assert_eq!(holder(&b, n, t1), None, "a stale mirror answers nobody");

    b.hold_mirror_reconnect(false);
    wait("B re-subscribes and re-reads", || {
        b.backend_up() == Some(true)
    });
    assert_eq!(holder(&b, n, t1).as_deref(), Some("s2"));
    assert!(b.mirror_rebuilds() >= 3);
}

#[test]
fn leases_survive_a_redis_restart_with_aof() {
    if skip_without_redis("leases_survive_a_redis_restart_with_aof") {
        return;
    }
    let mut redis = RedisServer::start_with_aof();
    let list = numbers(300, 3);
    let a = node(&redis, vec![pool("web", &list, 0)]);
    let lease = a.grant(request("s1", "web", "v1"), T0).unwrap();
    redis.restart();
    wait("A re-reads after the restart", || {
        a.mirror_rebuilds() >= 3 && a.backend_up() == Some(true)
    });
    assert_eq!(holder(&a, &lease.number, T0).as_deref(), Some("s1"));
    let b = node(&redis, vec![pool("web", &list, 0)]);
    let seen = b.holder_of(&lease.number, T0).unwrap();
    assert_eq!(seen.session_id, "s1");
    assert_eq!(seen.visit.utm_source(), Some("v1"));
    let again = a.grant(request("s9", "web", "v1"), T0).unwrap();
    assert_eq!(
        again.session_id, "s1",
        "the returning visitor gets its lease back after the restart"
    );
    let hb = b
        .heartbeat("s1", T0 + SignedDuration::from_secs(30))
        .unwrap();
    assert_eq!(hb.expires_at, T0 + SignedDuration::from_secs(90));
}

#[test]
fn a_ringing_number_is_never_reissued_and_cools_down_after_the_call() {
    if skip_without_redis("a_ringing_number_is_never_reissued_and_cools_down_after_the_call") {
        return;
    }
    let redis = RedisServer::start();
    let list = numbers(400, 1);
    let pools = || vec![pool("web", &list, 30)];
    let (a, b) = (node(&redis, pools()), node(&redis, pools()));
    let n = list[0].as_str();
    a.grant(request("s1", "web", "v1"), T0).unwrap();
    wait("B sees s1", || holder(&b, n, T0).as_deref() == Some("s1"));

    // The call rings on node B; the lease's freeze runs out mid-call.
    b.call_started(n);
    let late = T0 + SignedDuration::from_secs(120);
    wait("A's mirror sees the call", || {
        holder(&a, n, late).as_deref() == Some("s1")
    });
    assert_eq!(a.expire(late), 0, "a lease with a call on it does not end");
    assert!(matches!(
        a.grant(request("s2", "web", "v2"), late),
        Err(LeaseError::Exhausted)
    ));

    // The call ends: the lease ends at the next sweep, the number rests 30 s from the end.
    b.call_ended(n, late);
    wait("the end of the call reaches Redis", || a.expire(late) == 1);
    assert!(matches!(
        a.grant(
            request("s2", "web", "v2"),
            late + SignedDuration::from_secs(29)
        ),
        Err(LeaseError::Exhausted)
    ));
    let cooled = late + SignedDuration::from_secs(30);
    let lease = a.grant(request("s2", "web", "v2"), cooled).unwrap();
    assert_eq!(
        (lease.number.as_str(), lease.session_id.as_str()),
        (n, "s2")
    );
    wait("B sees s2", || {
        holder(&b, n, cooled).as_deref() == Some("s2")
    });
}

#[test]
fn a_pool_larger_than_a_script_slice_is_registered_whole_in_configured_order() {
    if skip_without_redis(
        "a_pool_larger_than_a_script_slice_is_registered_whole_in_configured_order",
    ) {
        return;
    }
    let redis = RedisServer::start();
    // 4 500 numbers: three script slices of at most 2 000.
    let all = numbers(2_000_000, 4_500);
    let a = node(&redis, vec![pool("web", &all, 0)]);
    let mut con = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let free = "test:pool:shop/web:free";
    let card: usize = redis::cmd("ZCARD").arg(free).query(&mut con).unwrap();
    assert_eq!(card, 4_500, "every configured number is free");
    for i in [0usize, 1_999, 2_000, 3_999, 4_000, 4_499] {
        let score: f64 = redis::cmd("ZSCORE")
            .arg(free)
            .arg(&all[i])
            .query(&mut con)
            .unwrap();
        assert_eq!(score, i as f64, "{} keeps its place in the config", all[i]);
    }
    let granted: Vec<String> = (0..3)
        .map(|i| {
            let id = format!("s{i}");
            a.grant(request(&id, "web", &format!("v{i}")), T0)
                .unwrap()
                .number
        })
        .collect();
    assert_eq!(
        granted,
        all[..3].to_vec(),
        "the first configured numbers go first"
    );
    // A node attaching now reads every number's state (slice by slice) into its mirror.
    let b = node(&redis, vec![pool("web", &all, 0)]);
    assert_eq!(holder(&b, &all[2], T0).as_deref(), Some("s2"));
    assert_eq!(holder(&b, &all[4_499], T0), None);
}
