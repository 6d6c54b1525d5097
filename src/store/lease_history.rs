//! Lease history (schema version 21): one row per ended lease, appended with each lease
//! snapshot the sweeper saves (the one writer, one transaction) and pruned there past
//! `[tracking] lease_history_days`; read back with the calls to pool numbers for
//! `calltrack pool advise`; and the calls per number that the estimated-accuracy metric and
//! the dashboard's pools page read ([`estimate`]).

use std::collections::HashSet;

use jiff::Timestamp;
use rusqlite::{Connection, Row, named_params};

use super::StoreError;
use super::leases::LeaseTime;
use crate::config::SiteConfig;
use crate::lease::{EndReason, EndedLease, PoolCall};

/// Version 21: ended leases; timestamps RFC 3339 TEXT, `reason` released|expired|reassigned.
pub(super) const V21_LEASE_HISTORY: &str = "
CREATE TABLE lease_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    site        TEXT    NOT NULL,
    pool        TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    visitor_id  TEXT,
    source      TEXT,
    medium      TEXT,
    paid        INTEGER NOT NULL,
    granted_at  TEXT    NOT NULL,
    last_seen   TEXT    NOT NULL,
    heartbeats  INTEGER NOT NULL,
    released_at TEXT,
    expires_at  TEXT    NOT NULL,
    ended_at    TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);
CREATE INDEX lease_history_site_granted ON lease_history (site, granted_at);
CREATE INDEX lease_history_ended_at ON lease_history (ended_at);
";

const INSERT: &str = "INSERT INTO lease_history (site, pool, number, session_id, visitor_id,
    source, medium, paid, granted_at, last_seen, heartbeats, released_at, expires_at, ended_at,
    reason)
    VALUES (:site, :pool, :number, :session_id, :visitor_id, :source, :medium, :paid,
    :granted_at, :last_seen, :heartbeats, :released_at, :expires_at, :ended_at, :reason)";

const SELECT: &str = "SELECT site, pool, number, session_id, visitor_id, source, medium, paid,
    granted_at, last_seen, heartbeats, released_at, expires_at, ended_at, reason
    FROM lease_history WHERE site = :site AND granted_at >= :from ORDER BY granted_at, id";

/// Calls to the site's pool numbers: attributed to a lease, or to a pool number nobody held.
const CALLS: &str = "SELECT tracking_number, caller, session_id, started_at, ended_at, talk_secs
    FROM cdr WHERE site = :site AND started_at >= :from
    AND number_kind IN ('dynamic', 'unattributed') ORDER BY started_at, seq";

/// Appends `ended` and deletes rows that ended before `prune_before`, inside the writer's
/// transaction.
pub(super) fn record(
    conn: &Connection,
    ended: &[EndedLease],
    prune_before: Option<Timestamp>,
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(INSERT)?;
    for e in ended {
        insert.execute(named_params! {
            ":site": e.site,
            ":pool": e.pool,
            ":number": e.number,
            ":session_id": e.session_id,
            ":visitor_id": e.visitor_id,
            ":source": e.source,
            ":medium": e.medium,
            ":paid": e.paid,
            ":granted_at": LeaseTime(e.granted_at),
            ":last_seen": LeaseTime(e.last_seen),
            ":heartbeats": e.heartbeats,
            ":released_at": e.released_at.map(LeaseTime),
            ":expires_at": LeaseTime(e.expires_at),
            ":ended_at": LeaseTime(e.ended_at),
            ":reason": e.reason.as_str(),
        })?;
    }
    if let Some(before) = prune_before {
        conn.execute(
            "DELETE FROM lease_history WHERE ended_at < ?1",
            [LeaseTime(before)],
        )?;
    }
    Ok(())
}

/// The site's ended leases granted at `from` or later, oldest first.
pub fn leases(
    conn: &Connection,
    site: &str,
    from: Timestamp,
) -> Result<Vec<EndedLease>, StoreError> {
    let mut select = conn.prepare_cached(SELECT)?;
    let rows = select.query_map(
        named_params! { ":site": site, ":from": LeaseTime(from) },
        ended_from_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The site's calls to pool numbers that started at `from` or later, oldest first.
pub fn calls(conn: &Connection, site: &str, from: Timestamp) -> Result<Vec<PoolCall>, StoreError> {
    let mut select = conn.prepare_cached(CALLS)?;
    let rows = select.query_map(
        named_params! { ":site": site, ":from": LeaseTime(from) },
        |row| {
            Ok(PoolCall {
                number: row.get(0)?,
                caller: row.get(1)?,
                session_id: row.get(2)?,
                started_at: row.get::<_, LeaseTime>(3)?.0,
                ended_at: row.get::<_, LeaseTime>(4)?.0,
                talk_secs: row.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// What the last calls to one tracking number say about attribution accuracy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberCalls {
    pub number: String,
    /// Calls attributed to a lease that carry a confidence, and the sum of those.
    pub judged: u64,
    pub confidence_sum: f64,
    /// Calls to this pool number while nobody held it.
    pub unattributed: u64,
    /// Calls to this (reserve) number while the pools were exhausted.
    pub reserve: u64,
}

const NUMBER_CALLS: &str = "SELECT tracking_number,
    COUNT(confidence), TOTAL(confidence),
    SUM(number_kind = 'unattributed'), SUM(number_kind = 'reserve')
    FROM cdr WHERE site = :site AND started_at >= :from
    AND number_kind IN ('dynamic', 'unattributed', 'reserve')
    GROUP BY tracking_number";

/// Per tracking number of `site`, the calls since `from` that judge a pool's accuracy.
pub fn number_calls(
    conn: &Connection,
    site: &str,
    from: Timestamp,
) -> Result<Vec<NumberCalls>, StoreError> {
    let mut select = conn.prepare_cached(NUMBER_CALLS)?;
    let rows = select.query_map(
        named_params! { ":site": site, ":from": LeaseTime(from) },
        |row| {
            Ok(NumberCalls {
                number: row.get(0)?,
                judged: row.get(1)?,
                confidence_sum: row.get(2)?,
                unattributed: row.get(3)?,
                reserve: row.get(4)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One pool's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolAccuracy {
    pub pool: String,
    /// Calls to the pool in the window.
    pub calls: u64,
    /// Estimated share attributed correctly (0..1); `None` without calls.
    pub estimate: Option<f64>,
}

/// Every pool of `site` from its numbers' calls.
pub fn estimate(site: &SiteConfig, calls: &[NumberCalls]) -> Vec<PoolAccuracy> {
    let reserve: u64 = calls.iter().map(|c| c.reserve).sum();
    site.pools
        .iter()
        .enumerate()
        .map(|(i, pool)| {
            let numbers: HashSet<&str> = pool.numbers.iter().map(String::as_str).collect();
            let mine = calls.iter().filter(|c| numbers.contains(c.number.as_str()));
            let (mut total, mut right) = (0, 0.0);
            for c in mine {
                total += c.judged + c.unattributed;
                right += c.confidence_sum;
            }
            total += if i == 0 { reserve } else { 0 };
            PoolAccuracy {
                pool: pool.id.clone(),
                calls: total,
                estimate: (total > 0).then(|| (right / total as f64).clamp(0.0, 1.0)),
            }
        })
        .collect()
}

fn ended_from_row(row: &Row<'_>) -> rusqlite::Result<EndedLease> {
    let reason: String = row.get("reason")?;
    Ok(EndedLease {
        site: row.get("site")?,
        pool: row.get("pool")?,
        number: row.get("number")?,
        session_id: row.get("session_id")?,
        visitor_id: row.get("visitor_id")?,
        source: row.get("source")?,
        medium: row.get("medium")?,
        paid: row.get("paid")?,
        granted_at: row.get::<_, LeaseTime>("granted_at")?.0,
        last_seen: row.get::<_, LeaseTime>("last_seen")?.0,
        heartbeats: row.get("heartbeats")?,
        released_at: row.get::<_, Option<LeaseTime>>("released_at")?.map(|t| t.0),
        expires_at: row.get::<_, LeaseTime>("expires_at")?.0,
        ended_at: row.get::<_, LeaseTime>("ended_at")?.0,
        reason: EndReason::parse(&reason).unwrap_or(EndReason::Expired),
    })
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::call::attribution::{Attribution, NumberKindTag};
    use crate::call::confidence::Confidence;
    use crate::call::record::{CallDetailRecord, Disposition, HangupSide, LiveCall};
    use crate::store::schema;

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);

    fn ended(session: &str, granted_min: i64) -> EndedLease {
        let granted_at = T0 + SignedDuration::from_mins(granted_min);
        EndedLease {
            site: "shop".into(),
            pool: "web".into(),
            number: "74950000001".into(),
            session_id: session.into(),
            visitor_id: Some("v1".into()),
            source: Some("google".into()),
            medium: Some("cpc".into()),
            paid: true,
            granted_at,
            last_seen: granted_at + SignedDuration::from_secs(90),
            heartbeats: 3,
            released_at: Some(granted_at + SignedDuration::from_secs(90)),
            expires_at: granted_at + SignedDuration::from_secs(690),
            ended_at: granted_at + SignedDuration::from_secs(690),
            reason: EndReason::Released,
        }
    }

    fn cdr(
        id: &str,
        number: &str,
        kind: NumberKindTag,
        confidence: Option<f64>,
    ) -> CallDetailRecord {
        let live = LiveCall {
            id: id.into(),
            call_id: format!("{id}@carrier"),
            tracking_number: number.into(),
            caller: "79160000001".into(),
            destination: "sip:pbx".into(),
            started_at: T0,
            answered_at: None,
            attribution: Attribution {
                site: "shop".into(),
                number_kind: kind,
                confidence: confidence.map(Confidence::new),
                ..Attribution::default()
            },
            first_time_caller: true,
            scheme: None,
            answered_step: None,
            answered_target: None,
        };
        let end = T0 + SignedDuration::from_secs(30);
        CallDetailRecord::from_live(&live, end, Disposition::NoAnswer, 480, HangupSide::Caller)
    }

    #[test]
    fn calls_per_number_sum_confidence_and_count_unheld_and_reserve_calls() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let rows = [
            cdr("a", "1", NumberKindTag::Dynamic, Some(0.9)),
            cdr("b", "1", NumberKindTag::Dynamic, Some(0.5)),
            cdr("c", "1", NumberKindTag::Unattributed, None),
            cdr("d", "9", NumberKindTag::Reserve, None),
            cdr("e", "5", NumberKindTag::Static, None),
        ];
        for row in &rows {
            crate::store::columns::insert_cdr(&conn, row).unwrap();
        }
        let mut got = number_calls(&conn, "shop", T0).unwrap();
        got.sort_by(|a, b| a.number.cmp(&b.number));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            (got[0].judged, got[0].unattributed, got[0].reserve),
            (2, 1, 0)
        );
        assert!((got[0].confidence_sum - 1.4).abs() < 1e-9);
        assert_eq!((got[1].number.as_str(), got[1].reserve), ("9", 1));
        let later = T0 + SignedDuration::from_secs(1);
        assert!(number_calls(&conn, "shop", later).unwrap().is_empty());
    }

    #[test]
    fn ended_leases_are_kept_read_back_and_pruned() {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        let (a, b) = (ended("a", 0), ended("b", 60));
        record(&conn, &[a.clone(), b.clone()], None).unwrap();
        assert_eq!(leases(&conn, "shop", T0).unwrap(), vec![a, b.clone()]);
        assert!(leases(&conn, "other", T0).unwrap().is_empty());
        let cut = T0 + SignedDuration::from_mins(30);
        record(&conn, &[], Some(cut)).unwrap();
        assert_eq!(
            leases(&conn, "shop", T0).unwrap(),
            vec![b],
            "a ended before the cut"
        );
    }
}

#[cfg(test)]
mod estimate_tests {
    use super::*;
    use std::time::Duration;

    use crate::config::PoolConfig;

    fn site() -> SiteConfig {
        SiteConfig {
            id: "shop".to_owned(),
            name: None,
            forward_to: "sip:sales@127.0.0.1".to_owned(),
            forward_to_counted: true,
            quality_min_talk: None,
            default_number: Some("0".to_owned()),
            reserve_number: Some("9".to_owned()),
            freeze: Duration::from_secs(900),
            static_numbers: Vec::new(),
            pools: pools(),
            origins: Vec::new(),
            utc_offset: jiff::tz::Offset::UTC,
            report_zone: jiff::tz::TimeZone::UTC,
            lease_cooldown: Duration::from_secs(60),
            last_holder: Duration::ZERO,
            adapt_freeze: false,
            heartbeat: Duration::from_secs(30),
            rules: Vec::new(),
            media: None,
            record: None,
            announce: None,
            answer: None,
            overflow_code: false,
            voicemail: None,
        }
    }

    fn pools() -> Vec<PoolConfig> {
        vec![
            PoolConfig {
                id: "web".into(),
                numbers: vec!["1".into(), "2".into()],
                region: None,
            },
            PoolConfig {
                id: "ads".into(),
                numbers: vec!["3".into()],
                region: None,
            },
        ]
    }

    fn calls(number: &str, judged: u64, sum: f64, unattributed: u64, reserve: u64) -> NumberCalls {
        NumberCalls {
            number: number.into(),
            judged,
            confidence_sum: sum,
            unattributed,
            reserve,
        }
    }

    #[test]
    fn confidence_counts_unheld_and_reserve_calls_count_zero() {
        let facts = [
            calls("1", 4, 3.6, 1, 0),
            calls("2", 2, 2.0, 0, 0),
            calls("9", 0, 0.0, 0, 3),
            calls("3", 0, 0.0, 0, 0),
        ];
        let pools = estimate(&site(), &facts);
        // web: 5.6 right of 4 + 1 + 2 + 3 (reserve) calls.
        assert_eq!(pools[0].calls, 10);
        assert!((pools[0].estimate.unwrap() - 0.56).abs() < 1e-9);
        assert_eq!((pools[1].calls, pools[1].estimate), (0, None));
    }
}
