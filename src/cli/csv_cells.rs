//! CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection"): text that came
//! from outside calltrack and starts with `=`, `+`, `-`, `@`, TAB or CR gets a leading `'`.
//!
//! Only outside text is escaped: the visit (utm_* tags, referrer, landing page, click ids,
//! analytics ids) and what the caller's SIP request chose (`caller` when it is a user name,
//! `call_id`). Columns calltrack writes itself (numbers, times, dispositions, site, scheme,
//! targets, region; [`OWN_TEXT_COLUMNS`]) are left as they are, so `+7...`-style values in
//! those stay numbers.
//! Quoting stays with the `csv` crate.

use std::borrow::Cow;

use crate::store::flat::Cell;

/// First characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `value`, with `'` in front when a spreadsheet would run it as a formula.
pub fn neutralise(value: &str) -> Cow<'_, str> {
    if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Text columns calltrack writes itself: kept as they are. Every other text column is
/// outside text and escaped, so a new attribution field is escaped without anyone listing it.
pub const OWN_TEXT_COLUMNS: [&str; 15] = [
    "id",
    "tracking_number",
    "destination",
    "started_at",
    "answered_at",
    "ended_at",
    "disposition",
    "hangup_side",
    "site",
    "number_kind",
    "region",
    "session_id",
    "scheme",
    "answered_target",
    "reject_reason",
];

/// Whether the column `name` holds outside text.
pub fn is_outside_text(name: &str) -> bool {
    !OWN_TEXT_COLUMNS.contains(&name)
}

/// The CSV text of one cell of column `name`, neutralised when it is outside text.
pub fn spreadsheet_safe<'a>(name: &str, cell: &'a Cell) -> Cow<'a, str> {
    match cell {
        Cell::Text(text) if is_outside_text(name) => neutralise(text),
        other => other.csv_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_get_a_quote_and_the_rest_is_kept() {
        for formula in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(formula), format!("'{formula}"));
        }
        for plain in ["google", "74951234567", "", "a=b", "'quoted"] {
            assert_eq!(neutralise(plain), plain);
        }
    }

    /// The caller's and the visit's columns are escaped (as when they were listed by hand),
    /// calltrack's own are not; a column nobody listed is escaped.
    #[test]
    fn outside_text_columns_are_the_caller_and_visit_columns() {
        let columns = crate::store::flat::cdr_columns();
        for outside in [
            "call_id",
            "caller",
            "source",
            "medium",
            "campaign",
            "term",
            "content",
            "referrer",
            "landing_page",
            "gclid",
            "yclid",
            "ga_client_id",
            "ga_session_id",
            "ym_client_id",
        ] {
            assert!(columns.iter().any(|c| c == outside), "{outside}");
            assert!(is_outside_text(outside), "{outside}");
        }
        for own in OWN_TEXT_COLUMNS {
            assert!(columns.iter().any(|c| c == own), "{own}");
        }
        assert!(is_outside_text("fbclid"), "unlisted: escaped");
    }
}
