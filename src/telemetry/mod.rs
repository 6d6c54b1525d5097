//! Telemetry setup: the tracing subscriber (filter, text or JSON to stderr).
//!
//! Typed operational events (one struct per fact, log line and metric together) will live
//! beside this as they arrive.

pub mod metrics;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` (which overrides `log.level`) is not a valid filter.
    #[error("{directive:?} is not a valid tracing filter: {message}")]
    InvalidFilter { directive: String, message: String },
    /// A global subscriber was already installed (tests calling `init` twice); harmless.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Installs the global subscriber; `RUST_LOG`, when set, overrides `log.level`. Colours only
/// when stderr is a terminal (journald and log files get plain text).
///
/// Safe to call more than once: later calls change nothing and return `AlreadyInstalled`.
pub fn init(log: &LogConfig) -> Result<(), TelemetryError> {
    let filter = filter(log)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| TelemetryError::AlreadyInstalled(err.to_string()))
}

fn filter(log: &LogConfig) -> Result<EnvFilter, TelemetryError> {
    match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directive) if !directive.trim().is_empty() => parse(&directive),
        _ => parse(&log.level),
    }
}

fn parse(directive: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(directive)
        .map_err(|err| TelemetryError::InvalidFilter {
            directive: directive.to_owned(),
            message: err.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(level: &str, format: LogFormat) -> LogConfig {
        LogConfig {
            level: level.to_owned(),
            format,
        }
    }

    #[test]
    fn init_twice_is_harmless() {
        let first = init(&config("info", LogFormat::Json));
        assert!(matches!(
            first,
            Ok(()) | Err(TelemetryError::AlreadyInstalled(_))
        ));
        let second = init(&config("debug", LogFormat::Text));
        assert!(matches!(second, Err(TelemetryError::AlreadyInstalled(_))));
    }

    #[test]
    fn bad_directive_is_reported() {
        assert!(matches!(
            parse("=="),
            Err(TelemetryError::InvalidFilter { .. })
        ));
    }
}
