//! Roles from bearer tokens and the session cookie, and the reader and admin rules.

use std::time::Duration;

use axum::http::{HeaderValue, Method};

use super::*;
use crate::config::AdminToken;

const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";

fn http(listen: &str, admin: Option<&str>) -> HttpConfig {
    HttpConfig {
        listen: listen.parse().unwrap(),
        rate_limit_per_minute: 1,
        max_body_bytes: 1024,
        trusted_proxies: Vec::new(),
        admin_token: admin.map(|t| AdminToken::new(t.to_owned())),
        viewer_tokens: vec![AdminToken::new(VIEWER.to_owned())],
        session_ttl: Duration::from_secs(3600),
        secure_cookies: false,
    }
}

fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    h
}

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

#[test]
fn bearer_tokens_name_their_role() {
    let c = http("0.0.0.0:80", Some(ADMIN));
    let s = SignIns::default();
    let who = |token: &str| {
        identify(
            &c,
            &s,
            &headers(&[(header::AUTHORIZATION, &format!("Bearer {token}"))]),
            now(),
        )
    };
    assert_eq!(who(ADMIN).map(|a| a.role), Ok(Role::Admin));
    assert_eq!(who(VIEWER).map(|a| a.role), Ok(Role::Viewer));
    assert_eq!(who("viewer-token-012345678"), Err(Denied::Unauthorized));
    assert_eq!(
        identify(&c, &s, &HeaderMap::new(), now()),
        Err(Denied::Unauthorized)
    );
}

#[test]
fn the_session_cookie_carries_the_role_it_was_opened_with() {
    let c = http("0.0.0.0:80", Some(ADMIN));
    let s = SignIns::default();
    let (id, _) = s.open(token_digest(VIEWER), Duration::from_secs(60), now());
    let cookie = format!("theme=dark; {SESSION_COOKIE}={id}; other=1");
    let h = headers(&[(header::COOKIE, &cookie)]);
    assert_eq!(session_cookie(&h), Some(id.as_str()));
    let access = identify(&c, &s, &h, now()).unwrap();
    assert_eq!(
        (access.role, access.via),
        (Role::Viewer, Credential::Cookie)
    );
    let later = now()
        .checked_add(jiff::SignedDuration::from_secs(61))
        .unwrap();
    assert_eq!(identify(&c, &s, &h, later), Err(Denied::Unauthorized));
    let forged = headers(&[(header::COOKIE, "calltrack_session=0123")]);
    assert_eq!(identify(&c, &s, &forged, now()), Err(Denied::Unauthorized));
}

#[test]
fn removing_a_token_ends_its_sign_ins() {
    let s = SignIns::default();
    let (id, _) = s.open(token_digest(VIEWER), Duration::from_secs(60), now());
    let h = headers(&[(header::COOKIE, &format!("{SESSION_COOKIE}={id}"))]);
    let mut c = http("0.0.0.0:80", Some(ADMIN));
    assert!(identify(&c, &s, &h, now()).is_ok());
    c.viewer_tokens.clear();
    assert_eq!(identify(&c, &s, &h, now()), Err(Denied::Unauthorized));
    assert_eq!(s.count(), 0, "the sign-in was closed");
}

#[test]
fn a_loopback_listener_without_an_admin_token_stays_open() {
    let c = http("127.0.0.1:80", None);
    let access = identify(&c, &SignIns::default(), &HeaderMap::new(), now()).unwrap();
    assert_eq!((access.role, access.via), (Role::Admin, Credential::Open));
    // Exposed with viewer tokens only: viewers sign in, nobody else gets in.
    let exposed = http("0.0.0.0:80", None);
    assert_eq!(
        identify(&exposed, &SignIns::default(), &HeaderMap::new(), now()),
        Err(Denied::Unauthorized)
    );
}

#[test]
fn viewers_read_and_only_admins_write() {
    let viewer = Access {
        role: Role::Viewer,
        via: Credential::Bearer,
    };
    let admin = Access {
        role: Role::Admin,
        via: Credential::Bearer,
    };
    let none = HeaderMap::new();
    assert_eq!(reader_rule(viewer, &Method::GET, &none), Ok(()));
    assert_eq!(
        reader_rule(viewer, &Method::PATCH, &none),
        Err(Refusal::ReadOnly)
    );
    assert_eq!(
        reader_rule(viewer, &Method::POST, &none),
        Err(Refusal::ReadOnly)
    );
    assert_eq!(reader_rule(admin, &Method::PATCH, &none), Ok(()));
    assert_eq!(
        admin_rule(viewer, &Method::GET, &none),
        Err(Refusal::ReadOnly)
    );
    assert_eq!(admin_rule(admin, &Method::DELETE, &none), Ok(()));
}

#[test]
fn cookie_writes_must_come_from_this_origin() {
    let admin = Access {
        role: Role::Admin,
        via: Credential::Cookie,
    };
    let host = (header::HOST, "calltrack.example:8080");
    let same = headers(&[
        host.clone(),
        (header::ORIGIN, "https://calltrack.example:8080"),
    ]);
    let other = headers(&[host.clone(), (header::ORIGIN, "https://evil.example")]);
    let missing = headers(&[host]);
    assert_eq!(reader_rule(admin, &Method::PATCH, &same), Ok(()));
    assert_eq!(
        reader_rule(admin, &Method::PATCH, &other),
        Err(Refusal::CrossOrigin)
    );
    assert_eq!(
        reader_rule(admin, &Method::POST, &missing),
        Err(Refusal::CrossOrigin)
    );
    assert_eq!(reader_rule(admin, &Method::GET, &other), Ok(()));
}
