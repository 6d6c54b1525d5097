//! Where a call goes: the forwarding target of the dialled tracking number, as the B-leg's
//! Request-URI and the peer it is sent to.

use crate::config::TrackingNumber;
use crate::sip::dialog::uri_peer;
use crate::sip::message::{Rejection, SipUri};
use crate::sip::{Peer, Transport};

/// The B-leg destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Request-URI (and To URI) of the B-leg INVITE.
    pub uri: String,
    pub peer: Peer,
    /// The URI names its transport; otherwise calltrack may move a large request to TCP.
    pub transport_pinned: bool,
}

/// Resolves the tracking number's forwarding target. A target without a user part gets the
/// tracking number as user, so the PBX sees which number was dialled.
pub fn target_for(tracking: &TrackingNumber) -> Result<Target, Rejection> {
    let unroutable = || Rejection::new(500, "Server Internal Error");
    let forward = tracking.forward_to.as_str();
    let sip = SipUri::parse(forward).map_err(|_| unroutable())?;
    let peer = uri_peer(forward, Transport::Udp).ok_or_else(unroutable)?;
    let uri = match sip.user {
        Some(_) => forward.to_string(),
        None => with_user(forward, &tracking.number),
    };
    Ok(Target {
        uri,
        peer,
        transport_pinned: sip.transport().is_some(),
    })
}

/// `sip:host;params` + `user` -> `sip:user@host;params`.
fn with_user(uri: &str, user: &str) -> String {
    match uri.split_once(':') {
        Some((scheme, rest)) => format!("{scheme}:{user}@{rest}"),
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NumberKind;

    fn number(forward_to: &str) -> TrackingNumber {
        TrackingNumber {
            number: "74950000001".into(),
            site: "demo".into(),
            forward_to: forward_to.into(),
            kind: NumberKind::Default,
        }
    }

    #[test]
    fn target_gets_the_tracking_number_as_user() {
        let t = target_for(&number("sip:127.0.0.1:5080")).unwrap();
        assert_eq!(t.uri, "sip:74950000001@127.0.0.1:5080");
        assert_eq!(t.peer.addr, "127.0.0.1:5080".parse().unwrap());
        assert!(!t.transport_pinned);
        let t = target_for(&number("sip:sales@127.0.0.1:5090;transport=tcp")).unwrap();
        assert_eq!(t.uri, "sip:sales@127.0.0.1:5090;transport=tcp");
        assert_eq!(t.peer.transport, Transport::Tcp);
        assert!(t.transport_pinned);
    }

    #[test]
    fn unresolvable_target_is_a_server_error() {
        assert_eq!(
            target_for(&number("sip:pbx.example.com"))
                .unwrap_err()
                .status,
            500
        );
    }
}
