//! `calltrack report`: a report over local days, broken down by fields, as a table, JSON or
//! CSV, read from the database beside the running daemon (read-only), or from PostgreSQL
//! with `store.backend = "postgres"` and no `--db`.

use std::path::PathBuf;

use crate::config::{Config, StoreBackend};
use crate::report::{self, ReportInput, ReportRequest, Zones, render};
use crate::store::pg::PgReader;
use crate::store::reads::SqliteReads;
use crate::store::{self, Reads, StoreError};

/// `calltrack report ...`
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// First local day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// Last local day (inclusive), YYYY-MM-DD.
    #[arg(long)]
    pub to: String,
    /// Group-by fields, comma separated: source, medium, campaign, term, landing_page,
    /// region, device, tracking_number, number_kind, site, day, week, month, hour, weekday.
    #[arg(long, default_value = "")]
    pub by: String,
    /// One site's id (all sites without it).
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// CDR database (default: the configured store: its SQLite path, or PostgreSQL).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// How the report is printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Aligned columns with the main figures, the total and the previous period.
    #[default]
    Table,
    /// The API's JSON document.
    Json,
    /// CSV with every figure, a header and a total line.
    Csv,
}

/// Why the command failed: a usage error (exit 2) or the store (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ReportCliError {
    #[error("{}", .0.join("\n"))]
    Usage(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds the report and returns its text.
pub fn run(args: &ReportArgs, config: &Config) -> Result<String, ReportCliError> {
    let zones = Zones::of_config(config);
    let input = ReportInput {
        from: Some(args.from.clone()),
        to: Some(args.to.clone()),
        by: Some(args.by.clone()),
        site: args.site.clone(),
        format: None,
    };
    let request = ReportRequest::parse(&input, &zones, &config.reports_currency)
        .map_err(|e| ReportCliError::Usage(e.problems))?;
    let report = match (&config.store.backend, &args.db) {
        (StoreBackend::Postgres(pg), None) => {
            PgReader::new(pg).read_blocking(|client| build_from(client, &request, &zones))?
        }
        (_, db) => {
            let db = db.clone().unwrap_or_else(|| config.store.path.clone());
            let conn = store::open_read_only(&db)?;
            build(&conn, &request, &zones)?
        }
    };
    Ok(match args.format {
        ReportFormat::Table => render::table(&report),
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(&report).map_err(StoreError::from)?;
            text.push('\n');
            text
        }
        ReportFormat::Csv => {
            let bytes = render::csv(&report).map_err(StoreError::from)?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    })
}

/// The report of `request` from a SQLite file.
pub fn build(
    conn: &rusqlite::Connection,
    request: &ReportRequest,
    zones: &Zones,
) -> Result<report::Report, StoreError> {
    build_from(&mut SqliteReads(conn), request, zones)
}

/// The report of `request` on either backend: its facts, the previous period's, built.
pub fn build_from(
    reads: &mut dyn Reads,
    request: &ReportRequest,
    zones: &Zones,
) -> Result<report::Report, StoreError> {
    let facts = reads.facts(&request.queries(zones))?;
    let previous = request.previous();
    let before = reads.facts(&previous.queries(zones))?;
    Ok(report::build(request, zones, facts, before))
}
