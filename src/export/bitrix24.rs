//! Bitrix24 destination (being written: the encoder lands with its own branch).

use jiff::Timestamp;

use super::{Destination, HttpRequest};
use crate::config::exports::Bitrix24Config;
use crate::store::outbox::OutboxEvent;

/// One Bitrix24 destination.
#[derive(Debug)]
pub struct Bitrix24 {
    id: String,
}

impl Bitrix24 {
    pub fn new(config: &Bitrix24Config, _currency: &str) -> Bitrix24 {
        Bitrix24 {
            id: config.id.clone(),
        }
    }
}

impl Destination for Bitrix24 {
    fn id(&self) -> &str {
        &self.id
    }

    fn request(&self, _events: &[OutboxEvent], _now: Timestamp) -> Result<HttpRequest, String> {
        Err("not implemented".into())
    }
}
