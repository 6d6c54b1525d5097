//! The deadline for a whole TCP message (`sip.tcp_message_timeout_ms`): once a connection has
//! begun a message it must complete it in time, or the connection is closed. The idle timeout
//! alone never closes a peer that trickles one byte every few seconds.
//!
//! CR/LF between messages does not begin one: RFC 5626 §4.4.1 keep-alives ("the client
//! periodically sends a double-CRLF (the 'ping') then waits to receive a single CRLF (the
//! 'pong')") may come at any pace.

use std::time::Duration;

use tokio::time::Instant;

/// When the message now being received must be complete, if one has begun.
#[derive(Debug)]
pub(crate) struct MessageDeadline {
    limit: Duration,
    /// When the first byte of the pending message was seen (at the latest).
    begun_at: Option<Instant>,
}

impl MessageDeadline {
    pub(crate) fn new(limit: Duration) -> MessageDeadline {
        MessageDeadline {
            limit,
            begun_at: None,
        }
    }

    /// A whole message left the buffer: the next one has not begun yet.
    pub(crate) fn completed(&mut self) {
        self.begun_at = None;
    }

    /// After framing, `rest` is what stays in the buffer: a begun message starts the clock
    /// (if it is not running already); CR/LF alone stops it.
    pub(crate) fn pending(&mut self, now: Instant, rest: &[u8]) {
        if !begun(rest) {
            self.begun_at = None;
        } else if self.begun_at.is_none() {
            self.begun_at = Some(now);
        }
    }

    /// How long the next read may wait: the idle timeout, or less when a message is due.
    pub(crate) fn wait(&self, now: Instant, idle: Duration) -> Duration {
        match self.begun_at {
            Some(at) => idle.min((at + self.limit).saturating_duration_since(now)),
            None => idle,
        }
    }

    /// The pending message is overdue.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.begun_at.is_some_and(|at| now >= at + self.limit)
    }
}

/// Whether `rest` holds the start of a message (anything but CR and LF).
fn begun(rest: &[u8]) -> bool {
    rest.iter().any(|b| !matches!(b, b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(300);

    #[test]
    fn keep_alive_bytes_start_no_clock() {
        let t0 = Instant::now();
        let mut d = MessageDeadline::new(LIMIT);
        d.pending(t0, b"\r\n");
        assert_eq!(d.wait(t0, IDLE), IDLE);
        assert!(!d.expired(t0 + IDLE));
    }

    #[test]
    fn a_begun_message_is_due_within_the_limit_however_it_trickles() {
        let t0 = Instant::now();
        let mut d = MessageDeadline::new(LIMIT);
        d.pending(t0, b"I");
        // More bytes do not move the deadline.
        d.pending(t0 + Duration::from_secs(4), b"INV");
        assert_eq!(
            d.wait(t0 + Duration::from_secs(4), IDLE),
            LIMIT - Duration::from_secs(4)
        );
        assert!(!d.expired(t0 + LIMIT - Duration::from_millis(1)));
        assert!(d.expired(t0 + LIMIT));
        assert_eq!(d.wait(t0 + LIMIT * 2, IDLE), Duration::ZERO);
    }

    #[test]
    fn a_completed_message_stops_the_clock_and_the_next_one_starts_it_afresh() {
        let t0 = Instant::now();
        let mut d = MessageDeadline::new(LIMIT);
        d.pending(t0, b"OPT");
        d.completed();
        let t1 = t0 + Duration::from_secs(8);
        d.pending(t1, b"INV");
        assert!(!d.expired(t0 + LIMIT));
        assert!(d.expired(t1 + LIMIT));
    }

    #[test]
    fn the_idle_timeout_still_bounds_the_wait() {
        let t0 = Instant::now();
        let mut d = MessageDeadline::new(LIMIT);
        d.pending(t0, b"x");
        let short_idle = Duration::from_secs(2);
        assert_eq!(d.wait(t0, short_idle), short_idle);
    }
}
