//! Admission of a new INVITE: who may call (carrier allow-list, caller blacklist), hop
//! count, capacity, and which tracking number was dialled. Pure: everything it needs is in the [`CallContext`].

use crate::config::TrackingNumber;
use crate::sip::message::{HeaderName, Rejection, Uri};

use crate::call::CallContext;
use crate::call::outcome::reason_phrase;
use crate::sip::message::fit_to_forward;

/// An INVITE that passed admission.
#[derive(Debug, Clone)]
pub struct InboundCall<'a> {
    pub tracking: &'a TrackingNumber,
    /// The caller's number or user, from the From URI.
    pub caller: String,
    /// Max-Forwards for the B-leg (received minus one, RFC 3261 §16.6 step 3 applied by a
    /// B2BUA; 70 when the caller sent none).
    pub max_forwards: u32,
}

/// Applies the admission rules in order; the first that fails names the answer.
pub fn admit<'a>(ctx: &CallContext<'a>) -> Result<InboundCall<'a>, Rejection> {
    if ctx.shutting_down {
        return Err(Rejection::new(503, "Service Unavailable")
            .retry_after(30)
            .because("shutdown"));
    }
    if !ctx.config.is_trusted_carrier(ctx.source.addr.ip()) {
        return Err(Rejection::new(403, "Forbidden").because("untrusted"));
    }
    let caller = caller_of(ctx);
    if ctx.blacklist.matching(&caller).is_some() {
        let status = ctx.config.blacklist.status;
        return Err(Rejection::new(status, reason_phrase(status)).because("blacklist"));
    }
    let max_forwards = hop_budget(ctx)?;
    forwardable(ctx, &caller)?;
    if ctx.active_calls >= ctx.config.calls.max_concurrent_calls {
        return Err(Rejection::new(503, "Service Unavailable")
            .retry_after(5)
            .because("overload"));
    }
    let tracking = dialled_number(ctx)
        .and_then(|digits| ctx.config.tracking_number(&digits))
        .ok_or(Rejection::new(404, "Not Found").because("unknown_number"))?;
    Ok(InboundCall {
        tracking,
        caller,
        max_forwards,
    })
}

/// RFC 3261 §16.3 step 3: a request with Max-Forwards 0 is not forwarded (483).
fn hop_budget(ctx: &CallContext<'_>) -> Result<u32, Rejection> {
    match ctx.invite.max_forwards() {
        Some(Ok(0)) => Err(Rejection::new(483, "Too Many Hops").because("too_many_hops")),
        Some(Ok(n)) => Ok(n.min(255) - 1),
        Some(Err(_)) => Err(Rejection::new(400, "Malformed Max-Forwards").because("malformed")),
        None => Ok(70),
    }
}

/// What the B-leg INVITE must carry from this one fits `[tracking] max_forwarded_header_bytes`:
/// the Content-Type that goes with the body and the caller's number (the B-leg From user).
/// Neither can be left out or cut without changing the call, so the caller gets 400.
fn forwardable(ctx: &CallContext<'_>, caller: &str) -> Result<(), Rejection> {
    let max = ctx.config.tracking.max_forwarded_header_bytes;
    let content_type = ctx.invite.header(&HeaderName::ContentType).unwrap_or("");
    let fits =
        fit_to_forward(content_type.as_bytes(), max) && fit_to_forward(caller.as_bytes(), max);
    match fits {
        true => Ok(()),
        false => Err(Rejection::new(400, "Header Too Long").because("oversized_header")),
    }
}

/// The tracking number: the Request-URI user, else the To user (some carriers put the DID
/// only in To), reduced to digits.
fn dialled_number(ctx: &CallContext<'_>) -> Option<String> {
    let from_ruri = ctx.invite.request_uri().and_then(user_digits);
    let known = |d: &String| ctx.config.tracking_number(d).is_some();
    from_ruri.filter(known).or_else(|| {
        let to = ctx.invite.to().ok()?;
        user_digits(to.uri)
    })
}

/// The user part of a SIP or tel URI as E.164 digits: `+7 (495) 000-00-01;npdi` -> `74950000001`.
pub fn user_digits(uri: &str) -> Option<String> {
    let user = Uri::parse(uri).ok()?.user()?;
    phone_digits(user.split(';').next().unwrap_or(user))
}

/// A phone number as written by people (`+7 (495) 000-00-01`) reduced to its digits, the
/// form callers are kept in (so a lead's phone compares with a caller's); `None` when it
/// holds anything but digits and the visual separators `+-.() `, or no digit at all.
pub fn phone_digits(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let visual = |c: char| c.is_ascii_digit() || "+-.() ".contains(c);
    (!digits.is_empty() && text.chars().all(visual)).then_some(digits)
}

/// The caller's number (or user name when it is not a number), from the From URI.
fn caller_of(ctx: &CallContext<'_>) -> String {
    let Ok(from) = ctx.invite.from() else {
        return String::new();
    };
    user_digits(from.uri)
        .or_else(|| Uri::parse(from.uri).ok()?.user().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_from_user_parts() {
        assert_eq!(
            user_digits("sip:+74950000001@h").as_deref(),
            Some("74950000001")
        );
        assert_eq!(
            user_digits("sip:74950000001;npdi@h").as_deref(),
            Some("74950000001")
        );
        assert_eq!(
            user_digits("tel:+7-495-000-00-01").as_deref(),
            Some("74950000001")
        );
        assert_eq!(user_digits("sip:alice@h"), None);
        assert_eq!(user_digits("sip:h"), None);
        assert_eq!(
            phone_digits("+7 (495) 000-00-01").as_deref(),
            Some("74950000001")
        );
        assert_eq!(phone_digits("call me"), None);
        assert_eq!(phone_digits("+-"), None);
    }
}
