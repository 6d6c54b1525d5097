//! Turns TOML text into a [`ConfigFile`], collecting every structural problem (syntax aside).
//!
//! serde stops at the first error, so decoding runs in passes: each failure is recorded with
//! its key path (via `serde_path_to_error`), the offending value is pruned from the table and
//! the next pass starts. Pruning a key lets its default apply; a bad array element is replaced
//! by a placeholder so later indices keep their paths. Problems that validation later finds
//! under an already reported path are dropped by the caller, so one mistake reads as one line.

use std::collections::HashMap;

use serde_path_to_error::{Path, Segment};
use toml::{Table, Value};

use super::big_ints;
use super::file::ConfigFile;
use super::{ConfigError, ConfigProblem};

/// Upper bound on decoding passes; each pass removes one problem.
const MAX_PASSES: usize = 1000;

/// Parses the TOML syntax; the error names line and column. Integers beyond TOML's 64-bit
/// range are not syntax errors here: they become keyed problems (see [`big_ints`]).
pub(super) fn parse_table(text: &str) -> Result<Table, ConfigError> {
    let mut text = std::borrow::Cow::Borrowed(text);
    for _ in 0..MAX_PASSES {
        match text.parse::<Table>() {
            Ok(table) => return Ok(table),
            Err(err) => match big_ints::out_of_range(&text, &err) {
                Some(span) => text = std::borrow::Cow::Owned(big_ints::mark(&text, span)),
                None => return Err(ConfigError::Syntax(describe_syntax(&text, &err))),
            },
        }
    }
    Err(ConfigError::Syntax(
        "too many out-of-range integers".to_owned(),
    ))
}

/// Decodes the table. `None` only if pruning could not make progress (problems are non-empty).
pub(super) fn decode(table: Table) -> (Option<ConfigFile>, Vec<ConfigProblem>) {
    let mut root = Value::Table(table);
    let mut problems: Vec<ConfigProblem> = Vec::new();
    big_ints::report(&mut root, "", &mut problems);
    let mut placeholders: HashMap<String, u8> = HashMap::new();
    for _ in 0..MAX_PASSES {
        match serde_path_to_error::deserialize::<_, ConfigFile>(root.clone()) {
            Ok(file) => return (Some(file), problems),
            Err(err) => {
                record(&mut problems, err.path(), err.inner().message());
                if !prune(&mut root, err.path(), &mut placeholders) {
                    break;
                }
            }
        }
    }
    (None, problems)
}

fn record(problems: &mut Vec<ConfigProblem>, path: &Path, message: &str) {
    let path = path.to_string();
    if problems.iter().all(|p| p.path != path) {
        let message = describe_serde(message);
        problems.push(ConfigProblem { path, message });
    }
}

/// Removes or replaces the value at `path`; false if nothing could be changed.
fn prune(root: &mut Value, path: &Path, placeholders: &mut HashMap<String, u8>) -> bool {
    let segments: Vec<&Segment> = path.iter().collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let Some(parent) = navigate(root, parents) else {
        return false;
    };
    match (parent, last) {
        (Value::Table(table), Segment::Map { key }) => table.remove(key).is_some(),
        (Value::Array(array), Segment::Seq { index }) => {
            let tries = placeholders.entry(path.to_string()).or_insert(0);
            *tries += 1;
            replace_element(array, *index, *tries)
        }
        _ => false,
    }
}

fn navigate<'a>(mut value: &'a mut Value, segments: &[&Segment]) -> Option<&'a mut Value> {
    for segment in segments {
        value = match segment {
            Segment::Map { key } => value.as_table_mut()?.get_mut(key.as_str())?,
            Segment::Seq { index } => value.as_array_mut()?.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Every array in the schema holds tables, strings or integers: try an empty table, then an
/// empty string, then 0.
fn replace_element(array: &mut [Value], index: usize, tries: u8) -> bool {
    let placeholder = match tries {
        1 => Value::Table(Table::new()),
        2 => Value::String(String::new()),
        3 => Value::Integer(0),
        _ => return false,
    };
    match array.get_mut(index) {
        Some(slot) => {
            *slot = placeholder;
            true
        }
        None => false,
    }
}

/// Rewrites serde's wording into config words.
fn describe_serde(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!("unknown key (expected {expected})");
    }
    if let Some((head, _)) = message.split_once(", expected struct ") {
        return format!("{head}, expected a table");
    }
    message.replace("expected a sequence", "expected an array")
}

fn describe_syntax(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    match err.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
