//! Builds the configured destinations and their delivery services (called by the
//! composition root).

use std::sync::Arc;

use super::Destination;
use super::bitrix24::Bitrix24;
use super::client::Client;
use super::ga4::Ga4;
use super::metrica::Metrica;
use super::metrica::poll::MetricaPoll;
use super::service::DeliveryService;
use super::webhook::Webhook;
use crate::config::exports::ExportsConfig;
use crate::store::outbox::Outbox;
use crate::store::{BackendReader, StoreReader, StoreSender};

/// Why the export services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("exports.webhooks: secret of {0:?} is not base64")]
    Secret(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Every configured destination, in config order.
pub fn destinations(
    config: &ExportsConfig,
    currency: &str,
) -> Result<Vec<Arc<dyn Destination>>, ExportError> {
    let mut all: Vec<Arc<dyn Destination>> = Vec::new();
    for d in &config.webhooks {
        let hook = Webhook::new(d).map_err(|_| ExportError::Secret(d.id.clone()))?;
        all.push(Arc::new(hook));
    }
    for d in &config.ga4 {
        all.push(Arc::new(Ga4::new(d, currency)));
    }
    for d in &config.metrica {
        all.push(Arc::new(Metrica::new(d, currency)));
    }
    for d in &config.bitrix24 {
        all.push(Arc::new(Bitrix24::new(d, currency)));
    }
    Ok(all)
}

/// One delivery service per destination.
pub fn services(
    config: &ExportsConfig,
    currency: &str,
    readers: (&StoreReader, &BackendReader),
    store: &StoreSender,
    outbox: &Arc<Outbox>,
) -> Result<Vec<DeliveryService>, ExportError> {
    let (reader, reads) = readers;
    destinations(config, currency)?
        .into_iter()
        .map(|destination| {
            Ok(DeliveryService {
                destination,
                policy: config.policy,
                reader: reader.clone(),
                reads: reads.clone(),
                store: store.clone(),
                outbox: outbox.clone(),
                client: Client::new(config.policy.timeout)?,
            })
        })
        .collect()
}

/// One status poll per Metrica destination (follows its uploads until processed).
pub fn metrica_polls(
    config: &ExportsConfig,
    currency: &str,
    reader: &BackendReader,
    store: &StoreSender,
    outbox: &Arc<Outbox>,
) -> Result<Vec<MetricaPoll>, ExportError> {
    config
        .metrica
        .iter()
        .map(|d| {
            Ok(MetricaPoll {
                metrica: Metrica::new(d, currency),
                reader: reader.clone(),
                store: store.clone(),
                outbox: outbox.clone(),
                client: Client::new(config.policy.timeout)?,
            })
        })
        .collect()
}
