//! What the CDR says about a call's recording (`recording_status`, `recording_reason`, and the
//! file's `recording_path`, `recording_bytes`, `recording_secs` once it is written and synced).
//!
//! A recorded call's CDR is written when the call ends with status `pending`: the file is
//! written afterwards, off the SIP core, and the outcome ([`RecordingSettled`]) reaches the
//! row later, exactly once (a settled row is never settled again). A row still `pending` after
//! a restart is settled from the disk by the recordings janitor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::call::record::CallDetailRecord;

/// Where a call's recording stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// The call was not to be recorded (`record` is off for it).
    NotRequested,
    /// The call ended; its file is being written.
    Pending,
    /// The file is written and synced: path, size and duration are in the CDR.
    Recorded,
    /// There was nothing calltrack could record; the reason says why.
    Skipped,
    /// Writing the file failed (a full disk, an I/O error); the reason says why.
    Failed,
    /// The file was removed by retention (`retention_days`, `max_disk_gb`).
    Expired,
}

/// Why a recorded call has no file (or no longer has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingReason {
    /// The call was never answered: recording starts at the answer.
    NotAnswered,
    /// The call's media was not relayed (no RTP ports left, or no SDP on either leg).
    NotRelayed,
    /// SDES-keyed SRTP (`a=crypto`): the payload is encrypted, never recorded.
    Srtp,
    /// No RTP arrived after the answer.
    NoMedia,
    /// The disk (or the user's quota) is full.
    DiskFull,
    /// Any other write error.
    WriteFailed,
    /// The process stopped before the file was complete.
    Interrupted,
    /// Older than `[media] retention_days`.
    Retention,
    /// Removed, oldest first, to keep the recordings under `[media] max_disk_gb`.
    DiskBudget,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequested => "not_requested",
            Self::Pending => "pending",
            Self::Recorded => "recorded",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }
}

impl RecordingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAnswered => "not_answered",
            Self::NotRelayed => "not_relayed",
            Self::Srtp => "srtp",
            Self::NoMedia => "no_media",
            Self::DiskFull => "disk_full",
            Self::WriteFailed => "write_failed",
            Self::Interrupted => "interrupted",
            Self::Retention => "retention",
            Self::DiskBudget => "disk_budget",
        }
    }
}

impl fmt::Display for RecordingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RecordingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status or reason token (a row written by a newer build).
#[derive(Debug, thiserror::Error)]
#[error("unknown recording token {0:?}")]
pub struct UnknownToken(pub String);

impl FromStr for RecordingStatus {
    type Err = UnknownToken;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::NotRequested,
            Self::Pending,
            Self::Recorded,
            Self::Skipped,
            Self::Failed,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| UnknownToken(s.to_owned()))
    }
}

impl FromStr for RecordingReason {
    type Err = UnknownToken;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::NotAnswered,
            Self::NotRelayed,
            Self::Srtp,
            Self::NoMedia,
            Self::DiskFull,
            Self::WriteFailed,
            Self::Interrupted,
            Self::Retention,
            Self::DiskBudget,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| UnknownToken(s.to_owned()))
    }
}

/// What the SIP core knows of a recorded call's recording when the call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFacts {
    /// Audio was captured; the file is handed to the writer.
    Pending,
    /// Nothing to write.
    Skipped(RecordingReason),
}

/// How a pending recording ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordingSettled {
    /// Written and synced.
    Recorded { path: String, bytes: u64, secs: u32 },
    /// Not written; nothing of it is left on disk.
    Failed(RecordingReason),
}

impl RecordingFacts {
    /// The CDR's status and reason for a call whose `record` setting was `requested`, that
    /// was `answered`, with these facts from the relay (`None`: the relay never carried it).
    pub fn decide(
        requested: bool,
        answered: bool,
        facts: Option<RecordingFacts>,
    ) -> (RecordingStatus, Option<RecordingReason>) {
        use RecordingReason as R;
        match (requested, answered, facts) {
            (false, _, _) => (RecordingStatus::NotRequested, None),
            (true, false, _) => (RecordingStatus::Skipped, Some(R::NotAnswered)),
            (true, true, None) => (RecordingStatus::Skipped, Some(R::NotRelayed)),
            (true, true, Some(RecordingFacts::Pending)) => (RecordingStatus::Pending, None),
            (true, true, Some(RecordingFacts::Skipped(reason))) => {
                (RecordingStatus::Skipped, Some(reason))
            }
        }
    }

    /// Writes [`RecordingFacts::decide`]'s answer into `cdr` (no path: none is written yet).
    pub fn apply(requested: bool, facts: Option<RecordingFacts>, cdr: &mut CallDetailRecord) {
        Self::apply_as(requested, cdr.answered_at.is_some(), facts, cdr);
    }

    /// [`Self::apply`] with `answered` said by the caller (a voicemail is answered by
    /// calltrack, not by a person: the CDR's `answered_at` stays empty).
    pub fn apply_as(
        requested: bool,
        answered: bool,
        facts: Option<RecordingFacts>,
        cdr: &mut CallDetailRecord,
    ) {
        let (status, reason) = Self::decide(requested, answered, facts);
        cdr.recording_status = Some(status);
        cdr.recording_reason = reason;
        cdr.recording_path = None;
        cdr.recording_bytes = None;
        cdr.recording_secs = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordingReason as R;
    use RecordingStatus as S;

    #[test]
    fn the_status_follows_what_happened() {
        let decide = RecordingFacts::decide;
        assert_eq!(decide(false, true, None), (S::NotRequested, None));
        assert_eq!(
            decide(false, true, Some(RecordingFacts::Pending)),
            (S::NotRequested, None),
            "not asked for: never recorded"
        );
        assert_eq!(
            decide(true, false, None),
            (S::Skipped, Some(R::NotAnswered))
        );
        assert_eq!(decide(true, true, None), (S::Skipped, Some(R::NotRelayed)));
        assert_eq!(
            decide(true, true, Some(RecordingFacts::Skipped(R::Srtp))),
            (S::Skipped, Some(R::Srtp))
        );
        assert_eq!(
            decide(true, true, Some(RecordingFacts::Pending)),
            (S::Pending, None)
        );
    }

    #[test]
    fn tokens_read_back() {
        for status in [S::NotRequested, S::Pending, S::Recorded, S::Expired] {
            assert_eq!(status.as_str().parse::<S>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
        for reason in [R::Srtp, R::DiskFull, R::DiskBudget, R::Interrupted] {
            assert_eq!(reason.as_str().parse::<R>().unwrap(), reason);
        }
        assert!("loud".parse::<R>().is_err());
    }
}
