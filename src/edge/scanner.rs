//! The scanner drop list: requests from known SIP scanners (by User-Agent) get no answer at
//! all, so the scanner learns nothing and no transaction state is created.

use crate::sip::SipMessage;
use crate::sip::message::HeaderName;

/// Whether the request's User-Agent contains one of `scanners` (lowercase substrings),
/// ignoring case.
pub fn is_scanner(request: &SipMessage, scanners: &[String]) -> bool {
    if scanners.is_empty() {
        return false;
    }
    request
        .values(&HeaderName::UserAgent)
        .any(|ua| matches_any(ua, scanners))
}

fn matches_any(user_agent: &str, scanners: &[String]) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    scanners.iter().any(|s| ua.contains(s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    use crate::sip::message::Limits;

    fn request(ua: Option<&str>) -> SipMessage {
        let ua = ua
            .map(|ua| format!("User-Agent: {ua}\r\n"))
            .unwrap_or_default();
        let text = format!(
            "OPTIONS sip:100@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\n\
From: <sip:100@10.0.0.9>;tag=a\r\nTo: <sip:100@10.0.0.1>\r\nCall-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n{ua}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        SipMessage::parse(Bytes::from(text), &Limits::default()).unwrap()
    }

    fn defaults() -> Vec<String> {
        crate::config::Config::embedded_default()
            .unwrap()
            .security
            .scanner_user_agents
    }

    #[test]
    fn known_scanners_match_in_any_case() {
        let list = defaults();
        assert!(is_scanner(&request(Some("friendly-scanner")), &list));
        assert!(is_scanner(&request(Some("SIPVicious 0.3.4")), &list));
        assert!(is_scanner(&request(Some("sipcli/v1.8")), &list));
        assert!(is_scanner(&request(Some("VaxSIPUserAgent/3.1")), &list));
    }

    #[test]
    fn ordinary_phones_and_missing_user_agents_pass() {
        let list = defaults();
        assert!(!is_scanner(&request(Some("Asterisk PBX 20.5.0")), &list));
        assert!(!is_scanner(&request(Some("Linphone/5.2")), &list));
        assert!(!is_scanner(&request(None), &list));
        assert!(!is_scanner(&request(Some("friendly-scanner")), &[]));
    }
}
