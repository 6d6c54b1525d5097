//! The overflow code on the call side: a call to a site's reserve number with
//! `overflow_code = true` is asked for the code shown to a visitor whose pools were
//! exhausted, and the digits, as they come, are this module's second decision about the
//! call: a live code attributes it to that session's visit exactly like a lease hit (the
//! same attribution, the same stamp toward the PBX, `number_kind = "overflow_code"`, and a
//! per-call confidence, `call::confidence::code_facts`); a code
//! that cannot be (no code starts with the digits, or the caller stopped) leaves the call
//! unattributed, as a reserve-number call. Pure: the lease table is read, `now` is given.

use jiff::Timestamp;

use crate::config::{Config, NumberKind, TrackingNumber};
use crate::lease::{CodeMatch, LeaseTable};
use crate::sip::Transport;
use crate::sip::dialog::LocalEndpoint;

use super::attribution::{self, Attribution};
use super::confidence;
use super::lease_lookup::Holder;

/// Whether a call to `tracking` is asked for an overflow code.
pub fn asks_code(config: &Config, tracking: &TrackingNumber) -> bool {
    matches!(tracking.kind, NumberKind::Reserve)
        && config.site(&tracking.site).is_some_and(|s| s.overflow_code)
}

/// What the digits entered so far decide.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeDecision {
    /// A live code: the call is the visit's; the attribution and the stamp for the PBX.
    Attributed {
        attribution: Box<Attribution>,
        stamp: Vec<(String, String)>,
    },
    /// The digits start a code: wait for the next one.
    Wait,
    /// No code: the call goes on unattributed.
    Unattributed,
}

/// The call and its B leg as far as the stamp needs them.
#[derive(Debug, Clone, Copy)]
pub struct CodeCall<'a> {
    pub tracking: &'a TrackingNumber,
    /// The transport of the first target (Diversion names our host on it).
    pub transport: Transport,
    pub first_call: bool,
    /// The holder key of the caller's last lease-attributed call (the confidence's input).
    pub earlier: Option<&'a str>,
}

/// The second decision of a call to the reserve number: `digits` as entered so far,
/// `complete` once the caller ended them (`#`, four digits, or silence).
pub fn decide(
    config: &Config,
    leases: &LeaseTable,
    local: &LocalEndpoint,
    call: CodeCall<'_>,
    digits: &str,
    complete: bool,
    now: Timestamp,
) -> CodeDecision {
    match leases.codes().lookup(&call.tracking.site, digits, now) {
        CodeMatch::Found(held) => {
            let sureness = config.site(&call.tracking.site).map(|site| {
                let facts = confidence::code_facts(&held, site.heartbeat, call.earlier, now);
                confidence::confidence(&facts)
            });
            let mut attribution = attribution::attribute(&call.tracking.site, Holder::Code(held));
            attribution.confidence = sureness;
            let host = local.host_port(call.transport);
            let stamp =
                super::stamp_with(config, &host, call.tracking, &attribution, call.first_call);
            CodeDecision::Attributed {
                attribution: Box::new(attribution),
                stamp,
            }
        }
        CodeMatch::Partial if !complete => CodeDecision::Wait,
        CodeMatch::Partial | CodeMatch::None => CodeDecision::Unattributed,
    }
}
