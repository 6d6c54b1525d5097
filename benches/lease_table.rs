//! Lease table hot paths against a plain `RwLock<HashMap>` baseline: grant+release churn on a
//! 10 000-number pool (one thread and two), `holder_of` lookups, and memory per lease.
//!
//! Churn runs on a virtual clock, 1 ms per grant, freeze 5 s, no cool-down, `expire` once per
//! virtual second (as the sweeper does), so about 5 000 leases are live at any time.
//! Single-thread benches report the thread's CPU time (the box is shared with other builds);
//! the two-thread ones report wall time. Memory per lease is the resident-set growth of a
//! child process while it grants 100 000 leases.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use calltrack::lease::{GrantRequest, Lease, LeaseTable, PoolSpec, Visit, VisitFields};
use criterion::{Criterion, criterion_group};
use jiff::Timestamp;

const POOL: usize = 10_000;
const FREEZE: Duration = Duration::from_secs(5);
/// Grants per virtual second; `expire` runs once per virtual second.
const SWEEP_EVERY: u64 = 1000;
const T0: Timestamp = Timestamp::constant(1772366400, 0) /* 2026-03-01T12:00:00Z */;
const MEMORY_LEASES: usize = 100_000;

/// What the benches need from a lease table.
trait Table: Sync {
    fn grant(&self, req: GrantRequest, now: Timestamp) -> Option<Lease>;
    fn release(&self, session_id: &str, now: Timestamp) -> Option<Lease>;
    fn holder_of(&self, number: &str, now: Timestamp) -> Option<Lease>;
    fn expire(&self, now: Timestamp) -> usize;
}

impl Table for LeaseTable {
    fn grant(&self, req: GrantRequest, now: Timestamp) -> Option<Lease> {
        LeaseTable::grant(self, req, now).ok()
    }
    fn release(&self, session_id: &str, now: Timestamp) -> Option<Lease> {
        LeaseTable::release(self, session_id, now)
    }
    fn holder_of(&self, number: &str, now: Timestamp) -> Option<Lease> {
        LeaseTable::holder_of(self, number, now)
    }
    fn expire(&self, now: Timestamp) -> usize {
        LeaseTable::expire(self, now)
    }
}

/// The obvious alternative: one `RwLock` around plain maps and a FIFO free list.
struct Baseline {
    freeze: jiff::SignedDuration,
    inner: RwLock<BaselineInner>,
}

struct BaselineInner {
    sessions: HashMap<String, Lease>,
    holders: HashMap<String, String>,
    free: VecDeque<String>,
}

impl Baseline {
    fn new(numbers: Vec<String>) -> Baseline {
        Baseline {
            freeze: jiff::SignedDuration::try_from(FREEZE).unwrap_or(jiff::SignedDuration::MAX),
            inner: RwLock::new(BaselineInner {
                sessions: HashMap::new(),
                holders: HashMap::new(),
                free: numbers.into(),
            }),
        }
    }
}

impl Table for Baseline {
    fn grant(&self, req: GrantRequest, now: Timestamp) -> Option<Lease> {
        let mut inner = self.inner.write().ok()?;
        let number = inner.free.pop_front()?;
        let lease = Lease {
            session_id: req.session_id,
            site: req.site,
            pool: req.pool,
            number,
            visitor_id: req.visitor_id,
            visit: Arc::new(req.visit),
            granted_at: now,
            last_seen: now,
            expires_at: now + self.freeze,
        };
        inner
            .holders
            .insert(lease.number.clone(), lease.session_id.clone());
        inner
            .sessions
            .insert(lease.session_id.clone(), lease.clone());
        Some(lease)
    }
    fn release(&self, session_id: &str, now: Timestamp) -> Option<Lease> {
        let mut inner = self.inner.write().ok()?;
        let lease = inner.sessions.get_mut(session_id)?;
        lease.last_seen = now;
        lease.expires_at = now + self.freeze;
        Some(lease.clone())
    }
    fn holder_of(&self, number: &str, now: Timestamp) -> Option<Lease> {
        let inner = self.inner.read().ok()?;
        let session = inner.holders.get(number)?;
        let lease = inner.sessions.get(session)?;
        (lease.expires_at > now).then(|| lease.clone())
    }
    fn expire(&self, now: Timestamp) -> usize {
        let Ok(mut inner) = self.inner.write() else {
            return 0;
        };
        let due: Vec<String> = inner
            .sessions
            .values()
            .filter(|l| l.expires_at <= now)
            .map(|l| l.session_id.clone())
            .collect();
        for id in &due {
            if let Some(lease) = inner.sessions.remove(id) {
                inner.holders.remove(&lease.number);
                inner.free.push_back(lease.number);
            }
        }
        due.len()
    }
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("7495{i:07}")).collect()
}

fn ours(n: usize) -> LeaseTable {
    LeaseTable::new(vec![PoolSpec {
        site: "shop".into(),
        pool: "web".into(),
        numbers: numbers(n),
        freeze: FREEZE,
        cooldown: Duration::ZERO,
    }])
}

fn request(session_id: String, visitor_id: Option<String>, visit: Visit) -> GrantRequest {
    GrantRequest {
        session_id,
        site: "shop".into(),
        pool: "web".into(),
        visitor_id,
        visit,
    }
}

/// A realistic paid-search visit: about 390 bytes of text (the user agent, ~110 more, is
/// not kept: nothing downstream reads it).
fn typical_visit() -> Visit {
    let gclid = "Cj0KCQiA5rGuBhCnARIsAN11vgR7x2mZ8b3nq0Y5kqJ4bT9vJw1xE3fH6yLpQ2sD8gK0aM4cN7uV1wZ3BoCo1EQAvD_BwE";
    VisitFields {
        utm_source: Some("google".into()),
        utm_medium: Some("cpc".into()),
        utm_campaign: Some("brand-moscow-2026".into()),
        utm_term: Some("buy sofa".into()),
        referrer: Some("https://www.google.com/".into()),
        landing_page: Some(format!(
            "https://shop.example/sofas?utm_source=google&utm_medium=cpc&gclid={gclid}"
        )),
        gclid: Some(gclid.into()),
        ga_client_id: Some("1234567890.1700000000".into()),
        ga_session_id: Some("1700000000".into()),
        region: Some("moscow".into()),
        device: Some("desktop".into()),
        ..VisitFields::default()
    }
    .into()
}

fn at_ms(ms: u64) -> Timestamp {
    T0 + jiff::SignedDuration::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// On-CPU time of the calling thread (`/proc/thread-self/schedstat`), so that other load on
/// a shared machine does not count; `None` where the kernel does not report it. It moves in
/// scheduler ticks, so it is only used over long runs (see [`report_cpu`]).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `f` and returns the thread's CPU time for it (wall time if CPU time is unknown).
fn cpu_time(f: impl FnOnce()) -> Duration {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    f();
    match (cpu, thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall.elapsed(),
    }
}

/// `iters` grant+release pairs from virtual time `clock`; returns the wall time taken.
fn churn<T: Table>(table: &T, clock: &AtomicU64, iters: u64) -> Duration {
    let begin = Instant::now();
    churn_loop(table, clock, iters);
    begin.elapsed()
}

fn churn_loop<T: Table>(table: &T, clock: &AtomicU64, iters: u64) {
    for _ in 0..iters {
        let tick = clock.fetch_add(1, Ordering::Relaxed);
        let now = at_ms(tick);
        let req = request(format!("{tick:032x}"), None, Visit::default());
        if let Some(lease) = table.grant(req, now) {
            black_box(table.release(&lease.session_id, now));
        }
        if tick % SWEEP_EVERY == 0 {
            table.expire(now);
        }
    }
}

/// Wall time for `iters` pairs split over `threads` threads: contention shows here, and so
/// does any other load on the machine.
fn churn_threads<T: Table>(table: &T, clock: &AtomicU64, iters: u64, threads: u64) -> Duration {
    let begin = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| churn_loop(table, clock, iters / threads));
        }
    });
    begin.elapsed()
}

fn bench_churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("grant_release");
    let (table, clock) = (ours(POOL), AtomicU64::new(0));
    group.bench_function("lease_table", |b| {
        b.iter_custom(|iters| churn(&table, &clock, iters))
    });
    let (base, clock) = (Baseline::new(numbers(POOL)), AtomicU64::new(0));
    group.bench_function("rwlock_hashmap", |b| {
        b.iter_custom(|iters| churn(&base, &clock, iters))
    });
    let (table, clock) = (ours(POOL), AtomicU64::new(0));
    group.bench_function("lease_table_2_threads", |b| {
        b.iter_custom(|iters| churn_threads(&table, &clock, iters, 2))
    });
    let (base, clock) = (Baseline::new(numbers(POOL)), AtomicU64::new(0));
    group.bench_function("rwlock_hashmap_2_threads", |b| {
        b.iter_custom(|iters| churn_threads(&base, &clock, iters, 2))
    });
    group.finish();
}

/// Leases half the pool with typical visits; returns the leased numbers.
fn lease_half<T: Table + ?Sized>(table: &T) -> Vec<String> {
    (0..POOL / 2)
        .filter_map(|i| {
            let req = request(format!("{i:032x}"), None, typical_visit());
            table.grant(req, T0).map(|l| l.number)
        })
        .collect()
}

/// Half the pool leased with typical visits; lookups cycle through the leased numbers.
fn lookup<T: Table>(c: &mut Criterion, name: &str, table: &T) {
    let leased = lease_half(table);
    let now = at_ms(1000);
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % leased.len();
            black_box(table.holder_of(&leased[i], now))
        })
    });
}

fn bench_lookup(c: &mut Criterion) {
    lookup(c, "holder_of/lease_table", &ours(POOL));
    lookup(c, "holder_of/rwlock_hashmap", &Baseline::new(numbers(POOL)));
}

criterion_group!(benches, bench_churn, bench_lookup);

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child process: grants `MEMORY_LEASES` leases and prints the resident bytes per lease.
fn memory_case(case: &str) {
    let typical = case.ends_with("typical");
    let requests: Vec<GrantRequest> = (0..MEMORY_LEASES)
        .map(|i| {
            let (visitor, visit) = match typical {
                true => (Some(format!("visitor-{i:024x}")), typical_visit()),
                false => (None, Visit::default()),
            };
            request(format!("{i:032x}"), visitor, visit)
        })
        .collect();
    let grant_all = |table: &dyn Table| {
        let before = resident_kib();
        let leased = requests
            .iter()
            .filter_map(|r| table.grant(r.clone(), T0))
            .count();
        let grown = resident_kib().saturating_sub(before) * 1024;
        println!("{}", grown / leased.max(1) as u64);
    };
    if case.starts_with("baseline") {
        grant_all(&Baseline::new(numbers(MEMORY_LEASES)));
    } else {
        grant_all(&ours(MEMORY_LEASES));
    }
}

fn report_memory() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    println!(
        "memory per lease ({MEMORY_LEASES} leases, resident-set growth; Visit struct alone = {} B, Lease = {} B):",
        size_of::<Visit>(),
        size_of::<Lease>()
    );
    for case in [
        "ours-empty",
        "baseline-empty",
        "ours-typical",
        "baseline-typical",
    ] {
        let out = Command::new(&exe).env("LEASE_MEM_CASE", case).output();
        let bytes = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        println!("  {case:<17} {} B", bytes.unwrap_or_default());
    }
}

/// Thread CPU ns per operation over long runs: robust against other load on the box.
fn report_cpu() {
    const CHURN: u64 = 500_000;
    const LOOKUPS: usize = 2_000_000;
    let churn_ns = |t: &dyn Fn(&AtomicU64)| {
        let clock = AtomicU64::new(0);
        t(&clock); // warm up: reach the steady state of about 5 000 live leases
        cpu_time(|| t(&clock)).as_nanos() / u128::from(CHURN)
    };
    let ours_t = ours(POOL);
    let base_t = Baseline::new(numbers(POOL));
    let ours_churn = churn_ns(&|c| churn_loop(&ours_t, c, CHURN));
    let base_churn = churn_ns(&|c| churn_loop(&base_t, c, CHURN));
    let lookup_ns = |t: &dyn Table| {
        let leased = lease_half(t);
        let now = at_ms(1000);
        let cpu = cpu_time(|| {
            for i in 0..LOOKUPS {
                black_box(t.holder_of(&leased[i % leased.len()], now));
            }
        });
        cpu.as_nanos() / LOOKUPS as u128
    };
    let ours_lookup = lookup_ns(&ours(POOL));
    let base_lookup = lookup_ns(&Baseline::new(numbers(POOL)));
    println!(
        "thread CPU ns/op (long runs): grant+release ours {ours_churn} vs baseline {base_churn}; holder_of ours {ours_lookup} vs baseline {base_lookup}"
    );
}

fn main() {
    if let Ok(case) = std::env::var("LEASE_MEM_CASE") {
        memory_case(&case);
        return;
    }
    report_memory();
    report_cpu();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
