//! CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection"): text that came
//! from outside calltrack and starts with `=`, `+`, `-`, `@`, TAB or CR gets a leading `'`.
//!
//! Only outside text is escaped: the visit (utm_* tags, referrer, landing page, click ids,
//! analytics ids) and what the caller's SIP request chose (`caller` when it is a user name,
//! `call_id`). Columns calltrack writes itself (numbers, times, dispositions, site, scheme,
//! targets, region) are left as they are, so `+7...`-style values in those stay numbers.
//! Quoting stays with the `csv` crate.

use std::borrow::Cow;

use crate::call::record::CallDetailRecord;

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

/// The CSV columns that hold outside text, in the order of the CSV header.
pub const ESCAPED_COLUMNS: [&str; 14] = [
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
];

/// A copy of `cdr` whose outside-text fields ([`ESCAPED_COLUMNS`]) are neutralised.
pub fn spreadsheet_safe(cdr: &CallDetailRecord) -> CallDetailRecord {
    let mut safe = cdr.clone();
    let fix = |s: &mut String| {
        if let Cow::Owned(o) = neutralise(s) {
            *s = o;
        }
    };
    fix(&mut safe.call_id);
    fix(&mut safe.caller);
    for field in [
        &mut safe.source,
        &mut safe.medium,
        &mut safe.campaign,
        &mut safe.term,
        &mut safe.content,
        &mut safe.referrer,
        &mut safe.landing_page,
        &mut safe.gclid,
        &mut safe.yclid,
        &mut safe.ga_client_id,
        &mut safe.ga_session_id,
        &mut safe.ym_client_id,
    ] {
        if let Some(value) = field.as_mut() {
            fix(value);
        }
    }
    safe
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
}
