//! The report rollup (`report_rollup`, kept by the V9 triggers) rebuilt from scratch, and bulk
//! loads that write many rows without paying the triggers row by row (`demo-data`).

use rusqlite::Connection;

use super::StoreError;

/// SQL that recomputes `cdr.prev_started_at` and the whole `report_rollup` from `cdr` and
/// `leads` (the V9 backfill and [`bulk_load`]'s last step). A macro so that the migration,
/// which must be one literal, and this module share one text.
macro_rules! rollup_rebuild_sql {
    () => {
        "
DELETE FROM report_rollup;
UPDATE cdr SET prev_started_at = p.prev FROM (
    SELECT seq, lag(started_at) OVER (PARTITION BY caller, site ORDER BY started_at) AS prev
    FROM cdr WHERE disposition <> 'rejected') AS p
WHERE cdr.seq = p.seq AND cdr.prev_started_at IS NOT p.prev;
INSERT INTO report_rollup SELECT substr(started_at, 1, 13), site, coalesce(source, ''),
    coalesce(medium, ''), coalesce(campaign, ''), number_kind,
    CASE WHEN deal_status IS 'won' THEN coalesce(deal_currency, '') ELSE '' END,
    count(*), sum(first_time_caller), sum(answered_at IS NOT NULL), sum(missed),
    sum(missed = 1 AND called_back_at IS NULL), sum(quality),
    sum(CASE WHEN answered_at IS NOT NULL THEN wait_secs ELSE 0 END),
    sum(CASE WHEN answered_at IS NOT NULL THEN talk_secs ELSE 0 END), 0,
    sum(CASE WHEN deal_status IS 'won' THEN coalesce(deal_amount_minor, 0) ELSE 0 END),
    sum(deal_status IS 'won')
FROM cdr WHERE disposition <> 'rejected' GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT INTO report_rollup (hour, site, source, medium, campaign, number_kind, currency, leads,
    won_minor, won_deals)
SELECT substr(created_at, 1, 13), site, coalesce(source, ''), coalesce(medium, ''),
    coalesce(campaign, ''), number_kind,
    CASE WHEN deal_status IS 'won' THEN coalesce(deal_currency, '') ELSE '' END, count(*),
    sum(CASE WHEN deal_status IS 'won' THEN coalesce(deal_amount_minor, 0) ELSE 0 END),
    sum(deal_status IS 'won')
FROM leads WHERE true GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT DO UPDATE SET leads = leads + excluded.leads,
    won_minor = won_minor + excluded.won_minor, won_deals = won_deals + excluded.won_deals;
"
    };
}

/// Runs `load` in one transaction with the report triggers set aside, then rebuilds the
/// rollup and the callers' previous calls once and puts the triggers back: a million rows
/// load in seconds instead of paying three trigger statements each.
pub fn bulk_load<T>(
    conn: &mut Connection,
    load: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn.transaction()?;
    let triggers: Vec<(String, String)> = tx
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'report\\_%' ESCAPE '\\'",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, _) in &triggers {
        tx.execute_batch(&format!("DROP TRIGGER \"{name}\""))?;
    }
    let loaded = load(&tx)?;
    tx.execute_batch(rollup_rebuild_sql!())?;
    for (_, sql) in &triggers {
        tx.execute_batch(sql)?;
    }
    tx.commit()?;
    Ok(loaded)
}
