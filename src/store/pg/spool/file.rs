//! The spool file: a local SQLite database (WAL, `synchronous = NORMAL` like the SQLite
//! store, so an appended batch survives `kill -9`) holding the store commands PostgreSQL has
//! not taken yet, oldest first, and the commands PostgreSQL refused with a SQL error
//! (`rejected`, kept for the operator, never retried by themselves).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::record::SpoolRecord;
use crate::store::StoreError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    record     TEXT NOT NULL,
    spooled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    record      TEXT NOT NULL,
    error       TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);
";

/// The open spool file and its depth (commands waiting).
#[derive(Debug)]
pub struct SpoolFile {
    conn: Connection,
    path: PathBuf,
    depth: u64,
}

fn now_text() -> String {
    crate::call::record::rfc3339::format(jiff::Timestamp::now())
}

impl SpoolFile {
    /// Opens (creating it and its directory if needed) the spool at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        let depth: i64 = conn.query_row("SELECT count(*) FROM spool", [], |r| r.get(0))?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            depth: u64::try_from(depth).unwrap_or(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commands waiting for PostgreSQL.
    pub fn depth(&self) -> u64 {
        self.depth
    }

    pub fn is_empty(&self) -> bool {
        self.depth == 0
    }

    /// Appends `records` after every spooled one, in order, in one transaction.
    pub fn append(&mut self, records: &[SpoolRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let at = now_text();
        let tx = self.conn.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO spool (record, spooled_at) VALUES (?1, ?2)")?;
            for record in records {
                insert.execute(params![record.to_json()?, at])?;
            }
        }
        tx.commit()?;
        self.depth += records.len() as u64;
        Ok(())
    }

    /// Up to `limit` of the oldest spooled commands with their sequence numbers. A row that
    /// no longer parses (written by another build) is moved to `rejected` on the way.
    pub fn oldest(&mut self, limit: usize) -> Result<Vec<(i64, SpoolRecord)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String)> = {
            let mut select = self
                .conn
                .prepare_cached("SELECT seq, record FROM spool ORDER BY seq LIMIT ?1")?;
            select
                .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut records = Vec::with_capacity(rows.len());
        for (seq, text) in rows {
            match SpoolRecord::from_json(&text) {
                Ok(record) => records.push((seq, record)),
                Err(e) => self.reject(seq, &format!("unreadable spool record: {e}"))?,
            }
        }
        Ok(records)
    }

    /// Forgets every spooled command up to and including `seq` (they are in PostgreSQL).
    pub fn delete_through(&mut self, seq: i64) -> Result<(), StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM spool WHERE seq <= ?1", [seq])?;
        self.depth = self.depth.saturating_sub(n as u64);
        Ok(())
    }

    /// Moves the spooled command `seq` to `rejected` with `error`.
    pub fn reject(&mut self, seq: i64, error: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO rejected (record, error, rejected_at) \
             SELECT record, ?2, ?3 FROM spool WHERE seq = ?1",
            params![seq, error, now_text()],
        )?;
        let n = tx.execute("DELETE FROM spool WHERE seq = ?1", [seq])?;
        tx.commit()?;
        self.depth = self.depth.saturating_sub(n as u64);
        Ok(())
    }

    /// Keeps a command PostgreSQL refused (never spooled) in `rejected` with `error`.
    pub fn keep_rejected(&mut self, record: &SpoolRecord, error: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO rejected (record, error, rejected_at) VALUES (?1, ?2, ?3)",
            params![record.to_json()?, error, now_text()],
        )?;
        Ok(())
    }

    /// Commands kept as rejected.
    pub fn rejected(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM rejected", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};

    fn live(i: usize) -> LiveCall {
        LiveCall {
            id: format!("{i:016x}"),
            call_id: format!("c{i}@carrier"),
            tracking_number: "74951234567".into(),
            caller: "79161112233".into(),
            destination: "sip:sales@pbx.example".into(),
            started_at: "2026-12-07T05:00:00Z".parse().unwrap(),
            answered_at: Some("2026-12-07T05:00:03.250Z".parse().unwrap()),
            attribution: Default::default(),
            first_time_caller: true,
            scheme: Some("sales".into()),
            answered_step: None,
            answered_target: None,
        }
    }

    fn ended(i: usize) -> SpoolRecord {
        let end = "2026-12-07T05:01:00Z".parse().unwrap();
        let mut cdr = CallDetailRecord::from_live(
            &live(i),
            end,
            Disposition::Answered,
            200,
            HangupSide::Caller,
        );
        cdr.trail = vec![crate::call::trail::TrailStep {
            at: "2026-12-07T05:00:01Z".parse().unwrap(),
            step: 1,
            target: "sip:a@pbx".into(),
            outcome: crate::call::trail::TrailOutcome::Answered,
            sip_status: Some(200),
        }];
        SpoolRecord::of(&crate::store::commands::StoreCommand::CallEnded(cdr)).unwrap()
    }

    #[test]
    fn appended_commands_come_back_oldest_first_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.sqlite");
        let mut spool = SpoolFile::open(&path).unwrap();
        let first = [SpoolRecord::Started { live: live(1) }, ended(1)];
        spool.append(&first).unwrap();
        spool.append(&[ended(2)]).unwrap();
        assert_eq!(spool.depth(), 3);
        drop(spool);
        let mut spool = SpoolFile::open(&path).unwrap();
        assert_eq!(spool.depth(), 3, "durable across a reopen");
        let got: Vec<SpoolRecord> = spool.oldest(10).unwrap().into_iter().map(|r| r.1).collect();
        assert_eq!(got, [first[0].clone(), first[1].clone(), ended(2)]);
        let two = spool.oldest(2).unwrap();
        spool.delete_through(two[1].0).unwrap();
        assert_eq!(spool.depth(), 1);
        assert_eq!(spool.oldest(10).unwrap()[0].1, ended(2));
    }

    #[test]
    fn a_cdr_keeps_its_trail_through_the_spool() {
        let record = ended(7);
        let back = SpoolRecord::from_json(&record.to_json().unwrap()).unwrap();
        let crate::store::commands::StoreCommand::CallEnded(cdr) = back.into_command() else {
            panic!("an ended call");
        };
        assert_eq!(cdr.trail.len(), 1, "the trail comes back into the CDR");
        let again = SpoolRecord::of(&crate::store::commands::StoreCommand::CallEnded(cdr));
        assert_eq!(again, Some(record));
    }

    #[test]
    fn a_blacklist_edit_made_during_an_outage_is_spooled_not_dropped() {
        use crate::store::commands::StoreCommand;
        let (done, _) = tokio::sync::oneshot::channel();
        let added_at = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let add = StoreCommand::BlacklistAdd {
            pattern: "7916*".into(),
            added_at,
            done,
        };
        let record = SpoolRecord::of(&add).unwrap();
        let back = SpoolRecord::from_json(&record.to_json().unwrap()).unwrap();
        let StoreCommand::BlacklistAdd {
            pattern,
            added_at: at,
            ..
        } = back.into_command()
        else {
            panic!("a blacklist addition");
        };
        assert_eq!((pattern.as_str(), at), ("7916*", added_at));
        let (done, _) = tokio::sync::oneshot::channel();
        let remove = StoreCommand::BlacklistRemove {
            pattern: "7916*".into(),
            done,
        };
        let record = SpoolRecord::of(&remove).unwrap();
        let back = SpoolRecord::from_json(&record.to_json().unwrap()).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_recording_outcome_is_spooled_and_the_janitors_expiry_is_not() {
        use crate::call::recording::{RecordingReason, RecordingSettled};
        use crate::store::commands::StoreCommand;
        let at = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        for settled in [
            RecordingSettled::Recorded {
                path: "/r/a.wav".into(),
                bytes: 48_044,
                secs: 3,
            },
            RecordingSettled::Failed(RecordingReason::DiskFull),
        ] {
            let command = StoreCommand::RecordingSettled {
                id: "a".into(),
                settled: settled.clone(),
                at,
            };
            let record = SpoolRecord::of(&command).unwrap();
            let back = SpoolRecord::from_json(&record.to_json().unwrap()).unwrap();
            let StoreCommand::RecordingSettled {
                id,
                settled: again,
                at: when,
            } = back.into_command()
            else {
                panic!("a recording outcome");
            };
            assert_eq!((id.as_str(), again, when), ("a", settled, at));
        }
        let (done, _) = tokio::sync::oneshot::channel();
        let expire = StoreCommand::RecordingsExpired {
            ids: vec!["a".into()],
            reason: RecordingReason::Retention,
            done,
        };
        assert!(
            !super::super::record::keeps(&expire),
            "the janitor removes files only after a commit: it retries, not spools"
        );
    }

    #[test]
    fn a_lead_is_spooled_whole_and_a_patch_is_not() {
        use crate::call::attribution::Attribution;
        use crate::store::commands::StoreCommand;
        use crate::store::leads::{LeadPatch, NewLead};
        let lead = NewLead {
            id: "0123456789abcdef0123456789abcdef".into(),
            created_at: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            name: Some("Ann".into()),
            phone: Some("79160000001".into()),
            email: None,
            message: Some("call me".into()),
            fields: [("city".to_owned(), "Kazan".to_owned())].into(),
            attribution: Attribution {
                site: "demo".into(),
                source: Some("google".into()),
                gclid: Some("g-1".into()),
                ..Attribution::default()
            },
        };
        let window = Some(std::time::Duration::from_secs(30 * 86_400));
        let (done, _) = tokio::sync::oneshot::channel();
        let insert = StoreCommand::InsertLead {
            lead: Box::new(lead.clone()),
            window,
            done,
        };
        let record = SpoolRecord::of(&insert).unwrap();
        let back = SpoolRecord::from_json(&record.to_json().unwrap()).unwrap();
        let StoreCommand::InsertLead {
            lead: again,
            window: w,
            ..
        } = back.into_command()
        else {
            panic!("a lead");
        };
        assert_eq!((*again, w), (lead, window));
        let (done, _) = tokio::sync::oneshot::channel();
        let patch = StoreCommand::PatchLead {
            id: "0123456789abcdef0123456789abcdef".into(),
            patch: LeadPatch::default(),
            at: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            done,
        };
        assert!(
            !super::super::record::keeps(&patch),
            "a CRM's patch is refused during an outage: the CRM sends it again"
        );
    }

    #[test]
    fn a_rejected_command_leaves_the_spool_but_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = SpoolFile::open(&dir.path().join("spool.sqlite")).unwrap();
        spool.append(&[ended(1), ended(2)]).unwrap();
        let seq = spool.oldest(1).unwrap()[0].0;
        spool.reject(seq, "23514: check violation").unwrap();
        spool
            .conn
            .execute(
                "INSERT INTO spool (record, spooled_at) VALUES ('{', 'x')",
                [],
            )
            .unwrap();
        spool.depth += 1;
        let left = spool.oldest(10).unwrap();
        assert_eq!(left.len(), 1, "the unreadable row is moved aside");
        assert_eq!((spool.depth(), spool.rejected().unwrap()), (1, 2));
    }
}
