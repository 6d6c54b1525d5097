//! The timer wheel against a sorted list: exact deadlines, order, cancellation, reuse.

use std::time::{Duration, Instant};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn fires_at_the_exact_deadline_never_before() {
    let t0 = Instant::now();
    let mut w = TimerWheel::default();
    w.insert(t0, t0 + Duration::from_micros(1_500), 'a');
    w.insert(t0, t0 + ms(32_000), 'l');
    w.insert(t0, t0 + ms(181_500), 'c');
    assert_eq!(w.next_deadline(), Some(t0 + Duration::from_micros(1_500)));
    assert!(w.pop_due(t0 + Duration::from_micros(1_499)).is_none());
    assert_eq!(
        w.pop_due(t0 + Duration::from_micros(1_500)).map(|f| f.0),
        Some('a')
    );
    w.refresh();
    assert_eq!(w.next_deadline(), Some(t0 + ms(32_000)));
    assert!(w.pop_due(t0 + ms(31_999)).is_none());
    w.refresh();
    assert_eq!(
        w.next_deadline(),
        Some(t0 + ms(32_000)),
        "exact after a cascade"
    );
    assert_eq!(w.pop_due(t0 + ms(32_000)).map(|f| f.0), Some('l'));
    w.refresh();
    assert_eq!(w.next_deadline(), Some(t0 + ms(181_500)));
    assert_eq!(w.pop_due(t0 + ms(600_000)).map(|f| f.0), Some('c'));
    assert_eq!((w.len(), w.next_deadline()), (0, None));
}

#[test]
fn cancelled_timers_free_their_node_at_once() {
    let t0 = Instant::now();
    let mut w = TimerWheel::default();
    let a = w.insert(t0, t0 + ms(500), 1);
    let b = w.insert(t0, t0 + ms(32_000), 2);
    assert!(w.cancel(a));
    assert!(!w.cancel(a), "already cancelled");
    assert_eq!(w.next_deadline(), Some(t0 + ms(32_000)));
    let c = w.insert(t0, t0 + ms(700), 3);
    assert_eq!(c.index, a.index, "the node is reused");
    assert!(!w.cancel(a), "a stale handle does not cancel the new timer");
    assert!(w.cancel(b) && w.cancel(c));
    assert_eq!((w.len(), w.next_deadline()), (0, None));
    assert!(w.pop_due(t0 + ms(100_000)).is_none());
    assert_eq!(w.nodes.len(), 2);
}

#[test]
fn a_timer_cancelled_while_due_is_not_returned() {
    let t0 = Instant::now();
    let mut w = TimerWheel::default();
    w.insert(t0, t0 + ms(5), 1);
    let b = w.insert(t0, t0 + ms(5), 2);
    assert_eq!(w.pop_due(t0 + ms(5)).map(|f| f.0), Some(1));
    assert!(w.cancel(b));
    assert!(w.pop_due(t0 + ms(5)).is_none());
    assert_eq!(w.len(), 0);
}

/// A small deterministic generator (xorshift), so the test needs no crate.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn matches_a_sorted_reference_under_random_arming_cancelling_and_polling() {
    let t0 = Instant::now();
    let mut w = TimerWheel::default();
    let mut reference: Vec<(Instant, u64, usize)> = Vec::new();
    let mut handles = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut now = t0;
    let mut seq = 0;
    for step in 0..20_000usize {
        match next(&mut seed) % 10 {
            0..=4 => {
                let after = Duration::from_micros(next(&mut seed) % 300_000_000);
                seq += 1;
                handles.push((w.insert(now, now + after, step), now + after, seq, step));
                reference.push((now + after, seq, step));
            }
            5 if !handles.is_empty() => {
                let pick = (next(&mut seed) as usize) % handles.len();
                let (handle, deadline, s, v) = handles.swap_remove(pick);
                let live = reference.iter().position(|r| *r == (deadline, s, v));
                assert_eq!(w.cancel(handle), live.is_some());
                if let Some(i) = live {
                    reference.remove(i);
                }
            }
            _ => {
                now += Duration::from_micros(next(&mut seed) % 3_000_000);
                reference.sort();
                let due: Vec<usize> = reference
                    .iter()
                    .take_while(|r| r.0 <= now)
                    .map(|r| r.2)
                    .collect();
                reference.retain(|r| r.0 > now);
                let fired: Vec<usize> =
                    std::iter::from_fn(|| w.pop_due(now)).map(|f| f.0).collect();
                assert_eq!(fired, due, "step {step}");
                w.refresh();
                // Progress: once everything due at `now` has fired, the next wake-up is later;
                // a cached lower bound at or before `now` would wake the driver in a spin.
                let next = w.next_deadline();
                assert!(
                    next.is_none_or(|n| n > now),
                    "step {step}: {next:?} not after {now:?}"
                );
            }
        }
        // Exact, or early after the earliest timer of a slot was cancelled (a lower bound:
        // waking then finds nothing due); never late, never missing.
        let earliest = reference.iter().map(|r| r.0).min();
        let next = w.next_deadline();
        assert_eq!(next.is_some(), earliest.is_some(), "step {step}");
        assert!(next <= earliest, "step {step}: {next:?} after {earliest:?}");
        assert_eq!(w.len(), reference.len());
    }
}
