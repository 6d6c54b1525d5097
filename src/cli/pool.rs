//! `calltrack pool status`: asks the running daemon (`http.listen`) for pool occupancy and
//! prints a table or JSON (`pool advise` reads the store instead: see [`super::advise`]). The admin API's bearer token comes from `--token`, else the
//! `CALLTRACK_ADMIN_TOKEN` environment variable, else the config's `http.admin_token`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::http::admin::{PoolStatsView, PoolsView};

/// `calltrack pool ...`
#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Admin API bearer token; overrides CALLTRACK_ADMIN_TOKEN, which overrides the
    /// config's http.admin_token / http.admin_token_file.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: PoolCommand,
}

/// The environment variable that holds the admin token for CLI commands.
pub const TOKEN_ENV: &str = "CALLTRACK_ADMIN_TOKEN";

/// The token to send: `--token` > `CALLTRACK_ADMIN_TOKEN` > the config's (blank ones skipped).
pub fn pick_token(
    flag: Option<String>,
    env: Option<String>,
    config: Option<&str>,
) -> Option<String> {
    let given = |t: &String| !t.trim().is_empty();
    flag.filter(given)
        .or_else(|| env.filter(given))
        .or_else(|| config.map(str::to_owned))
        .map(|t| t.trim().to_owned())
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Occupancy of every dynamic pool, from the running daemon's admin API.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The smallest pool that meets a target accuracy, from this node's lease history and
    /// CDRs replayed through the simulator (reads the config's store; exit 2 with too little
    /// history).
    Advise(super::advise::AdviseArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// The daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("cannot reach the calltrack daemon at http://{addr}/v1/admin/pools (is it running?)")]
    Request {
        addr: SocketAddr,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error(
        "the daemon refused the admin token (HTTP 401): pass --token, set {TOKEN_ENV} or http.admin_token"
    )]
    Unauthorized,
    #[error("the daemon answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How long to wait for the daemon.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `pool status` against the daemon listening on `listen`; `config_token` is the
/// config's admin token (see [`pick_token`] for the order).
pub fn run(
    args: PoolArgs,
    listen: SocketAddr,
    config_token: Option<&str>,
) -> Result<(), PoolError> {
    let PoolCommand::Status { format } = args.command else {
        return Ok(());
    };
    let env = std::env::var(TOKEN_ENV).ok();
    let token = pick_token(args.token, env, config_token);
    let pools = fetch(listen, token.as_deref())?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&pools)?),
        Format::Table => print!("{}", table(&pools.pools)),
    }
    Ok(())
}

fn fetch(listen: SocketAddr, token: Option<&str>) -> Result<PoolsView, PoolError> {
    let addr = reachable(listen);
    let request_error = |source| PoolError::Request {
        addr,
        source: Box::new(source),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let mut request = agent.get(format!("http://{addr}/v1/admin/pools"));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.call().map_err(request_error)?;
    let status = response.status().as_u16();
    if status == 401 {
        return Err(PoolError::Unauthorized);
    }
    if status != 200 {
        let body = response.body_mut().read_to_string().unwrap_or_default();
        return Err(PoolError::Status { status, body });
    }
    response.body_mut().read_json().map_err(request_error)
}

/// A wildcard listen address is reached over loopback.
pub(super) fn reachable(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// One aligned row per pool.
pub fn table(pools: &[PoolStatsView]) -> String {
    let header = [
        "SITE",
        "POOL",
        "SIZE",
        "LEASED",
        "RINGING",
        "COOLING",
        "FREE",
        "QUARANTINED",
        "GRANTED",
        "EXHAUSTED",
    ];
    let rows: Vec<[String; 10]> = pools
        .iter()
        .map(|p| {
            [
                p.site.clone(),
                p.pool.clone(),
                p.size.to_string(),
                p.leased.to_string(),
                p.ringing.to_string(),
                p.cooling.to_string(),
                p.free.to_string(),
                p.quarantined.to_string(),
                p.granted_total.to_string(),
                p.exhausted_total.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let header = header.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i < 2 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no dynamic pools configured)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let pool = PoolStatsView {
            site: "demo".into(),
            pool: "web".into(),
            size: 50,
            leased: 3,
            ringing: 1,
            cooling: 2,
            free: 43,
            quarantined: 1,
            granted_total: 1234,
            exhausted_total: 0,
        };
        let text = table(&[pool]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("SITE  POOL  SIZE  LEASED"));
        assert!(lines[1].starts_with("demo  web     50       3"), "{text}");
        assert!(lines[1].contains("  43            1     1234"), "{text}");
        assert!(lines[1].ends_with("1234          0"), "{text}");
    }

    #[test]
    fn token_precedence_is_flag_then_env_then_config() {
        let s = |t: &str| Some(t.to_owned());
        assert_eq!(pick_token(s("f"), s("e"), Some("c")), s("f"));
        assert_eq!(pick_token(None, s("e"), Some("c")), s("e"));
        assert_eq!(pick_token(s(" "), s(""), Some("c")), s("c"));
        assert_eq!(pick_token(None, None, None), None);
    }

    #[test]
    fn wildcard_listen_is_reached_on_loopback() {
        let addr: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(reachable(addr).to_string(), "127.0.0.1:8080");
    }
}
