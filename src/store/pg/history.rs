//! First-time callers across nodes: one `caller_history` row per caller number, upserted by
//! whichever node's writer sees the call. The upsert takes the row lock, so two nodes
//! judging the same caller at once are serialized by PostgreSQL: the second sees the
//! first's call (`prev_call_at`), and exactly one of them is first-time.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use postgres::Transaction;

use crate::call::history::is_anonymous;
use crate::call::record::rfc3339;
use crate::store::StoreError;
use crate::store::outbox::from_millis;

/// One call to judge: its id, caller number and start.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub id: &'a str,
    pub caller: &'a str,
    pub started_at: Timestamp,
}

/// Records `calls` in the caller history and answers, per call id, whether it is its
/// caller's first call within `window` (`None`: first ever) before it started, counting
/// every node's calls. Callers are locked in sorted order (no deadlock between nodes).
pub fn judge(
    tx: &mut Transaction<'_>,
    calls: &[Arrival<'_>],
    window: Option<Duration>,
    node: &str,
) -> Result<HashMap<String, bool>, StoreError> {
    let mut by_caller: BTreeMap<&str, Vec<Arrival<'_>>> = BTreeMap::new();
    let mut judged = HashMap::with_capacity(calls.len());
    for call in calls {
        if is_anonymous(call.caller) {
            judged.insert(call.id.to_owned(), true);
        } else {
            by_caller.entry(call.caller).or_default().push(*call);
        }
    }
    if by_caller.is_empty() {
        return Ok(judged);
    }
    for arrivals in by_caller.values_mut() {
        arrivals.sort_by_key(|a| a.started_at);
    }
    let earlier = upsert(tx, &by_caller, node)?;
    for (caller, arrivals) in &by_caller {
        let mut previous = earlier.get(*caller).copied();
        for a in arrivals {
            judged.insert(a.id.to_owned(), is_first(previous, a.started_at, window));
            previous = Some(previous.map_or(a.started_at, |p| p.max(a.started_at)));
        }
    }
    Ok(judged)
}

/// Whether a call at `at` is first-time given the caller's latest earlier call.
fn is_first(previous: Option<Timestamp>, at: Timestamp, window: Option<Duration>) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    let Some(window) = window else {
        return false;
    };
    let window = SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX);
    previous < at && at.duration_since(previous) > window
}

/// Upserts one row per caller; returns each caller's latest call before this batch.
fn upsert(
    tx: &mut Transaction<'_>,
    by_caller: &BTreeMap<&str, Vec<Arrival<'_>>>,
    node: &str,
) -> Result<HashMap<String, Timestamp>, StoreError> {
    let callers: Vec<&str> = by_caller.keys().copied().collect();
    let ends = |last: bool| -> Vec<String> {
        by_caller
            .values()
            .filter_map(|a| if last { a.last() } else { a.first() })
            .map(|a| rfc3339::format(a.started_at))
            .collect()
    };
    let (first, last) = (ends(false), ends(true));
    let rows = tx.query(
        "INSERT INTO caller_history AS h (caller, first_call_at, last_call_at, last_node) \
         SELECT c, f::timestamptz, l::timestamptz, $4 \
         FROM unnest($1::text[], $2::text[], $3::text[]) AS t(c, f, l) ORDER BY c \
         ON CONFLICT (caller) DO UPDATE SET prev_call_at = h.last_call_at, \
         last_call_at = greatest(h.last_call_at, excluded.last_call_at), \
         last_node = excluded.last_node \
         RETURNING caller, (extract(epoch FROM prev_call_at) * 1000)::bigint",
        &[&callers, &first, &last, &node],
    )?;
    let mut earlier = HashMap::with_capacity(rows.len());
    for row in rows {
        if let Some(ms) = row.get::<_, Option<i64>>(1) {
            earlier.insert(row.get(0), from_millis(ms));
        }
    }
    Ok(earlier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_caller_is_first_only_past_the_window_since_the_latest_call() {
        let day = Duration::from_secs(86_400);
        let at = ts("2026-12-07T10:00:00Z");
        assert!(is_first(None, at, Some(day)));
        assert!(!is_first(Some(ts("2026-12-07T09:00:00Z")), at, Some(day)));
        assert!(is_first(Some(ts("2026-12-05T09:00:00Z")), at, Some(day)));
        assert!(
            !is_first(Some(ts("2026-12-05T09:00:00Z")), at, None),
            "forever"
        );
        assert!(!is_first(Some(ts("2026-12-08T09:00:00Z")), at, Some(day)));
    }
}
