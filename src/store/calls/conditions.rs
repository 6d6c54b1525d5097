//! The calls filter and the keyset cursor as one `WHERE` clause, written once for both
//! backends: each condition is `column op value` with the value a [`Cell`], and the backend
//! only says how a parameter is written (`?3` on SQLite, `$3::text::timestamptz` on
//! PostgreSQL).

use super::filter::{CallFilter, Cursor, Sort};
use crate::call::record::rfc3339;
use crate::store::flat::Cell;

/// `WHERE ...` (or nothing) and its values, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub sql: String,
    pub values: Vec<Cell>,
}

/// How a backend writes parameter `n` (1-based) compared with `column`.
pub type Mark<'a> = &'a dyn Fn(usize, &str) -> String;

/// `<select> WHERE ... ORDER BY started_at, seq LIMIT n`: at most `limit` calls the filter
/// matches, in `sort`'s order, after `cursor` if given.
pub fn listing(
    select: &str,
    filter: &CallFilter,
    sort: Sort,
    cursor: Option<&Cursor>,
    limit: usize,
    mark: Mark<'_>,
) -> Clause {
    let Clause { sql, mut values } = clause(filter, cursor.map(|c| (c, sort)), mark);
    let (_, dir) = direction(sort);
    values.push(Cell::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "{select} {sql} ORDER BY started_at {dir}, seq {dir} LIMIT {}",
        mark(values.len(), "seq")
    );
    Clause { sql, values }
}

/// `ASC`/`DESC` of a listing order, and the keyset comparison that continues it.
fn direction(sort: Sort) -> (&'static str, &'static str) {
    match sort {
        Sort::Newest => ("<", "DESC"),
        Sort::Oldest => (">", "ASC"),
    }
}

/// The filter's conditions and, with a cursor, the calls after it in `sort`'s order.
fn clause(filter: &CallFilter, cursor: Option<(&Cursor, Sort)>, mark: Mark<'_>) -> Clause {
    let mut values = Vec::new();
    let mut parts = Vec::new();
    for (column, op, value) in conditions(filter) {
        values.push(value);
        parts.push(format!("{column} {op} {}", mark(values.len(), column)));
    }
    if let Some((cursor, sort)) = cursor {
        let (op, _) = direction(sort);
        values.push(Cell::Text(cursor.started_at.clone()));
        let at = mark(values.len(), "started_at");
        values.push(Cell::Int(cursor.seq));
        let seq = mark(values.len(), "seq");
        // The `started_at {op}= ...` half is a range the index can seek to; the rest breaks
        // ties on the same start time by `seq`.
        parts.push(format!(
            "started_at {op}= {at} AND (started_at {op} {at} OR seq {op} {seq})"
        ));
    }
    let sql = if parts.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", parts.join(" AND "))
    };
    Clause { sql, values }
}

/// `(column, operator, value)` of every condition the filter sets.
fn conditions(f: &CallFilter) -> Vec<(&'static str, &'static str, Cell)> {
    let mut all = Vec::new();
    if let Some(from) = f.from {
        all.push(("started_at", ">=", Cell::Text(rfc3339::format(from))));
    }
    if let Some(to) = f.to {
        all.push(("started_at", "<", Cell::Text(rfc3339::format(to))));
    }
    let texts = [
        ("site", &f.site),
        ("source", &f.source),
        ("medium", &f.medium),
        ("campaign", &f.campaign),
        ("tracking_number", &f.tracking_number),
        ("caller", &f.caller),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            all.push((column, "=", Cell::Text(value.clone())));
        }
    }
    if let Some(d) = f.disposition {
        all.push(("disposition", "=", Cell::Text(d.as_str().to_owned())));
    }
    let flags = [
        ("first_time_caller", f.first_time),
        ("quality", f.quality),
        ("missed", f.missed),
    ];
    for (column, value) in flags {
        if let Some(value) = value {
            all.push((column, "=", Cell::Int(i64::from(value))));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_cursor_number_their_marks_in_value_order() {
        let filter = CallFilter {
            site: Some("demo".into()),
            missed: Some(true),
            ..CallFilter::default()
        };
        let cursor = Cursor {
            started_at: "2026-11-20T10:00:00.000Z".into(),
            seq: 7,
        };
        let mark = |n: usize, column: &str| format!("${n}/{column}");
        let c = clause(&filter, Some((&cursor, Sort::Oldest)), &mark);
        assert_eq!(
            c.sql,
            "WHERE site = $1/site AND missed = $2/missed AND started_at >= $3/started_at \
             AND (started_at > $3/started_at OR seq > $4/seq)"
        );
        assert_eq!(
            c.values,
            [
                Cell::Text("demo".into()),
                Cell::Int(1),
                Cell::Text(cursor.started_at.clone()),
                Cell::Int(7)
            ]
        );
        let none = clause(&CallFilter::default(), None, &mark);
        assert_eq!((none.sql.as_str(), none.values.len()), ("", 0));
    }

    #[test]
    fn a_listing_orders_by_start_then_seq_and_limits_last() {
        let mark = |n: usize, _: &str| format!("?{n}");
        let filter = CallFilter {
            quality: Some(false),
            ..CallFilter::default()
        };
        let l = listing(
            "SELECT seq FROM cdr",
            &filter,
            Sort::Newest,
            None,
            51,
            &mark,
        );
        assert_eq!(
            l.sql,
            "SELECT seq FROM cdr WHERE quality = ?1 ORDER BY started_at DESC, seq DESC LIMIT ?2"
        );
        assert_eq!(l.values, [Cell::Int(0), Cell::Int(51)]);
    }
}
