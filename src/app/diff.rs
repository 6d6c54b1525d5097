//! What differs between the running config and a newly loaded one: which settings a reload
//! applies live, and which need a restart (those keep their running values).

use crate::config::{Config, SiteConfig};

/// Sections (or settings) whose change a reload applies at once.
pub fn changed_live(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("sites", old.sites != new.sites);
    check("carriers", old.carriers != new.carriers);
    check("calls", old.calls != new.calls);
    check("health", old.health != new.health);
    check(
        "http.trusted_proxies",
        old.http.trusted_proxies != new.http.trusted_proxies,
    );
    check("tracking", old.tracking != new.tracking);
    check(
        "sip.udp_max_request_bytes",
        old.sip.udp_max_request_bytes != new.sip.udp_max_request_bytes,
    );
    check("sip.user_agent", old.sip.user_agent != new.sip.user_agent);
    check("security", old.security != new.security);
    check("blacklist", old.blacklist != new.blacklist);
    check("pbx", old.pbx != new.pbx);
    check(
        "media.retention",
        old.media.retention != new.media.retention,
    );
    check(
        "http.admin_token",
        old.http.admin_token != new.http.admin_token,
    );
    changed
}

/// Settings that only take effect at start-up. Each one that changed is named in the result
/// and set back to its running value in `new`, so the swapped-in config describes what
/// actually runs. Pools are only reported: the lease table keeps the pools it started with.
pub fn keep_restart_only(old: &Config, new: &mut Config) -> Vec<String> {
    let mut needs = Vec::new();
    macro_rules! keep {
        ($($section:ident . $field:ident),* $(,)?) => {$(
            if old.$section.$field != new.$section.$field {
                needs.push(concat!(stringify!($section), ".", stringify!($field)).to_owned());
                new.$section.$field = old.$section.$field.clone();
            }
        )*};
    }
    keep!(
        sip.udp_listen,
        sip.tcp_listen,
        sip.tcp_max_connections,
        sip.tcp_reserved_trusted_percent,
        sip.tcp_max_connections_per_source,
        sip.tcp_idle_timeout,
        sip.tcp_message_timeout,
        sip.max_message_bytes,
        sip.max_headers,
        sip.workers,
        sip.timers,
        sip.advertised_host,
        sip.advertised_port,
        http.listen,
        http.max_body_bytes,
        http.rate_limit_per_minute,
        tracking.unique_window,
        tracking.callback_window,
        tracking.lease_history,
        calls.shutdown_grace,
    );
    if old.store != new.store {
        needs.push("store".to_owned());
        new.store = old.store.clone();
    }
    if old.log != new.log {
        needs.push("log".to_owned());
        new.log = old.log.clone();
    }
    if old.geo != new.geo {
        needs.push("geo".to_owned());
        new.geo = old.geo.clone();
    }
    if old.exports != new.exports {
        needs.push("exports".to_owned());
        new.exports = old.exports.clone();
    }
    // The recordings' retention applies on reload (the janitor reads it each pass).
    let retention = new.media.retention;
    new.media.retention = old.media.retention;
    if old.media != new.media {
        needs.push("media".to_owned());
        new.media = old.media.clone();
    }
    new.media.retention = retention;
    needs.extend(changed_pools(old, new));
    needs
}

/// Per site, what the lease table fixed at start-up: `sites.<id>.pools`, `.freeze_secs`,
/// `.lease_cooldown_secs` for every site where it differs.
fn changed_pools(old: &Config, new: &Config) -> Vec<String> {
    let mut ids: Vec<&str> = old
        .sites
        .iter()
        .chain(&new.sites)
        .map(|s| s.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut changed = Vec::new();
    for id in ids {
        let (before, after) = (old.site(id), new.site(id));
        let differs = |f: &dyn Fn(&SiteConfig) -> String| before.map(f) != after.map(f);
        let pools = |site: Option<&SiteConfig>| site.map(|s| s.pools.clone()).unwrap_or_default();
        if pools(before) != pools(after) {
            changed.push(format!("sites.{id}.pools"));
        }
        if before.is_some() && after.is_some() {
            if differs(&|s| format!("{:?}", s.freeze)) {
                changed.push(format!("sites.{id}.freeze_secs"));
            }
            if differs(&|s| format!("{:?}", s.lease_cooldown)) {
                changed.push(format!("sites.{id}.lease_cooldown_secs"));
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str, forward_port: u16, pool: &str) -> Config {
        Config::from_toml_str(&format!(
            r#"{extra}
[[sites]]
id = "demo"
forward_to = "sip:127.0.0.1:{forward_port}"
default_number = "74950000000"

[[sites.pools]]
id = "web"
numbers = ["{pool}"]
"#
        ))
        .unwrap()
    }

    #[test]
    fn routing_change_is_live_and_needs_no_restart() {
        let old = config("", 5080, "74950000100-74950000109");
        let mut new = config("", 5090, "74950000100-74950000109");
        assert_eq!(keep_restart_only(&old, &mut new), Vec::<String>::new());
        assert_eq!(changed_live(&old, &new), vec!["sites"]);
    }

    #[test]
    fn listener_change_is_reported_and_the_running_value_kept() {
        let old = config("[http]\nlisten = \"127.0.0.1:8080\"", 5080, "74950000100");
        let mut new = config("[http]\nlisten = \"127.0.0.1:9090\"", 5080, "74950000100");
        assert_eq!(keep_restart_only(&old, &mut new), vec!["http.listen"]);
        assert_eq!(new.http.listen, old.http.listen);
        assert!(changed_live(&old, &new).is_empty());
    }

    #[test]
    fn tcp_admission_limits_need_a_restart() {
        let old = config("", 5080, "74950000100");
        let keys = "[sip]\ntcp_reserved_trusted_percent = 50\ntcp_max_connections_per_source = 4\n\
tcp_message_timeout_ms = 2000";
        let mut new = config(keys, 5080, "74950000100");
        assert_eq!(
            keep_restart_only(&old, &mut new),
            vec![
                "sip.tcp_reserved_trusted_percent",
                "sip.tcp_max_connections_per_source",
                "sip.tcp_message_timeout",
            ]
        );
        assert_eq!(new.sip, old.sip);
    }

    #[test]
    fn pool_change_is_reported_as_needing_a_restart() {
        let old = config("", 5080, "74950000100-74950000109");
        let mut new = config("", 5080, "74950000100-74950000119");
        assert_eq!(keep_restart_only(&old, &mut new), vec!["sites.demo.pools"]);
    }

    #[test]
    fn a_site_with_pools_that_comes_or_goes_is_reported() {
        let old = config("", 5080, "74950000100");
        let mut new = Config::from_toml_str(
            "[[sites]]\nid = \"other\"\nforward_to = \"sip:127.0.0.1:5080\"\n",
        )
        .unwrap();
        assert_eq!(keep_restart_only(&old, &mut new), vec!["sites.demo.pools"]);
    }

    #[test]
    fn recording_retention_is_live_the_rest_of_media_needs_a_restart() {
        let old = config("", 5080, "74950000100");
        let keys = "[media]\nretention_days = 30\nmax_disk_gb = 2.5";
        let mut new = config(keys, 5080, "74950000100");
        assert_eq!(keep_restart_only(&old, &mut new), Vec::<String>::new());
        assert_eq!(changed_live(&old, &new), vec!["media.retention"]);
        assert_eq!(new.media.retention.max_bytes, Some(2_500_000_000));
        let keys = "[media]\nretention_days = 30\nrecordings_dir = \"elsewhere\"";
        let mut moved = config(keys, 5080, "74950000100");
        assert_eq!(keep_restart_only(&old, &mut moved), vec!["media"]);
        assert_eq!(moved.media.recordings_dir, old.media.recordings_dir);
        assert!(
            moved.media.retention.max_age.is_some(),
            "retention still applies"
        );
    }
}
