//! Dynamic number leases: which website visitor holds which pool number, and for how long.
//!
//! A [`Lease`] is one visitor session holding one pool number while the snippet heartbeats,
//! plus the pool's freeze time after the last heartbeat (`expires_at = last_seen + freeze`).
//! [`LeaseTable`] is the shared, thread-safe table; [`pool`] is one pool's allocation policy;
//! [`sweeper`] is the background service that expires leases and persists snapshots;
//! [`usage_sampler`] the one that samples pool usage once a minute ([`usage`]).
//!
//! Sans-IO: everything here but `sweeper.rs` and `usage_sampler.rs` takes `now` as a parameter and never reads the
//! clock, awaits or touches a socket.

pub mod codes;
mod entries;
pub mod freeze;
pub mod history;
mod pool;
mod quarantine;
pub mod remote;
mod ring;
mod snapshot;
pub mod sweeper;
mod table;
pub mod usage;
pub mod usage_sampler;
pub mod visit;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

pub use codes::{CodeMatch, CodeRequest, OverflowCode, OverflowCodes};
pub use history::{EndReason, EndedLease, PoolCall};
pub use quarantine::{LeakRule, Quarantine};
pub use remote::RedisLeaseError;
pub use ring::{LastHolder, RingContext};
pub use sweeper::{LeaseSnapshot, LeaseSnapshots, load_on_start, run_sweeper};
pub use table::LeaseTable;
pub use usage::PoolUsageSample;
pub use usage_sampler::{PoolUsageSink, run_usage_sampler};
pub use visit::{Visit, VisitFields};

/// One pool as the table needs it: its numbers and its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub site: String,
    pub pool: String,
    /// Numbers in configured order; the first grants follow this order.
    pub numbers: Vec<String>,
    /// How long a number stays with a visitor after the last heartbeat (or the release).
    pub freeze: Duration,
    /// How long a number rests after its lease ends (or its last call ends) before reissue.
    pub cooldown: Duration,
}

/// A visitor asks for a number from one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// A fresh random id chosen by the caller (the HTTP layer); it names the lease.
    pub session_id: String,
    pub site: String,
    pub pool: String,
    /// A long-lived visitor id (snippet cookie), if the visitor has one.
    pub visitor_id: Option<String>,
    pub visit: Visit,
}

/// One visitor session holding one pool number.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub session_id: String,
    pub site: String,
    pub pool: String,
    pub number: String,
    pub visitor_id: Option<String>,
    pub visit: Arc<Visit>,
    pub granted_at: Timestamp,
    pub last_seen: Timestamp,
    /// The lease ends here unless a heartbeat comes first or a call is in progress on it.
    pub expires_at: Timestamp,
}

/// Why a grant failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Every number is leased, ringing or cooling down; show the reserve number.
    #[error("pool exhausted")]
    Exhausted,
    #[error("unknown pool")]
    UnknownPool,
    /// The shared lease backend (Redis) did not answer; nothing was granted.
    #[error("lease backend unavailable: {0}")]
    Unavailable(String),
}

/// One pool's occupancy at a moment;
/// `leased + ringing-without-lease + cooling + free + quarantined-and-quiet = size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub site: String,
    pub pool: String,
    pub size: usize,
    /// Numbers held by a lease (live, in freeze, or expired and not yet swept).
    pub leased: usize,
    /// Numbers with a call ringing or in progress (leased or not).
    pub ringing: usize,
    /// Free numbers still resting after their release.
    pub cooling: usize,
    /// Numbers ready to be granted now.
    pub free: usize,
    /// Numbers taken out of the pool by leak detection (see `quarantine`).
    pub quarantined: usize,
    pub granted_total: u64,
    pub exhausted_total: u64,
}

#[cfg(test)]
mod tests;
