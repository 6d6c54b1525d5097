//! What a failed attempt costs, decided in one place: when to try again (exponential
//! backoff with jitter, or the receiver's `Retry-After`) and when to give up (dead letter
//! after `max_attempts` or `max_age_hours`). Pure: `now` and the jitter draw come in.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::Verdict;
use crate::config::exports::DeliveryPolicy;
use crate::store::outbox::OutboxEvent;
use crate::store::outbox::delivery::Settlement;

/// The settlement of `event` after an attempt that ended with `verdict` at `now`;
/// `jitter` is a uniform draw from `0.0..1.0`.
pub fn settle(
    policy: &DeliveryPolicy,
    event: &OutboxEvent,
    verdict: Verdict,
    now: Timestamp,
    jitter: f64,
) -> Settlement {
    let (error, after) = match verdict {
        Verdict::Delivered { keep } => return Settlement::Delivered { kept: keep },
        Verdict::Dead { error } => return Settlement::Dead { error },
        Verdict::Retry { error, after } => (error, after),
    };
    let attempts = event.attempts.saturating_add(1);
    if attempts >= policy.max_attempts {
        return Settlement::Dead {
            error: format!("gave up after {attempts} attempts: {error}"),
        };
    }
    let delay = after.unwrap_or_else(|| backoff(policy, attempts, jitter));
    let at = now.saturating_add(signed(delay)).unwrap_or(Timestamp::MAX);
    match age_limit(policy, event) {
        Some(limit) if at > limit => Settlement::Dead {
            error: format!(
                "older than {} h before the next attempt: {error}",
                policy.max_age.as_secs() / 3600
            ),
        },
        _ => Settlement::Retry { at, error },
    }
}

/// Why `event` is past its age limit at `now` (checked before each attempt).
pub fn expired(policy: &DeliveryPolicy, event: &OutboxEvent, now: Timestamp) -> Option<String> {
    let limit = age_limit(policy, event)?;
    (now > limit).then(|| {
        format!(
            "not delivered within {} h (max_age_hours)",
            policy.max_age.as_secs() / 3600
        )
    })
}

fn age_limit(policy: &DeliveryPolicy, event: &OutboxEvent) -> Option<Timestamp> {
    event.created_at.checked_add(signed(policy.max_age)).ok()
}

/// `retry_min · 2^(attempts-1)`, capped at `retry_max`, of which the upper half is jittered
/// ("equal jitter"): retries of many events spread out instead of arriving together.
pub fn backoff(policy: &DeliveryPolicy, attempts: u32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let full = policy
        .retry_min
        .saturating_mul(1u32 << doublings)
        .min(policy.retry_max);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::EventKind;

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            max_attempts: 5,
            max_age: Duration::from_secs(3600),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            ..DeliveryPolicy::default()
        }
    }

    fn event(attempts: u32) -> OutboxEvent {
        OutboxEvent {
            seq: 1,
            id: "evt_1".into(),
            destination: "crm".into(),
            kind: EventKind::CallEnded,
            subject: "c1".into(),
            occurred_at: at(0),
            created_at: at(0),
            attempts,
            payload: "{}".into(),
            kept: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn retry(after: Option<Duration>) -> Verdict {
        Verdict::Retry {
            error: "HTTP 503".into(),
            after,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let p = policy();
        assert_eq!(backoff(&p, 1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(&p, 20, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(&p, u32::MAX, 0.5), Duration::from_secs(45));
    }

    #[test]
    fn retry_after_is_honoured() {
        let s = settle(
            &policy(),
            &event(0),
            retry(Some(Duration::from_secs(5))),
            at(10),
            0.9,
        );
        assert_eq!(
            s,
            Settlement::Retry {
                at: at(15),
                error: "HTTP 503".into()
            }
        );
    }

    #[test]
    fn the_last_attempt_and_the_age_limit_make_dead_letters() {
        let p = policy();
        assert!(matches!(
            settle(&p, &event(4), retry(None), at(10), 0.0),
            Settlement::Dead { error } if error.starts_with("gave up after 5 attempts")
        ));
        assert!(matches!(
            settle(&p, &event(1), retry(Some(Duration::from_secs(7200))), at(10), 0.0),
            Settlement::Dead { error } if error.starts_with("older than 1 h")
        ));
        assert!(expired(&p, &event(0), at(3601)).is_some());
        assert!(expired(&p, &event(0), at(3599)).is_none());
    }

    #[test]
    fn delivered_and_dead_verdicts_pass_through() {
        let keep = Some("CALL-1".to_owned());
        assert_eq!(
            settle(
                &policy(),
                &event(0),
                Verdict::Delivered { keep: keep.clone() },
                at(1),
                0.0
            ),
            Settlement::Delivered { kept: keep }
        );
        let dead = Verdict::Dead {
            error: "HTTP 400".into(),
        };
        assert!(matches!(
            settle(&policy(), &event(0), dead, at(1), 0.0),
            Settlement::Dead { .. }
        ));
    }
}
