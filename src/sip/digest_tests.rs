//! Digest against the worked examples of RFC 2617 §3.5 and RFC 7616 §3.9.1.

use super::*;

const RFC2617: &str = r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

fn mufasa<'a>(password: &'a str, cnonce: &'a str) -> Request<'a> {
    Request {
        method: "GET",
        uri: "/dir/index.html",
        username: "Mufasa",
        password,
        cnonce,
        nc: 1,
    }
}

#[test]
fn rfc2617_worked_example() {
    let c = Challenge::parse(RFC2617).unwrap();
    assert_eq!(c.realm, "testrealm@host.com");
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert!(c.qop_auth);
    let r = mufasa("Circle Of Life", "0a4f113b");
    assert_eq!(response(&c, &r), "6629fae49393a05397450978507c4ef1");
    let header = authorization(&c, &r);
    assert!(header.starts_with("Digest username=\"Mufasa\", realm=\"testrealm@host.com\""));
    assert!(header.contains("response=\"6629fae49393a05397450978507c4ef1\""));
    assert!(header.contains("qop=auth, nc=00000001"));
    assert!(header.contains("cnonce=\"0a4f113b\""));
    assert!(header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    assert!(!header.contains("Circle"), "never the password");
    assert!(!format!("{r:?}").contains("Circle"), "nor in Debug");
}

#[test]
fn rfc7616_sha256_and_md5_examples() {
    let base = r#"realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let r = mufasa("Circle of Life", cnonce);
    let sha = Challenge::parse(&format!("Digest {base}, algorithm=SHA-256")).unwrap();
    assert_eq!(
        response(&sha, &r),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    let md5 = Challenge::parse(&format!("Digest {base}, algorithm=MD5")).unwrap();
    assert_eq!(response(&md5, &r), "8ca523f5e9506fed4657c9700eebdbec");
    let best = Challenge::best([
        format!("Digest {base}, algorithm=MD5").as_str(),
        format!("Digest {base}, algorithm=SHA-256").as_str(),
    ])
    .unwrap();
    assert_eq!(best.algorithm, Algorithm::Sha256);
}

#[test]
fn challenge_without_qop_uses_the_rfc2069_form() {
    let c = Challenge::parse(r#"Digest realm="asterisk",nonce="abc""#).unwrap();
    assert!(!c.qop_auth);
    let r = Request {
        method: "INVITE",
        uri: "sip:100@127.0.0.1",
        username: "u",
        password: "p",
        cnonce: "x",
        nc: 1,
    };
    let ha1 = Algorithm::Md5.hash("u:asterisk:p");
    let ha2 = Algorithm::Md5.hash("INVITE:sip:100@127.0.0.1");
    assert_eq!(
        response(&c, &r),
        Algorithm::Md5.hash(&format!("{ha1}:abc:{ha2}"))
    );
    let header = authorization(&c, &r);
    assert!(!header.contains("qop") && !header.contains("cnonce"));
}

#[test]
fn bad_challenges_are_errors() {
    assert_eq!(
        Challenge::parse("Basic realm=\"x\""),
        Err(DigestError::NotDigest)
    );
    assert_eq!(
        Challenge::parse("Digest nonce=\"n\""),
        Err(DigestError::Missing("realm"))
    );
    assert!(matches!(
        Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"),
        Err(DigestError::Algorithm(_))
    ));
    assert!(matches!(
        Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
        Err(DigestError::Qop(_))
    ));
    let quoted = Challenge::parse(r#"Digest realm="a \"b\", c", nonce=n1"#).unwrap();
    assert_eq!(quoted.realm, "a \"b\", c");
    assert_eq!(quoted.nonce, "n1");
}
