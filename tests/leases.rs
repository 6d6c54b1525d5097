//! Lease persistence end to end: save to a temporary SQLite file, restore into a new table
//! (a restart), and the sweeper service expiring and saving on its own through the store's
//! one writer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use calltrack::lease::{self, GrantRequest, LeaseTable, PoolSpec, VisitFields};
use calltrack::store::{self, leases};
use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

const T0: Timestamp = Timestamp::constant(1772366400, 250000000) /* 2026-03-01T12:00:00.250Z */;

fn table() -> LeaseTable {
    LeaseTable::new(vec![PoolSpec {
        site: "shop".into(),
        pool: "web".into(),
        numbers: (0..5).map(|i| format!("7495000000{i}")).collect(),
        freeze: StdDuration::from_secs(600),
        cooldown: StdDuration::from_secs(60),
    }])
}

fn request(session: &str, visitor: Option<&str>) -> GrantRequest {
    GrantRequest {
        session_id: session.into(),
        site: "shop".into(),
        pool: "web".into(),
        visitor_id: visitor.map(Into::into),
        visit: VisitFields {
            utm_source: Some("yandex".into()),
            utm_campaign: Some("весна-2026".into()),
            landing_page: Some("https://shop.example/promo?utm_source=yandex".into()),
            ..VisitFields::default()
        }
        .into(),
    }
}

#[test]
fn leases_survive_a_restart_through_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/calltrack.sqlite");
    let before = table();
    let a = before.grant(request("a", Some("visitor-a")), T0).unwrap();
    let b = before
        .grant(request("b", None), T0 + SignedDuration::from_secs(100))
        .unwrap();
    before
        .heartbeat("a", T0 + SignedDuration::from_secs(500))
        .unwrap();
    let mut conn = store::open(&path).unwrap();
    leases::save_leases(&mut conn, &before.snapshot()).unwrap();
    drop(conn);

    // Restart at 750 s: b (expired at 700 s) is gone, a (heartbeat at 500 s) is restored.
    let now = T0 + SignedDuration::from_secs(750);
    let after = table();
    let saved = leases::load_snapshot(&store::open(&path).unwrap()).unwrap();
    assert_eq!(lease::load_on_start(&after, saved, now), (1, 0));
    let held = after.holder_of(&a.number, now).unwrap();
    assert_eq!(held, before.session("a").unwrap());
    assert_eq!(held.visit.utm_campaign(), Some("весна-2026"));
    assert!(after.holder_of(&b.number, now).is_none());
    // The restored lease goes on as before: heartbeats, and the visitor comes back to it.
    assert!(after.heartbeat("a", now).is_some());
    let again = after.grant(request("a2", Some("visitor-a")), now).unwrap();
    assert_eq!(again.session_id, "a");
}

#[tokio::test]
async fn sweeper_expires_and_saves_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calltrack.sqlite");
    let table = Arc::new(table());
    let now = Timestamp::now();
    table
        .grant(request("old", None), now - SignedDuration::from_hours(1))
        .unwrap();
    table.grant(request("live", None), now).unwrap();

    let stop = CancellationToken::new();
    let (store, writer) = store::spawn_writer(&path, Default::default()).unwrap();
    let sweeper = tokio::spawn(lease::run_sweeper(
        table.clone(),
        store,
        std::time::Duration::from_secs(30 * 86_400),
        stop.clone(),
    ));
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    stop.cancel();
    sweeper.await.unwrap();
    tokio::task::spawn_blocking(move || writer.shutdown())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(table.len(), 1, "the first tick expired the old lease");
    let conn = store::open(&path).unwrap();
    let saved = leases::load_leases(&conn).unwrap();
    let ids: Vec<&str> = saved.iter().map(|l| l.session_id.as_str()).collect();
    assert_eq!(ids, ["live"], "saved at shutdown");
}
