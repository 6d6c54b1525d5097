//! `PATCH /v1/calls/{id}` on PostgreSQL: tags, note, deal and the scorer's label written on
//! the CDR as `store::calls::patch` writes them on SQLite (same columns, same rules: an
//! absent field stays, `null` clears, `updated_at` set; the label only on a call that
//! exists), in the batch's transaction.

use jiff::Timestamp;
use postgres::GenericClient;

use crate::call::record::rfc3339;
use crate::store::StoreError;
use crate::store::calls::patch::CallChange;

/// Applies `change` to the CDR `id` at `at`; false if there is no such CDR.
pub fn apply(
    client: &mut impl GenericClient,
    id: &str,
    change: &CallChange,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let tags = change
        .tags
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::PgValue(e.to_string()))?;
    let deal = change.deal.as_ref().and_then(Option::as_ref);
    let (set_label, label, label_by) = match &change.label {
        Some(l) => (
            true,
            l.label.map(|label| label.as_str()),
            l.label.map(|_| l.by.as_str()),
        ),
        None => (false, None, None),
    };
    let at = rfc3339::format(at);
    let label_at = label.map(|_| at.as_str());
    let changed = client.execute(
        "UPDATE cdr SET \
         tags = coalesce($2, tags), \
         note = CASE WHEN $3 THEN $4 ELSE note END, \
         deal_amount_minor = CASE WHEN $5 THEN $6 ELSE deal_amount_minor END, \
         deal_currency = CASE WHEN $5 THEN $7 ELSE deal_currency END, \
         deal_status = CASE WHEN $5 THEN $8 ELSE deal_status END, \
         updated_at = $9::text::timestamptz, \
         label = CASE WHEN $10 THEN $11 ELSE label END, \
         label_by = CASE WHEN $10 THEN $12 ELSE label_by END, \
         label_at = CASE WHEN $10 THEN $13::text::timestamptz ELSE label_at END \
         WHERE id = $1",
        &[
            &id,
            &tags,
            &change.note.is_some(),
            &change.note.clone().flatten(),
            &change.deal.is_some(),
            &deal.map(|d| d.amount_minor),
            &deal.map(|d| d.currency.as_str()),
            &deal.map(|d| d.status.as_str()),
            &at,
            &set_label,
            &label,
            &label_by,
            &label_at,
        ],
    )?;
    Ok(changed > 0)
}
