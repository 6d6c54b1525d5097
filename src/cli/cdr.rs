//! `calltrack cdr`: list and tail stored call detail records as a table, JSON Lines or CSV,
//! from the SQLite file or, with `store.backend = "postgres"` and no `--db`, from PostgreSQL.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::cdr_feed::CdrFeed;
use super::cdr_filter::ListFilter;
use super::csv_cells;
use crate::call::record::{CallDetailRecord, rfc3339};
use crate::config::StoreBackend;
use crate::store::calls::{CallQuery, Sort};
use crate::store::pg::PgReader;
use crate::store::reads::SqliteReads;
use crate::store::{self, Reads, StoreError, StoredCdr, flat};

/// CDRs printed by `tail` before it starts following.
const TAIL_BACKLOG: usize = 10;
/// Most CDRs `tail` reads per poll.
const TAIL_PAGE: usize = 500;

/// `calltrack cdr ...`
#[derive(clap::Args, Debug)]
pub struct CdrArgs {
    #[command(subcommand)]
    pub command: CdrCommand,
}

#[derive(clap::Subcommand, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per run; boxing would only obscure the clap arguments"
)]
pub enum CdrCommand {
    /// Print the newest CDRs (oldest of them first).
    List {
        /// CDR database (default: the configured store: its SQLite path, or PostgreSQL).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// How many of the newest matching CDRs to print (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        filter: ListFilter,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print the last 10 CDRs, then follow new ones until interrupted (Ctrl-C).
    Tail {
        /// CDR database (default: the configured store: its SQLite path, or PostgreSQL).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// How often to look for new CDRs, in milliseconds.
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
    },
}

/// How CDRs are printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// One JSON object per line (JSON Lines).
    Json,
    /// CSV with a header row.
    Csv,
}

/// Runs a `cdr` subcommand, printing to stdout (and `database: PATH`, the file it opens,
/// to stderr); a closed pipe ends it quietly. Dates in filters are days in each site's zone.
pub fn run(args: CdrArgs, config: &crate::config::Config) -> Result<(), StoreError> {
    let default_db = &config.store.path;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let zone = |site: &str| {
        config
            .site(site)
            .map(|s| jiff::tz::TimeZone::fixed(s.utc_offset))
    };
    if let (StoreBackend::Postgres(pg), false) = (&config.store.backend, db_given(&args)) {
        eprintln!("database: {}", super::connect::shown(&pg.url));
        return run_postgres(args, &PgReader::new(pg), &zone, &mut out);
    }
    let db = database(&args, default_db);
    let shown = std::path::absolute(db).unwrap_or_else(|_| db.to_owned());
    eprintln!("database: {}", shown.display());
    run_zoned(args, default_db, &zone, &mut out)
}

/// Whether `--db` names a SQLite file (which wins over a PostgreSQL store).
fn db_given(args: &CdrArgs) -> bool {
    let (CdrCommand::List { db, .. } | CdrCommand::Tail { db, .. }) = &args.command;
    db.is_some()
}

/// [`run_zoned`] on PostgreSQL (`store.backend = "postgres"`, no `--db`).
pub fn run_postgres(
    args: CdrArgs,
    reader: &PgReader,
    zone: &dyn Fn(&str) -> Option<jiff::tz::TimeZone>,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let result = match args.command {
        CdrCommand::List {
            limit,
            filter,
            format,
            ..
        } => {
            let query = filter.query(limit, zone).map_err(StoreError::Filter)?;
            let mut printer = CdrPrinter::new(out, format);
            reader.read_blocking(|client| list(client, &query, &mut printer))
        }
        CdrCommand::Tail {
            format, poll_ms, ..
        } => {
            let poll = Duration::from_millis(poll_ms);
            let mut printer = CdrPrinter::new(out, format);
            reader.read_blocking(|client| tail(client, poll, &mut printer, || true))
        }
    };
    ignore_closed_pipe(result)
}

/// The database a command reads: `--db`, else the configured store path.
pub fn database<'a>(args: &'a CdrArgs, default_db: &'a Path) -> &'a Path {
    let (CdrCommand::List { db, .. } | CdrCommand::Tail { db, .. }) = &args.command;
    db.as_deref().unwrap_or(default_db)
}

/// [`run`] with the output stream supplied; dates are days in UTC.
pub fn run_to(args: CdrArgs, default_db: &Path, out: &mut dyn Write) -> Result<(), StoreError> {
    run_zoned(args, default_db, &|_| None, out)
}

/// [`run_to`] with each site's time zone for `--from`/`--to` dates. A bad filter value is
/// [`StoreError::Filter`] (before the database is opened).
pub fn run_zoned(
    args: CdrArgs,
    default_db: &Path,
    zone: &dyn Fn(&str) -> Option<jiff::tz::TimeZone>,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let result = match args.command {
        CdrCommand::List {
            db,
            limit,
            filter,
            format,
        } => {
            let query = filter.query(limit, zone).map_err(StoreError::Filter)?;
            let conn = store::open_read_only(db.as_deref().unwrap_or(default_db))?;
            list(
                &mut SqliteReads(&conn),
                &query,
                &mut CdrPrinter::new(out, format),
            )
        }
        CdrCommand::Tail {
            db,
            format,
            poll_ms,
        } => {
            let conn = store::open_read_only(db.as_deref().unwrap_or(default_db))?;
            let poll = Duration::from_millis(poll_ms);
            tail(&conn, poll, &mut CdrPrinter::new(out, format), || true)
        }
    };
    ignore_closed_pipe(result)
}

/// Prints the newest CDRs `query` matches (at most its limit), oldest first.
pub fn list(
    reads: &mut dyn Reads,
    query: &CallQuery,
    printer: &mut CdrPrinter<'_>,
) -> Result<(), StoreError> {
    let query = CallQuery {
        sort: Sort::Newest,
        cursor: None,
        ..query.clone()
    };
    let mut cdrs = reads.cdrs(&query)?;
    cdrs.reverse();
    printer.print(&cdrs)
}

/// Prints the last 10 CDRs, then polls for newer ones while `keep_going()`.
pub fn tail(
    mut feed: impl CdrFeed,
    poll: Duration,
    printer: &mut CdrPrinter<'_>,
    mut keep_going: impl FnMut() -> bool,
) -> Result<(), StoreError> {
    let mut backlog = feed.recent(TAIL_BACKLOG)?;
    backlog.reverse();
    printer.print(&backlog)?;
    let mut last_seq = backlog.last().map_or(0, |c| c.seq);
    while keep_going() {
        let fresh = feed.after(last_seq, TAIL_PAGE)?;
        printer.print(&fresh)?;
        last_seq = fresh.last().map_or(last_seq, |c| c.seq);
        if fresh.len() < TAIL_PAGE {
            std::thread::sleep(poll);
        }
    }
    Ok(())
}

fn ignore_closed_pipe(result: Result<(), StoreError>) -> Result<(), StoreError> {
    let closed = match &result {
        Err(StoreError::Output(e)) => e.kind() == std::io::ErrorKind::BrokenPipe,
        Err(StoreError::Csv(e)) => {
            matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
        }
        Err(StoreError::Json(e)) => e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe),
        _ => false,
    };
    if closed { Ok(()) } else { result }
}

/// Writes CDRs in one format; the header (table, CSV) comes before the first batch.
pub struct CdrPrinter<'a> {
    out: &'a mut dyn Write,
    format: OutputFormat,
    header_written: bool,
}

const TABLE_HEADER: [&str; 10] = [
    "STARTED (UTC)",
    "TRACKING",
    "CALLER",
    "DISPOSITION",
    "SIP",
    "WAIT",
    "TALK",
    "HANGUP",
    "SOURCE",
    "CALL-ID",
];

impl<'a> CdrPrinter<'a> {
    pub fn new(out: &'a mut dyn Write, format: OutputFormat) -> Self {
        Self {
            out,
            format,
            header_written: false,
        }
    }

    /// Prints `cdrs` (after the header on first use) and flushes.
    pub fn print(&mut self, cdrs: &[StoredCdr]) -> Result<(), StoreError> {
        if !self.header_written {
            self.write_header()?;
            self.header_written = true;
        }
        match self.format {
            OutputFormat::Table => cdrs.iter().try_for_each(|c| self.write_table_row(&c.cdr))?,
            OutputFormat::Json => cdrs.iter().try_for_each(|c| self.write_json(&c.cdr))?,
            OutputFormat::Csv => self.write_csv(cdrs)?,
        }
        Ok(self.out.flush()?)
    }

    fn write_header(&mut self) -> Result<(), StoreError> {
        match self.format {
            OutputFormat::Table => Ok(table_line(self.out, TABLE_HEADER)?),
            OutputFormat::Json => Ok(()),
            OutputFormat::Csv => {
                let mut csv = csv::Writer::from_writer(&mut *self.out);
                csv.write_record(flat::cdr_columns())?;
                Ok(csv.flush()?)
            }
        }
    }

    fn write_json(&mut self, cdr: &CallDetailRecord) -> Result<(), StoreError> {
        serde_json::to_writer(&mut *self.out, cdr)?;
        Ok(self.out.write_all(b"\n")?)
    }

    fn write_csv(&mut self, cdrs: &[StoredCdr]) -> Result<(), StoreError> {
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut *self.out);
        let columns = flat::cdr_columns();
        for c in cdrs {
            let cells = flat::cdr_cells(&c.cdr)?;
            let fields = columns
                .iter()
                .zip(&cells)
                .map(|(name, cell)| csv_cells::spreadsheet_safe(name, cell));
            csv.write_record(fields.map(|f| f.into_owned()))?;
        }
        Ok(csv.flush()?)
    }

    fn write_table_row(&mut self, cdr: &CallDetailRecord) -> Result<(), StoreError> {
        let started = table_time(cdr);
        let (status, wait, talk) = (
            cdr.sip_status.to_string(),
            format!("{}s", cdr.wait_secs),
            format!("{}s", cdr.talk_secs),
        );
        let kind = cdr.attribution.number_kind.as_str();
        let source = match &cdr.attribution.source {
            Some(source) => format!("{source} ({kind})"),
            None => kind.to_string(),
        };
        let cells = [
            started.as_str(),
            &cdr.tracking_number,
            &cdr.caller,
            cdr.disposition.as_str(),
            &status,
            &wait,
            &talk,
            cdr.hangup_side.as_str(),
            &source,
            &cdr.call_id,
        ];
        Ok(table_line(self.out, cells)?)
    }
}

/// `2026-11-23 03:20:00`: the start time to the second, UTC.
fn table_time(cdr: &CallDetailRecord) -> String {
    let full = rfc3339::format(cdr.started_at);
    full.get(..19).unwrap_or(&full).replacen('T', " ", 1)
}

fn table_line(out: &mut dyn Write, c: [&str; 10]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<19}  {:<15}  {:<15}  {:<11}  {:>3}  {:>5}  {:>5}  {:<6}  {:<22}  {}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{Disposition, HangupSide, LiveCall};

    fn ts(text: &str) -> jiff::Timestamp {
        text.parse().expect("test timestamp")
    }

    fn stored(seq: i64) -> StoredCdr {
        let live = LiveCall {
            id: format!("{seq:016x}"),
            call_id: format!("c{seq}@carrier"),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:sales@pbx.example".into(),
            started_at: ts("2026-11-23T03:20:00.123Z"),
            answered_at: Some(ts("2026-11-23T03:20:07.5Z")),
            attribution: Default::default(),
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        };
        let end = ts("2026-11-23T03:21:10Z");
        let cdr =
            CallDetailRecord::from_live(&live, end, Disposition::Answered, 200, HangupSide::Caller);
        StoredCdr { seq, cdr }
    }

    fn printed(format: OutputFormat, batches: &[&[StoredCdr]]) -> String {
        let mut out = Vec::new();
        let mut printer = CdrPrinter::new(&mut out, format);
        for batch in batches {
            printer.print(batch).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_is_one_cdr_object_per_line() {
        let text = printed(OutputFormat::Json, &[&[stored(1), stored(2)]]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["id"], "0000000000000001");
        assert_eq!(v["started_at"], "2026-11-23T03:20:00.123Z");
        assert_eq!(v["answered_at"], "2026-11-23T03:20:07.500Z");
        assert_eq!(v["wait_secs"], 7);
        assert_eq!(v["talk_secs"], 62);
        assert_eq!(v["disposition"], "answered");
    }

    #[test]
    fn csv_has_one_header_across_batches_matching_json_keys() {
        let text = printed(OutputFormat::Csv, &[&[stored(1)], &[], &[stored(2)]]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "0000000000000001,c1@carrier,74951234567,79161112233,sip:sales@pbx.example,\
             2026-11-23T03:20:00.123Z,2026-11-23T03:20:07.500Z,2026-11-23T03:21:10.000Z,\
             7,62,answered,200,caller,,unattributed,,,,,,,,,,,,,,,,,true,false,false,true,,,,,\
             ,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"
        );
        let json = serde_json::to_value(&stored(1).cdr).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), CSV_HEADER.split(',').count());
    }

    #[test]
    fn csv_neutralises_formulas_in_visitor_text_only() {
        let mut c = stored(1);
        c.cdr.attribution.campaign = Some("=HYPERLINK(\"https://evil.example\",\"click\")".into());
        c.cdr.attribution.source = Some("+cmd|' /C calc'!A0".into());
        c.cdr.destination = "-sales".into();
        let text = printed(OutputFormat::Csv, &[&[c]]);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        let header: Vec<&str> = CSV_HEADER.split(',').collect();
        let column = |name: &str| &row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(
            column("campaign"),
            "'=HYPERLINK(\"https://evil.example\",\"click\")"
        );
        assert_eq!(column("source"), "'+cmd|' /C calc'!A0");
        assert_eq!(column("tracking_number"), "74951234567");
        assert_eq!(
            column("destination"),
            "-sales",
            "calltrack's own text is kept"
        );
    }

    /// The CSV header as it was when the columns were listed by hand, the media columns and
    /// the voicemail's length.
    const CSV_HEADER: &str = "id,call_id,tracking_number,caller,destination,started_at,\
        answered_at,ended_at,wait_secs,talk_secs,disposition,sip_status,hangup_side,site,\
        number_kind,source,medium,campaign,term,content,referrer,landing_page,gclid,yclid,\
        ga_client_id,ga_session_id,ym_client_id,region,session_id,device,confidence,first_time_caller,\
        quality,missed,counted,called_back_at,scheme,answered_step,answered_target,reject_reason,\
        rtp_caller_packets,rtp_caller_lost,rtp_caller_jitter_ms,rtp_caller_max_gap_ms,\
        rtp_callee_packets,rtp_callee_lost,rtp_callee_jitter_ms,rtp_callee_max_gap_ms,\
        one_way_audio,recording_path,recording_bytes,recording_secs,recording_status,\
        recording_reason,\
        rtp_caller_jitter_us,rtp_caller_media_secs,rtp_caller_voice_secs,rtp_caller_mos_x100,\
        rtcp_caller_lost,rtcp_caller_loss_permille,rtcp_caller_jitter_us,rtcp_caller_rtt_ms,\
        rtp_callee_jitter_us,rtp_callee_media_secs,rtp_callee_voice_secs,rtp_callee_mos_x100,\
        rtcp_callee_lost,rtcp_callee_loss_permille,rtcp_callee_jitter_us,rtcp_callee_rtt_ms,\
        voicemail_secs";

    #[test]
    fn table_columns_line_up() {
        let text = printed(OutputFormat::Table, &[&[stored(1)]]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("STARTED (UTC)"));
        assert!(lines[1].starts_with("2026-11-23 03:20:00  74951234567"));
        assert_eq!(lines[0].find("CALL-ID"), lines[1].find("c1@carrier"));
    }

    #[derive(clap::Parser, Debug)]
    struct TestCli {
        #[command(flatten)]
        cdr: CdrArgs,
    }

    #[test]
    fn arguments_parse_with_defaults() {
        use clap::{CommandFactory, Parser};
        TestCli::command().debug_assert();
        let cli = TestCli::parse_from(["cdr", "list", "--format", "json"]);
        assert!(matches!(
            cli.cdr.command,
            CdrCommand::List {
                db: None,
                limit: 20,
                format: OutputFormat::Json,
                ..
            }
        ));
        let cli = TestCli::parse_from(["cdr", "tail", "--db", "/tmp/x.sqlite"]);
        assert!(matches!(
            cli.cdr.command,
            CdrCommand::Tail {
                db: Some(_),
                format: OutputFormat::Table,
                poll_ms: 500
            }
        ));
    }

    #[test]
    fn closed_pipe_is_a_clean_end() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(ignore_closed_pipe(Err(StoreError::Output(pipe))).is_ok());
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(ignore_closed_pipe(Err(StoreError::Output(other))).is_err());
    }
}
