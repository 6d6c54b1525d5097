//! `[node]`: this node's identity among several calltrack nodes sharing one store (its live
//! calls carry it, so start-up recovery closes only its own), and on PostgreSQL how often it
//! heart-beats and how long a silent node lives before another takes its calls over.

use std::time::Duration;

use serde::Deserialize;

use super::validate::Problems;

/// Longest accepted `node.id`.
const MAX_ID_CHARS: usize = 64;

/// Default `node.heartbeat_ms`.
const HEARTBEAT_MS: u64 = 2_000;
/// Default `node.dead_after_ms`.
const DEAD_AFTER_MS: u64 = 10_000;

/// `[node]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeFile {
    /// Letters, digits, `.`, `_`, `-`; default: the host name.
    pub id: Option<String>,
    /// How often this node stamps its row in the PostgreSQL `nodes` table (and looks for
    /// dead nodes); read only with `[store] backend = "postgres"`.
    pub heartbeat_ms: u64,
    /// A node whose heartbeat is older than this is dead: its live calls are closed as
    /// `interrupted` by another node. More than twice `heartbeat_ms`.
    pub dead_after_ms: u64,
    /// The base URL (`http://host:port`, or https) at which the other nodes reach this
    /// node's HTTP API: a recording asked for on another node is fetched from here, where its
    /// file is. Default: none (such a request is answered 409, naming this node).
    pub http_url: Option<String>,
}

impl Default for NodeFile {
    fn default() -> Self {
        NodeFile {
            id: None,
            heartbeat_ms: HEARTBEAT_MS,
            dead_after_ms: DEAD_AFTER_MS,
            http_url: None,
        }
    }
}

/// `[node]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub id: String,
    /// `node.heartbeat_ms`.
    pub heartbeat: Duration,
    /// `node.dead_after_ms`.
    pub dead_after: Duration,
    /// `node.http_url`, without a trailing `/`.
    pub http_url: Option<String>,
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
    p.within("node.heartbeat_ms", f.heartbeat_ms, 100, 60_000);
    if f.dead_after_ms <= f.heartbeat_ms.saturating_mul(2) {
        p.push(
            "node.dead_after_ms",
            format!(
                "{} must be more than twice node.heartbeat_ms ({})",
                f.dead_after_ms, f.heartbeat_ms
            ),
        );
    }
    NodeConfig {
        id,
        heartbeat: Duration::from_millis(f.heartbeat_ms),
        dead_after: Duration::from_millis(f.dead_after_ms),
        http_url: f.http_url.and_then(|u| http_url(&u, p)),
    }
}

/// `node.http_url` checked: an absolute http(s) URL with a host and no query or fragment.
fn http_url(text: &str, p: &mut Problems) -> Option<String> {
    let problem = match url::Url::parse(text) {
        Err(error) => Some(error.to_string()),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Some("not http or https".into()),
        Ok(u) if u.host_str().is_none() => Some("no host".into()),
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            Some("a query or fragment has no place in a base URL".into())
        }
        Ok(_) => None,
    };
    match problem {
        Some(why) => {
            p.push("node.http_url", format!("{text:?}: {why}"));
            None
        }
        None => Some(text.trim_end_matches('/').to_owned()),
    }
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

    #[test]
    fn dead_after_must_exceed_two_heartbeats() {
        let mut p = Problems::default();
        let file = NodeFile {
            id: Some("a".into()),
            heartbeat_ms: 50,
            dead_after_ms: 100,
            http_url: None,
        };
        let checked = node(file, &mut p);
        assert_eq!(checked.dead_after, Duration::from_millis(100));
        let messages = p.messages();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("node.heartbeat_ms: 50 is out of range"));
        assert!(messages[1].starts_with("node.dead_after_ms: 100 must be more than twice"));
        let mut p = Problems::default();
        let defaults = node(NodeFile::default(), &mut p);
        assert!(p.messages().is_empty(), "{:?}", p.messages());
        assert_eq!(defaults.heartbeat * 5, defaults.dead_after);
    }

    #[test]
    fn the_http_url_must_be_an_http_base_url() {
        let mut p = Problems::default();
        let good = node(
            NodeFile {
                id: Some("a".into()),
                http_url: Some("http://10.0.0.1:8080/".into()),
                ..NodeFile::default()
            },
            &mut p,
        );
        assert_eq!(good.http_url.as_deref(), Some("http://10.0.0.1:8080"));
        assert!(p.messages().is_empty(), "{:?}", p.messages());
        for bad in ["10.0.0.1:8080", "ftp://x", "http://x/?a=1", "not a url"] {
            let mut p = Problems::default();
            let checked = node(
                NodeFile {
                    id: Some("a".into()),
                    http_url: Some(bad.into()),
                    ..NodeFile::default()
                },
                &mut p,
            );
            assert_eq!(checked.http_url, None, "{bad}");
            assert_eq!(p.messages().len(), 1, "{bad}: {:?}", p.messages());
            assert!(
                p.messages()[0].starts_with("node.http_url: "),
                "{:?}",
                p.messages()
            );
        }
    }

    fn node_of(id: &str, p: &mut Problems) -> NodeConfig {
        node(
            NodeFile {
                id: Some(id.into()),
                ..NodeFile::default()
            },
            p,
        )
    }
}
