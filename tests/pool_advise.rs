//! `calltrack pool advise` end to end: five days of visits drive the real lease table on a
//! virtual clock (grants, heartbeats, releases, expiry), calls are attributed by the call
//! path's lease lookup, and both reach SQLite through the store writer (the lease snapshot
//! with its ended leases, and CDRs); the binary then prints JSON with a recommendation, and
//! exits 2 naming what it needs when the history is too short.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use calltrack::call::attribution::attribute;
use calltrack::call::lease_lookup::holder_of;
use calltrack::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
use calltrack::config::{NumberKind, TrackingNumber};
use calltrack::lease::{GrantRequest, LeaseSnapshot, LeaseTable, PoolSpec, VisitFields};
use calltrack::store::{StoreCommand, WriterOptions, spawn_writer};
use jiff::{SignedDuration, Timestamp};

const NUMBERS: usize = 8;
const FREEZE_SECS: i64 = 600;
const BEAT_SECS: i64 = 30;

fn number(i: usize) -> String {
    format!("7495111{i:04}")
}

fn config(db: &Path) -> String {
    format!(
        r#"
[store]
path = "{}"

[[sites]]
id = "shop"
forward_to = "sip:127.0.0.1:5080"
default_number = "74950000000"
freeze_secs = {FREEZE_SECS}
heartbeat_secs = {BEAT_SECS}
lease_cooldown_secs = 60

[[sites.pools]]
id = "web"
numbers = ["{}-{}"]
"#,
        db.display(),
        number(0),
        number(NUMBERS - 1)
    )
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: i64) -> i64 {
        (self.next() % n as u64) as i64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Grant(usize),
    Beat(usize),
    Release(usize),
    Ring(usize),
}

/// Visits from 08:00 to 20:00 UTC on five days, one every 3 minutes on average, 30 s to
/// 10 min long; one in four calls, mostly during the visit, else up to 10 min after.
fn script(start: i64) -> Vec<(i64, Step)> {
    let mut rng = Rng(7);
    let mut steps = Vec::new();
    let mut visit = 0;
    for day in 0..5 {
        let mut t = start + day * 86_400 + 8 * 3600;
        while t < start + day * 86_400 + 20 * 3600 {
            t += 1 + rng.below(360);
            let len = 30 + rng.below(570);
            steps.push((t, Step::Grant(visit)));
            for beat in (1..)
                .map(|k| t + k * BEAT_SECS)
                .take_while(|b| *b < t + len)
            {
                steps.push((beat, Step::Beat(visit)));
            }
            steps.push((t + len, Step::Release(visit)));
            if rng.below(4) == 0 {
                let ring = if rng.below(10) < 7 {
                    t + rng.below(len)
                } else {
                    t + len + 60 + rng.below(540)
                };
                steps.push((ring, Step::Ring(visit)));
            }
            visit += 1;
        }
    }
    steps.sort();
    steps
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

/// Drives the lease table through the script and writes what the daemon would write.
async fn seed(db: &Path) -> (usize, usize) {
    let table = LeaseTable::new(vec![PoolSpec {
        site: "shop".into(),
        pool: "web".into(),
        numbers: (0..NUMBERS).map(number).collect(),
        freeze: Duration::from_secs(FREEZE_SECS as u64),
        cooldown: Duration::from_secs(60),
    }]);
    table.keep_history();
    let (store, writer) = spawn_writer(db, WriterOptions::default()).unwrap();
    let today = Timestamp::now().as_second().div_euclid(86_400) * 86_400;
    let mut sessions = Vec::new();
    let (mut leases, mut calls) = (0, 0);
    for (t, step) in script(today - 6 * 86_400) {
        let now = at(t);
        table.expire(now);
        match step {
            Step::Grant(v) => {
                let page = format!("https://shop.example/?utm_source=google&gclid=g{v}");
                let req = GrantRequest {
                    session_id: format!("s{v}"),
                    site: "shop".into(),
                    pool: "web".into(),
                    visitor_id: Some(format!("v{v}")),
                    visit: VisitFields::from_page(&page, None).into(),
                };
                let granted = table.grant(req, now).ok().map(|l| l.number);
                sessions.push(granted);
            }
            Step::Beat(v) => drop(table.heartbeat(&format!("s{v}"), now)),
            Step::Release(v) => drop(table.release(&format!("s{v}"), now)),
            Step::Ring(v) => {
                let Some(dialled) = sessions[v].clone() else {
                    continue;
                };
                let cdr = ring(&table, &dialled, v, calls, now);
                store.send(StoreCommand::CallEnded(cdr)).await.unwrap();
                calls += 1;
            }
        }
    }
    table.expire(at(today + 86_400));
    let (ended, dropped) = table.take_ended();
    assert_eq!(dropped, 0);
    leases += ended.len();
    let snapshot = LeaseSnapshot {
        ended,
        ..LeaseSnapshot::default()
    };
    store
        .request(|done| StoreCommand::SaveLeases { snapshot, done })
        .await
        .unwrap();
    tokio::task::spawn_blocking(move || writer.shutdown())
        .await
        .unwrap()
        .unwrap();
    (leases, calls)
}

/// A call from visitor `v` to `dialled`, attributed as `plan_invite` does, answered, 60 s.
fn ring(
    table: &LeaseTable,
    dialled: &str,
    v: usize,
    seq: usize,
    now: Timestamp,
) -> CallDetailRecord {
    let tracking = TrackingNumber {
        number: dialled.to_owned(),
        site: "shop".into(),
        forward_to: "sip:127.0.0.1:5080".into(),
        kind: NumberKind::Dynamic { pool: "web".into() },
    };
    let live = LiveCall {
        id: format!("{seq:016x}"),
        call_id: format!("{seq}@carrier.example"),
        tracking_number: dialled.to_owned(),
        caller: format!("7916{v:07}"),
        destination: "sip:127.0.0.1:5080".into(),
        started_at: now,
        answered_at: Some(now + SignedDuration::from_secs(5)),
        attribution: attribute("shop", holder_of(&tracking, table, now)),
        first_time_caller: true,
        scheme: None,
        answered_step: None,
        answered_target: None,
    };
    let end = now + SignedDuration::from_secs(65);
    CallDetailRecord::from_live(&live, end, Disposition::Answered, 200, HangupSide::Callee)
}

fn advise(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calltrack"))
        .arg("--config")
        .arg(dir.join("calltrack.toml"))
        .args(["pool", "advise", "--site", "shop"])
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test]
async fn advise_prints_a_recommendation_from_the_stored_history_and_exits_2_without_enough() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    std::fs::write(dir.path().join("calltrack.toml"), config(&db)).unwrap();
    let (leases, calls) = seed(&db).await;
    assert!(
        leases > 1000 && calls > 200,
        "{leases} leases, {calls} calls"
    );

    let out = advise(
        dir.path(),
        &["--target-accuracy", "0.9", "--format", "json"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["site"], "shop");
    assert_eq!(json["pool"], "web");
    assert_eq!(json["history"]["leases"], leases);
    assert_eq!(
        json["history"]["calls"], calls,
        "every call matched to its lease"
    );
    assert_eq!(json["current"]["pool_size"], NUMBERS);
    let best = &json["recommended"];
    assert!(best["pool_size"].as_u64().unwrap() >= 1, "{json}");
    assert!(best["correct_pct"].as_f64().unwrap() >= 90.0, "{json}");
    assert!(json["tried"].as_array().unwrap().len() >= 3, "{json}");
    assert_eq!(
        json["model"]["calls"]["during_visit_share"]
            .as_f64()
            .map(|s| (s * 10.0).round()),
        Some(7.0)
    );

    let table = advise(dir.path(), &["--target-accuracy", "0.9"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success() && text.contains("advice for 90.00 %"),
        "{text}"
    );
    eprintln!("{text}");

    let short = advise(dir.path(), &["--days", "1"]);
    assert_eq!(short.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains("too little lease history")
            && stderr.contains("needs at least 3 days, 200 leases and 20 calls"),
        "{stderr}"
    );
}

/// The hourly job (`app::freeze`) on the same stored history: calls came up to 10 minutes
/// after the visit, so a pool configured with an hour's freeze gets one fitted to that delay
/// (between the 5 minutes most such calls took and twice the longest).
#[tokio::test]
async fn the_hourly_job_fits_the_pools_freeze_to_the_stored_call_delay() {
    use calltrack::app::freeze::run_freeze;
    use calltrack::config::Config;
    use calltrack::store::{BackendReader, StoreReader};
    use tokio_util::sync::CancellationToken;

    const HOUR: Duration = Duration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calltrack.db");
    seed(&db).await;
    let run = || {
        let toml = config(&db).replace(
            &format!("freeze_secs = {FREEZE_SECS}"),
            "freeze_secs = 3600\nadapt_freeze = true",
        );
        let sites = Config::from_toml_str(&toml).unwrap().sites;
        let table = std::sync::Arc::new(LeaseTable::new(vec![PoolSpec {
            site: "shop".into(),
            pool: "web".into(),
            numbers: (0..NUMBERS).map(number).collect(),
            freeze: HOUR,
            cooldown: Duration::from_secs(60),
        }]));
        let reader = StoreReader::new(&db);
        async move {
            let stop = CancellationToken::new();
            let job = tokio::spawn(run_freeze(
                sites,
                table.clone(),
                (reader.clone(), BackendReader::Sqlite(reader)),
                Timestamp::now,
                stop.clone(),
            ));
            // The first fit runs at once; wait for it (not for a timer).
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while table.freeze_of("shop", "web") == Some(HOUR)
                && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.cancel();
            job.await.unwrap();
            table.freeze_of("shop", "web").unwrap()
        }
    };
    let fitted = run().await;
    assert!(
        fitted >= Duration::from_secs(300) && fitted <= Duration::from_secs(1200),
        "fitted freeze {fitted:?}"
    );
}
