//! The OPTIONS request of one health probe (RFC 3261 §11: a request outside any dialog,
//! answered like an INVITE would be, without ringing anyone).

use crate::sip::dialog::{Ids, LocalEndpoint};
use crate::sip::message::{HeaderName, MessageBuilder, Method};
use crate::sip::{Peer, SipMessage};

/// Who sends probes: where we are reached and how we name ourselves.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSender<'a> {
    pub local: &'a LocalEndpoint,
    pub user_agent: &'a str,
}

/// A fresh OPTIONS to `uri` sent to `peer`: new branch, Call-ID and From tag each time, so
/// every probe is its own transaction (§8.1.1).
pub fn options_request(uri: &str, peer: Peer, from: ProbeSender<'_>, ids: &mut Ids) -> SipMessage {
    let transport = peer.transport;
    let host = from.local.host_port(transport);
    let mut b = MessageBuilder::request(&Method::Options, uri);
    b.header(HeaderName::Via, &from.local.via(transport, &ids.branch()))
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            &format!("<sip:calltrack@{host}>;tag={}", ids.tag()),
        )
        .header(HeaderName::To, &format!("<{uri}>"))
        .header(HeaderName::CallId, &ids.call_id())
        .header(HeaderName::CSeq, "1 OPTIONS")
        .header(HeaderName::Contact, &from.local.contact(transport))
        .header(HeaderName::Accept, "application/sdp")
        .header(HeaderName::UserAgent, from.user_agent);
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Transport;
    use crate::sip::message::{Limits, Screened, screen};

    #[test]
    fn probe_is_a_well_formed_out_of_dialog_options() {
        let local = LocalEndpoint {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: None,
            advertised_host: None,
            advertised_port: None,
        };
        let peer = Peer::new(Transport::Udp, "127.0.0.1:5080".parse().unwrap());
        let from = ProbeSender {
            local: &local,
            user_agent: "calltrack-test",
        };
        let mut ids = Ids::from_seed(1);
        let msg = options_request("sip:127.0.0.1:5080", peer, from, &mut ids);
        let Screened::Request(parsed) = screen(msg.wire_bytes(), &Limits::default(), &[]) else {
            panic!("probe does not pass our own screening");
        };
        assert_eq!(parsed.method(), Some(&Method::Options));
        assert!(
            parsed
                .top_via()
                .unwrap()
                .branch()
                .unwrap()
                .starts_with("z9hG4bK")
        );
        assert!(parsed.from().unwrap().tag().is_some());
        assert!(parsed.to().unwrap().tag().is_none());
        assert_eq!(parsed.cseq().unwrap().seq, 1);
        assert_eq!(parsed.header(&HeaderName::MaxForwards), Some("70"));
        assert_eq!(
            parsed.header(&HeaderName::UserAgent),
            Some("calltrack-test")
        );
        assert_eq!(parsed.header(&HeaderName::ContentLength), Some("0"));
        assert!(parsed.call_id().is_some());
        let again = options_request("sip:127.0.0.1:5080", peer, from, &mut ids);
        assert_ne!(again.call_id(), msg.call_id());
    }
}
