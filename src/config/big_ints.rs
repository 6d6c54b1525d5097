//! Integers TOML cannot hold (beyond 64-bit signed) are a syntax error to the TOML parser,
//! which would hide every other problem behind it. They are turned into keyed problems
//! instead: the literal is swapped for a marked string before parsing, and after parsing
//! each marked value is reported at its key path (`sip.udp_max_request_bytes: integer
//! 99999999999999999999 is out of range`) and removed, so its default applies and every
//! other problem is still found.

use toml::{Table, Value};

use super::ConfigProblem;

/// Starts a string that stands for an out-of-range integer literal; what follows is the
/// literal. NUL keeps it from colliding with anything an operator writes.
const MARK: &str = "\u{0}calltrack:out-of-range-integer:";

/// The byte range of an out-of-range integer literal the parser choked on, if that is what
/// `err` is about.
pub(super) fn out_of_range(text: &str, err: &toml::de::Error) -> Option<std::ops::Range<usize>> {
    let span = err.span()?;
    let literal = text.get(span.clone())?;
    let is_integer = literal
        .trim_start_matches(['+', '-'])
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, '_' | 'x' | 'o' | 'b'));
    let too_big = err.message().contains("i128") || err.message().contains("too large");
    (is_integer && !literal.is_empty() && too_big).then_some(span)
}

/// `text` with the literal at `span` replaced by a marked TOML string.
pub(super) fn mark(text: &str, span: std::ops::Range<usize>) -> String {
    let literal = text.get(span.clone()).unwrap_or_default();
    let marked = format!("\"\\u0000{}{literal}\"", &MARK[1..]);
    let mut out = String::with_capacity(text.len() + marked.len());
    out.push_str(text.get(..span.start).unwrap_or_default());
    out.push_str(&marked);
    out.push_str(text.get(span.end..).unwrap_or_default());
    out
}

/// Reports every marked value under `value` at its key path and removes it from tables
/// (array elements stay, so indices keep their paths; decoding then reports nothing new
/// there because the path already has its problem).
pub(super) fn report(value: &mut Value, path: &str, problems: &mut Vec<ConfigProblem>) {
    match value {
        Value::Table(table) => report_table(table, path, problems),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                report(item, &format!("{path}[{i}]"), problems);
            }
        }
        Value::String(s) => {
            if let Some(literal) = s.strip_prefix(MARK) {
                problems.push(problem(path, literal));
            }
        }
        _ => {}
    }
}

fn report_table(table: &mut Table, path: &str, problems: &mut Vec<ConfigProblem>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    table.retain(|key, value| match value {
        Value::String(s) if s.starts_with(MARK) => {
            problems.push(problem(&join(key), &s[MARK.len()..]));
            false
        }
        _ => true,
    });
    for (key, value) in table.iter_mut() {
        report(value, &join(key), problems);
    }
}

fn problem(path: &str, literal: &str) -> ConfigProblem {
    ConfigProblem {
        path: path.to_owned(),
        message: format!(
            "integer {literal} is out of range (at most {}, and the key's own limit)",
            i64::MAX
        ),
    }
}
