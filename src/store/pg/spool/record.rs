//! The spool's serialised form of a store command: what the PostgreSQL batch path needs to
//! write the command later, as one JSON text per command (the CDR's `trail`, skipped by the
//! CDR's own serde form, rides beside it).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::call::live_dialog::CallDialogs;
use crate::call::record::{CallDetailRecord, LiveCall, rfc3339};
use crate::call::recording::RecordingSettled;
use crate::call::trail::TrailStep;
use crate::lease::PoolUsageSample;
use crate::store::commands::StoreCommand;
use crate::store::leads::{NewLead, UniqueWindow};
use crate::store::outbox::admin::Replay;
use crate::store::outbox::delivery::Settled;
use crate::store::outbox::metrica_uploads::UploadRecord;

/// A pool usage sample as spooled (`lease::PoolUsageSample` has no serde form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    site: String,
    pool: String,
    #[serde(with = "rfc3339")]
    at: Timestamp,
    size: u32,
    leased: u32,
    exhausted: bool,
}

impl From<&PoolUsageSample> for Sample {
    fn from(s: &PoolUsageSample) -> Sample {
        Sample {
            site: s.site.clone(),
            pool: s.pool.clone(),
            at: s.at,
            size: s.size,
            leased: s.leased,
            exhausted: s.exhausted,
        }
    }
}

impl From<Sample> for PoolUsageSample {
    fn from(s: Sample) -> PoolUsageSample {
        PoolUsageSample {
            site: s.site,
            pool: s.pool,
            at: s.at,
            size: s.size,
            leased: s.leased,
            exhausted: s.exhausted,
        }
    }
}

/// One spooled command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SpoolRecord {
    Started {
        live: LiveCall,
    },
    Answered {
        id: String,
        #[serde(with = "rfc3339")]
        answered_at: Timestamp,
    },
    Dialogs {
        id: String,
        dialogs: CallDialogs,
    },
    /// The CDR without its trail (its serde form skips it), the trail beside it.
    Ended {
        cdr: Box<CallDetailRecord>,
        trail: Vec<TrailStep>,
    },
    Settle {
        settled: Vec<Settled>,
    },
    Prune {
        #[serde(with = "rfc3339")]
        before: Timestamp,
    },
    BlacklistAdd {
        pattern: String,
        #[serde(with = "rfc3339")]
        added_at: Timestamp,
    },
    BlacklistRemove {
        pattern: String,
    },
    MetricaUploads {
        uploads: Vec<UploadRecord>,
    },
    PoolUsage {
        samples: Vec<Sample>,
        #[serde(with = "rfc3339")]
        prune_before: Timestamp,
    },
    /// A recording's outcome (the recordings janitor's expiry is not kept: it retries).
    Recording {
        id: String,
        settled: RecordingSettled,
        #[serde(with = "rfc3339")]
        at: Timestamp,
    },
    /// A lead from the snippet API: judged first-time when it is replayed.
    Lead {
        lead: Box<NewLead>,
        window: UniqueWindow,
    },
    /// An outbox replay: one event (`id`) or every settled one since `since`.
    Replay {
        destination: String,
        id: Option<String>,
        #[serde(with = "rfc3339::option")]
        since: Option<Timestamp>,
        #[serde(with = "rfc3339")]
        at: Timestamp,
    },
}

/// Whether the spool keeps `cmd`: the commands [`SpoolRecord::of`] has a record for (the
/// call path, the delivery services' settlements, the operator's edits, recordings'
/// outcomes, the visitors' leads, which nobody would send again); what people change
/// (call and lead patches, cost imports) is answered by PostgreSQL only, so they can retry.
pub fn keeps(cmd: &StoreCommand) -> bool {
    SpoolRecord::of(cmd).is_some()
}

impl SpoolRecord {
    /// The record of a command the PostgreSQL store writes; `None` for one it refuses (see
    /// `pg::batch::supports`: those are never spooled, the writer drops them unanswered).
    pub fn of(cmd: &StoreCommand) -> Option<Self> {
        Some(match cmd {
            StoreCommand::CallStarted(live) => Self::Started { live: live.clone() },
            StoreCommand::CallAnswered { id, answered_at } => Self::Answered {
                id: id.clone(),
                answered_at: *answered_at,
            },
            StoreCommand::DialogsChanged { id, dialogs } => Self::Dialogs {
                id: id.clone(),
                dialogs: dialogs.clone(),
            },
            StoreCommand::CallEnded(cdr) => {
                let mut cdr = Box::new(cdr.clone());
                let trail = std::mem::take(&mut cdr.trail);
                Self::Ended { cdr, trail }
            }
            StoreCommand::OutboxSettle { settled, .. } => Self::Settle {
                settled: settled.clone(),
            },
            StoreCommand::OutboxPrune { before, .. } => Self::Prune { before: *before },
            StoreCommand::BlacklistAdd {
                pattern, added_at, ..
            } => Self::BlacklistAdd {
                pattern: pattern.clone(),
                added_at: *added_at,
            },
            StoreCommand::BlacklistRemove { pattern, .. } => Self::BlacklistRemove {
                pattern: pattern.clone(),
            },
            StoreCommand::OutboxReplay { replay, at, .. } => Self::replay(replay, *at),
            StoreCommand::RecordingSettled { id, settled, at } => Self::Recording {
                id: id.clone(),
                settled: settled.clone(),
                at: *at,
            },
            StoreCommand::InsertLead { lead, window, .. } => Self::Lead {
                lead: lead.clone(),
                window: *window,
            },
            StoreCommand::MetricaUploads { uploads, .. } => Self::MetricaUploads {
                uploads: uploads.clone(),
            },
            StoreCommand::SavePoolUsage {
                samples,
                prune_before,
                ..
            } => Self::PoolUsage {
                samples: samples.iter().map(Sample::from).collect(),
                prune_before: *prune_before,
            },
            _ => return None,
        })
    }

    /// The command again, for the batch path. A settle, prune, outbox replay or blacklist edit replayed
    /// later has nobody waiting: its reply goes nowhere (the admin API answered when it was
    /// spooled; other nodes see the edit once it reaches PostgreSQL).
    pub fn into_command(self) -> StoreCommand {
        match self {
            Self::Started { live } => StoreCommand::CallStarted(live),
            Self::Answered { id, answered_at } => StoreCommand::CallAnswered { id, answered_at },
            Self::Dialogs { id, dialogs } => StoreCommand::DialogsChanged { id, dialogs },
            Self::Ended { mut cdr, trail } => {
                cdr.trail = trail;
                StoreCommand::CallEnded(*cdr)
            }
            Self::Settle { settled } => StoreCommand::OutboxSettle {
                settled,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::Prune { before } => StoreCommand::OutboxPrune {
                before,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::BlacklistAdd { pattern, added_at } => StoreCommand::BlacklistAdd {
                pattern,
                added_at,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::BlacklistRemove { pattern } => StoreCommand::BlacklistRemove {
                pattern,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::MetricaUploads { uploads } => StoreCommand::MetricaUploads {
                uploads,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::PoolUsage {
                samples,
                prune_before,
            } => StoreCommand::SavePoolUsage {
                samples: samples.into_iter().map(PoolUsageSample::from).collect(),
                prune_before,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::Lead { lead, window } => StoreCommand::InsertLead {
                lead,
                window,
                done: tokio::sync::oneshot::channel().0,
            },
            Self::Recording { id, settled, at } => {
                StoreCommand::RecordingSettled { id, settled, at }
            }
            Self::Replay {
                destination,
                id,
                since,
                at,
            } => StoreCommand::OutboxReplay {
                replay: match id {
                    Some(id) => Replay::Id { destination, id },
                    None => Replay::Since {
                        destination,
                        since: since.unwrap_or(Timestamp::UNIX_EPOCH),
                    },
                },
                at,
                done: tokio::sync::oneshot::channel().0,
            },
        }
    }

    fn replay(replay: &Replay, at: Timestamp) -> Self {
        let (id, since) = match replay {
            Replay::Id { id, .. } => (Some(id.clone()), None),
            Replay::Since { since, .. } => (None, Some(*since)),
        };
        Self::Replay {
            destination: replay.destination().to_owned(),
            id,
            since,
            at,
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}
