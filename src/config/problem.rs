//! [`ConfigProblem`]: one thing wrong with the config at a key path, and how lists of them are
//! merged and ordered for the reader.

use std::cmp::Ordering;
use std::fmt;

/// One thing wrong with the config, at a key path such as `sites[0].pools[1].numbers[3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Adds semantic problems to structural ones, dropping those under an already reported path
/// (a pruned value falls back to a default that validation should not blame), then orders
/// everything by key path so each section's problems read together.
pub(super) fn merge(structural: &mut Vec<ConfigProblem>, semantic: Vec<ConfigProblem>) {
    let fresh: Vec<ConfigProblem> = semantic
        .into_iter()
        .filter(|p| !already_reported(structural, &p.path))
        .collect();
    structural.extend(fresh);
    structural.sort_by(|a, b| compare_paths(&a.path, &b.path));
}

/// One problem per line.
pub(super) fn lines(problems: &[ConfigProblem]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// True if `path` is, or lies under, a path that already has a problem.
fn already_reported(problems: &[ConfigProblem], path: &str) -> bool {
    problems.iter().any(|p| {
        path.strip_prefix(p.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// A step of a key path; array indices compare as numbers (`[2]` before `[10]`).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn compare_paths(a: &str, b: &str) -> Ordering {
    steps(a).cmp(&steps(b))
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next() {
            steps.push(Step::Key(key));
        }
        for index in pieces {
            let digits = index.trim_end_matches(']');
            steps.push(digits.parse().map_or(Step::Key(digits), Step::Index));
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(path: &str) -> ConfigProblem {
        ConfigProblem {
            path: path.to_owned(),
            message: "m".to_owned(),
        }
    }

    #[test]
    fn merge_orders_by_path_and_drops_covered_problems() {
        let mut structural = vec![problem("sites[10]"), problem("sip.timers.t1_ms")];
        let semantic = vec![
            problem("sites[10].id"),
            problem("sip.timers.t1_ms"),
            problem("sites[2].id"),
            problem("sip"),
            problem("sites[1]x"),
        ];
        merge(&mut structural, semantic);
        let paths: Vec<&str> = structural.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sip",
                "sip.timers.t1_ms",
                "sites[1]x",
                "sites[2].id",
                "sites[10]"
            ]
        );
    }
}
