//! `calltrack check-config --connect`: tries the connections the config names (the lease
//! backend on Redis) and prints one line per backend.

use crate::config::{Config, LeasesConfig};

/// Prints `ok: ...` or `unreachable: ...` per backend; whether every one answered.
pub(super) fn check(config: &Config) -> bool {
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

/// The URL without its password.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
