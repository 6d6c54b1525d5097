//! Digest authentication toward a PBX that challenges the INVITE (see `b2bua_dialer.rs`).

use super::*;

fn gateway_scheme(realm: &str) -> String {
    format!(
        r#"[[gateways]]
id = "pbx"
uri = "sip:127.0.0.1:{T1}"
auth_user = "calltrack"
auth_password = "s3cret-pw"
auth_realm = "{realm}"
[[schemes]]
id = "sales"
[[schemes.steps]]
[[schemes.steps.targets]]
number = "100"
gateway = "pbx"
"#
    )
}

const CHALLENGE: &str = "WWW-Authenticate: Digest realm=\"pbx.example\", nonce=\"n0nce\", qop=\"auth\", algorithm=MD5\n";

/// Reads the `name=value` parameter of a header value.
fn param(header: &str, name: &str) -> String {
    let start = header.find(&format!("{name}=")).unwrap() + name.len() + 1;
    let rest = &header[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    rest.split(['"', ',']).next().unwrap().to_string()
}

fn authorization(m: &SipMessage) -> Option<String> {
    m.headers()
        .iter()
        .find(|f| m.field_name(f).eq_ignore_ascii_case(b"Authorization"))
        .and_then(|f| m.field_str(f))
        .map(str::to_string)
}

#[test]
fn challenged_invite_is_resent_once_with_credentials() {
    let mut h = Harness::new(&gateway_scheme("pbx.example"));
    h.carrier_sends(&invite(1, "79161234567"));
    let first = h.last(T1, Method::Invite);
    h.respond(T1, &first, "401 Unauthorized", CHALLENGE);
    assert_eq!(h.sent(T1, Method::Ack).len(), 1, "the 401 is ACKed");
    let second = h.last(T1, Method::Invite);
    assert_eq!(second.call_id(), first.call_id());
    assert_eq!(from_tag(&second), from_tag(&first));
    assert_eq!(second.cseq().unwrap().seq, first.cseq().unwrap().seq + 1);
    assert_ne!(branch(&second), branch(&first));
    assert_eq!(second.body(), first.body());
    let auth = authorization(&second).unwrap();
    assert!(!String::from_utf8_lossy(second.as_bytes()).contains("s3cret-pw"));
    assert_eq!(param(&auth, "username"), "calltrack");
    assert_eq!(param(&auth, "uri"), "sip:100@127.0.0.1:5081");
    let challenge = Challenge::parse(&CHALLENGE["WWW-Authenticate: ".len()..]).unwrap();
    let cnonce = param(&auth, "cnonce");
    let expected = digest::response(
        &challenge,
        &digest::Request {
            method: "INVITE",
            uri: "sip:100@127.0.0.1:5081",
            username: "calltrack",
            password: "s3cret-pw",
            cnonce: &cnonce,
            nc: 1,
        },
    );
    assert_eq!(param(&auth, "response"), expected);
    assert!(
        h.carrier_finals().is_empty(),
        "the challenge stays between calltrack and the PBX"
    );
    // The caller hangs up: the CANCEL matches the authenticated INVITE.
    h.answer(T1, "180 Ringing");
    h.carrier_sends(&carrier_cancel(1));
    let cancel = h.last(T1, Method::Cancel);
    assert_eq!(branch(&cancel), branch(&second));
    assert_eq!(cancel.cseq().unwrap().seq, second.cseq().unwrap().seq);
}

#[test]
fn a_second_challenge_fails_the_attempt() {
    let mut h = Harness::new(&gateway_scheme("pbx.example"));
    h.carrier_sends(&invite(1, "79161234567"));
    h.answer(T1, &format!("401 Unauthorized\n{}", CHALLENGE.trim_end()));
    h.answer(T1, &format!("401 Unauthorized\n{}", CHALLENGE.trim_end()));
    assert_eq!(h.invited().len(), 2, "credentials are sent once");
    assert_eq!(h.carrier_finals(), [500]);
}

#[test]
fn a_challenge_of_another_realm_is_not_answered() {
    let mut h = Harness::new(&gateway_scheme("other.example"));
    h.carrier_sends(&invite(1, "79161234567"));
    let challenge = CHALLENGE.replace("WWW-Authenticate", "Proxy-Authenticate");
    h.answer(
        T1,
        &format!(
            "407 Proxy Authentication Required\n{}",
            challenge.trim_end()
        ),
    );
    assert_eq!(h.invited().len(), 1);
    assert_eq!(h.carrier_finals(), [500]);
}
