//! Schema migrations, driven by `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the database from version `i` to `i + 1`. To change the schema,
//! APPEND a new entry (never edit or reorder a shipped one): it runs once, in its own
//! transaction, on every database whose `user_version` is lower.

use rusqlite::Connection;

use super::StoreError;

/// Version 1: the CDR table (append-only, `seq` lets `tail` follow) and the live calls table
/// (one row per call in progress, deleted when its CDR is written).
const V1_CDR_AND_LIVE_CALLS: &str = "
CREATE TABLE cdr (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    call_id         TEXT    NOT NULL,
    tracking_number TEXT    NOT NULL,
    caller          TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    started_at      TEXT    NOT NULL,
    answered_at     TEXT,
    ended_at        TEXT    NOT NULL,
    wait_secs       INTEGER NOT NULL,
    talk_secs       INTEGER NOT NULL,
    disposition     TEXT    NOT NULL,
    sip_status      INTEGER NOT NULL,
    hangup_side     TEXT    NOT NULL
);
CREATE INDEX cdr_started_at ON cdr (started_at);
CREATE INDEX cdr_tracking_number ON cdr (tracking_number);
CREATE INDEX cdr_caller ON cdr (caller);

CREATE TABLE live_calls (
    id              TEXT PRIMARY KEY NOT NULL,
    call_id         TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    caller          TEXT NOT NULL,
    destination     TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    answered_at     TEXT
);
";

/// Version 2: the lease table snapshot (one row per visitor session holding a pool number),
/// replaced as a whole by the lease sweeper; timestamps are RFC 3339 TEXT, `visit` is JSON.
const V2_LEASES: &str = "
CREATE TABLE leases (
    session_id TEXT PRIMARY KEY NOT NULL,
    site       TEXT NOT NULL,
    pool       TEXT NOT NULL,
    number     TEXT NOT NULL,
    visitor_id TEXT,
    visit      TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
";

/// Version 3: attribution on every CDR (what the visitor or ad source was at ring time), the
/// first-time-caller and quality judgements, and attribution kept with live calls so that
/// crash recovery does not lose it.
const V3_ATTRIBUTION: &str = "
ALTER TABLE cdr ADD COLUMN site TEXT NOT NULL DEFAULT '';
ALTER TABLE cdr ADD COLUMN number_kind TEXT NOT NULL DEFAULT 'unattributed';
ALTER TABLE cdr ADD COLUMN source TEXT;
ALTER TABLE cdr ADD COLUMN medium TEXT;
ALTER TABLE cdr ADD COLUMN campaign TEXT;
ALTER TABLE cdr ADD COLUMN term TEXT;
ALTER TABLE cdr ADD COLUMN content TEXT;
ALTER TABLE cdr ADD COLUMN referrer TEXT;
ALTER TABLE cdr ADD COLUMN landing_page TEXT;
ALTER TABLE cdr ADD COLUMN gclid TEXT;
ALTER TABLE cdr ADD COLUMN yclid TEXT;
ALTER TABLE cdr ADD COLUMN ga_client_id TEXT;
ALTER TABLE cdr ADD COLUMN ga_session_id TEXT;
ALTER TABLE cdr ADD COLUMN ym_client_id TEXT;
ALTER TABLE cdr ADD COLUMN region TEXT;
ALTER TABLE cdr ADD COLUMN session_id TEXT;
ALTER TABLE cdr ADD COLUMN first_time_caller INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN quality INTEGER NOT NULL DEFAULT 0;
CREATE INDEX cdr_source ON cdr (source);
CREATE INDEX cdr_caller_started ON cdr (caller, started_at);
ALTER TABLE live_calls ADD COLUMN attribution TEXT NOT NULL DEFAULT '{}';
ALTER TABLE live_calls ADD COLUMN first_time_caller INTEGER NOT NULL DEFAULT 1;
";

/// Version 4: distribution schemes (which scheme, step and target took the call) and the
/// reason a refused call was refused.
const V4_ROUTING: &str = "
ALTER TABLE cdr ADD COLUMN scheme TEXT;
ALTER TABLE cdr ADD COLUMN answered_step INTEGER;
ALTER TABLE cdr ADD COLUMN answered_target TEXT;
ALTER TABLE cdr ADD COLUMN reject_reason TEXT;
ALTER TABLE live_calls ADD COLUMN scheme TEXT;
";

/// Version 5: caller blacklist entries added through the admin API (config-file entries
/// are not stored).
const V5_BLACKLIST: &str = "
CREATE TABLE blacklist (
    pattern  TEXT PRIMARY KEY NOT NULL,
    added_at TEXT NOT NULL
);
";

/// Version 6: what crash recovery needs to end an answered call on both legs: each leg's
/// dialog (Call-ID, tags, our last CSeq, remote target, route set, transport, peer, our
/// Contact) as JSON (see `call::live_dialog::LegDialog`); NULL until the call is answered.
const V6_LIVE_DIALOGS: &str = "
ALTER TABLE live_calls ADD COLUMN a_dialog TEXT;
ALTER TABLE live_calls ADD COLUMN b_dialog TEXT;
";

/// Version 7: what the marketer sees. On the CDR: the visitor's device, missed calls and
/// their callback, whether the scheme counts towards quality calls, and what people add
/// later (tags as a JSON array, a note, a deal in minor currency units). Leads (web forms,
/// attributed like calls, with the same flat attribution columns) and ad costs per day,
/// site, source, medium and campaign (`''` for "none", so the key is unique).
const V7_MARKETING: &str = "
ALTER TABLE cdr ADD COLUMN device TEXT;
ALTER TABLE cdr ADD COLUMN missed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN counted INTEGER NOT NULL DEFAULT 1;
ALTER TABLE cdr ADD COLUMN called_back_at TEXT;
ALTER TABLE cdr ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cdr ADD COLUMN note TEXT;
ALTER TABLE cdr ADD COLUMN deal_amount_minor INTEGER;
ALTER TABLE cdr ADD COLUMN deal_currency TEXT;
ALTER TABLE cdr ADD COLUMN deal_status TEXT;
ALTER TABLE cdr ADD COLUMN updated_at TEXT;
UPDATE cdr SET missed = 1 WHERE disposition NOT IN ('answered', 'rejected');
CREATE INDEX cdr_missed_open ON cdr (caller, started_at) WHERE missed = 1 AND called_back_at IS NULL;

CREATE TABLE leads (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    created_at        TEXT NOT NULL,
    name              TEXT,
    phone             TEXT,
    email             TEXT,
    message           TEXT,
    fields            TEXT NOT NULL DEFAULT '{}',
    site              TEXT NOT NULL,
    number_kind       TEXT NOT NULL DEFAULT 'dynamic',
    source            TEXT,
    medium            TEXT,
    campaign          TEXT,
    term              TEXT,
    content           TEXT,
    referrer          TEXT,
    landing_page      TEXT,
    gclid             TEXT,
    yclid             TEXT,
    ga_client_id      TEXT,
    ga_session_id     TEXT,
    ym_client_id      TEXT,
    region            TEXT,
    session_id        TEXT,
    device            TEXT,
    first_time        INTEGER NOT NULL DEFAULT 1,
    tags              TEXT NOT NULL DEFAULT '[]',
    note              TEXT,
    deal_amount_minor INTEGER,
    deal_currency     TEXT,
    deal_status       TEXT,
    updated_at        TEXT
);
CREATE INDEX leads_created_at ON leads (created_at);
CREATE INDEX leads_phone ON leads (phone, created_at);
CREATE INDEX leads_email ON leads (email, created_at);

CREATE TABLE costs (
    day          TEXT NOT NULL,
    site         TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    medium       TEXT NOT NULL DEFAULT '',
    campaign     TEXT NOT NULL DEFAULT '',
    amount_minor INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    imported_at  TEXT NOT NULL,
    PRIMARY KEY (day, site, source, medium, campaign)
);
";

/// Version 8: the calls API. Each CDR's routing trail (JSON list of attempts, see
/// `call::trail`), and indexes for its filters: each filter column leads an index that goes
/// on in `started_at` order (and `seq`, the rowid every index ends with), so a filtered page
/// in either sort order is an index range read that stops after one page. The single-column
/// indexes these replace are dropped (the writer keeps one index less each).
const V8_CALLS_API: &str = "
ALTER TABLE cdr ADD COLUMN trail TEXT NOT NULL DEFAULT '[]';
DROP INDEX IF EXISTS cdr_source;
DROP INDEX IF EXISTS cdr_tracking_number;
DROP INDEX IF EXISTS cdr_caller;
CREATE INDEX cdr_site_started ON cdr (site, started_at);
CREATE INDEX cdr_source_started ON cdr (source, started_at);
CREATE INDEX cdr_medium_started ON cdr (medium, started_at);
CREATE INDEX cdr_campaign_started ON cdr (campaign, started_at);
CREATE INDEX cdr_tracking_started ON cdr (tracking_number, started_at);
";

/// Pool usage, one sample per pool per minute (the dashboard's pools page); pruned by the
/// writer past `store.pool_usage_retention_days`.
const V10_POOL_USAGE: &str = "
CREATE TABLE pool_usage (
    at        TEXT NOT NULL,
    site      TEXT NOT NULL,
    pool      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    leased    INTEGER NOT NULL,
    exhausted INTEGER NOT NULL,
    PRIMARY KEY (site, pool, at)
) WITHOUT ROWID;
CREATE INDEX pool_usage_at ON pool_usage (at);
";

/// Version 13: voice-quality facts of relayed calls, per direction (NULL for direct calls),
/// and the recording of a recorded call.
const V13_VOICE_QUALITY: &str = "
ALTER TABLE cdr ADD COLUMN rtp_caller_packets INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_caller_lost INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_caller_jitter_ms INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_caller_max_gap_ms INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_packets INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_lost INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_jitter_ms INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_max_gap_ms INTEGER;
ALTER TABLE cdr ADD COLUMN one_way_audio INTEGER;
ALTER TABLE cdr ADD COLUMN recording_path TEXT;
ALTER TABLE cdr ADD COLUMN recording_bytes INTEGER;
ALTER TABLE cdr ADD COLUMN recording_secs INTEGER;
";

/// Version 15: voice quality beyond V13 (NULL for calls not relayed): jitter to the
/// microsecond, talk time measured by media, the estimated MOS × 100, and what each party's
/// RTCP reported about the audio it received (see `CallDetailRecord`).
const V15_MEDIA_QUALITY: &str = "
ALTER TABLE cdr ADD COLUMN rtp_caller_jitter_us INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_caller_media_secs INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_caller_voice_secs INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_caller_mos_x100 INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_caller_lost INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_caller_loss_permille INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_caller_jitter_us INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_caller_rtt_ms INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_jitter_us INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_media_secs INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_voice_secs INTEGER;
ALTER TABLE cdr ADD COLUMN rtp_callee_mos_x100 INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_callee_lost INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_callee_loss_permille INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_callee_jitter_us INTEGER;
ALTER TABLE cdr ADD COLUMN rtcp_callee_rtt_ms INTEGER;
";

/// Every migration in order; the schema version is the number of entries applied.
const MIGRATIONS: &[&str] = &[
    V1_CDR_AND_LIVE_CALLS,
    V2_LEASES,
    V3_ATTRIBUTION,
    V4_ROUTING,
    V5_BLACKLIST,
    V6_LIVE_DIALOGS,
    V7_MARKETING,
    V8_CALLS_API,
    super::schema_reports::V9_REPORTS,
    V10_POOL_USAGE,
    super::outbox::V11_OUTBOX,
    super::outbox::V12_METRICA_UPLOADS,
    V13_VOICE_QUALITY,
    super::recordings::V14_RECORDINGS,
    V15_MEDIA_QUALITY,
    super::overflow_codes::V16_OVERFLOW_CODES,
    super::transcripts::V17_TRANSCRIPTS,
    super::confidence::V18_CONFIDENCE,
    super::number_hygiene::V19_QUARANTINED_NUMBERS,
    super::voicemail::V20_VOICEMAIL,
    super::lease_history::V21_LEASE_HISTORY,
    super::scoring::V22_CALL_LABELS,
    super::scoring::V23_SCORING_MODELS,
    super::schema_reports::V24_PREV_STARTED_GIVEN,
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The database's current schema version.
pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Applies every migration the database has not seen yet; a no-op when up to date.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = version(conn)?;
    if found > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: latest_version(),
        });
    }
    for (done, sql) in (found..).zip(MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0))) {
        apply(conn, done + 1, sql)?;
    }
    Ok(())
}

fn apply(conn: &mut Connection, version: i64, sql: &str) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    tx.execute_batch(sql)?;
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()?;
    tracing::info!(version, "applied CDR store migration");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_fresh_database_to_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), latest_version());
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('cdr', 'live_calls', 'leases')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 3);
    }

    #[test]
    fn version_1_database_gains_leases_and_attribution() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, 1, V1_CDR_AND_LIVE_CALLS).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), latest_version());
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM leases", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
        let quality: i64 = conn
            .query_row("SELECT count(quality) FROM cdr", [], |r| r.get(0))
            .unwrap();
        assert_eq!(quality, 0, "attribution columns exist");
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), latest_version());
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }
}
