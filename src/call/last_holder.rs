//! A free number's call goes to its last holder: a call to a pool number nobody holds is
//! attributed to the lease that held it last when nobody held the number since and that
//! lease ended at most the site's `last_holder_secs` ago. Such calls come from visitors who
//! dial after the freeze (a late call, the next morning); the number has not moved on, so its
//! last holder is the best guess there is. The call still had no live holder: leak detection
//! counts it as unheld (see [`super::repeat::Attributed::unheld`]).
//!
//! Pure: the lookup's answer, the number's last lease and `now` in, a holder out. Used by
//! `plan_invite` and by the simulator, which measures it.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::call::lease_lookup::Holder;
use crate::lease::LastHolder;

/// `last` (the number's last lease and when it ended) for a call that found `Holder::Nobody`,
/// when it ended within `window` before `now`; every other holder is left alone. A zero
/// `window` turns the rule off.
pub fn prefer_last_holder(
    holder: Holder,
    last: Option<LastHolder>,
    window: Duration,
    now: Timestamp,
) -> Holder {
    if holder != Holder::Nobody {
        return holder;
    }
    match last {
        Some((lease, ended)) if within(ended, window, now) => Holder::Lease(lease),
        _ => holder,
    }
}

/// `ended` is at most `window` before `now` (and not after it); never for a zero window.
fn within(ended: Timestamp, window: Duration, now: Timestamp) -> bool {
    let window = SignedDuration::try_from(window).unwrap_or(SignedDuration::MAX);
    let age = now.duration_since(ended);
    !window.is_zero() && !age.is_negative() && age <= window
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::*;
    use crate::call::repeat::tests::lease;

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);
    const HOUR: Duration = Duration::from_secs(3600);

    fn at(mins: i64) -> Timestamp {
        T0 + SignedDuration::from_mins(mins)
    }

    #[test]
    fn a_free_numbers_call_goes_to_its_last_holder_within_the_window() {
        let last = lease("s1", Some("v1"), "111", T0);
        let got = prefer_last_holder(Holder::Nobody, Some((last.clone(), at(0))), HOUR, at(60));
        assert_eq!(
            got,
            Holder::Lease(last.clone()),
            "ended exactly an hour ago"
        );
        let got = prefer_last_holder(Holder::Nobody, Some((last.clone(), at(0))), HOUR, at(61));
        assert_eq!(got, Holder::Nobody, "ended 61 minutes ago");
    }

    #[test]
    fn a_zero_window_no_last_holder_and_held_numbers_are_left_alone() {
        let last = lease("s1", Some("v1"), "111", T0);
        let now_held = lease("s2", Some("v2"), "111", at(5));
        let off = prefer_last_holder(
            Holder::Nobody,
            Some((last.clone(), at(0))),
            Duration::ZERO,
            at(1),
        );
        assert_eq!(off, Holder::Nobody);
        assert_eq!(
            prefer_last_holder(Holder::Nobody, None, HOUR, at(1)),
            Holder::Nobody
        );
        for holder in [Holder::Lease(now_held), Holder::Default, Holder::Reserve] {
            let got = prefer_last_holder(holder.clone(), Some((last.clone(), at(0))), HOUR, at(1));
            assert_eq!(got, holder);
        }
    }
}
