//! How a call ends, in one place: B-leg results to dispositions, and to the status the caller
//! hears. Errors say who failed (caller leg, callee leg, or calltrack itself).

use crate::call::record::{Disposition, HangupSide};

pub use crate::routing::Fault;

impl Fault {
    /// The disposition recorded in the CDR.
    pub fn disposition(self) -> Disposition {
        match self {
            Fault::Callee(486 | 600 | 603) => Disposition::Busy,
            Fault::Callee(408 | 480 | 487) | Fault::RingTimeout => Disposition::NoAnswer,
            Fault::Callee(_) | Fault::Unreachable => Disposition::Failed,
            Fault::CallerCancelled => Disposition::Cancelled,
        }
    }

    /// The final status sent to the caller. Callee statuses are relayed as they are, except
    /// those the caller cannot act on: redirects (calltrack does not expose PBX contacts),
    /// authentication challenges meant for calltrack, and 503: a 503 tells the carrier that
    /// calltrack itself is unavailable for every call (RFC 3261 §16.7 step 6, §21.5.4), which a
    /// PBX trouble on one number does not mean, so it becomes 500 without Retry-After.
    pub fn caller_status(self) -> (u16, &'static str) {
        match self {
            Fault::Callee(300..=399) => (480, "Temporarily Unavailable"),
            Fault::Callee(401 | 407 | 503) => (500, "Server Internal Error"),
            Fault::Callee(code) => (code, ""),
            Fault::Unreachable => (408, "Request Timeout"),
            Fault::RingTimeout => (480, "Temporarily Unavailable"),
            Fault::CallerCancelled => (487, "Request Terminated"),
        }
    }

    /// Which side ended the call.
    pub fn hangup_side(self) -> HangupSide {
        match self {
            Fault::Callee(_) => HangupSide::Callee,
            Fault::CallerCancelled => HangupSide::Caller,
            Fault::Unreachable | Fault::RingTimeout => HangupSide::System,
        }
    }
}

/// A standard reason phrase for the statuses calltrack originates (RFC 3261 §21).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callee_statuses_map_to_dispositions() {
        assert_eq!(Fault::Callee(486).disposition(), Disposition::Busy);
        assert_eq!(Fault::Callee(603).disposition(), Disposition::Busy);
        assert_eq!(Fault::Callee(480).disposition(), Disposition::NoAnswer);
        assert_eq!(Fault::Callee(503).disposition(), Disposition::Failed);
        assert_eq!(Fault::RingTimeout.disposition(), Disposition::NoAnswer);
        assert_eq!(Fault::CallerCancelled.disposition(), Disposition::Cancelled);
    }

    #[test]
    fn caller_hears_relayed_or_mapped_statuses() {
        assert_eq!(Fault::Callee(486).caller_status().0, 486);
        assert_eq!(Fault::Callee(302).caller_status().0, 480);
        assert_eq!(Fault::Callee(407).caller_status().0, 500);
        assert_eq!(
            Fault::Callee(503).caller_status().0,
            500,
            "never a 503 upstream"
        );
        assert_eq!(Fault::Unreachable.caller_status().0, 408);
        assert_eq!(Fault::CallerCancelled.caller_status().0, 487);
    }
}
