//! The simulated site as the config would build it: one pool of `size` numbers with the
//! model's freeze, heartbeat and cool-down, a default and a reserve number, no display rules.
//! And the visit each scripted visit reports to the snippet API.

use std::time::Duration;

use crate::config::{PoolConfig, SiteConfig};
use crate::lease::{Visit, VisitFields};

use super::model::Model;
use super::script::{Kind, ScriptVisit};

pub const SITE_ID: &str = "sim";
const ORIGIN: &str = "https://shop.example";
const DEFAULT_NUMBER: &str = "15559990000";
const RESERVE_NUMBER: &str = "15559990001";

/// The pool's `i`-th number.
pub fn pool_number(i: usize) -> String {
    format!("1555{i:07}")
}

/// The site for a pool of `size` numbers.
pub fn site(model: &Model, size: usize) -> SiteConfig {
    SiteConfig {
        id: SITE_ID.to_owned(),
        name: None,
        forward_to: "sip:sales@127.0.0.1".to_owned(),
        forward_to_counted: true,
        quality_min_talk: None,
        default_number: Some(DEFAULT_NUMBER.to_owned()),
        reserve_number: Some(RESERVE_NUMBER.to_owned()),
        freeze: Duration::from_secs(model.pool.freeze_secs),
        static_numbers: Vec::new(),
        pools: vec![PoolConfig {
            id: "web".to_owned(),
            numbers: (0..size).map(pool_number).collect(),
            region: None,
        }],
        origins: vec![ORIGIN.to_owned()],
        utc_offset: jiff::tz::Offset::UTC,
        report_zone: jiff::tz::TimeZone::UTC,
        lease_cooldown: Duration::from_secs(model.pool.cooldown_secs),
        last_holder: Duration::from_secs(model.pool.last_holder()),
        adapt_freeze: model.pool.adapt_freeze.unwrap_or(true),
        heartbeat: Duration::from_secs(model.pool.heartbeat_secs),
        rules: Vec::new(),
        media: None,
        record: None,
        announce: None,
        answer: None,
        voicemail: None,
        overflow_code: false,
    }
}

/// What the snippet reports for visit `index`: paid visits (and bots, which follow ad links)
/// land with campaign tags and a click id, organic ones come from a search engine untagged.
/// The GA client id carries the visitor and the GA session id the visit: the ground truth.
pub fn visit(index: usize, v: &ScriptVisit) -> Visit {
    let page = match v.kind {
        Kind::Organic => format!("{ORIGIN}/landing"),
        Kind::Paid | Kind::Bot { .. } => format!(
            "{ORIGIN}/landing?utm_source=google&utm_medium=cpc&utm_campaign=sim&gclid=g{index}"
        ),
    };
    let client = format!("v{}", v.visitor);
    let session = index.to_string();
    VisitFields::from_page(&page, Some("https://www.google.com/"))
        .with_analytics_ids(Some(&client), Some(&session), None)
        .into()
}
