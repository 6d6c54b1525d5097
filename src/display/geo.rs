//! STUB (replaced at merge): visitor region from a CIDR table (no mmdb in the stub).

use std::net::IpAddr;

use crate::config::GeoConfig;

/// The geo database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot open geo database: {0}")]
    Open(String),
}

/// Maps client addresses to region names.
#[derive(Debug, Default)]
pub struct GeoResolver {
    networks: Vec<(ipnet::IpNet, String)>,
}

impl GeoResolver {
    pub fn open(cfg: &GeoConfig) -> Result<GeoResolver, GeoError> {
        Ok(GeoResolver {
            networks: cfg.networks.clone(),
        })
    }

    pub fn region(&self, ip: IpAddr) -> Option<String> {
        self.networks
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, region)| region.clone())
    }
}
