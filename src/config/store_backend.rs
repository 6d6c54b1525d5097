//! `[store] backend`: where calls are kept, SQLite (the file beside the daemon, the default)
//! or a PostgreSQL server several nodes share; its keys and their checks.

use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;

/// `[store] backend` as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The SQLite file at `store.path` (today's behaviour).
    #[default]
    Sqlite,
    /// A PostgreSQL server at `store.url`.
    Postgres,
}

/// The validated store backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres(PostgresConfig),
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `postgres://user[:password]@host:port/database` (libpq URL form).
    pub url: String,
    /// Connections the reads (calls API, reports, dashboard) may open at once; the writer,
    /// delivery claims and the node heartbeat have their own.
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
}

/// The backend keys of `[store]`, as written.
pub(super) struct BackendFile<'a> {
    pub backend: BackendKind,
    pub url: Option<&'a str>,
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
}

/// Checks the backend keys; every problem is reported with its key path.
pub(super) fn backend(f: BackendFile<'_>, p: &mut Problems) -> StoreBackend {
    p.within("store.pool_size", f.pool_size, 1, 64);
    p.within(
        "store.connect_timeout_ms",
        f.connect_timeout_ms,
        100,
        60_000,
    );
    match (f.backend, f.url) {
        (BackendKind::Sqlite, None) => StoreBackend::Sqlite,
        (BackendKind::Sqlite, Some(_)) => {
            p.push(
                "store.url",
                "is only read with store.backend = \"postgres\"",
            );
            StoreBackend::Sqlite
        }
        (BackendKind::Postgres, None) => {
            p.push("store.url", "is required with store.backend = \"postgres\"");
            StoreBackend::Sqlite
        }
        (BackendKind::Postgres, Some(url)) => {
            postgres_url(url, p);
            StoreBackend::Postgres(PostgresConfig {
                url: url.to_owned(),
                pool_size: f.pool_size,
                connect_timeout: Duration::from_millis(f.connect_timeout_ms),
            })
        }
    }
}

fn postgres_url(text: &str, p: &mut Problems) {
    match url::Url::parse(text) {
        Ok(u) if !matches!(u.scheme(), "postgres" | "postgresql") => p.push(
            "store.url",
            format!(
                "scheme {:?} is not postgres:// or postgresql://",
                u.scheme()
            ),
        ),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => p.push("store.url", "names no host"),
        Ok(u) if u.path().trim_start_matches('/').is_empty() => p.push(
            "store.url",
            "names no database (postgres://user@host:5432/calltrack)",
        ),
        Ok(_) => {}
        Err(e) => p.push("store.url", format!("is not a URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: BackendKind, url: Option<&str>) -> (StoreBackend, Vec<String>) {
        let mut p = Problems::default();
        let file = BackendFile {
            backend: kind,
            url,
            pool_size: 0,
            connect_timeout_ms: 5,
        };
        let backend = backend(file, &mut p);
        (backend, p.messages())
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let (_, problems) = check(BackendKind::Postgres, None);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("store.pool_size"), "{problems:?}");
        assert!(problems[1].starts_with("store.connect_timeout_ms"));
        assert!(problems[2].starts_with("store.url: is required"));
        let (_, problems) = check(BackendKind::Postgres, Some("mysql://h/db"));
        assert!(problems[2].contains("not postgres://"), "{problems:?}");
        let (_, problems) = check(BackendKind::Postgres, Some("postgres://u@h:5432/"));
        assert!(problems[2].contains("no database"), "{problems:?}");
        let (_, problems) = check(BackendKind::Sqlite, Some("postgres://u@h/db"));
        assert!(problems[2].contains("only read"), "{problems:?}");
    }

    #[test]
    fn a_postgres_url_is_kept() {
        let mut p = Problems::default();
        let file = BackendFile {
            backend: BackendKind::Postgres,
            url: Some("postgres://calltrack@127.0.0.1:5432/calltrack"),
            pool_size: 4,
            connect_timeout_ms: 5000,
        };
        let StoreBackend::Postgres(pg) = backend(file, &mut p) else {
            panic!("postgres expected");
        };
        assert_eq!(p.messages(), Vec::<String>::new());
        assert_eq!(pg.connect_timeout, Duration::from_millis(5000));
    }
}
