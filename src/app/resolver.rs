//! The resolver service: forwarding-target host names resolved again every minute, so a PBX
//! that moves is followed without a restart; the core only reads the [`HostTable`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::reload::HostNames;
use crate::routing::HostTable;

/// How often forwarding-target host names are resolved again.
const RESOLVE_EVERY: Duration = Duration::from_secs(60);

/// The resolver service: forwarding-target host names resolved again every minute, so a
/// PBX that moves is followed without a restart. A config reload replaces `names`.
pub(super) struct Resolver {
    pub(super) hosts: HostTable,
    pub(super) names: HostNames,
}

impl Resolver {
    pub(super) async fn run(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RESOLVE_EVERY) => {
                    resolve_hosts(&self.hosts, &self.names.load_full()).await;
                }
            }
        }
    }
}

/// Resolves each name (A/AAAA, first answer); failures keep the last known address.
pub(crate) async fn resolve_hosts(hosts: &HostTable, names: &[(String, u16)]) {
    for (name, port) in names {
        match tokio::net::lookup_host((name.as_str(), *port)).await {
            Ok(mut addrs) => match addrs.next() {
                Some(addr) => hosts.set(name, addr.ip()),
                None => tracing::warn!(host = %name, "forwarding target has no address"),
            },
            Err(error) => tracing::warn!(%error, host = %name, "cannot resolve forwarding target"),
        }
    }
}
