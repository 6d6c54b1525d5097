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

/// Version 9: what keeps reports independent of the history's length.
///
/// - `report_rollup`: sums of calls and leads per UTC hour, site, source, medium, campaign,
///   number kind and won-deal currency (`''` for none), kept by triggers on every insert,
///   update and delete of `cdr` and `leads` (a change subtracts the old row and adds the new).
///   Calls calltrack refused (`rejected`) are not in it.
/// - `cdr.prev_started_at`: the caller's previous (not rejected) call to the same site, kept
///   by triggers (a CDR written late, after a later call of the same caller, fixes that
///   call's value). A call is its caller's first of a period when this is before the
///   period; `cdr_repeats` finds the others by range.
const V9_REPORTS: &str = concat!(
    "
ALTER TABLE cdr ADD COLUMN prev_started_at TEXT;
CREATE INDEX cdr_repeats ON cdr (prev_started_at, started_at, site, source, medium, campaign, number_kind)
    WHERE prev_started_at IS NOT NULL;
CREATE INDEX cdr_caller_site_started ON cdr (caller, site, started_at);

CREATE TABLE report_rollup (
    hour                   TEXT NOT NULL,
    site                   TEXT NOT NULL,
    source                 TEXT NOT NULL,
    medium                 TEXT NOT NULL,
    campaign               TEXT NOT NULL,
    number_kind            TEXT NOT NULL,
    currency               TEXT NOT NULL,
    calls                  INTEGER NOT NULL DEFAULT 0,
    first_time_calls       INTEGER NOT NULL DEFAULT 0,
    answered               INTEGER NOT NULL DEFAULT 0,
    missed                 INTEGER NOT NULL DEFAULT 0,
    missed_not_called_back INTEGER NOT NULL DEFAULT 0,
    quality_calls          INTEGER NOT NULL DEFAULT 0,
    wait_secs              INTEGER NOT NULL DEFAULT 0,
    talk_secs              INTEGER NOT NULL DEFAULT 0,
    leads                  INTEGER NOT NULL DEFAULT 0,
    won_minor              INTEGER NOT NULL DEFAULT 0,
    won_deals              INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, site, source, medium, campaign, number_kind, currency)
) WITHOUT ROWID;

CREATE TRIGGER report_cdr_insert AFTER INSERT ON cdr WHEN NEW.disposition <> 'rejected' BEGIN
    INSERT INTO report_rollup VALUES (
        substr(NEW.started_at, 1, 13), NEW.site, coalesce(NEW.source, ''), coalesce(NEW.medium, ''),
        coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END,
        1, NEW.first_time_caller, NEW.answered_at IS NOT NULL, NEW.missed,
        NEW.missed = 1 AND NEW.called_back_at IS NULL, NEW.quality,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.wait_secs ELSE 0 END,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.talk_secs ELSE 0 END, 0,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won')
    ON CONFLICT DO UPDATE SET calls = calls + excluded.calls,
        first_time_calls = first_time_calls + excluded.first_time_calls,
        answered = answered + excluded.answered, missed = missed + excluded.missed,
        missed_not_called_back = missed_not_called_back + excluded.missed_not_called_back,
        quality_calls = quality_calls + excluded.quality_calls,
        wait_secs = wait_secs + excluded.wait_secs, talk_secs = talk_secs + excluded.talk_secs,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
    UPDATE cdr SET prev_started_at = (
        SELECT max(p.started_at) FROM cdr AS p
        WHERE p.caller = NEW.caller AND p.site = NEW.site AND p.started_at < NEW.started_at
          AND p.disposition <> 'rejected')
    WHERE seq = NEW.seq;
    UPDATE cdr SET prev_started_at = NEW.started_at WHERE seq = (
        SELECT n.seq FROM cdr AS n
        WHERE n.caller = NEW.caller AND n.site = NEW.site AND n.started_at > NEW.started_at
          AND n.disposition <> 'rejected'
        ORDER BY n.started_at LIMIT 1)
      AND (prev_started_at IS NULL OR prev_started_at < NEW.started_at);
END;

CREATE TRIGGER report_cdr_forget AFTER DELETE ON cdr WHEN OLD.disposition <> 'rejected' BEGIN
    UPDATE report_rollup SET calls = calls - 1,
        first_time_calls = first_time_calls - OLD.first_time_caller,
        answered = answered - (OLD.answered_at IS NOT NULL), missed = missed - OLD.missed,
        missed_not_called_back = missed_not_called_back - (OLD.missed = 1 AND OLD.called_back_at IS NULL),
        quality_calls = quality_calls - OLD.quality,
        wait_secs = wait_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.wait_secs ELSE 0 END,
        talk_secs = talk_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.talk_secs ELSE 0 END,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
    UPDATE cdr SET prev_started_at = OLD.prev_started_at
    WHERE caller = OLD.caller AND site = OLD.site AND prev_started_at = OLD.started_at;
END;

CREATE TRIGGER report_cdr_update AFTER UPDATE OF started_at, answered_at, wait_secs, talk_secs,
    disposition, site, number_kind, source, medium, campaign, first_time_caller, quality, missed,
    called_back_at, deal_amount_minor, deal_currency, deal_status ON cdr BEGIN
    UPDATE report_rollup SET calls = calls - 1,
        first_time_calls = first_time_calls - OLD.first_time_caller,
        answered = answered - (OLD.answered_at IS NOT NULL), missed = missed - OLD.missed,
        missed_not_called_back = missed_not_called_back - (OLD.missed = 1 AND OLD.called_back_at IS NULL),
        quality_calls = quality_calls - OLD.quality,
        wait_secs = wait_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.wait_secs ELSE 0 END,
        talk_secs = talk_secs - CASE WHEN OLD.answered_at IS NOT NULL THEN OLD.talk_secs ELSE 0 END,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE OLD.disposition <> 'rejected' AND hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
    INSERT INTO report_rollup SELECT
        substr(NEW.started_at, 1, 13), NEW.site, coalesce(NEW.source, ''), coalesce(NEW.medium, ''),
        coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END,
        1, NEW.first_time_caller, NEW.answered_at IS NOT NULL, NEW.missed,
        NEW.missed = 1 AND NEW.called_back_at IS NULL, NEW.quality,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.wait_secs ELSE 0 END,
        CASE WHEN NEW.answered_at IS NOT NULL THEN NEW.talk_secs ELSE 0 END, 0,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won'
    WHERE NEW.disposition <> 'rejected'
    ON CONFLICT DO UPDATE SET calls = calls + excluded.calls,
        first_time_calls = first_time_calls + excluded.first_time_calls,
        answered = answered + excluded.answered, missed = missed + excluded.missed,
        missed_not_called_back = missed_not_called_back + excluded.missed_not_called_back,
        quality_calls = quality_calls + excluded.quality_calls,
        wait_secs = wait_secs + excluded.wait_secs, talk_secs = talk_secs + excluded.talk_secs,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
END;

CREATE TRIGGER report_lead_insert AFTER INSERT ON leads BEGIN
    INSERT INTO report_rollup (hour, site, source, medium, campaign, number_kind, currency,
        leads, won_minor, won_deals)
    VALUES (substr(NEW.created_at, 1, 13), NEW.site, coalesce(NEW.source, ''),
        coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END, 1,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won')
    ON CONFLICT DO UPDATE SET leads = leads + excluded.leads,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
END;

CREATE TRIGGER report_lead_forget AFTER DELETE ON leads BEGIN
    UPDATE report_rollup SET leads = leads - 1,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE hour = substr(OLD.created_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
END;

CREATE TRIGGER report_lead_update AFTER UPDATE OF created_at, site, source, medium, campaign,
    number_kind, deal_amount_minor, deal_currency, deal_status ON leads BEGIN
    UPDATE report_rollup SET leads = leads - 1,
        won_minor = won_minor - CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_amount_minor, 0) ELSE 0 END,
        won_deals = won_deals - (OLD.deal_status IS 'won')
    WHERE hour = substr(OLD.created_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind
      AND currency = CASE WHEN OLD.deal_status IS 'won' THEN coalesce(OLD.deal_currency, '') ELSE '' END;
    INSERT INTO report_rollup (hour, site, source, medium, campaign, number_kind, currency,
        leads, won_minor, won_deals)
    VALUES (substr(NEW.created_at, 1, 13), NEW.site, coalesce(NEW.source, ''),
        coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''), NEW.number_kind,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_currency, '') ELSE '' END, 1,
        CASE WHEN NEW.deal_status IS 'won' THEN coalesce(NEW.deal_amount_minor, 0) ELSE 0 END,
        NEW.deal_status IS 'won')
    ON CONFLICT DO UPDATE SET leads = leads + excluded.leads,
        won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
END;
",
    rollup_rebuild_sql!()
);

/// Every migration in order; the schema version is the number of entries applied.
const MIGRATIONS: &[&str] = &[
    V1_CDR_AND_LIVE_CALLS,
    V2_LEASES,
    V3_ATTRIBUTION,
    V4_ROUTING,
    V5_BLACKLIST,
    V6_LIVE_DIALOGS,
    V7_MARKETING,
    V9_REPORTS,
    // V8_...: append here.
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
