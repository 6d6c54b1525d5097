//! `calltrack demo-data`: fills a database with realistic attributed calls, leads and daily
//! costs (shapes in [`super::demo_shapes`]), deterministic for a given `--seed` and `--until`,
//! in one bulk transaction with the report triggers set aside and the rollup rebuilt once
//! at the end (a million calls in well under two minutes).

use std::path::PathBuf;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};

use super::demo_shapes::{self as shapes, CHANNELS, Channel};
use crate::store::StoreError;

/// `calltrack demo-data ...`
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// How many calls to generate.
    #[arg(long, default_value_t = 5000)]
    pub calls: u64,
    /// Over how many days (ending with --until).
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// CDR database (default: the configured store path).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Random seed: the same seed, days and --until give the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Last day (UTC date, YYYY-MM-DD); default today.
    #[arg(long)]
    pub until: Option<Date>,
}

/// What to generate, for the CLI and the benches.
#[derive(Debug, Clone)]
pub struct DemoPlan {
    pub calls: u64,
    pub days: u32,
    pub until: Date,
    pub seed: u64,
    /// `(site id, time zone)`; calls are spread over them.
    pub sites: Vec<(String, TimeZone)>,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoSummary {
    pub calls: u64,
    pub leads: u64,
    pub cost_rows: u64,
}

/// One generated visit's attribution.
struct Visit {
    site: usize,
    channel: &'static Channel,
    campaign: Option<&'static str>,
    term: Option<&'static str>,
    landing_page: &'static str,
    region: &'static str,
    device: &'static str,
}

/// Writes the plan's calls, leads and costs into `conn` (an open, migrated database).
pub fn generate(conn: &mut Connection, plan: &DemoPlan) -> Result<DemoSummary, StoreError> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let first = plan
        .until
        .checked_sub(i64::from(plan.days.max(1) - 1).days())
        .unwrap_or(plan.until);
    crate::store::rollup::bulk_load(conn, |tx| {
        Ok(DemoSummary {
            calls: insert_calls(tx, plan, first, &mut rng)?,
            leads: insert_leads(tx, plan, first, &mut rng)?,
            cost_rows: insert_costs(tx, plan, first, &mut rng)?,
        })
    })
}

fn visit(rng: &mut StdRng, sites: usize) -> Visit {
    let channel = &CHANNELS[shapes::pick(rng, CHANNELS, |c| c.weight)];
    let campaign =
        (!channel.campaigns.is_empty()).then(|| shapes::pick_pair(rng, channel.campaigns));
    let term = (!channel.terms.is_empty())
        .then(|| channel.terms[rng.random_range(0..channel.terms.len())]);
    Visit {
        site: if rng.random_bool(0.75) {
            0
        } else {
            rng.random_range(0..sites)
        },
        channel,
        campaign,
        term,
        landing_page: shapes::pick_pair(rng, shapes::LANDING_PAGES),
        region: shapes::pick_pair(rng, shapes::REGIONS),
        device: shapes::pick_pair(rng, shapes::DEVICES),
    }
}

/// A local instant on one of the plan's days, business hours heavy.
fn moment(rng: &mut StdRng, first: Date, days: u32, zone: &TimeZone) -> Timestamp {
    let day = first
        .checked_add(i64::from(rng.random_range(0..days.max(1))).days())
        .unwrap_or(first);
    let hour = shapes::pick(rng, &shapes::HOUR_WEIGHTS, |w| *w) as i8;
    let local = day.at(hour, rng.random_range(0..60), rng.random_range(0..60), 0);
    local
        .to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn insert_calls(
    tx: &Connection,
    plan: &DemoPlan,
    first: Date,
    rng: &mut StdRng,
) -> Result<u64, StoreError> {
    // Start times first, sorted, so the rows go in the order a live system writes them.
    let mut starts: Vec<(Timestamp, usize)> = (0..plan.calls)
        .map(|_| {
            let site = if rng.random_bool(0.75) {
                0
            } else {
                rng.random_range(0..plan.sites.len())
            };
            (moment(rng, first, plan.days, &plan.sites[site].1), site)
        })
        .collect();
    starts.sort();
    let mut insert = tx.prepare(
        "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
            answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side,
            site, number_kind, source, medium, campaign, term, landing_page, region, device,
            session_id, first_time_caller, quality, missed, counted, called_back_at,
            deal_amount_minor, deal_currency, deal_status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)",
    )?;
    let mut callers: Vec<u64> = Vec::new();
    for (n, (started, site)) in starts.into_iter().enumerate() {
        let mut v = visit(rng, plan.sites.len());
        v.site = site;
        let repeat = !callers.is_empty() && rng.random_bool(0.28);
        let caller = if repeat {
            // People call back within days: mostly one of the recent callers.
            let recent = rng.random_range(0..callers.len().min(4000));
            callers[callers.len() - 1 - recent]
        } else {
            let fresh = 79_000_000_000 + rng.random_range(0..999_999_999u64);
            callers.push(fresh);
            fresh
        };
        let roll: f64 = rng.random();
        let (disposition, status) = match roll {
            r if r < 0.82 => ("answered", 200),
            r if r < 0.93 => ("no_answer", 480),
            r if r < 0.96 => ("busy", 486),
            _ => ("cancelled", 487),
        };
        let answered = disposition == "answered";
        let wait = if answered {
            rng.random_range(2..25)
        } else {
            rng.random_range(5..45)
        };
        let talk = if answered { shapes::talk_secs(rng) } else { 0 };
        let counted = rng.random_bool(0.9);
        let quality = answered && counted && talk >= 30;
        let answered_at = answered.then(|| started + wait.seconds());
        let ended = started + (wait + talk).seconds();
        let called_back = (!answered && rng.random_bool(0.6))
            .then(|| (started + rng.random_range(5..600i64).minutes()).to_string());
        let deal = quality
            .then(|| rng.random_range(0..100))
            .and_then(|roll| match roll {
                0..6 => Some((rng.random_range(3_000..60_000i64) * 100, "won")),
                6..11 => Some((rng.random_range(5_000..80_000i64) * 100, "lost")),
                11..15 => Some((rng.random_range(5_000..80_000i64) * 100, "open")),
                _ => None,
            });
        let number = match v.channel.number_kind {
            "static" => format!(
                "7495200{:04}",
                v.site * 10 + (v.channel.weight as usize % 10)
            ),
            "default" => format!("7495300{:04}", v.site),
            _ => format!("7495100{:04}", v.site * 100 + rng.random_range(0..40)),
        };
        insert.execute(params![
            format!("demo-{n:09}"),
            format!("demo-{n:09}@carrier"),
            number,
            caller.to_string(),
            "sip:sales@pbx.example",
            started.to_string(),
            answered_at.map(|t| t.to_string()),
            ended.to_string(),
            wait,
            talk,
            disposition,
            status,
            if answered { "callee" } else { "caller" },
            plan.sites[v.site].0,
            v.channel.number_kind,
            v.channel.source,
            v.channel.medium,
            v.campaign,
            v.term,
            v.landing_page,
            v.region,
            v.device,
            (v.channel.number_kind == "dynamic").then(|| format!("s{n:x}")),
            !repeat,
            quality,
            !answered,
            counted,
            called_back,
            deal.map(|d| d.0),
            deal.map(|_| "RUB"),
            deal.map(|d| d.1),
        ])?;
    }
    Ok(plan.calls)
}

fn insert_leads(
    tx: &Connection,
    plan: &DemoPlan,
    first: Date,
    rng: &mut StdRng,
) -> Result<u64, StoreError> {
    let count = plan.calls / 5;
    let mut insert = tx.prepare(
        "INSERT INTO leads (id, created_at, name, phone, email, message, site, number_kind,
            source, medium, campaign, term, landing_page, region, device, first_time,
            deal_amount_minor, deal_currency, deal_status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?;
    for n in 0..count {
        let v = visit(rng, plan.sites.len());
        let at = moment(rng, first, plan.days, &plan.sites[v.site].1);
        let won = rng.random_bool(0.1);
        insert.execute(params![
            format!("demo-lead-{n:08}"),
            at.to_string(),
            "Demo visitor",
            format!("79{:09}", rng.random_range(0..999_999_999u64)),
            rng.random_bool(0.4)
                .then(|| format!("visitor{n}@example.com")),
            "Please call me back",
            plan.sites[v.site].0,
            v.channel.number_kind,
            v.channel.source,
            v.channel.medium,
            v.campaign,
            v.term,
            v.landing_page,
            v.region,
            v.device,
            rng.random_bool(0.8),
            won.then(|| rng.random_range(3_000..50_000i64) * 100),
            won.then_some("RUB"),
            won.then_some("won"),
        ])?;
    }
    Ok(count)
}

fn insert_costs(
    tx: &Connection,
    plan: &DemoPlan,
    first: Date,
    rng: &mut StdRng,
) -> Result<u64, StoreError> {
    let mut insert = tx.prepare(
        "INSERT OR REPLACE INTO costs (day, site, source, medium, campaign, amount_minor, currency, imported_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'RUB', ?7)",
    )?;
    // Budgets scale with the volume: about 1 200 RUB of spend per paid call.
    let scale = (plan.calls as f64 / f64::from(plan.days.max(1)) / 100.0).max(0.05);
    let mut rows = 0;
    for d in 0..plan.days.max(1) {
        let day = first.checked_add(i64::from(d).days()).unwrap_or(first);
        for (site, _) in &plan.sites {
            for channel in CHANNELS.iter().filter(|c| c.daily_budget_rub > 0) {
                for (campaign, _) in channel.campaigns {
                    let spend =
                        channel.daily_budget_rub as f64 * scale * rng.random_range(0.7..1.3);
                    insert.execute(params![
                        day.to_string(),
                        site,
                        channel.source,
                        channel.medium,
                        campaign,
                        (spend * 100.0) as i64 / plan.sites.len().max(1) as i64,
                        format!("{}T00:00:00Z", plan.until),
                    ])?;
                    rows += 1;
                }
            }
        }
    }
    Ok(rows)
}

/// Runs `demo-data` on the configured (or `--db`) database with the config's sites.
pub fn run(args: &DemoArgs, config: &crate::config::Config) -> Result<String, StoreError> {
    let started = std::time::Instant::now();
    let path = args.db.clone().unwrap_or_else(|| config.store.path.clone());
    let mut conn = crate::store::open(&path)?;
    let mut sites: Vec<(String, TimeZone)> = config
        .sites
        .iter()
        .map(|s| (s.id.clone(), s.report_zone.clone()))
        .collect();
    if sites.is_empty() {
        sites.push(("demo".to_owned(), TimeZone::UTC));
    }
    let plan = DemoPlan {
        calls: args.calls,
        days: args.days.max(1),
        until: args
            .until
            .unwrap_or_else(|| Timestamp::now().to_zoned(TimeZone::UTC).date()),
        seed: args.seed,
        sites,
    };
    let done = generate(&mut conn, &plan)?;
    Ok(format!(
        "{}: {} calls, {} leads, {} cost rows over {} days up to {} in {:.1} s\n",
        path.display(),
        done.calls,
        done.leads,
        done.cost_rows,
        plan.days,
        plan.until,
        started.elapsed().as_secs_f64()
    ))
}
