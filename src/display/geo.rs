//! [`GeoResolver`]: a visitor's region from their IP address, by a MaxMind database (City or
//! Country edition) and then a configured CIDR table where the longest prefix wins.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use maxminddb::{MaxMindDbError, Reader, geoip2};

use crate::config::GeoConfig;

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot open MaxMind database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: MaxMindDbError,
    },
}

/// Region lookup; built once at start-up, then read-only (`Send + Sync`).
#[derive(Default)]
pub struct GeoResolver {
    reader: Option<Reader<Vec<u8>>>,
    /// Longest prefix first, so the first containing network wins.
    networks: Vec<(IpNet, String)>,
}

impl fmt::Debug for GeoResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoResolver")
            .field(
                "mmdb",
                &self.reader.as_ref().map(|r| &r.metadata().database_type),
            )
            .field("networks", &self.networks.len())
            .finish()
    }
}

impl GeoResolver {
    /// Reads the database (if configured) into memory and sorts the CIDR table.
    pub fn open(cfg: &GeoConfig) -> Result<GeoResolver, GeoError> {
        let reader = match &cfg.mmdb_path {
            Some(path) => Some(
                Reader::open_readfile(path).map_err(|source| GeoError::Open {
                    path: path.clone(),
                    source,
                })?,
            ),
            None => None,
        };
        let mut networks = cfg.networks.clone();
        networks.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        Ok(GeoResolver { reader, networks })
    }

    /// The visitor's region, lowercase: from the database if it knows the address, else from
    /// the CIDR table. IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub fn region(&self, ip: IpAddr) -> Option<String> {
        let ip = ip.to_canonical();
        self.mmdb_region(ip).or_else(|| self.table_region(ip))
    }

    /// First subdivision's English name, else the city's, else the country ISO code.
    fn mmdb_region(&self, ip: IpAddr) -> Option<String> {
        let found = self.reader.as_ref()?.lookup(ip).ok()?;
        let region = match found.decode::<geoip2::City>() {
            Ok(city) => city.and_then(|city| {
                let subdivision = city.subdivisions.first().and_then(|s| s.names.english);
                subdivision
                    .or(city.city.names.english)
                    .or(city.country.iso_code)
                    .map(str::to_owned)
            }),
            Err(_) => found
                .decode::<geoip2::Country>()
                .ok()
                .flatten()
                .and_then(|country| country.country.iso_code.map(str::to_owned)),
        };
        region
            .map(|r| r.trim().to_lowercase())
            .filter(|r| !r.is_empty())
    }

    fn table_region(&self, ip: IpAddr) -> Option<String> {
        self.networks
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, region)| region.clone())
    }
}
