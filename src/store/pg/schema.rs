//! PostgreSQL schema migrations, a set of their own: `schema_migrations` holds the versions
//! applied; each runs once, in its own transaction, under an advisory lock so several nodes
//! starting together migrate once. After the versioned steps the mirrored columns
//! ([`super::mirror`]) are added where missing (idempotent, every start).
//!
//! To change the schema, APPEND to [`MIGRATIONS`]; never edit a shipped entry.

use postgres::{Client, Transaction};

use super::mirror::{self, TABLES};
use super::schema_reports::V8_REPORT_ROLLUP;
use super::transcript_search::V9_TRANSCRIPT_SEARCH;
use crate::store::StoreError;

/// `pg_advisory_xact_lock` key of the migrations ("calltrak" in ASCII).
const MIGRATION_LOCK: i64 = 0x63616c6c7472616b;

/// Version 1: the tables' keys (their other columns are mirrored from SQLite) and the caller
/// history every node judges first-time callers against.
const V1_TABLES: &str = "
CREATE TABLE cdr (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE);
CREATE TABLE live_calls (id text PRIMARY KEY);
CREATE TABLE outbox (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE);
CREATE TABLE caller_history (
    caller        text PRIMARY KEY,
    first_call_at timestamptz NOT NULL,
    last_call_at  timestamptz NOT NULL,
    prev_call_at  timestamptz,
    last_node     text NOT NULL
);
";

/// Version 2: which node wrote a CDR or holds a live call (recovery closes its own), the
/// outbox claim (a node's lease on the rows it is delivering), and the indexes.
const V2_NODES_AND_CLAIMS: &str = "
ALTER TABLE cdr ADD COLUMN node_id text;
ALTER TABLE live_calls ADD COLUMN node_id text NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN claimed_by text;
ALTER TABLE outbox ADD COLUMN claimed_until bigint;
CREATE INDEX cdr_started_at ON cdr (started_at);
CREATE INDEX cdr_tracking_number ON cdr (tracking_number);
CREATE INDEX cdr_caller ON cdr (caller);
CREATE INDEX cdr_missed_open ON cdr (caller, started_at) WHERE missed = 1 AND called_back_at IS NULL;
CREATE INDEX live_calls_node ON live_calls (node_id);
CREATE INDEX outbox_pending ON outbox (destination, seq) WHERE state = 'pending';
CREATE INDEX outbox_subject ON outbox (destination, subject, seq);
";

/// Version 3: the nodes sharing this store and their heartbeats (server clock, epoch
/// milliseconds); a dead node's row is claimed by the survivor that closes its live calls.
const V3_NODE_HEARTBEATS: &str = "
CREATE TABLE nodes (
    node_id        text PRIMARY KEY,
    started_at     bigint NOT NULL,
    heartbeat_at   bigint NOT NULL,
    taken_over_at  bigint,
    taken_over_by  text
);
";

/// Version 4: the reports' repeat-call lookup (`store::pg::report_facts`: did the caller call
/// the same site earlier in the period?), as SQLite's `cdr_caller_site_started`.
const V4_REPORT_REPEATS: &str = "
CREATE INDEX cdr_caller_site_started ON cdr (caller, site, started_at);
";

/// Version 5: what the marketer adds (issue 16): leads and ad costs. Only their keys and
/// the columns their indexes need are named here; the rest is mirrored from SQLite's `leads`
/// and `costs` ([`super::mirror`]). The CDR's tags, note and deal columns are mirrored
/// already.
const V5_LEADS_AND_COSTS: &str = "
CREATE TABLE leads (
    seq        bigserial PRIMARY KEY,
    id         text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    phone      text,
    email      text
);
CREATE INDEX leads_created_at ON leads (created_at);
CREATE INDEX leads_phone ON leads (phone, created_at);
CREATE INDEX leads_email ON leads (email, created_at);
CREATE TABLE costs (
    day      text NOT NULL,
    site     text NOT NULL,
    source   text NOT NULL DEFAULT '',
    medium   text NOT NULL DEFAULT '',
    campaign text NOT NULL DEFAULT '',
    PRIMARY KEY (day, site, source, medium, campaign)
);
";

/// Version 6: the operator's data every node shares: the caller blacklist entries added
/// through any node's admin API (`store::pg::blacklist`; edits are announced on `NOTIFY
/// calltrack_blacklist`) and the Metrica uploads of the shared outbox
/// (`store::pg::metrica_uploads`; times in epoch milliseconds, as the outbox's), and the
/// pools' per-minute usage samples (`store::pg::pool_usage`).
const V6_OPERATOR_DATA: &str = "
CREATE TABLE blacklist (
    pattern   text PRIMARY KEY,
    added_at  timestamptz NOT NULL,
    added_by  text NOT NULL
);
CREATE TABLE metrica_uploads (
    destination text   NOT NULL,
    upload_id   text   NOT NULL,
    uploaded_at bigint NOT NULL,
    rows        bigint NOT NULL,
    status      text,
    checked_at  bigint,
    PRIMARY KEY (destination, upload_id)
);
CREATE INDEX metrica_uploads_recent ON metrica_uploads (destination, uploaded_at);
CREATE TABLE pool_usage (
    site      text        NOT NULL,
    pool      text        NOT NULL,
    at        timestamptz NOT NULL,
    size      bigint      NOT NULL,
    leased    bigint      NOT NULL,
    exhausted boolean     NOT NULL,
    node_id   text        NOT NULL,
    PRIMARY KEY (site, pool, at)
);
CREATE INDEX pool_usage_at ON pool_usage (at);
";

/// Version 7: recordings (issue 17), transcripts and the call scorer on PostgreSQL:
/// the waiting room of recording outcomes that reach the writer before their CDR
/// (`store::pg::recordings`) and each node's CDRs still `pending` (its janitor settles only
/// its own, from its own disk); the speech queue, kept by a trigger as on SQLite (a
/// `recorded` WAV is queued with its CDR's `node_id`, the node whose disk holds it; an
/// `expired` one takes its job and transcript along), the transcripts
/// (`store::pg::transcripts`) and every training's model (`store::pg::scoring`).
const V7_RECORDINGS_AND_SPEECH: &str = "
CREATE TABLE recording_settled (
    id     text PRIMARY KEY,
    status text NOT NULL,
    reason text,
    path   text,
    bytes  bigint,
    secs   bigint
);
CREATE INDEX cdr_recording_pending ON cdr (node_id, ended_at) WHERE recording_status = 'pending';
CREATE TABLE speech_jobs (
    call_id     text PRIMARY KEY,
    node_id     text NOT NULL,
    path        text NOT NULL,
    enqueued_at timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    attempts    bigint NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX speech_jobs_due ON speech_jobs (node_id, due_at);
CREATE TABLE transcripts (
    seq        bigserial PRIMARY KEY,
    call_id    text NOT NULL UNIQUE,
    status     text NOT NULL,
    engine     text NOT NULL,
    language   text,
    caller     text NOT NULL DEFAULT '',
    agent      text NOT NULL DEFAULT '',
    words      jsonb NOT NULL DEFAULT '[]',
    facts      jsonb,
    tags       jsonb NOT NULL DEFAULT '[]',
    error      text,
    attempts   bigint NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE scoring_models (
    id         bigserial PRIMARY KEY,
    trained_at timestamptz NOT NULL,
    labels     bigint NOT NULL,
    targets    bigint NOT NULL,
    folds      bigint NOT NULL,
    accuracy   double precision NOT NULL,
    precision  double precision NOT NULL,
    recall     double precision NOT NULL,
    kept       boolean NOT NULL,
    model      jsonb NOT NULL
);
CREATE INDEX cdr_label ON cdr (label_at) WHERE label IS NOT NULL;
CREATE FUNCTION calltrack_speech_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.recording_status = 'recorded' AND NEW.recording_path LIKE '%.wav' THEN
        INSERT INTO speech_jobs (call_id, node_id, path, enqueued_at, due_at)
        VALUES (NEW.id, coalesce(NEW.node_id, ''), NEW.recording_path, NEW.ended_at, NEW.ended_at)
        ON CONFLICT (call_id) DO NOTHING;
    ELSIF NEW.recording_status = 'expired' THEN
        DELETE FROM speech_jobs WHERE call_id = NEW.id;
        DELETE FROM transcripts WHERE call_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER speech_queue AFTER UPDATE OF recording_status ON cdr
FOR EACH ROW EXECUTE FUNCTION calltrack_speech_queue();
";

/// Version 10: where each node's HTTP API is reached (`[node] http_url`), so a recording asked
/// for on another node is fetched from the node whose disk holds it.
const V10_NODE_HTTP_URL: &str = "ALTER TABLE nodes ADD COLUMN http_url text;";

/// `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`; version 8 (the report
/// rollup) is in `schema_reports.rs`, version 9 (transcript search) in `transcript_search.rs`.
const MIGRATIONS: [&str; 10] = [
    V1_TABLES,
    V2_NODES_AND_CLAIMS,
    V3_NODE_HEARTBEATS,
    V4_REPORT_REPEATS,
    V5_LEADS_AND_COSTS,
    V6_OPERATOR_DATA,
    V7_RECORDINGS_AND_SPEECH,
    V8_REPORT_ROLLUP,
    V9_TRANSCRIPT_SEARCH,
    V10_NODE_HTTP_URL,
];

/// The oldest server release calltrack runs on (`server_version_num`): reports bucket by
/// `date_bin`, new in PostgreSQL 14.
pub const OLDEST_SERVER: i32 = 140_000;

/// Refuses a server older than [`OLDEST_SERVER`], naming its version.
pub fn check_server(client: &mut Client) -> Result<(), StoreError> {
    let row = client.query_one(
        "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
        &[],
    )?;
    let (number, found): (i32, String) = (row.try_get(0)?, row.try_get(1)?);
    match number >= OLDEST_SERVER {
        true => Ok(()),
        false => Err(StoreError::PgServerTooOld { found }),
    }
}

/// The newest version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to date; returns the version found before.
pub fn migrate(client: &mut Client) -> Result<i64, StoreError> {
    check_server(client)?;
    let found = locked(client, |tx| {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )?;
        version(tx)
    })?;
    if found > latest_version() {
        return Err(StoreError::PgSchemaTooNew {
            found,
            supported: latest_version(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        locked(client, |tx| {
            if version(tx)? < target {
                tx.batch_execute(sql)?;
                add_mirrored_columns(tx)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&target],
                )?;
            }
            Ok(())
        })?;
    }
    locked(client, add_mirrored_columns)?;
    Ok(found)
}

/// The applied version (0: none).
pub fn version(tx: &mut Transaction<'_>) -> Result<i64, StoreError> {
    let row = tx.query_one(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        &[],
    )?;
    Ok(row.get(0))
}

/// Runs `step` in a transaction holding the migration lock.
fn locked<T>(
    client: &mut Client,
    step: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let value = step(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

/// Adds every mirrored column a table lacks.
fn add_mirrored_columns(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    for (table, keys) in TABLES {
        let present: Vec<String> = tx
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[&table],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if present.is_empty() {
            continue;
        }
        let missing: Vec<String> = mirror::columns(table)
            .iter()
            .filter(|c| !keys.contains(&c.name.as_str()) && !present.contains(&c.name))
            .map(|c| format!("ADD COLUMN {}", c.definition()))
            .collect();
        if !missing.is_empty() {
            tx.batch_execute(&format!("ALTER TABLE {table} {}", missing.join(", ")))?;
        }
    }
    Ok(())
}
