//! Per-call confidence in the store (schema version 17): the `confidence` column of calls
//! (and of leads, whose attribution has the same shape; always NULL there), and
//! `report_confidence`, the hourly sums that give reports their average confidence per
//! source, medium, campaign and number kind without reading every call.
//!
//! The table has its own triggers (named `confidence_*`, so bulk loads keep paying them:
//! they cost nothing for a call without a confidence) and no currency, so it is apart from
//! `report_rollup` and its rebuild.

use rusqlite::Connection;

use super::StoreError;
use super::report_facts::side_rollup_sums;
use crate::report::{FactQuery, Facts, Sums};

/// Version 18: the probability, known at ring time, that the attributed visit is the caller
/// (`call::confidence`); NULL for calls not attributed to a lease and for older rows. Calls
/// calltrack refused itself (`rejected`) are not in the sums, as in the report rollup.
pub(super) const V18_CONFIDENCE: &str = "
ALTER TABLE cdr ADD COLUMN confidence REAL;
ALTER TABLE leads ADD COLUMN confidence REAL;

CREATE TABLE report_confidence (
    hour        TEXT NOT NULL,
    site        TEXT NOT NULL,
    source      TEXT NOT NULL,
    medium      TEXT NOT NULL,
    campaign    TEXT NOT NULL,
    number_kind TEXT NOT NULL,
    calls       INTEGER NOT NULL DEFAULT 0,
    milli       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, site, source, medium, campaign, number_kind)
) WITHOUT ROWID;

CREATE TRIGGER confidence_cdr_insert AFTER INSERT ON cdr
WHEN NEW.confidence IS NOT NULL AND NEW.disposition <> 'rejected' BEGIN
    INSERT INTO report_confidence VALUES (substr(NEW.started_at, 1, 13), NEW.site,
        coalesce(NEW.source, ''), coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''),
        NEW.number_kind, 1, CAST(round(NEW.confidence * 1000) AS INTEGER))
    ON CONFLICT DO UPDATE SET calls = calls + 1, milli = milli + excluded.milli;
END;

CREATE TRIGGER confidence_cdr_forget AFTER DELETE ON cdr
WHEN OLD.confidence IS NOT NULL AND OLD.disposition <> 'rejected' BEGIN
    UPDATE report_confidence SET calls = calls - 1,
        milli = milli - CAST(round(OLD.confidence * 1000) AS INTEGER)
    WHERE hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind;
END;

CREATE TRIGGER confidence_cdr_update AFTER UPDATE OF started_at, disposition, site,
    number_kind, source, medium, campaign, confidence ON cdr BEGIN
    UPDATE report_confidence SET calls = calls - 1,
        milli = milli - CAST(round(OLD.confidence * 1000) AS INTEGER)
    WHERE OLD.confidence IS NOT NULL AND OLD.disposition <> 'rejected'
      AND hour = substr(OLD.started_at, 1, 13) AND site = OLD.site
      AND source = coalesce(OLD.source, '') AND medium = coalesce(OLD.medium, '')
      AND campaign = coalesce(OLD.campaign, '') AND number_kind = OLD.number_kind;
    INSERT INTO report_confidence SELECT substr(NEW.started_at, 1, 13), NEW.site,
        coalesce(NEW.source, ''), coalesce(NEW.medium, ''), coalesce(NEW.campaign, ''),
        NEW.number_kind, 1, CAST(round(NEW.confidence * 1000) AS INTEGER)
    WHERE NEW.confidence IS NOT NULL AND NEW.disposition <> 'rejected'
    ON CONFLICT DO UPDATE SET calls = calls + 1, milli = milli + excluded.milli;
END;
";

/// The confidence sums of a query the report rollup answers (see `report_facts`).
pub(super) fn rollup_sums(
    conn: &Connection,
    q: &FactQuery,
    facts: &mut Facts,
) -> Result<(), StoreError> {
    side_rollup_sums(
        conn,
        q,
        facts,
        "sum(calls), sum(milli) FROM report_confidence",
        |confident_calls, confidence_milli| Sums {
            confident_calls,
            confidence_milli,
            ..Sums::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReportInput, ReportRequest, Zones};
    use crate::store::report_facts::{facts_of, rolled_up};

    fn call(conn: &Connection, id: &str, disposition: &str, confidence: Option<f64>) {
        conn.execute(
            "INSERT INTO cdr (id, call_id, tracking_number, caller, destination, started_at,
                ended_at, wait_secs, talk_secs, disposition, sip_status, hangup_side, site,
                source, number_kind, confidence)
             VALUES (?1, ?1, '1', '79', 'sip:x', '2026-12-01T10:00:00Z', '2026-12-01T10:01:00Z',
                3, 0, ?2, 480, 'caller', 'shop', 'google', 'dynamic', ?3)",
            rusqlite::params![id, disposition, confidence],
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
    fn reports_average_the_confidence_of_calls_that_have_one_on_both_paths() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        call(&conn, "a", "no_answer", Some(0.9));
        call(&conn, "b", "answered", Some(0.7));
        call(&conn, "c", "answered", None);
        call(&conn, "d", "rejected", Some(0.1));
        let (rolled, by_source) = totals(&conn, "source");
        let (scanned, by_term) = totals(&conn, "term");
        assert!(rolled && !scanned);
        for sums in [by_source, by_term] {
            assert_eq!((sums.confident_calls, sums.confidence_milli), (2, 1600));
        }
        conn.execute("UPDATE cdr SET confidence = 0.5 WHERE id = 'a'", [])
            .unwrap();
        conn.execute("DELETE FROM cdr WHERE id = 'b'", []).unwrap();
        let (_, after) = totals(&conn, "source");
        assert_eq!((after.confident_calls, after.confidence_milli), (1, 500));
        let figures = crate::report::Figures::from(after);
        assert_eq!(figures.avg_confidence, Some(0.5));
    }
}
