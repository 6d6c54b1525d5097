//! Which nodes are alive: the pure decision over the `nodes` heartbeat rows and the server's
//! clock (`now` passed in, epoch milliseconds; no I/O here, so it is tested on a virtual clock).
//!
//! A node is dead once its last heartbeat is more than `dead_after` old. A dead node not yet
//! taken over is one to take over, unless it is this node (its own calls are closed by its own
//! start-up recovery).

use std::time::Duration;

/// One row of the `nodes` table as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    pub node_id: String,
    /// The last heartbeat, server clock, epoch milliseconds.
    pub heartbeat_at_ms: i64,
    /// Whether a survivor already closed this node's calls since its last heartbeat.
    pub taken_over: bool,
}

/// Whether `beat` is more than `dead_after` old at `now_ms` (a heartbeat from the future,
/// after a clock step, is fresh).
pub fn is_dead(beat: &NodeBeat, now_ms: i64, dead_after: Duration) -> bool {
    let limit = i64::try_from(dead_after.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(beat.heartbeat_at_ms) > limit
}

/// The dead nodes whose calls are still to be closed, other than `me`.
pub fn to_take_over<'a>(
    beats: &'a [NodeBeat],
    me: &str,
    now_ms: i64,
    dead_after: Duration,
) -> Vec<&'a NodeBeat> {
    beats
        .iter()
        .filter(|b| b.node_id != me && !b.taken_over && is_dead(b, now_ms, dead_after))
        .collect()
}

/// How many nodes (this one included, if it beat) are alive at `now_ms`.
pub fn live_count(beats: &[NodeBeat], now_ms: i64, dead_after: Duration) -> usize {
    beats
        .iter()
        .filter(|b| !is_dead(b, now_ms, dead_after))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEAD_AFTER: Duration = Duration::from_millis(10_000);

    fn beat(node: &str, at: i64, taken_over: bool) -> NodeBeat {
        NodeBeat {
            node_id: node.into(),
            heartbeat_at_ms: at,
            taken_over,
        }
    }

    #[test]
    fn a_node_dies_strictly_after_dead_after_without_a_heartbeat() {
        let a = beat("a", 1_000, false);
        assert!(!is_dead(&a, 1_000, DEAD_AFTER));
        assert!(
            !is_dead(&a, 11_000, DEAD_AFTER),
            "exactly dead_after: alive"
        );
        assert!(is_dead(&a, 11_001, DEAD_AFTER));
        assert!(
            !is_dead(&a, 0, DEAD_AFTER),
            "a heartbeat from the future is fresh"
        );
        assert!(is_dead(&beat("a", i64::MIN, false), i64::MAX, DEAD_AFTER));
    }

    #[test]
    fn only_dead_other_nodes_not_yet_taken_over_are_taken_over() {
        let beats = [
            beat("me", 0, false),
            beat("alive", 19_000, false),
            beat("dead", 5_000, false),
            beat("done", 5_000, true),
        ];
        let now = 20_000;
        let picked: Vec<&str> = to_take_over(&beats, "me", now, DEAD_AFTER)
            .iter()
            .map(|b| b.node_id.as_str())
            .collect();
        assert_eq!(picked, ["dead"]);
        assert_eq!(live_count(&beats, now, DEAD_AFTER), 1);
        // Virtual time moves on: "alive" falls silent too.
        let later = 29_001;
        let picked = to_take_over(&beats, "me", later, DEAD_AFTER);
        assert_eq!(picked.len(), 2);
        assert_eq!(live_count(&beats, later, DEAD_AFTER), 0);
    }
}
