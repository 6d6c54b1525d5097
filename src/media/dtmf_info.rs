//! DTMF in SIP INFO (for carriers that signal keys in SIP rather than in RTP), sans-IO:
//! `application/dtmf-relay` bodies (`Signal=5\r\nDuration=160\r\n`, the de-facto Cisco
//! format) and `application/dtmf` bodies (the key itself, or its event code). Anything
//! else is an error, never a panic; the B2BUA answers a well-formed INFO 200.

use super::dtmf::Digit;

/// Why an INFO body is not a key press.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoDtmfError {
    #[error("content type {0:?} carries no DTMF")]
    NotDtmf(String),
    #[error("no Signal line")]
    NoSignal,
    #[error("signal {0:?} is not a key")]
    NotAKey(String),
}

/// Whether `content_type` (parameters allowed) is one of the DTMF INFO types.
pub fn is_dtmf_info(content_type: &str) -> bool {
    matches!(
        media_type(content_type).as_str(),
        "application/dtmf-relay" | "application/dtmf"
    )
}

/// The key an INFO request with this `Content-Type` and body carries.
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<Digit, InfoDtmfError> {
    let text = String::from_utf8_lossy(body);
    match media_type(content_type).as_str() {
        "application/dtmf-relay" => dtmf_relay(&text),
        "application/dtmf" => key(text.trim()),
        other => Err(InfoDtmfError::NotDtmf(other.to_owned())),
    }
}

/// `type/subtype`, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    let bare = content_type.split(';').next().unwrap_or_default();
    bare.trim().to_ascii_lowercase()
}

/// The value of the `Signal=` line (any case, spaces around `=` allowed).
fn dtmf_relay(text: &str) -> Result<Digit, InfoDtmfError> {
    let signal = text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("signal")
            .then(|| value.trim())
    });
    key(signal.ok_or(InfoDtmfError::NoSignal)?)
}

/// A key as itself (`5`, `*`, `#`, `A`) or as its event code (`10` for `*`, `11` for `#`).
fn key(signal: &str) -> Result<Digit, InfoDtmfError> {
    let mut chars = signal.chars();
    let single = match (chars.next(), chars.next()) {
        (Some(c), None) => Digit::from_char(c),
        _ => signal.parse::<u8>().ok().and_then(Digit::from_event),
    };
    single.ok_or_else(|| InfoDtmfError::NotAKey(signal.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit(content_type: &str, body: &str) -> Result<char, InfoDtmfError> {
        parse_info(content_type, body.as_bytes()).map(|d| d.as_char())
    }

    #[test]
    fn dtmf_relay_bodies_as_carriers_send_them() {
        let relay = "application/dtmf-relay";
        assert_eq!(digit(relay, "Signal=5\r\nDuration=160\r\n"), Ok('5'));
        assert_eq!(digit(relay, "signal= *\nduration=100"), Ok('*'));
        assert_eq!(digit(relay, "Duration=160\r\nSignal=11\r\n"), Ok('#'));
        assert_eq!(digit("Application/DTMF-Relay; x=y", "Signal=#"), Ok('#'));
        assert_eq!(digit(relay, "Signal=b"), Ok('B'));
    }

    #[test]
    fn dtmf_bodies_are_the_key_or_its_code() {
        assert_eq!(digit("application/dtmf", "7\r\n"), Ok('7'));
        assert_eq!(digit("application/dtmf", "10"), Ok('*'));
    }

    #[test]
    fn what_is_not_a_key_is_an_error() {
        let relay = "application/dtmf-relay";
        assert_eq!(digit(relay, "Duration=160"), Err(InfoDtmfError::NoSignal));
        assert_eq!(digit(relay, ""), Err(InfoDtmfError::NoSignal));
        assert!(matches!(
            digit(relay, "Signal="),
            Err(InfoDtmfError::NotAKey(_))
        ));
        assert!(matches!(
            digit(relay, "Signal=16"),
            Err(InfoDtmfError::NotAKey(_))
        ));
        assert!(matches!(
            digit(relay, "Signal=55"),
            Err(InfoDtmfError::NotAKey(_))
        ));
        assert!(matches!(
            digit(relay, "Signal=é"),
            Err(InfoDtmfError::NotAKey(_))
        ));
        assert!(matches!(
            digit("application/dtmf", "12345678901"),
            Err(InfoDtmfError::NotAKey(_))
        ));
        assert!(matches!(
            digit("application/sdp", "v=0"),
            Err(InfoDtmfError::NotDtmf(_))
        ));
        assert!(parse_info("application/dtmf-relay", &[0xff, 0xfe, b'=', 0]).is_err());
        assert!(is_dtmf_info("application/dtmf-relay;charset=x"));
        assert!(!is_dtmf_info("application/media_control+xml"));
    }
}
