//! `calltrack costs import FILE.csv`: ad costs from a CSV (header
//! `day,site,source,medium,campaign,amount,currency`); any bad line imports nothing and every
//! bad line is reported with its number; each `(day, site)` in the file is replaced wholly,
//! in the SQLite file or, with `store.backend = "postgres"` and no `--db`, in PostgreSQL.

use std::path::PathBuf;

use crate::config::{Config, PostgresConfig, StoreBackend};
use crate::store::{self, StoreError, costs};

/// `calltrack costs ...`
#[derive(clap::Args, Debug)]
pub struct CostsArgs {
    #[command(subcommand)]
    pub command: CostsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CostsCommand {
    /// Import a costs CSV: re-importing a day replaces that day and site (idempotent).
    Import {
        /// CSV file with the header day,site,source,medium,campaign,amount,currency.
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
        /// CDR database (default: the configured store: its SQLite path, or PostgreSQL).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
}

/// Why an import failed: bad lines (exit 2, nothing imported) or I/O and the store (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CostsCliError {
    #[error("nothing imported:\n{}", .0.join("\n"))]
    BadLines(Vec<String>),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs the command and returns the line to print.
pub fn run(args: &CostsArgs, config: &Config) -> Result<String, CostsCliError> {
    let CostsCommand::Import { file, db } = &args.command;
    let reader = std::fs::File::open(file).map_err(|source| CostsCliError::Read {
        path: file.clone(),
        source,
    })?;
    let sites: Vec<String> = config.sites.iter().map(|s| s.id.clone()).collect();
    let rows = costs::check_csv(reader, Some(&sites)).map_err(CostsCliError::BadLines)?;
    let now = jiff::Timestamp::now();
    let done = match (&config.store.backend, db) {
        (StoreBackend::Postgres(pg), None) => import_postgres(pg, &rows, now)?,
        _ => {
            let path = db.clone().unwrap_or_else(|| config.store.path.clone());
            let mut conn = store::open(&path)?;
            costs::import(&mut conn, &rows, now).map_err(StoreError::from)?
        }
    };
    Ok(format!(
        "imported {} cost rows; {} (day, site) pairs replaced\n",
        done.rows, done.days_replaced
    ))
}

/// The import on PostgreSQL (`store.backend = "postgres"`, no `--db`): one transaction.
fn import_postgres(
    config: &PostgresConfig,
    rows: &[costs::CostRow],
    now: jiff::Timestamp,
) -> Result<costs::CostsReplaced, StoreError> {
    let mut client = store::pg::open(config)?;
    let mut tx = client.transaction()?;
    let done = store::pg::costs::replace(&mut tx, rows, now)?;
    tx.commit()?;
    Ok(done)
}
