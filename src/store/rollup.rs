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

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(conn: &Connection) -> (Vec<Vec<String>>, Vec<Option<String>>) {
        let rollup = conn
            .prepare("SELECT * FROM report_rollup WHERE calls <> 0 OR leads <> 0 OR won_deals <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7")
            .unwrap()
            .query_map([], |row| {
                (0..18)
                    .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                    .collect()
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let prev = conn
            .prepare("SELECT prev_started_at FROM cdr ORDER BY seq")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (rollup, prev)
    }

    #[test]
    fn triggers_keep_what_a_rebuild_computes() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let call = |id: &str, at: &str, caller: &str, disposition: &str| {
            conn.execute(
                "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
                    answered_at, ended_at, wait_secs, talk_secs, disposition, sip_status,
                    hangup_side, site, source, campaign, missed, quality)
                 VALUES (?1, ?1, '1', ?3, 'sip:x', ?2, CASE WHEN ?4 = 'answered' THEN ?2 END, ?2,
                    4, 50, ?4, 200, 'caller', 'shop', 'google', 'brand', ?4 <> 'answered', 1)",
                rusqlite::params![id, at, caller, disposition],
            )
            .unwrap();
        };
        call("a", "2026-12-01T10:00:00Z", "1", "answered");
        call("c", "2026-12-01T12:00:00Z", "1", "no_answer");
        // Written late: the call between a and c ends after c was written.
        call("b", "2026-12-01T11:00:00Z", "1", "answered");
        call("r", "2026-12-01T11:30:00Z", "1", "rejected");
        call("d", "2026-12-01T11:10:00Z", "2", "answered");
        conn.execute(
            "UPDATE cdr SET deal_amount_minor = 500, deal_currency = 'RUB', deal_status = 'won',
                called_back_at = '2026-12-01T12:30:00Z' WHERE id IN ('c', 'd')",
            [],
        )
        .unwrap();
        conn.execute("UPDATE cdr SET source = 'yandex' WHERE id = 'd'", [])
            .unwrap();
        conn.execute(
            "INSERT INTO leads (id, created_at, site, source, deal_amount_minor, deal_currency, deal_status)
             VALUES ('l', '2026-12-01T10:30:00Z', 'shop', 'google', 700, 'USD', 'won')",
            [],
        )
        .unwrap();
        conn.execute("UPDATE leads SET deal_status = 'lost' WHERE id = 'l'", [])
            .unwrap();
        conn.execute("DELETE FROM cdr WHERE id = 'a'", []).unwrap();
        let kept = snapshot(&conn);
        assert_eq!(
            kept.1,
            [Some("2026-12-01T11:00:00Z".to_owned()), None, None, None],
            "{kept:?}"
        );
        bulk_load(&mut conn, |_| Ok(())).unwrap();
        assert_eq!(snapshot(&conn), kept);
        let triggers: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' \
                 AND name LIKE 'report\\_%' ESCAPE '\\'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(triggers, 6, "bulk_load puts the triggers back");
    }
}
