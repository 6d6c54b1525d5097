//! Which recordings to remove, sans-IO: the janitor service (`app::recordings`) lists the
//! files in `[media] recordings_dir` and hands them in with `now`; this says which go, oldest
//! first: every file older than `retention_days`, then, while the rest is over `max_disk_gb`,
//! the oldest of what is left. Each removal says why (its CDR becomes `expired` for that
//! reason). Files still being written (hidden `.part` files) are never named here.

use std::time::{Duration, SystemTime};

use crate::call::recording::RecordingReason;

/// One recording on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The call's id (the file's stem).
    pub id: String,
    pub path: std::path::PathBuf,
    pub bytes: u64,
    /// When it was written (its modification time).
    pub modified: SystemTime,
}

/// The limits, both optional: `None` keeps files for ever, or however large they grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

/// A file to remove and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub file: StoredFile,
    pub reason: RecordingReason,
}

/// What one pass decides: the removals, oldest first, and the bytes that stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub remove: Vec<Removal>,
    pub kept_bytes: u64,
}

/// Decides which of `files` to remove as of `now`.
pub fn plan(mut files: Vec<StoredFile>, limits: Retention, now: SystemTime) -> Plan {
    // Oldest first; the id breaks ties so that a pass is deterministic.
    files.sort_by(|a, b| (a.modified, &a.id).cmp(&(b.modified, &b.id)));
    let mut total: u64 = files.iter().map(|f| f.bytes).sum();
    let mut remove = Vec::new();
    for file in files {
        let age = now.duration_since(file.modified).unwrap_or_default();
        let reason = if limits.max_age.is_some_and(|max| age > max) {
            RecordingReason::Retention
        } else if limits.max_bytes.is_some_and(|max| total > max) {
            RecordingReason::DiskBudget
        } else {
            // Younger than the age limit and within the budget: so is everything after it.
            break;
        };
        total -= file.bytes;
        remove.push(Removal { file, reason });
    }
    Plan {
        remove,
        kept_bytes: total,
    }
}

/// The call id a recording's file name stands for: `<id>.wav` or `<id>.pcap` (a hidden or
/// partial file, or any other name, is none).
pub fn recording_id(file_name: &str) -> Option<&str> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    let known = matches!(ext, "wav" | "pcap");
    let plain = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (known && plain).then_some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn file(id: &str, bytes: u64, days_old: u64, now: SystemTime) -> StoredFile {
        StoredFile {
            id: id.into(),
            path: format!("/rec/{id}.wav").into(),
            bytes,
            modified: now - DAY * u32::try_from(days_old).unwrap(),
        }
    }

    fn ids(plan: &Plan) -> Vec<(&str, RecordingReason)> {
        plan.remove
            .iter()
            .map(|r| (r.file.id.as_str(), r.reason))
            .collect()
    }

    #[test]
    fn past_the_age_goes_first_then_the_oldest_until_within_budget() {
        let now = SystemTime::UNIX_EPOCH + DAY * 20_000;
        let files = vec![
            file("new", 100, 0, now),
            file("old", 100, 40, now),
            file("mid", 100, 10, now),
            file("older", 100, 35, now),
            file("young", 100, 2, now),
        ];
        let limits = Retention {
            max_age: Some(DAY * 30),
            max_bytes: Some(200),
        };
        let plan = plan(files, limits, now);
        use RecordingReason::{DiskBudget, Retention as Age};
        assert_eq!(
            ids(&plan),
            [("old", Age), ("older", Age), ("mid", DiskBudget)]
        );
        assert_eq!(plan.kept_bytes, 200);
    }

    #[test]
    fn no_limits_keep_everything_and_an_exact_budget_is_within() {
        let now = SystemTime::UNIX_EPOCH + DAY * 20_000;
        let files = vec![file("a", 100, 400, now), file("b", 100, 1, now)];
        let kept = plan(files.clone(), Retention::default(), now);
        assert!(kept.remove.is_empty());
        assert_eq!(kept.kept_bytes, 200);
        let exact = Retention {
            max_age: None,
            max_bytes: Some(200),
        };
        assert!(plan(files.clone(), exact, now).remove.is_empty());
        let tight = Retention {
            max_age: None,
            max_bytes: Some(199),
        };
        assert_eq!(
            ids(&plan(files, tight, now)),
            [("a", RecordingReason::DiskBudget)]
        );
    }

    #[test]
    fn a_file_from_the_future_is_young_and_ties_break_by_id() {
        let now = SystemTime::UNIX_EPOCH + DAY * 20_000;
        let future = StoredFile {
            modified: now + DAY,
            ..file("z", 10, 0, now)
        };
        let limits = Retention {
            max_age: Some(DAY),
            max_bytes: Some(0),
        };
        let plan = plan(
            vec![future, file("b", 10, 0, now), file("a", 10, 0, now)],
            limits,
            now,
        );
        let order: Vec<&str> = plan.remove.iter().map(|r| r.file.id.as_str()).collect();
        assert_eq!(order, ["a", "b", "z"]);
        assert!(
            plan.remove
                .iter()
                .all(|r| r.reason == RecordingReason::DiskBudget)
        );
        assert_eq!(plan.kept_bytes, 0);
    }

    #[test]
    fn only_recordings_have_ids() {
        assert_eq!(
            recording_id("00000000000000aa.wav"),
            Some("00000000000000aa")
        );
        assert_eq!(recording_id("abc.pcap"), Some("abc"));
        assert_eq!(recording_id(".abc.wav.part"), None);
        assert_eq!(recording_id("abc.mp3"), None);
        assert_eq!(recording_id(".wav"), None);
        assert_eq!(recording_id("../x.wav"), None);
    }
}
