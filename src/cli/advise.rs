//! `calltrack pool advise`: reads one pool's lease history (the node's SQLite file, read-only)
//! and the calls to its numbers (the same file, or every node's CDRs on PostgreSQL when the
//! config says `store.backend = "postgres"` and no `--db` is given), fits a traffic model to them and replays
//! it through the simulator at other pool sizes and freeze times; prints the smallest pool
//! that meets the target accuracy, with the accuracy of every size tried.

use std::fmt::Write as _;
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::pool::Format;
use crate::config::{Config, SiteConfig, StoreBackend};
use crate::simulate::{self, Advice, FitError, Model, Observed};
use crate::store::pg::PgReader;
use crate::store::{self, StoreError, lease_history};

/// The options of `pool advise`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdviseArgs {
    /// The site whose pool to size.
    #[arg(long)]
    pub site: String,
    /// The pool (default: the site's first).
    #[arg(long)]
    pub pool: Option<String>,
    /// The share of calls to attribute correctly (0 < x <= 1).
    #[arg(long, default_value_t = 0.98)]
    pub target_accuracy: f64,
    /// Days of history to read, up to now.
    #[arg(long, default_value_t = 28)]
    pub days: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The simulator's random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Read this SQLite file (lease history and calls) instead of the config's store.path
    /// (and PostgreSQL's calls).
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// Why no advice was printed; [`AdviseError::is_usage`] ones exit 2.
#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    #[error("no site {0:?} in the config")]
    UnknownSite(String),
    #[error("site {site:?} has no dynamic pool {pool:?}")]
    UnknownPool { site: String, pool: String },
    #[error("--target-accuracy must be above 0 and at most 1, got {0}")]
    Target(f64),
    #[error("--days must be 1..=3650, got {0}")]
    Days(u32),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl AdviseError {
    /// Bad arguments and too little history exit 2; store failures 1.
    pub fn is_usage(&self) -> bool {
        !matches!(self, AdviseError::Store(_) | AdviseError::Json(_))
    }
}

/// Everything the JSON form prints.
#[derive(Debug, Serialize)]
struct Output<'a> {
    site: &'a str,
    pool: &'a str,
    target_accuracy: f64,
    history: Observed,
    model: &'a Model,
    #[serde(flatten)]
    advice: &'a Advice,
}

/// Runs `pool advise` with the history up to `now`; returns the text to print.
pub fn run(args: &AdviseArgs, config: &Config, now: Timestamp) -> Result<String, AdviseError> {
    if !(args.target_accuracy > 0.0 && args.target_accuracy <= 1.0) {
        return Err(AdviseError::Target(args.target_accuracy));
    }
    if !(1..=3650).contains(&args.days) {
        return Err(AdviseError::Days(args.days));
    }
    let site = config
        .sites
        .iter()
        .find(|s| s.id == args.site)
        .ok_or_else(|| AdviseError::UnknownSite(args.site.clone()))?;
    let (pool_id, numbers) = pool_of(site, args.pool.as_deref())?;
    let from = now
        .checked_sub(SignedDuration::from_hours(i64::from(args.days) * 24))
        .unwrap_or(Timestamp::MIN);
    let db = args.db.clone().unwrap_or_else(|| config.store.path.clone());
    let conn = store::open_read_only(&db)?;
    let mut leases = lease_history::leases(&conn, &site.id, from)?;
    leases.retain(|l| l.pool == pool_id);
    let mut calls = match (&config.store.backend, &args.db) {
        (StoreBackend::Postgres(pg), None) => PgReader::new(pg)
            .read_blocking(|client| store::pg::pool_usage::pool_calls(client, &site.id, from))?,
        _ => lease_history::calls(&conn, &site.id, from)?,
    };
    calls.retain(|c| numbers.contains(&c.number));
    let (model, observed) = simulate::fit_history(&leases, &calls, timing(site, numbers.len()))?;
    let advice = simulate::advise(&model, args.target_accuracy * 100.0, args.seed);
    let out = Output {
        site: &site.id,
        pool: &pool_id,
        target_accuracy: args.target_accuracy,
        history: observed,
        model: &model,
        advice: &advice,
    };
    Ok(match args.format {
        Format::Json => serde_json::to_string_pretty(&out)? + "\n",
        Format::Table => table(&out),
    })
}

fn pool_of(site: &SiteConfig, pool: Option<&str>) -> Result<(String, Vec<String>), AdviseError> {
    let found = match pool {
        Some(id) => site.pools.iter().find(|p| p.id == id),
        None => site.pools.first(),
    };
    let found = found.ok_or_else(|| AdviseError::UnknownPool {
        site: site.id.clone(),
        pool: pool.unwrap_or("(any)").to_owned(),
    })?;
    Ok((found.id.clone(), found.numbers.clone()))
}

/// The pool as configured: size, freeze, heartbeat, cool-down.
fn timing(site: &SiteConfig, size: usize) -> simulate::model::Pool {
    let heartbeat_secs = site.heartbeat.as_secs().max(1);
    simulate::model::Pool {
        size: size.max(1),
        freeze_secs: site.freeze.as_secs().max(heartbeat_secs + 1),
        heartbeat_secs,
        cooldown_secs: site.lease_cooldown.as_secs(),
        // Unset (following the freeze tried) when the site keeps the default, twice its freeze.
        last_holder_secs: (site.last_holder != site.freeze.saturating_mul(2))
            .then_some(site.last_holder.as_secs()),
        adapt_freeze: Some(site.adapt_freeze),
    }
}

fn table(out: &Output<'_>) -> String {
    let (h, m, a) = (&out.history, out.model, out.advice);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "site {}, pool {}: {:.1} days of history, {} leases, {} calls",
        out.site, out.pool, h.days, h.leases, h.calls
    );
    let visits: f64 = m.traffic.visitors_per_hour.iter().sum();
    let c = &m.calls;
    let _ = writeln!(
        s,
        "fitted: {visits:.0} leases/day, visit median {:.0} s (sigma {:.2}), calls {:.1} % of visits \
         ({:.0} % during, {:.0} % after, {:.0} % next day), returning {:.0} %, bots {:.0} %",
        m.visit.median_secs,
        m.visit.sigma,
        c.probability * 100.0,
        c.during_visit_share * 100.0,
        c.after_visit_share * 100.0,
        c.next_day_share * 100.0,
        m.traffic.returning_share * 100.0,
        m.traffic.bot_share * 100.0,
    );
    let _ = writeln!(
        s,
        "configured: {} numbers, freeze {} s: {:.2} % correct",
        a.current.pool_size, a.current.freeze_secs, a.current.correct_pct
    );
    let _ = match &a.recommended {
        Some(r) => writeln!(
            s,
            "advice for {:.2} %: {} numbers, freeze {} s ({:.2} % correct)",
            a.target_pct, r.pool_size, r.freeze_secs, r.correct_pct
        ),
        None => writeln!(
            s,
            "advice for {:.2} %: not reachable by pool size at these freeze times (calls come too long after the visits)",
            a.target_pct
        ),
    };
    s.push_str("\nFREEZE_SECS  SIZE  CORRECT%  WRONG%  UNATTRIBUTED%  BUSY_P95  EXHAUSTED_MIN\n");
    for t in &a.tried {
        let _ = writeln!(
            s,
            "{:>11}  {:>4}  {:>8.2}  {:>6.2}  {:>13.2}  {:>8}  {:>13}",
            t.freeze_secs,
            t.pool_size,
            t.correct_pct,
            t.wrong_pct,
            t.unattributed_pct,
            t.busy_p95,
            t.exhaustion_minutes
        );
    }
    s
}
