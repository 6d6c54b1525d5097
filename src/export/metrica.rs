//! Metrica destination (being written: the encoder lands with its own branch).

use jiff::Timestamp;

use super::{Destination, HttpRequest};
use crate::config::exports::MetricaConfig;
use crate::store::outbox::OutboxEvent;

/// One Metrica destination.
#[derive(Debug)]
pub struct Metrica {
    id: String,
}

impl Metrica {
    pub fn new(config: &MetricaConfig, _currency: &str) -> Metrica {
        Metrica {
            id: config.id.clone(),
        }
    }
}

impl Destination for Metrica {
    fn id(&self) -> &str {
        &self.id
    }

    fn request(&self, _events: &[OutboxEvent], _now: Timestamp) -> Result<HttpRequest, String> {
        Err("not implemented".into())
    }
}
