//! The TCP admission gate: tells the transport which connecting sources are trusted (the live
//! `[carriers]` and `[pbx]` networks, so a reload applies to the next connection) and which the
//! flood guard has banned, with the same exemption rule the guard applies to packets.

use std::net::IpAddr;
use std::time::Instant;

use crate::config::SharedConfig;
use crate::edge::flood::Bans;
use crate::edge::{Source, flood_key};
use crate::transport::{SourceGate, Standing};

#[derive(Debug)]
pub(super) struct EdgeGate {
    pub(super) config: SharedConfig,
    pub(super) bans: Bans,
}

impl SourceGate for EdgeGate {
    fn judge(&self, now: Instant, ip: IpAddr) -> Standing {
        let config = self.config.load();
        let trusted = Source::of(&config, ip).is_known();
        if trusted && config.security.flood.exempt_trusted {
            return Standing::Trusted;
        }
        if self.bans.is_banned(now, ip) {
            return Standing::Banned;
        }
        if trusted {
            Standing::Trusted
        } else {
            Standing::Untrusted { key: flood_key(ip) }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arc_swap::ArcSwap;

    use super::*;
    use crate::config::Config;
    use crate::edge::flood::FloodGuard;

    fn gate(extra: &str) -> (EdgeGate, FloodGuard) {
        let text = format!("[carriers]\ntrusted = [\"192.0.2.0/24\"]\n{extra}");
        let config = Config::from_toml_str(&text).unwrap();
        let bans = Bans::default();
        let guard = FloodGuard::with_bans(&config.security.flood, bans.clone());
        let config = Arc::new(ArcSwap::from_pointee(config));
        (EdgeGate { config, bans }, guard)
    }

    fn ban(guard: &mut FloodGuard, now: Instant, ip: IpAddr) {
        for _ in 0..1000 {
            guard.check(now, flood_key(ip));
        }
        assert!(guard.is_banned(now, flood_key(ip)));
    }

    #[test]
    fn carriers_are_trusted_others_counted_per_slash_64_and_bans_refused() {
        let (gate, mut guard) = gate("");
        let now = Instant::now();
        let carrier: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(gate.judge(now, carrier), Standing::Trusted);
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let key = "2001:db8:1:2::".parse().unwrap();
        assert_eq!(gate.judge(now, v6), Standing::Untrusted { key });
        ban(&mut guard, now, v6);
        assert_eq!(gate.judge(now, v6), Standing::Banned);
        let later = now + Duration::from_secs(3600);
        assert_eq!(gate.judge(later, v6), Standing::Untrusted { key });
    }

    #[test]
    fn a_banned_carrier_is_refused_only_without_the_exemption() {
        let (gate, mut guard) = gate("[security.flood]\nexempt_trusted = false\n");
        let now = Instant::now();
        let carrier: IpAddr = "192.0.2.9".parse().unwrap();
        ban(&mut guard, now, carrier);
        assert_eq!(gate.judge(now, carrier), Standing::Banned);
    }
}
