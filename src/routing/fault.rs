//! Who made a B-leg attempt fail or end: what the dialer moves on from. How a fault
//! becomes a disposition and the caller's status is `call::outcome` (one mapping).

/// Who made the call fail or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The callee leg answered with a final failure status.
    Callee(u16),
    /// The callee leg never answered at all (Timer B) or could not be reached.
    Unreachable,
    /// The callee rang until the ring timeout.
    RingTimeout,
    /// The caller cancelled before an answer.
    CallerCancelled,
}
