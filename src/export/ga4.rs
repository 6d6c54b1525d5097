//! Ga4 destination (being written: the encoder lands with its own branch).

use jiff::Timestamp;

use super::{Destination, HttpRequest};
use crate::config::exports::Ga4Config;
use crate::store::outbox::OutboxEvent;

/// One Ga4 destination.
#[derive(Debug)]
pub struct Ga4 {
    id: String,
}

impl Ga4 {
    pub fn new(config: &Ga4Config, _currency: &str) -> Ga4 {
        Ga4 {
            id: config.id.clone(),
        }
    }
}

impl Destination for Ga4 {
    fn id(&self) -> &str {
        &self.id
    }

    fn request(&self, _events: &[OutboxEvent], _now: Timestamp) -> Result<HttpRequest, String> {
        Err("not implemented".into())
    }
}
