//! `[node]`: this node's identity among several calltrack nodes sharing one store (its live
//! calls carry it, so start-up recovery closes only its own).

use serde::Deserialize;

use super::validate::Problems;

/// Longest accepted `node.id`.
const MAX_ID_CHARS: usize = 64;

/// `[node]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeFile {
    /// Letters, digits, `.`, `_`, `-`; default: the host name.
    pub id: Option<String>,
}

/// `[node]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub id: String,
}

/// Checks `node.id`, defaulting to the host name.
pub(super) fn node(f: NodeFile, p: &mut Problems) -> NodeConfig {
    let id = f.id.unwrap_or_else(host_name);
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !p.non_blank("node.id", &id) {
    } else if id.chars().count() > MAX_ID_CHARS || !id.chars().all(fits) {
        p.push(
            "node.id",
            format!("{id:?}: at most {MAX_ID_CHARS} letters, digits, '.', '_' or '-'"),
        );
    }
    NodeConfig { id }
}

/// The kernel's host name (`calltrack` if it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "calltrack".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_defaults_to_the_host_name_and_is_checked() {
        let mut p = Problems::default();
        let node = node(NodeFile::default(), &mut p);
        assert!(!node.id.is_empty() && p.messages().is_empty(), "{node:?}");
        node_of("bad id/with slash", &mut p);
        node_of("", &mut p);
        assert_eq!(p.messages().len(), 2, "{:?}", p.messages());
        assert!(p.messages()[0].starts_with("node.id: \"bad id"));
    }

    fn node_of(id: &str, p: &mut Problems) -> NodeConfig {
        node(
            NodeFile {
                id: Some(id.into()),
            },
            p,
        )
    }
}
