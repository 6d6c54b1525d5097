//! The recordings janitor: a named service that, every `[media] retention_check_secs` (read
//! from the live config each pass, so a reload applies), lists `[media] recordings_dir`, asks
//! `media::retention` which files go (past `retention_days`, then oldest first over
//! `max_disk_gb`), marks their CDRs `expired` (committed first: a CDR never names a removed
//! file) and removes them. It also settles CDRs a crash left `pending`: the final file exists
//! only once it was written and synced, so it is `recorded`, else `failed` / `interrupted`,
//! and partial files left behind are removed.
//!
//! On PostgreSQL every node runs its own janitor over its own `recordings_dir`: it expires
//! only the files on its disk and settles only its own node's pending CDRs (`[node] id`).
//!
//! The wall clock is a parameter, like the pool usage sampler's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::call::recording::{RecordingReason, RecordingSettled};
use crate::config::RecordingLimits;
use crate::config::SharedConfig;
use crate::media::driver::RecordingSink;
use crate::media::retention::{self, Retention, StoredFile};
use crate::store::{BackendReader, StoreCommand, StoreError, StoreSender};

/// A recording still pending this long after its call ended was lost to a crash (a write
/// takes well under a second per hour of audio).
const PENDING_GRACE: Duration = Duration::from_secs(600);

/// The janitor's handles.
pub struct RecordingsJanitor {
    pub config: SharedConfig,
    pub store: StoreSender,
    /// The configured backend's reads (`[store] backend`).
    pub reader: BackendReader,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub settled: usize,
    pub expired: usize,
    pub kept_bytes: u64,
}

impl RecordingsJanitor {
    /// Runs a pass at once and then every `retention_check_secs` until `stop`.
    pub async fn run<C>(self, clock: C, stop: CancellationToken)
    where
        C: Fn() -> SystemTime + Send,
    {
        loop {
            match self.pass(clock()).await {
                Ok(report) if report.settled + report.expired > 0 => {
                    tracing::info!(?report, "recordings janitor pass");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "recordings janitor pass failed"),
            }
            let every = self.config.load().media.retention.check_every;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// One pass as of `now`.
    pub async fn pass(&self, now: SystemTime) -> Result<PassReport, StoreError> {
        let media = self.config.load().media.clone();
        let dir = media.recordings_dir.clone();
        let settled = self.settle_pending(&dir, now).await?;
        let listed = dir.clone();
        let files = tokio::task::spawn_blocking(move || list(&listed, now))
            .await
            .map_err(|e| StoreError::Output(std::io::Error::other(e)))?;
        let plan = retention::plan(files, limits(media.retention), now);
        metrics::gauge!("calltrack_recordings_disk_bytes").set(plan.kept_bytes as f64);
        let expired = plan.remove.len();
        for reason in [RecordingReason::Retention, RecordingReason::DiskBudget] {
            let files: Vec<StoredFile> = plan
                .remove
                .iter()
                .filter(|r| r.reason == reason)
                .map(|r| r.file.clone())
                .collect();
            if files.is_empty() {
                continue;
            }
            let ids: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
            self.store
                .request(|done| StoreCommand::RecordingsExpired { ids, reason, done })
                .await?;
            let removed = tokio::task::spawn_blocking(move || remove(&files))
                .await
                .unwrap_or(0);
            metrics::counter!("calltrack_recordings_expired_total", "reason" => reason.as_str())
                .increment(removed as u64);
        }
        Ok(PassReport {
            settled,
            expired,
            kept_bytes: plan.kept_bytes,
        })
    }

    /// Settles the CDRs still `pending` long after their call from what is on disk.
    async fn settle_pending(&self, dir: &Path, now: SystemTime) -> Result<usize, StoreError> {
        let cut = Timestamp::try_from(now.checked_sub(PENDING_GRACE).unwrap_or(now))
            .map_err(|e| StoreError::Output(std::io::Error::other(e)))?;
        let node = self.config.load().node.id.clone();
        let ids = self
            .reader
            .read_recordings(move |r| r.recordings_pending(&node, cut))
            .await?;
        let count = ids.len();
        for id in ids {
            let dir = dir.to_path_buf();
            let settled =
                tokio::task::spawn_blocking(move || from_disk(&dir, &id).map(|s| (id, s)))
                    .await
                    .ok()
                    .flatten();
            if let Some((id, settled)) = settled {
                let at = Timestamp::try_from(now).unwrap_or(Timestamp::UNIX_EPOCH);
                let command = StoreCommand::RecordingSettled { id, settled, at };
                self.store.send(command).await?;
            }
        }
        Ok(count)
    }
}

impl RecordingSink for StoreSender {
    fn settled(
        &self,
        id: String,
        settled: RecordingSettled,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            let at = Timestamp::now();
            let command = StoreCommand::RecordingSettled { id, settled, at };
            self.send(command).await.is_ok()
        })
    }
}

fn limits(config: RecordingLimits) -> Retention {
    Retention {
        max_age: config.max_age,
        max_bytes: config.max_bytes,
    }
}

/// The recordings in `dir` (none if it does not exist yet); partial files a crash left
/// (untouched for longer than the grace as of `now`) are removed on the way.
fn list(dir: &Path, now: SystemTime) -> Vec<StoredFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let Some(id) = retention::recording_id(&name) else {
            let stale = now.duration_since(modified).unwrap_or_default() > PENDING_GRACE;
            if name.starts_with('.') && name.ends_with(".part") && stale {
                let _ = std::fs::remove_file(entry.path());
            }
            continue;
        };
        if meta.is_file() {
            files.push(StoredFile {
                id: id.to_owned(),
                path: entry.path(),
                bytes: meta.len(),
                modified,
            });
        }
    }
    files
}

/// Removes `files`; returns how many went (one already gone counts as removed).
fn remove(files: &[StoredFile]) -> usize {
    files
        .iter()
        .filter(|f| match std::fs::remove_file(&f.path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(error) => {
                tracing::warn!(%error, path = %f.path.display(), "recording not removed");
                false
            }
        })
        .count()
}

/// A pending recording's outcome from the disk: the final file (complete: it is renamed into
/// place only once synced), else `interrupted`, its partial file removed.
fn from_disk(dir: &Path, id: &str) -> Option<RecordingSettled> {
    if retention::recording_id(&format!("{id}.wav")) != Some(id) {
        return None;
    }
    for ext in ["wav", "pcap"] {
        let path = dir.join(format!("{id}.{ext}"));
        if let Ok(meta) = std::fs::metadata(&path) {
            return Some(RecordingSettled::Recorded {
                secs: secs_of(&path, ext),
                path: path.to_string_lossy().into_owned(),
                bytes: meta.len(),
            });
        }
        let part = crate::media::recording_file::part_path(&path);
        let _ = std::fs::remove_file(part);
    }
    Some(RecordingSettled::Failed(RecordingReason::Interrupted))
}

/// A written file's length in whole seconds, read back from it (0 if unreadable).
fn secs_of(path: &PathBuf, ext: &str) -> u32 {
    let secs = if ext == "wav" {
        hound::WavReader::open(path)
            .map(|r| u64::from(r.duration()) / u64::from(r.spec().sample_rate.max(1)))
            .unwrap_or(0)
    } else {
        pcap_span(path).map_or(0, |d| d.as_secs())
    };
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn pcap_span(path: &Path) -> Option<Duration> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)).ok()?;
    let (mut first, mut last) = (None, None);
    while let Some(Ok(packet)) = reader.next_packet() {
        first.get_or_insert(packet.timestamp);
        last = Some(packet.timestamp);
    }
    Some(last?.saturating_sub(first?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_recording_is_settled_from_what_the_disk_holds() {
        let dir = std::env::temp_dir().join(format!("ct-janitor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::create(dir.join("done.wav"), spec).unwrap();
        for _ in 0..2 * 8000 * 3 {
            wav.write_sample(0i16).unwrap();
        }
        wav.finalize().unwrap();
        std::fs::write(dir.join(".cut.wav.part"), b"RIFF").unwrap();
        let Some(RecordingSettled::Recorded { path, bytes, secs }) = from_disk(&dir, "done") else {
            panic!("the complete file is recorded");
        };
        assert!(path.ends_with("done.wav"));
        assert_eq!((bytes, secs), (44 + 4 * 8000 * 3, 3));
        assert_eq!(
            from_disk(&dir, "cut"),
            Some(RecordingSettled::Failed(RecordingReason::Interrupted))
        );
        assert!(!dir.join(".cut.wav.part").exists(), "the partial file goes");
        assert_eq!(from_disk(&dir, "../etc"), None);
        std::fs::write(dir.join(".fresh.wav.part"), b"RIFF").unwrap();
        std::fs::write(dir.join(".stale.pcap.part"), b"").unwrap();
        let later = SystemTime::now() + PENDING_GRACE + Duration::from_secs(1);
        let listed = list(&dir, SystemTime::now());
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, "done");
        assert!(
            dir.join(".fresh.wav.part").exists(),
            "maybe still being written"
        );
        list(&dir, later);
        assert!(
            !dir.join(".stale.pcap.part").exists(),
            "a crash's leftover goes"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
