//! A repeat caller is attributed to its earlier visit: when a caller whose earlier call went
//! to a visit's lease dials that same number again, the call goes to that visit, not to
//! whoever holds the number now (or to nobody once the lease has ended). The caller number
//! is the one fact at ring time that names the person; the current holder is only a guess.
//!
//! Pure: the lease lookup's answer and the caller history's earlier lease in, a holder out.
//! Used by `plan_invite` and by the simulator, which measures it; a free number's call then
//! goes to its last holder ([`super::last_holder`]).

use std::time::Duration;

use jiff::Timestamp;

use crate::call::confidence::holder_key;
use crate::call::history::CallerHistory;
use crate::call::last_holder::prefer_last_holder;
use crate::call::lease_lookup::{Holder, holder_of};
use crate::config::TrackingNumber;
use crate::lease::{Lease, LeaseTable};

/// Who a call is attributed to at ring time, and whether a lease held the number then.
#[derive(Debug, Clone, PartialEq)]
pub struct RingHolder {
    pub holder: Holder,
    /// A pool number nobody held at ring time (the call is attributed to nobody or to the
    /// number's last holder): leak detection counts it. A repeat caller's call is not.
    pub unheld: bool,
}

/// The holder a call to `tracking` from `caller` is attributed to at `now`: the lease lookup,
/// then [`prefer_earlier`] with the caller's earlier lease, then for a number still without a
/// holder [`prefer_last_holder`] with the number's last lease within `last_holder`.
pub fn attributed_holder(
    tracking: &TrackingNumber,
    leases: &LeaseTable,
    history: &CallerHistory,
    caller: &str,
    last_holder: Duration,
    now: Timestamp,
) -> RingHolder {
    let holder = holder_of(tracking, leases, now);
    let earlier = history.earlier_lease(caller);
    let holder = prefer_earlier(holder, earlier.as_ref(), &tracking.number);
    if holder != Holder::Nobody {
        return RingHolder {
            holder,
            unheld: false,
        };
    }
    let last = leases.last_holder(&tracking.number, now);
    RingHolder {
        holder: prefer_last_holder(holder, last, last_holder, now),
        unheld: true,
    }
}

/// `earlier` (the lease the caller's last attributed call went to) wins over the current
/// holder of pool number `dialled`, or over nobody, when it leased that same number; the
/// current lease stays when it is the same visitor's (fresher). Static, default and reserve
/// numbers and overflow codes are left alone.
pub fn prefer_earlier(holder: Holder, earlier: Option<&Lease>, dialled: &str) -> Holder {
    let Some(earlier) = earlier.filter(|e| e.number == dialled) else {
        return holder;
    };
    match &holder {
        Holder::Lease(now) if holder_key(now) == holder_key(earlier) => holder,
        Holder::Lease(_) => Holder::Lease(earlier.clone()),
        Holder::Nobody => Holder::Lease(earlier.clone()),
        _ => holder,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use jiff::{SignedDuration, Timestamp};

    use super::*;
    use crate::lease::Visit;

    const T0: Timestamp = Timestamp::constant(1_772_366_400, 0);

    pub(crate) fn lease(
        session: &str,
        visitor: Option<&str>,
        number: &str,
        at: Timestamp,
    ) -> Lease {
        Lease {
            session_id: session.into(),
            site: "shop".into(),
            pool: "web".into(),
            number: number.into(),
            visitor_id: visitor.map(str::to_owned),
            visit: Arc::new(Visit::default()),
            granted_at: at,
            last_seen: at,
            expires_at: at + SignedDuration::from_mins(15),
        }
    }

    #[test]
    fn a_repeat_caller_goes_to_its_earlier_visit_on_the_same_number() {
        let earlier = lease("s1", Some("v1"), "111", T0);
        let other = lease("s2", Some("v2"), "111", T0);
        let got = prefer_earlier(Holder::Lease(other.clone()), Some(&earlier), "111");
        assert_eq!(
            got,
            Holder::Lease(earlier.clone()),
            "the number was reissued"
        );
        let got = prefer_earlier(Holder::Nobody, Some(&earlier), "111");
        assert_eq!(got, Holder::Lease(earlier.clone()), "the lease has ended");
    }

    #[test]
    fn other_numbers_the_same_visitor_and_fixed_numbers_keep_their_holder() {
        let earlier = lease("s1", Some("v1"), "111", T0);
        let elsewhere = lease("s2", Some("v2"), "222", T0);
        let fresher = lease("s3", Some("v1"), "111", T0 + SignedDuration::from_hours(1));
        let cases = [
            (Holder::Lease(elsewhere), "222"),
            (Holder::Nobody, "222"),
            (Holder::Lease(fresher), "111"),
            (Holder::Default, "100"),
            (Holder::Reserve, "099"),
        ];
        for (holder, dialled) in cases {
            assert_eq!(
                prefer_earlier(holder.clone(), Some(&earlier), dialled),
                holder
            );
        }
        assert_eq!(prefer_earlier(Holder::Nobody, None, "111"), Holder::Nobody);
    }
}
