//! Command-line interface: the `serve`, `check-config`, `cdr`, `pool`, `route`, `report`,
//! `costs`, `outbox`, `demo-data` and `simulate` commands and their exit codes.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 configuration or usage error.

pub mod advise;
pub mod cdr;
mod cdr_feed;
mod cdr_filter;
mod connect;
pub mod costs;
pub mod csv_cells;
pub mod demo;
pub mod demo_shapes;
pub mod outbox;
pub mod pool;
pub mod report;
pub mod route;
pub mod simulate;
mod simulate_explain;
pub mod speech;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// The command ran to completion.
const EXIT_OK: u8 = 0;
/// Something failed while running (I/O, store, server).
const EXIT_RUNTIME: u8 = 1;
/// The configuration or the command line is wrong.
const EXIT_CONFIG: u8 = 2;

/// Self-hosted call tracking built into a SIP B2BUA.
#[derive(Debug, Parser)]
#[command(name = "calltrack", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success, 1 runtime failure, 2 configuration or usage error.")]
pub struct Cli {
    /// Config file (TOML); without it the embedded default is used (127.0.0.1, one demo site).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SIP B2BUA, the HTTP API and the CDR writer until SIGTERM/SIGINT.
    Serve,
    /// Validate a config file and print every problem with its key path.
    ///
    /// Prints `ok: N sites, M tracking numbers` and exits 0 when the file is valid; otherwise
    /// prints one `path: message` line per problem to stderr and exits 2.
    CheckConfig {
        /// File to check; defaults to --config, then to the embedded default.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Also connect to the configured backends (`[leases]` on Redis) and report each.
        #[arg(long)]
        connect: bool,
    },
    /// Query call detail records (database path from the config's store.path).
    Cdr(cdr::CdrArgs),
    /// Dynamic number pools of the running daemon (address from the config's http.listen).
    Pool(pool::PoolArgs),
    /// The export outbox of the running daemon: status, list (dead letters), replay.
    ///
    /// Exits 0 on success, 1 when the daemon cannot be asked, 2 for a bad argument (an
    /// unknown destination, a bad --since).
    Outbox(outbox::OutboxArgs),
    /// Dry run of the routing config: which scheme, steps and targets a call would take.
    ///
    /// Exits 0 with the plan, 1 if the call would be rejected (no target reachable), 2 for an
    /// unknown number or an invalid config.
    Route(route::RouteArgs),
    /// A report over local days: calls, unique callers, answered, missed, quality calls,
    /// leads, cost, revenue and ROI, broken down by fields (exit 2 on a bad field or date).
    Report(report::ReportArgs),
    /// Ad costs: import a CSV (exit 2 listing every bad line; nothing is imported then).
    Costs(costs::CostsArgs),
    /// The call scorer: `speech train` fits it on the labelled calls' transcripts (exit 2
    /// with too few labels); `speech tags` counts calls per keyword tag and source.
    Speech(speech::SpeechArgs),
    /// Fill a database with realistic demo calls, leads and costs (deterministic per --seed).
    DemoData(demo::DemoArgs),
    /// Replay a traffic model against the real lease table and a naive baseline: correct,
    /// wrong and unattributed calls, pool utilisation, exhaustion (exit 2 on a bad model).
    Simulate(simulate::SimulateArgs),
}

/// Parses the command line and runs the command; the binary's whole `main`.
pub fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => run(cli),
        Err(err) => usage_error(&err),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let config_path = cli.config.as_deref();
    let code = match cli.command {
        Command::Serve => serve(config_path),
        Command::CheckConfig { file, connect } => {
            check_config(file.as_deref().or(config_path), connect)
        }
        Command::Cdr(args) => cdr(args, config_path),
        Command::Pool(args) => pool(args, config_path),
        Command::Outbox(args) => outbox(args, config_path),
        Command::Route(args) => route(&args, config_path),
        Command::Report(args) => report(&args, config_path),
        Command::Costs(args) => costs(&args, config_path),
        Command::Speech(args) => speech_train(&args, config_path),
        Command::DemoData(args) => demo_data(&args, config_path),
        Command::Simulate(args) => simulate_run(&args),
    };
    ExitCode::from(code)
}

/// Help and version go to stdout with 0; real usage errors go to stderr with 2.
fn usage_error(err: &clap::Error) -> ExitCode {
    // Nothing sensible is left to do if stdout/stderr is gone.
    let _ = err.print();
    ExitCode::from(if err.use_stderr() {
        EXIT_CONFIG
    } else {
        EXIT_OK
    })
}

fn serve(path: Option<&Path>) -> u8 {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!(
                "calltrack: cannot start, {} is not usable:",
                source_name(path)
            );
            print_config_error(&err);
            return EXIT_CONFIG;
        }
    };
    if let Err(err) = crate::telemetry::init(&config.log) {
        print_error(&err);
        return EXIT_CONFIG;
    }
    match crate::app::serve(config, path) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn check_config(path: Option<&Path>, connect: bool) -> u8 {
    match Config::load(path) {
        Ok(config) => {
            let sites = config.sites.len();
            let numbers = config.tracking_number_count();
            for warning in config.security_warnings() {
                eprintln!("warning: {warning}");
            }
            println!("ok: {sites} sites, {numbers} tracking numbers");
            if connect && !connect::check(&config) {
                return EXIT_RUNTIME;
            }
            EXIT_OK
        }
        Err(err) => {
            print_config_error(&err);
            eprintln!("invalid: {}", source_name(path));
            EXIT_CONFIG
        }
    }
}

fn cdr(args: cdr::CdrArgs, path: Option<&Path>) -> u8 {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("calltrack: {} is not usable:", source_name(path));
            print_config_error(&err);
            return EXIT_CONFIG;
        }
    };
    match cdr::run(args, &config) {
        Ok(()) => EXIT_OK,
        Err(crate::store::StoreError::Filter(problems)) => {
            for problem in problems {
                eprintln!("calltrack cdr list: {problem}");
            }
            EXIT_CONFIG
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn loaded(path: Option<&Path>) -> Option<Config> {
    match Config::load(path) {
        Ok(config) => Some(config),
        Err(err) => {
            eprintln!("calltrack: {} is not usable:", source_name(path));
            print_config_error(&err);
            None
        }
    }
}

fn report(args: &report::ReportArgs, path: Option<&Path>) -> u8 {
    let Some(config) = loaded(path) else {
        return EXIT_CONFIG;
    };
    match report::run(args, &config) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(report::ReportCliError::Usage(problems)) => {
            for problem in problems {
                eprintln!("calltrack report: {problem}");
            }
            EXIT_CONFIG
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn costs(args: &costs::CostsArgs, path: Option<&Path>) -> u8 {
    let Some(config) = loaded(path) else {
        return EXIT_CONFIG;
    };
    match costs::run(args, &config) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(costs::CostsCliError::BadLines(problems)) => {
            eprintln!("calltrack costs import: nothing imported");
            for problem in problems {
                eprintln!("{problem}");
            }
            EXIT_CONFIG
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn speech_train(args: &speech::SpeechArgs, path: Option<&Path>) -> u8 {
    let Some(config) = loaded(path) else {
        return EXIT_CONFIG;
    };
    let result = match &args.command {
        speech::SpeechCommand::Train(train) => speech::run(train, &config),
        speech::SpeechCommand::Tags(tags) => speech::tags(tags, &config),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(speech::TrainCliError::Labels(why)) => {
            eprintln!("calltrack speech train: no model trained: {why}");
            EXIT_CONFIG
        }
        Err(speech::TrainCliError::Usage(why)) => {
            eprintln!("calltrack speech: {why}");
            EXIT_CONFIG
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn demo_data(args: &demo::DemoArgs, path: Option<&Path>) -> u8 {
    let Some(config) = loaded(path) else {
        return EXIT_CONFIG;
    };
    match demo::run(args, &config) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn simulate_run(args: &simulate::SimulateArgs) -> u8 {
    match simulate::run(args) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(simulate::SimulateError::Model(err)) => {
            eprintln!("calltrack: the model is not usable:\n{err}");
            EXIT_CONFIG
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn pool(args: pool::PoolArgs, path: Option<&Path>) -> u8 {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("calltrack: {} is not usable:", source_name(path));
            print_config_error(&err);
            return EXIT_CONFIG;
        }
    };
    if let pool::PoolCommand::Advise(advise) = &args.command {
        return pool_advise(advise, &config);
    }
    let token = config.http.admin_token.as_ref().map(|t| t.expose());
    match pool::run(args, config.http.listen, token) {
        Ok(()) => EXIT_OK,
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn pool_advise(args: &advise::AdviseArgs, config: &Config) -> u8 {
    match advise::run(args, config, jiff::Timestamp::now()) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(err) => {
            print_error(&err);
            if err.is_usage() {
                EXIT_CONFIG
            } else {
                EXIT_RUNTIME
            }
        }
    }
}

fn outbox(args: outbox::OutboxArgs, path: Option<&Path>) -> u8 {
    let Some(config) = loaded(path) else {
        return EXIT_CONFIG;
    };
    let token = config.http.admin_token.as_ref().map(|t| t.expose());
    match outbox::run(args, config.http.listen, token) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(err) if err.is_usage() => {
            eprintln!("calltrack outbox: {err}");
            EXIT_CONFIG
        }
        Err(err) => {
            print_error(&err);
            EXIT_RUNTIME
        }
    }
}

fn route(args: &route::RouteArgs, path: Option<&Path>) -> u8 {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("calltrack: {} is not usable:", source_name(path));
            print_config_error(&err);
            return EXIT_CONFIG;
        }
    };
    match route::run(args, &config) {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(err) => {
            print_error(&err);
            if err.is_usage() {
                EXIT_CONFIG
            } else {
                EXIT_RUNTIME
            }
        }
    }
}

/// One line per problem for an invalid config, the error itself otherwise.
fn print_config_error(err: &ConfigError) {
    match err {
        ConfigError::Invalid(problems) => problems.iter().for_each(|p| eprintln!("{p}")),
        other => eprintln!("{other}"),
    }
}

/// Prints an error and its chain of causes.
fn print_error(err: &dyn Error) {
    eprintln!("calltrack: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

fn source_name(path: Option<&Path>) -> String {
    path.map_or_else(
        || "the embedded default config".to_owned(),
        |p| format!("config file {}", p.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_flag_is_global() {
        let cli = Cli::try_parse_from(["calltrack", "serve", "--config", "x.toml"]).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("x.toml")));
        let cli = Cli::try_parse_from(["calltrack", "--config", "y.toml", "cdr", "list"]).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("y.toml")));
        assert!(matches!(cli.command, Command::Cdr(_)));
    }

    #[test]
    fn check_config_takes_an_optional_file() {
        let cli = Cli::try_parse_from(["calltrack", "check-config"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::CheckConfig {
                file: None,
                connect: false
            }
        ));
        let cli = Cli::try_parse_from(["calltrack", "check-config", "--connect"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::CheckConfig { connect: true, .. }
        ));
        let cli = Cli::try_parse_from(["calltrack", "check-config", "a.toml"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::CheckConfig { file: Some(_), .. }
        ));
    }
}
