//! `calltrack outbox status | list | replay`: the export outbox of the running daemon, through
//! its admin API (`/v1/admin/outbox*`), like `calltrack pool status` (same token order:
//! `--token`, `CALLTRACK_ADMIN_TOKEN`, the config's `http.admin_token`). A request the daemon
//! calls bad (HTTP 400, or an unknown destination) is a usage error (exit 2).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::pool::{Format, TOKEN_ENV, pick_token, reachable};
use crate::call::record::rfc3339;
use crate::http::outbox::{DestinationView, OutboxEventView, OutboxEventsView, OutboxStatusView};

/// `calltrack outbox ...`
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// Admin API bearer token; overrides CALLTRACK_ADMIN_TOKEN, which overrides the
    /// config's http.admin_token / http.admin_token_file.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: OutboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Each destination's queue: pending, dead, delivered, oldest pending, last error.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Events, newest first (dead letters with `--dead`).
    List {
        /// Only dead letters (same as `--state dead`).
        #[arg(long, conflicts_with = "state")]
        dead: bool,
        /// Only events in this state.
        #[arg(long, value_enum)]
        state: Option<State>,
        /// Only this destination's events.
        #[arg(long, value_name = "ID")]
        destination: Option<String>,
        /// Events per page (1 to 500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
        limit: u16,
        /// The next page: the cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Include each event's data (JSON output).
        #[arg(long)]
        payload: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Sends dead letters or delivered events again, with their ids (receivers deduplicate).
    Replay {
        /// The destination (`[[exports.*]] id`).
        #[arg(long, value_name = "ID")]
        destination: String,
        /// One event by its id (`evt_...`).
        #[arg(
            long,
            value_name = "EVENT_ID",
            required_unless_present = "since",
            conflicts_with = "since"
        )]
        id: Option<String>,
        /// Every delivered or dead event written since TIME: RFC 3339, a date (midnight
        /// UTC) or an age such as `90m`, `6h`, `2d`.
        #[arg(long, value_name = "TIME", value_parser = parse_since)]
        since: Option<Timestamp>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum State {
    Pending,
    Delivered,
    Dead,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }
}

/// Why an outbox command failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxCliError {
    #[error("cannot reach the calltrack daemon at http://{addr} (is it running?)")]
    Request {
        addr: SocketAddr,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error(
        "the daemon refused the admin token (HTTP 401): pass --token, set {TOKEN_ENV} or http.admin_token"
    )]
    Unauthorized,
    /// The daemon called the request bad (400, 404): exit 2.
    #[error("{0}")]
    Refused(String),
    #[error("the daemon answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl OutboxCliError {
    /// Whether the command line was at fault (exit 2) rather than the run (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, OutboxCliError::Refused(_))
    }
}

/// How long to wait for the daemon.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the command against the daemon listening on `listen`; returns what to print.
pub fn run(
    args: OutboxArgs,
    listen: SocketAddr,
    config_token: Option<&str>,
) -> Result<String, OutboxCliError> {
    let env = std::env::var(TOKEN_ENV).ok();
    let daemon = Daemon {
        addr: reachable(listen),
        token: pick_token(args.token, env, config_token),
    };
    match args.command {
        OutboxCommand::Status { format } => {
            let status: OutboxStatusView = daemon.get("/v1/admin/outbox")?;
            match format {
                Format::Json => Ok(pretty(&status)?),
                Format::Table => Ok(status_table(&status.destinations)),
            }
        }
        OutboxCommand::List {
            dead,
            state,
            destination,
            limit,
            cursor,
            payload,
            format,
        } => {
            let state = if dead { Some(State::Dead) } else { state };
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", &limit.to_string());
            if let Some(state) = state {
                query.append_pair("state", state.as_str());
            }
            if let Some(d) = &destination {
                query.append_pair("destination", d);
            }
            if let Some(c) = &cursor {
                query.append_pair("cursor", c);
            }
            if payload {
                query.append_pair("payload", "true");
            }
            let path = format!("/v1/admin/outbox/events?{}", query.finish());
            let page: OutboxEventsView = daemon.get(&path)?;
            match format {
                Format::Json => Ok(pretty(&page)?),
                Format::Table => Ok(events_table(&page)),
            }
        }
        OutboxCommand::Replay {
            destination,
            id,
            since,
        } => {
            let body = match (id, since) {
                (Some(id), _) => json!({"destination": destination, "id": id}),
                (None, since) => json!({
                    "destination": destination,
                    "since": since.map(rfc3339::format),
                }),
            };
            let answer: Value = daemon.post("/v1/admin/outbox/replay", &body)?;
            let n = answer["replayed"].as_u64().unwrap_or(0);
            Ok(format!("replayed {n} event(s) to {destination}\n"))
        }
    }
}

fn pretty(value: &impl serde::Serialize) -> Result<String, serde_json::Error> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// `--since`: RFC 3339, a date (midnight UTC) or an age (`90m`, `6h`, `2d`).
fn parse_since(text: &str) -> Result<Timestamp, String> {
    since_at(text, Timestamp::now())
}

fn since_at(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) = rfc3339::parse(text) {
        return Ok(at);
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        return jiff::tz::Offset::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|e| e.to_string());
    }
    let unit = text.chars().last().unwrap_or(' ');
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => 0,
    };
    let amount = text[..text.len() - unit.len_utf8().min(text.len())]
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && secs > 0);
    amount
        .and_then(|n| {
            now.checked_sub(SignedDuration::from_secs(n.saturating_mul(secs)))
                .ok()
        })
        .ok_or_else(|| {
            format!("{text:?} is not RFC 3339, a date (YYYY-MM-DD) or an age like 90m, 6h, 2d")
        })
}

/// The daemon's admin API.
struct Daemon {
    addr: SocketAddr,
    token: Option<String>,
}

impl Daemon {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into()
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, OutboxCliError> {
        let mut request = Daemon::agent().get(format!("http://{}{path}", self.addr));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.read(request.call())
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, OutboxCliError> {
        let mut request = Daemon::agent().post(format!("http://{}{path}", self.addr));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.read(request.send_json(body))
    }

    fn read<T: DeserializeOwned>(
        &self,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, OutboxCliError> {
        let failed = |source| OutboxCliError::Request {
            addr: self.addr,
            source: Box::new(source),
        };
        let mut response = sent.map_err(failed)?;
        let status = response.status().as_u16();
        if status == 200 {
            return response.body_mut().read_json().map_err(failed);
        }
        let body = response.body_mut().read_to_string().unwrap_or_default();
        match status {
            401 => Err(OutboxCliError::Unauthorized),
            400 | 404 | 422 => Err(OutboxCliError::Refused(refusal(&body))),
            _ => Err(OutboxCliError::Status { status, body }),
        }
    }
}

/// The message of a JSON error answer, with every problem it lists.
fn refusal(body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let mut text = error["message"].as_str().unwrap_or(body).to_owned();
    if let Some(problems) = error["problems"].as_array() {
        let lines: Vec<&str> = problems.iter().filter_map(Value::as_str).collect();
        text = lines.join("\n");
    }
    text
}

/// One aligned row per destination.
pub fn status_table(destinations: &[DestinationView]) -> String {
    let header = [
        "DESTINATION",
        "KIND",
        "PENDING",
        "DEAD",
        "DELIVERED",
        "OLDEST PENDING",
        "LAST DELIVERED",
        "LAST ERROR",
    ];
    let rows = destinations
        .iter()
        .map(|d| {
            vec![
                d.id.clone(),
                d.kind.clone(),
                d.pending.to_string(),
                d.dead.to_string(),
                d.delivered.to_string(),
                d.oldest_pending_secs
                    .map_or("-".into(), |s| format!("{s}s ago")),
                d.last_delivered_at.clone().unwrap_or_else(|| "-".into()),
                short(d.last_error.as_deref()),
            ]
        })
        .collect();
    let mut out = aligned(&header, rows, &[2, 3, 4]);
    if destinations.is_empty() {
        out.push_str("(no export destinations configured)\n");
    }
    out
}

/// One aligned row per event, and how to get the next page.
pub fn events_table(page: &OutboxEventsView) -> String {
    let header = [
        "SEQ",
        "ID",
        "DESTINATION",
        "TYPE",
        "SUBJECT",
        "STATE",
        "ATTEMPTS",
        "CREATED",
        "LAST ERROR",
    ];
    let rows = page
        .events
        .iter()
        .map(|e: &OutboxEventView| {
            vec![
                e.seq.to_string(),
                e.id.clone(),
                e.destination.clone(),
                e.kind.clone(),
                e.subject.clone(),
                e.state.clone(),
                e.attempts.to_string(),
                e.created_at.clone(),
                short(e.last_error.as_deref()),
            ]
        })
        .collect();
    let mut out = aligned(&header, rows, &[0, 6]);
    match (&page.next_cursor, page.events.is_empty()) {
        (_, true) => out.push_str("(no events)\n"),
        (Some(cursor), false) => out.push_str(&format!("more: --cursor {cursor}\n")),
        (None, false) => {}
    }
    out
}

/// At most 80 characters of an error, on one line.
fn short(error: Option<&str>) -> String {
    let Some(error) = error else {
        return "-".into();
    };
    let line = error.replace(['\n', '\r'], " ");
    match line.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// Columns padded to their widest cell; the columns in `right` are right-aligned.
fn aligned(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                let pad = w.saturating_sub(cell.chars().count());
                match right.contains(&i) {
                    true => format!("{}{cell}", " ".repeat(pad)),
                    false => format!("{cell}{}", " ".repeat(pad)),
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
