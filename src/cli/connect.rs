//! `calltrack check-config --connect`: tries the connections the config names (the lease
//! backend on Redis, the call store on PostgreSQL) and prints one line per backend.

use crate::config::{Config, LeasesConfig, PostgresConfig, StoreBackend};

/// Prints `ok: ...` or `unreachable: ...` per backend; whether every one answered.
pub(super) fn check(config: &Config) -> bool {
    let leases = check_leases(config);
    let store = check_store(config);
    leases && store
}

fn check_leases(config: &Config) -> bool {
    match &config.leases {
        LeasesConfig::Memory => {
            println!("ok: leases in memory (nothing to connect to)");
            true
        }
        LeasesConfig::Redis(redis) => match crate::lease::remote::ping(redis) {
            Ok(()) => {
                println!("ok: leases on {} (PING answered)", shown(&redis.url));
                true
            }
            Err(error) => {
                eprintln!("unreachable: leases.url {}: {error}", shown(&redis.url));
                false
            }
        },
    }
}

fn check_store(config: &Config) -> bool {
    match &config.store.backend {
        StoreBackend::Sqlite => {
            println!(
                "ok: store on SQLite at {} (nothing to connect to)",
                config.store.path.display()
            );
            true
        }
        StoreBackend::Postgres(pg) => check_postgres(pg),
    }
}

fn check_postgres(pg: &PostgresConfig) -> bool {
    match crate::store::pg::probe::probe(pg) {
        Ok(p) if p.schema_version > p.latest => {
            eprintln!(
                "unusable: store.url {}: schema version {} is newer than this build's {}",
                shown(&pg.url),
                p.schema_version,
                p.latest
            );
            false
        }
        Ok(p) => {
            println!(
                "ok: store on {} (PostgreSQL {}, schema version {} of {}, {} pending migrations, applied at start)",
                shown(&pg.url),
                p.server_version,
                p.schema_version,
                p.latest,
                p.pending()
            );
            true
        }
        Err(error @ crate::store::StoreError::PgServerTooOld { .. }) => {
            eprintln!("unusable: store.url {}: {error}", shown(&pg.url));
            false
        }
        Err(error) => {
            eprintln!("unreachable: store.url {}: {error}", shown(&pg.url));
            false
        }
    }
}

/// The URL without its password.
pub(super) fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
