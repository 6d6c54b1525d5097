//! The lease table embedded vs on Redis (loopback, a redis-server this bench starts in a temp
//! dir without persistence): `holder_of` from the node's mirror, the same answer by a round
//! trip to Redis (what the INVITE path would pay without the mirror), and grant+release.
//!
//! A 10 000-number pool on a virtual clock, 1 ms per grant, freeze 5 s, no cool-down (about
//! 5 000 leases live); lookups hit a leased number. Wall time on a shared box: quote medians as
//! "busy box". Without `redis-server` the Redis benches are skipped with a message.

#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use calltrack::config::RedisLeasesConfig;
use calltrack::lease::{GrantRequest, LeaseTable, PoolSpec, Visit};
use criterion::{Criterion, criterion_group};
use jiff::{SignedDuration, Timestamp};

const POOL: u64 = 10_000;
const T0: Timestamp = Timestamp::constant(1_796_000_000, 0);

fn spec() -> PoolSpec {
    PoolSpec {
        site: "shop".into(),
        pool: "web".into(),
        numbers: (0..POOL).map(|i| format!("7495{i:07}")).collect(),
        freeze: Duration::from_secs(5),
        cooldown: Duration::ZERO,
    }
}

fn request(id: u64) -> GrantRequest {
    GrantRequest {
        session_id: format!("s{id}"),
        site: "shop".into(),
        pool: "web".into(),
        visitor_id: Some(format!("v{id}")),
        visit: Visit::from_page(
            "https://shop.example/?utm_source=bench&utm_campaign=c",
            None,
        ),
    }
}

/// A redis-server on a free loopback port, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Option<Server> {
        let dir = tempfile::tempdir().ok()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let server = Server {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn table(&self, prefix: &str) -> Arc<LeaseTable> {
        let table = Arc::new(LeaseTable::new(vec![spec()]));
        let config = RedisLeasesConfig {
            url: format!("redis://127.0.0.1:{}/0", self.port),
            key_prefix: prefix.into(),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        };
        LeaseTable::attach_redis(&table, &config).expect("attach to redis");
        let deadline = Instant::now() + Duration::from_secs(10);
        while table.backend_up() != Some(true) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        table
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Grants then releases one lease per iteration, 1 ms apart on the virtual clock.
fn churn(table: &LeaseTable, clock: &AtomicU64, sweep: bool) {
    let i = clock.fetch_add(1, Ordering::Relaxed);
    let now = T0 + SignedDuration::from_millis(i as i64);
    if sweep && i % 1000 == 0 {
        table.expire(now);
    }
    if let Ok(lease) = table.grant(request(i), now) {
        black_box(table.release(&lease.session_id, now));
    }
}

fn bench(c: &mut Criterion) {
    let embedded = LeaseTable::new(vec![spec()]);
    let held = embedded
        .grant(request(u64::MAX), T0)
        .expect("a lease")
        .number;
    let mut group = c.benchmark_group("lease_backend");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("holder_of/embedded", |b| {
        b.iter(|| black_box(embedded.holder_of(black_box(&held), T0)))
    });
    let clock = AtomicU64::new(0);
    group.bench_function("grant_release/embedded", |b| {
        b.iter(|| churn(&embedded, &clock, true))
    });
    let Some(server) = Server::start() else {
        eprintln!(
            "\n*** SKIPPED: redis-server not found; the Redis lease benches did not run ***\n"
        );
        return;
    };
    let remote = server.table("bench:");
    let held = remote.grant(request(u64::MAX), T0).expect("a lease").number;
    group.bench_function("holder_of/redis_mirror", |b| {
        b.iter(|| black_box(remote.holder_of(black_box(&held), T0)))
    });
    group.bench_function("holder_of/redis_round_trip", |b| {
        b.iter(|| black_box(remote.holder_of_direct(black_box(&held))))
    });
    let clock = AtomicU64::new(0);
    group.bench_function("grant_release/redis", |b| {
        b.iter(|| churn(&remote, &clock, false))
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
