//! Target calls in reports: `report_targets`, the hourly counts of scored and target calls
//! per site, source, medium, campaign and number kind, kept by triggers on the score columns
//! (created with them by `store::scoring`'s V21), so reports count target calls per source and campaign without
//! reading every call. Calls calltrack refused itself are not counted, as in the rollup.

use rusqlite::Connection;

use super::StoreError;
use super::report_facts::side_rollup_sums;
use crate::report::{FactQuery, Facts, Sums};

/// The target sums of a query the report rollup answers (see `report_facts`).
pub(super) fn rollup_sums(
    conn: &Connection,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<(), StoreError> {
    side_rollup_sums(
        conn,
        q,
        facts,
        "sum(scored), sum(targets) FROM report_targets",
        |scored_calls, target_calls| Sums {
            scored_calls,
            target_calls,
            ..Sums::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportInput, ReportRequest, Zones};
    use crate::store::report_facts::{facts_of, rolled_up};

    fn call(conn: &Connection, id: &str, campaign: &str, disposition: &str) {
        conn.execute(
            "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
                ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, site,
                source, campaign, number_kind)
             VALUES (?1, ?1, '1', '79', 'sip:x', '2026-12-01T10:00:00Z', '2026-12-01T10:01:00Z',
                3, 40, ?3, 200, 'caller', 'shop', 'google', ?2, 'dynamic')",
            rusqlite::params![id, campaign, disposition],
        )
        .unwrap();
    }

    fn score(conn: &Connection, id: &str, target: bool) {
        conn.execute(
            "UPDATE cdr SET target_probability = ?2, target = ?3 WHERE id = ?1",
            rusqlite::params![id, if target { 0.9 } else { 0.1 }, target],
        )
        .unwrap();
    }

    fn totals(conn: &Connection, by: &str) -> (bool, Sums) {
        let mut zones = Zones::default();
        zones.0.insert("shop".into(), jiff::tz::TimeZone::UTC);
        let input = ReportInput {
            from: Some("2026-12-01".into()),
            to: Some("2026-12-01".into()),
            by: Some(by.into()),
            ..ReportInput::default()
        };
        let request = ReportRequest::parse(&input, &zones, "RUB").unwrap();
        let queries = request.queries(&zones);
        let total = crate::report::build::total_of(facts_of(conn, &queries).unwrap());
        (rolled_up(&queries[0]), total)
    }

    #[test]
    fn reports_count_scored_and_target_calls_on_both_paths() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        call(&conn, "a", "sofas", "answered");
        call(&conn, "b", "sofas", "answered");
        call(&conn, "c", "tables", "answered");
        call(&conn, "d", "tables", "rejected");
        score(&conn, "a", true);
        score(&conn, "b", false);
        score(&conn, "d", true);
        let (rolled, by_campaign) = totals(&conn, "source,campaign");
        let (scanned, by_term) = totals(&conn, "term");
        assert!(rolled && !scanned);
        for sums in [by_campaign, by_term] {
            assert_eq!((sums.scored_calls, sums.target_calls), (2, 1));
        }
        score(&conn, "b", true);
        conn.execute("DELETE FROM cdr WHERE id = 'a'", []).unwrap();
        let (_, after) = totals(&conn, "campaign");
        assert_eq!((after.scored_calls, after.target_calls), (1, 1));
        assert_eq!(crate::report::Figures::from(after).target_calls, 1);
    }
}
