//! The call scorer's data on PostgreSQL, as `store::scoring` keeps it on SQLite: each call's
//! score on its CDR (`target` 0/1, as the mirrored column is), every training's model
//! (`scoring_models`; the current model is the newest kept), and what training and
//! re-scoring read (the labelled calls with a done transcript, the unscored ones).

use postgres::GenericClient;

use crate::call::record::rfc3339;
use crate::call::scoring::{Score, ScoringModel};
use crate::call::transcript::ConversationFacts;
use crate::store::StoreError;
use crate::store::scoring::{Label, LabelledCall, ModelRow, UnscoredCall};

/// Stores call `id`'s score; whether there is such a call.
pub fn set_score(
    client: &mut impl GenericClient,
    id: &str,
    score: &Score,
) -> Result<bool, StoreError> {
    store_score(client, id, score, "")
}

/// Stores call `id`'s score only if it has none yet (a verdict already exported is never
/// overwritten); whether it did.
pub fn set_score_if_unscored(
    client: &mut impl GenericClient,
    id: &str,
    score: &Score,
) -> Result<bool, StoreError> {
    store_score(client, id, score, " AND target_probability IS NULL")
}

/// `score` on call `id` (`target` 0/1, as the mirrored column is) where `condition` holds.
fn store_score(
    client: &mut impl GenericClient,
    id: &str,
    score: &Score,
    condition: &str,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE cdr SET target_probability = $2, target = $3, scored_by_model = $4 \
         WHERE id = $1{condition}"
    );
    let target = i64::from(score.target);
    let n = client.execute(
        &sql,
        &[&id, &score.target_probability, &target, &score.model_id],
    )?;
    Ok(n > 0)
}

/// Stores a training's model with `kept` (whether it became current); returns its id.
pub fn save_model(
    client: &mut impl GenericClient,
    model: &ScoringModel,
    kept: bool,
    trained_at: jiff::Timestamp,
) -> Result<i64, StoreError> {
    let row = ModelRow::of(model)?;
    let row = client.query_one(
        "INSERT INTO scoring_models (trained_at, labels, targets, folds, accuracy, precision, \
         recall, kept, model) VALUES ($1::text::timestamptz, $2, $3, $4, $5, $6, $7, $8, \
         $9::text::jsonb) RETURNING id",
        &[
            &rfc3339::format(trained_at),
            &row.labels,
            &row.targets,
            &row.folds,
            &row.accuracy,
            &row.precision,
            &row.recall,
            &kept,
            &row.json,
        ],
    )?;
    Ok(row.try_get(0)?)
}

/// Claims the nightly training of UTC day `night` for node `node`: true for the first node
/// to ask (and for it again, say after too few labels), false for every other node, so one
/// node trains per night however many run (`scoring_claims`, schema version 9).
pub fn claim_training(
    client: &mut impl GenericClient,
    night: jiff::civil::Date,
    node: &str,
) -> Result<bool, StoreError> {
    let claimed = client.query_opt(
        "INSERT INTO scoring_claims (night, node_id) VALUES ($1::text::date, $2) \
         ON CONFLICT (night) DO UPDATE SET claimed_at = now() \
         WHERE scoring_claims.node_id = excluded.node_id RETURNING node_id",
        &[&night.to_string(), &node],
    )?;
    Ok(claimed.is_some())
}

/// The current model (the newest kept) and its id.
pub fn current_model(
    client: &mut impl GenericClient,
) -> Result<Option<(i64, ScoringModel)>, StoreError> {
    let row = client.query_opt(
        "SELECT id, model::text FROM scoring_models WHERE kept ORDER BY id DESC LIMIT 1",
        &[],
    )?;
    let Some(row) = row else { return Ok(None) };
    let (id, json): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
    Ok(serde_json::from_str(&json).ok().map(|m| (id, m)))
}

/// The id of the current model.
pub fn current_model_id(client: &mut impl GenericClient) -> Result<Option<i64>, StoreError> {
    let row = client.query_one("SELECT max(id) FROM scoring_models WHERE kept", &[])?;
    Ok(row.try_get(0)?)
}

/// When the last training (kept or not) ran, RFC 3339 as SQLite keeps it.
pub fn last_training(client: &mut impl GenericClient) -> Result<Option<String>, StoreError> {
    let sql = format!(
        "SELECT {} FROM scoring_models",
        super::cells::time_text("max(trained_at)")
    );
    let row = client.query_one(&sql, &[])?;
    Ok(row.try_get(0)?)
}

/// Labels set after `since` (RFC 3339; `None`: all).
pub fn labels_since(
    client: &mut impl GenericClient,
    since: Option<&str>,
) -> Result<u64, StoreError> {
    let row = client.query_one(
        "SELECT count(*) FROM cdr WHERE label IS NOT NULL \
         AND ($1::text IS NULL OR label_at > $1::text::timestamptz)",
        &[&since],
    )?;
    let n: i64 = row.try_get(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every labelled call that has a done transcript, by call id.
pub fn training_set(client: &mut impl GenericClient) -> Result<Vec<LabelledCall>, StoreError> {
    let rows = client.query(
        "SELECT c.id, t.caller, t.agent, t.facts::text, c.label FROM cdr c \
         JOIN transcripts t ON t.call_id = c.id \
         WHERE c.label IS NOT NULL AND t.status = 'done' ORDER BY c.id COLLATE \"C\"",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            let label: String = r.try_get(4)?;
            Ok(LabelledCall {
                call_id: r.try_get(0)?,
                caller: r.try_get(1)?,
                agent: r.try_get(2)?,
                facts: facts(r.try_get(3)?),
                target: label == Label::Target.as_str(),
            })
        })
        .collect()
}

/// Up to `limit` done transcripts after `after` (their `seq`) whose call is unscored.
pub fn unscored(
    client: &mut impl GenericClient,
    after: i64,
    limit: usize,
) -> Result<Vec<UnscoredCall>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(
        "SELECT t.seq, c.id, t.caller, t.agent, t.facts::text FROM transcripts t \
         JOIN cdr c ON c.id = t.call_id \
         WHERE t.seq > $1 AND t.status = 'done' AND c.target_probability IS NULL \
         ORDER BY t.seq LIMIT $2",
        &[&after, &limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(UnscoredCall {
                rowid: r.try_get(0)?,
                call_id: r.try_get(1)?,
                caller: r.try_get(2)?,
                agent: r.try_get(3)?,
                facts: facts(r.try_get(4)?),
            })
        })
        .collect()
}

/// Stored facts, or none (an unreadable value reads as none, as on SQLite).
fn facts(json: Option<String>) -> ConversationFacts {
    json.and_then(|f| serde_json::from_str(&f).ok())
        .unwrap_or_default()
}
