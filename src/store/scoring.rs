//! The call scorer's data: each call's label (`target` / `not_target`, who set it and when)
//! and score (`target_probability`, `target`, the model that gave it), and the trained models
//! with their cross-validated metrics (every training is kept; the current model is the
//! newest one that was kept). The labelled training set is read here from the stored
//! (redacted) transcripts.

use rusqlite::{Connection, OptionalExtension, params};

use crate::call::scoring::{Score, ScoringModel};
use crate::call::transcript::ConversationFacts;

/// Version 22 (of the scorer's two): labels and scores on the CDR, and `report_targets`, the
/// hourly scored and target calls the reports read (see `report_targets`).
pub(super) const V22_CALL_LABELS: &str = "
ALTER TABLE cdr ADD COLUMN label TEXT;
ALTER TABLE cdr ADD COLUMN label_by TEXT;
ALTER TABLE cdr ADD COLUMN label_at TEXT;
ALTER TABLE cdr ADD COLUMN target_probability REAL;
ALTER TABLE cdr ADD COLUMN target INTEGER;
ALTER TABLE cdr ADD COLUMN scored_by_model INTEGER;
CREATE INDEX cdr_label ON cdr (label_at) WHERE label IS NOT NULL;
CREATE TABLE report_targets (
    hour        TEXT NOT NULL,
    site        TEXT NOT NULL,
    source      TEXT NOT NULL,
    medium      TEXT NOT NULL,
    campaign    TEXT NOT NULL,
    number_kind TEXT NOT NULL,
    scored      INTEGER NOT NULL DEFAULT 0,
    targets     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, site, source, medium, campaign, number_kind)
) WITHOUT ROWID;

CREATE TRIGGER targets_cdr_forget AFTER DELETE ON cdr
WHEN OLD.target IS NOT NULL AND OLD.disposition <> 'rejected' BEGIN
    UPDATE report_targets SET scored = scored - 1, targets = targets - OLD.target
    WHERE hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind;
END;

CREATE TRIGGER targets_cdr_update AFTER UPDATE OF started_at, disposition, site,
    number_kind, source, medium, campaign, target ON cdr BEGIN
    UPDATE report_targets SET scored = scored - 1, targets = targets - OLD.target
    WHERE OLD.target IS NOT NULL AND OLD.disposition <> 'rejected'
      AND hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind;
    INSERT INTO report_targets SELECT substr(NEW.started_at, 1, 13), NEW.site,
        coalesce(NEW.source, ''), coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''),
        NEW.number_kind, 1, NEW.target
    WHERE NEW.target IS NOT NULL AND NEW.disposition <> 'rejected'
    ON CONFLICT DO UPDATE SET scored = scored + 1, targets = targets + excluded.targets;
END;
";

/// Version 23: every training of the scorer, the models kept and refused.
pub(super) const V23_SCORING_MODELS: &str = "
CREATE TABLE scoring_models (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    trained_at TEXT NOT NULL,
    labels     INTEGER NOT NULL,
    targets    INTEGER NOT NULL,
    folds      INTEGER NOT NULL,
    accuracy   REAL NOT NULL,
    precision  REAL NOT NULL,
    recall     REAL NOT NULL,
    kept       INTEGER NOT NULL,
    model      TEXT NOT NULL
);
";

/// A call's label, as the calls API takes and shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Target,
    NotTarget,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Target => "target",
            Label::NotTarget => "not_target",
        }
    }

    pub fn parse(text: &str) -> Option<Label> {
        match text {
            "target" => Some(Label::Target),
            "not_target" => Some(Label::NotTarget),
            _ => None,
        }
    }
}

/// A label change as the writer applies it: the label (`None` clears it) and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelChange {
    pub label: Option<Label>,
    pub by: String,
}

/// Sets (or clears) call `id`'s label with who and when; false when there is no such call.
pub(super) fn set_label(
    conn: &Connection,
    id: &str,
    change: &LabelChange,
    at: &str,
) -> rusqlite::Result<bool> {
    let (label, by, at) = match change.label {
        Some(l) => (Some(l.as_str()), Some(change.by.as_str()), Some(at)),
        None => (None, None, None),
    };
    let n = conn.execute(
        "UPDATE cdr SET label = ?2, label_by = ?3, label_at = ?4 WHERE id = ?1",
        params![id, label, by, at],
    )?;
    Ok(n > 0)
}

/// Stores call `id`'s score.
pub(super) fn set_score(conn: &Connection, id: &str, score: &Score) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE cdr SET target_probability = ?2, target = ?3, scored_by_model = ?4 WHERE id = ?1",
        params![id, score.target_probability, score.target, score.model_id],
    )?;
    Ok(n > 0)
}

/// Stores call `id`'s score only if it has none yet (a re-scoring after a model was kept
/// never overwrites a verdict that may already have been exported); whether it did.
pub(super) fn set_score_if_unscored(
    conn: &Connection,
    id: &str,
    score: &Score,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE cdr SET target_probability = ?2, target = ?3, scored_by_model = ?4 \
         WHERE id = ?1 AND target_probability IS NULL",
        params![id, score.target_probability, score.target, score.model_id],
    )?;
    Ok(n > 0)
}

/// A done transcript whose call has no score, as re-scoring reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnscoredCall {
    /// The transcript's rowid: the next batch starts after it.
    pub rowid: i64,
    pub call_id: String,
    pub caller: String,
    pub agent: String,
    pub facts: ConversationFacts,
}

/// Up to `limit` done transcripts after `after` (rowid) whose call is unscored, oldest first.
pub fn unscored(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<UnscoredCall>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.rowid, c.id, t.caller, t.agent, t.facts FROM transcripts t \
         JOIN cdr c ON c.id = t.call_id \
         WHERE t.rowid > ?1 AND t.status = 'done' AND c.target_probability IS NULL \
         ORDER BY t.rowid LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |r| {
        let facts: Option<String> = r.get(4)?;
        Ok(UnscoredCall {
            rowid: r.get(0)?,
            call_id: r.get(1)?,
            caller: r.get(2)?,
            agent: r.get(3)?,
            facts: facts
                .and_then(|f| serde_json::from_str(&f).ok())
                .unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// A call's label and score, as the calls API shows them.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Scoring {
    /// `target`, `not_target`, or null (not labelled).
    pub label: Option<String>,
    /// Who labelled it: the role and credential (`admin:bearer`, `admin:cookie`, ...).
    pub label_by: Option<String>,
    pub label_at: Option<String>,
    /// 0..1 from the current scoring model; null until the transcript is scored.
    pub target_probability: Option<f64>,
    /// `target_probability` >= `[speech] target_threshold`.
    pub target: Option<bool>,
}

/// The columns [`Scoring`] is read from, in order.
pub const SCORING_COLUMNS: &str = "label, label_by, label_at, target_probability, target";

/// Reads [`SCORING_COLUMNS`] starting at column `at`.
pub fn scoring_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Scoring> {
    Ok(Scoring {
        label: row.get(at)?,
        label_by: row.get(at + 1)?,
        label_at: row.get(at + 2)?,
        target_probability: row.get(at + 3)?,
        target: row.get(at + 4)?,
    })
}

/// One labelled call with a done transcript, as training reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledCall {
    pub call_id: String,
    pub caller: String,
    pub agent: String,
    pub facts: ConversationFacts,
    pub target: bool,
}

/// Every labelled call that has a transcript.
pub fn training_set(conn: &Connection) -> rusqlite::Result<Vec<LabelledCall>> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, t.caller, t.agent, t.facts, c.label FROM cdr c \
         JOIN transcripts t ON t.call_id = c.id \
         WHERE c.label IS NOT NULL AND t.status = 'done' ORDER BY c.id",
    )?;
    let rows = stmt.query_map([], |r| {
        let facts: Option<String> = r.get(3)?;
        let label: String = r.get(4)?;
        Ok(LabelledCall {
            call_id: r.get(0)?,
            caller: r.get(1)?,
            agent: r.get(2)?,
            facts: facts
                .and_then(|f| serde_json::from_str(&f).ok())
                .unwrap_or_default(),
            target: label == Label::Target.as_str(),
        })
    })?;
    rows.collect()
}

/// Labels set after `since` (RFC 3339; `None`: all), for the nightly job.
pub fn labels_since(conn: &Connection, since: Option<&str>) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM cdr WHERE label IS NOT NULL AND (?1 IS NULL OR label_at > ?1)",
        [since],
        |r| r.get(0),
    )
}

/// The current model (the newest kept) and its id.
pub fn current_model(conn: &Connection) -> rusqlite::Result<Option<(i64, ScoringModel)>> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT id, model FROM scoring_models WHERE kept = 1 ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(id, json)| serde_json::from_str(&json).ok().map(|m| (id, m))))
}

/// The id of the current model, cheap enough to ask on every speech pass.
pub fn current_model_id(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT max(id) FROM scoring_models WHERE kept = 1",
        [],
        |r| r.get(0),
    )
}

/// When the last training (kept or not) ran, RFC 3339.
pub fn last_training(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT max(trained_at) FROM scoring_models", [], |r| {
        r.get(0)
    })
}

/// A model as its `scoring_models` row keeps it on either backend: the cross-validated
/// metrics in columns of their own and the whole model as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub labels: i64,
    pub targets: i64,
    pub folds: i64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub json: String,
}

impl ModelRow {
    /// `model`'s row.
    pub fn of(model: &ScoringModel) -> Result<ModelRow, serde_json::Error> {
        let m = &model.metrics;
        Ok(ModelRow {
            labels: i64::from(m.labels),
            targets: i64::from(m.targets),
            folds: i64::from(m.folds),
            accuracy: m.accuracy,
            precision: m.precision,
            recall: m.recall,
            json: serde_json::to_string(model)?,
        })
    }
}

/// Stores a training's model with `kept` (whether it became current); returns its id.
pub fn save_model(
    conn: &Connection,
    model: &ScoringModel,
    kept: bool,
    trained_at: &str,
) -> rusqlite::Result<i64> {
    let row =
        ModelRow::of(model).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO scoring_models (trained_at, labels, targets, folds, accuracy, precision, \
         recall, kept, model) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            trained_at,
            row.labels,
            row.targets,
            row.folds,
            row.accuracy,
            row.precision,
            row.recall,
            kept,
            row.json
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
#[path = "scoring_tests.rs"]
mod tests;
