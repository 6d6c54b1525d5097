//! Who held the dialled number at ring time: the static source, the visitor's lease, or
//! nobody (default, reserve, or a pool number no session holds).

use jiff::Timestamp;

use crate::config::{NumberKind, TrackingNumber};
use crate::lease::{Lease, LeaseTable, OverflowCode};

/// The holder of a tracking number when the call arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum Holder {
    Static {
        source: String,
        medium: Option<String>,
        campaign: Option<String>,
    },
    Lease(Lease),
    /// The reserve number and a live overflow code the caller entered.
    Code(OverflowCode),
    /// A pool number without a live or frozen lease.
    Nobody,
    Default,
    Reserve,
}

/// Looks the number up in the config and the lease table (live leases and those in freeze).
pub fn holder_of(tracking: &TrackingNumber, leases: &LeaseTable, now: Timestamp) -> Holder {
    match &tracking.kind {
        NumberKind::Static {
            source,
            medium,
            campaign,
        } => Holder::Static {
            source: source.clone(),
            medium: medium.clone(),
            campaign: campaign.clone(),
        },
        NumberKind::Dynamic { .. } => leases
            .holder_of(&tracking.number, now)
            .map_or(Holder::Nobody, Holder::Lease),
        NumberKind::Default => Holder::Default,
        NumberKind::Reserve => Holder::Reserve,
    }
}
