//! The room graph: which top-level room's production code names which other room, read from
//! `crate::room`, `crate::{room, ...}` and `super::` paths that climb to the crate root.

use std::collections::{BTreeMap, BTreeSet};

/// Room -> the rooms it names -> the files that name them.
pub type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The top-level room of a source path: `src/b2bua/session/mod.rs` -> `b2bua`,
/// `src/shutdown.rs` -> `shutdown`; `lib.rs` and `main.rs` are the crate's roots, no room.
pub fn room_of(rel: &str) -> Option<String> {
    let rest = rel.strip_prefix("src/")?;
    let first = rest.split('/').next()?;
    let room = first.strip_suffix(".rs").unwrap_or(first);
    (room != "lib" && room != "main").then(|| room.to_string())
}

/// The module path of a file below its room (`src/b2bua/session/mod.rs` -> `[b2bua,
/// session]`), to resolve `super::` against.
fn module_path(rel: &str) -> Vec<String> {
    let rest = rel.strip_prefix("src/").unwrap_or(rel);
    let mut parts: Vec<String> = rest.split('/').map(str::to_string).collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
        if stem != "mod" {
            parts.push(stem);
        }
    }
    parts
}

/// Every room that `code` (production code of the file `rel`) names.
pub fn rooms_named(rel: &str, code: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        named.extend(path_heads(&code[at + "crate::".len()..]));
    }
    let module = module_path(rel);
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::")
            || code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        if climbs == module.len() {
            named.extend(path_heads(rest));
        }
    }
    named
}

/// The first segment of a path, or each first segment of a `{a, b::c}` group.
fn path_heads(rest: &str) -> Vec<String> {
    let ident = |s: &str| {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    if let Some(group) = rest.strip_prefix('{') {
        let body = group.split('}').next().unwrap_or_default();
        return body
            .split(',')
            .map(ident)
            .filter(|s| !s.is_empty() && s != "self")
            .collect();
    }
    vec![ident(rest)]
}

/// The graph of the given production sources.
pub fn graph(sources: &[(String, String)]) -> Graph {
    let mut graph = Graph::new();
    for (rel, code) in sources {
        let Some(room) = room_of(rel) else { continue };
        for named in rooms_named(rel, code) {
            if named != room {
                graph
                    .entry(room.clone())
                    .or_default()
                    .entry(named)
                    .or_default()
                    .insert(rel.clone());
            }
        }
    }
    graph
}

/// One cycle between rooms, if any (as `a -> b -> ... -> a`).
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(graph, start, &mut stack, &mut done) {
            return Some(cycle);
        }
    }
    None
}

fn visit(
    graph: &Graph,
    room: &str,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = stack.iter().position(|r| r == room) {
        let mut cycle = stack[at..].to_vec();
        cycle.push(room.to_string());
        return Some(cycle);
    }
    if done.contains(room) {
        return None;
    }
    stack.push(room.to_string());
    for next in graph.get(room).into_iter().flat_map(|m| m.keys()) {
        if let Some(cycle) = visit(graph, next, stack, done) {
            return Some(cycle);
        }
    }
    stack.pop();
    done.insert(room.to_string());
    None
}
