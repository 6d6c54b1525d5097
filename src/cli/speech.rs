//! `calltrack speech train`: fits the call scorer on the labelled calls' transcripts in the
//! database, prints its cross-validated accuracy, precision and recall, stores it, and makes
//! it current only when it is not worse than the current model (the speech worker picks it
//! up on its next pass). Too few labels: exit 2. `calltrack speech tags`: calls per keyword tag
//! and source over local days, as `GET /v1/transcripts/tags` counts them. Both work on the
//! SQLite file (`--db`, else `store.path`) or, with `store.backend = "postgres"` and no `--db`,
//! on PostgreSQL.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::call::scoring::{Metrics, ScoringModel};
use crate::config::{Config, StoreBackend};
use crate::speech::train::{self, TrainError};
use crate::store::reads::SqliteReads;
use crate::store::{self, SpeechReads, StoreError, scoring};

/// `calltrack speech ...`
#[derive(clap::Args, Debug, Clone)]
pub struct SpeechArgs {
    #[command(subcommand)]
    pub command: SpeechCommand,
}

/// The speech subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum SpeechCommand {
    /// Train the call scorer on the calls labelled target / not_target (with a transcript);
    /// the new model replaces the current one only if its cross-validated accuracy is not
    /// worse. Exit 2 with fewer than --min-labels labelled calls.
    Train(TrainArgs),
    /// Calls per keyword tag (`[[speech.tags]]`) and source over UTC days (exit 2 on a bad
    /// date).
    Tags(TagsArgs),
}

/// `calltrack speech tags ...`
#[derive(clap::Args, Debug, Clone)]
pub struct TagsArgs {
    /// First UTC day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// Last UTC day (inclusive), YYYY-MM-DD.
    #[arg(long)]
    pub to: String,
    /// One site's id (all sites without it).
    #[arg(long)]
    pub site: Option<String>,
    #[arg(long, value_enum, default_value_t = TrainFormat::Table)]
    pub format: TrainFormat,
    /// CDR database (default: the configured store path).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// `calltrack speech train ...`
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Labelled calls needed (default: `[speech] min_labels`, 50).
    #[arg(long)]
    pub min_labels: Option<usize>,
    #[arg(long, value_enum, default_value_t = TrainFormat::Table)]
    pub format: TrainFormat,
    /// CDR database (default: the configured store path).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// How the result is printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainFormat {
    #[default]
    Table,
    Json,
}

/// Why training made no model: too few labels or one kind only (exit 2), or the store.
#[derive(Debug, thiserror::Error)]
pub enum TrainCliError {
    #[error(transparent)]
    Labels(TrainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Fit(String),
    #[error("{0}")]
    Usage(String),
}

/// What one training did, as printed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trained {
    pub model_id: i64,
    pub kept: bool,
    pub metrics: Metrics,
    pub vocabulary: usize,
    /// The current model before this training (its id and metrics).
    pub previous: Option<(i64, Metrics)>,
}

/// The database a speech command works on: the SQLite file (`--db`, else `store.path`), or
/// PostgreSQL with `store.backend = "postgres"` and no `--db`.
enum SpeechDb {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl SpeechDb {
    /// Opens (and migrates) the configured database; `read_only` for the SQLite file when
    /// nothing is written.
    fn open(config: &Config, db: Option<&Path>, read_only: bool) -> Result<SpeechDb, StoreError> {
        if let (StoreBackend::Postgres(pg), None) = (&config.store.backend, db) {
            eprintln!("database: {}", super::connect::shown(&pg.url));
            return Ok(SpeechDb::Postgres(store::pg::open(pg)?));
        }
        let path = db.unwrap_or(&config.store.path);
        Ok(SpeechDb::Sqlite(if read_only {
            store::open_read_only(path)?
        } else {
            store::open_existing(path)?
        }))
    }

    /// Runs `query` against this database.
    fn read<T>(
        &mut self,
        query: impl FnOnce(&mut dyn SpeechReads) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            SpeechDb::Sqlite(conn) => query(&mut SqliteReads(conn)),
            SpeechDb::Postgres(client) => query(client),
        }
    }

    /// Stores a training's model; returns its id.
    fn save_model(
        &mut self,
        model: &ScoringModel,
        kept: bool,
        at: jiff::Timestamp,
    ) -> Result<i64, StoreError> {
        match self {
            SpeechDb::Sqlite(conn) => Ok(scoring::save_model(
                conn,
                model,
                kept,
                &crate::call::record::rfc3339::format(at),
            )?),
            SpeechDb::Postgres(client) => store::pg::scoring::save_model(client, model, kept, at),
        }
    }
}

/// Trains, stores and reports.
pub fn run(args: &TrainArgs, config: &Config) -> Result<String, TrainCliError> {
    let mut db = SpeechDb::open(config, args.db.as_deref(), false)?;
    let (calls, previous) = db.read(|r| Ok((r.training_set()?, r.current_model()?)))?;
    let min_labels = args.min_labels.unwrap_or(config.speech.scoring.min_labels);
    let current = previous.as_ref().map(|(_, m)| &m.metrics);
    let (model, kept) = match train::from_labels(calls, current, min_labels) {
        Ok(done) => done,
        Err(e @ TrainError::Fit(_)) => return Err(TrainCliError::Fit(e.to_string())),
        Err(e) => return Err(TrainCliError::Labels(e)),
    };
    let model_id = db.save_model(&model, kept, jiff::Timestamp::now())?;
    let trained = Trained {
        model_id,
        kept,
        metrics: model.metrics,
        vocabulary: model.vocabulary.len(),
        previous: previous.map(|(id, m)| (id, m.metrics)),
    };
    Ok(match args.format {
        TrainFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&trained).map_err(StoreError::from)?
        ),
        TrainFormat::Table => table(&trained),
    })
}

/// Calls per tag and source, as a table or JSON.
pub fn tags(args: &TagsArgs, config: &Config) -> Result<String, TrainCliError> {
    let day = |text: &str, name: &str| {
        text.parse::<jiff::civil::Date>()
            .map_err(|e| TrainCliError::Usage(format!("--{name} {text:?}: {e}")))
    };
    let (first, last) = (day(&args.from, "from")?, day(&args.to, "to")?);
    let start = |d: jiff::civil::Date| {
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| crate::call::record::rfc3339::format(z.timestamp()))
            .map_err(|e| TrainCliError::Usage(e.to_string()))
    };
    let after = last
        .tomorrow()
        .map_err(|e| TrainCliError::Usage(e.to_string()))?;
    let (from, to) = (start(first)?, start(after)?);
    let mut db = SpeechDb::open(config, args.db.as_deref(), true)?;
    let counts = db.read(|r| r.transcript_tags(&from, &to, args.site.as_deref()))?;
    if args.format == TrainFormat::Json {
        let json = serde_json::json!({"from": from, "to": to, "tags": counts});
        return Ok(format!("{json}\n"));
    }
    let mut out = format!("{:<24} {:<24} {:>7}\n", "tag", "source", "calls");
    for c in counts {
        let source = c.source.as_deref().unwrap_or("(none)");
        let _ = writeln!(out, "{:<24} {:<24} {:>7}", c.tag, source, c.calls);
    }
    Ok(out)
}

/// The human form: the metrics, then which model is current.
pub fn table(t: &Trained) -> String {
    let m = &t.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "labelled calls  {} ({} target, {} not target), {} features",
        m.labels,
        m.targets,
        m.labels - m.targets.min(m.labels),
        t.vocabulary
    );
    let _ = writeln!(out, "cross-validated ({} folds)", m.folds);
    let _ = writeln!(out, "  accuracy   {:.3}", m.accuracy);
    let _ = writeln!(out, "  precision  {:.3}", m.precision);
    let _ = writeln!(out, "  recall     {:.3}", m.recall);
    let verdict = match (&t.previous, t.kept) {
        (None, _) => format!("kept: model {} is now current (there was none)", t.model_id),
        (Some((id, p)), true) => format!(
            "kept: model {} replaces model {id} (accuracy {:.3} >= {:.3})",
            t.model_id, m.accuracy, p.accuracy
        ),
        (Some((id, p)), false) => format!(
            "not kept: model {id} stays current (accuracy {:.3} < {:.3}); model {} stored for the record",
            p.accuracy, m.accuracy, t.model_id
        ),
    };
    let _ = writeln!(out, "{verdict}");
    out
}
