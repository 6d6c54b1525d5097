//! RFC 4475 and RFC 5118 torture messages as a table test over the receive path (`screen`).
//!
//! The messages live in `../shared/sip-torture/` beside the project (never copied into it);
//! where that folder is absent the test says so loudly and skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use bytes::Bytes;
use calltrack::sip::message::{Limits, Screened, screen};

/// What the receive path must do with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Parsed and passed on to the transaction layer.
    Accept,
    /// Answered with this status code.
    Reject(u16),
    /// Dropped without an answer.
    Discard,
}
use Expect::*;

/// calltrack honours these option tags in Require.
const SUPPORTED: &[&str] = &["100rel", "timer", "replaces"];

const RFC4475: &[(&str, Expect)] = &[
    // 3.1.1 valid messages
    ("wsinv.dat", Accept),
    ("intmeth.dat", Accept),
    ("esc01.dat", Accept),
    ("escnull.dat", Accept),
    ("esc02.dat", Accept),
    ("lwsdisp.dat", Accept),
    ("longreq.dat", Accept),
    ("dblreq.dat", Accept),
    ("semiuri.dat", Accept),
    ("transports.dat", Accept),
    ("mpart01.dat", Accept),
    ("unreason.dat", Accept),
    ("noreason.dat", Accept),
    // 3.1.2 invalid messages
    ("badinv01.dat", Reject(400)),
    ("clerr.dat", Reject(400)),
    ("ncl.dat", Reject(400)),
    ("scalar02.dat", Reject(400)),
    ("scalarlg.dat", Discard),
    ("quotbal.dat", Reject(400)),
    ("ltgtruri.dat", Reject(400)),
    ("lwsruri.dat", Reject(400)),
    ("lwsstart.dat", Accept), // liberal: the R-URI is never forwarded as received
    ("trws.dat", Accept),     // liberal, likewise
    ("escruri.dat", Reject(400)),
    ("baddate.dat", Accept), // Date does not matter to calltrack
    ("regbadct.dat", Reject(400)),
    ("badaspec.dat", Reject(400)),
    ("baddn.dat", Reject(400)),
    ("badvers.dat", Reject(505)),
    ("mismatch01.dat", Reject(400)),
    ("mismatch02.dat", Reject(501)),
    ("bigcode.dat", Discard),
    // 3.2 transaction layer: RFC 2543 matching takes over
    ("badbranch.dat", Accept),
    // 3.3 application layer
    ("insuf.dat", Reject(400)),
    ("unkscm.dat", Reject(416)),
    ("novelsc.dat", Reject(416)),
    ("unksm2.dat", Accept),
    ("bext01.dat", Reject(420)),
    ("invut.dat", Accept),
    ("regaut01.dat", Accept),
    ("multi01.dat", Reject(400)),
    ("mcl01.dat", Reject(400)),
    ("bcast.dat", Accept), // a response; no transaction matches it, so it is dropped later
    ("zeromf.dat", Accept), // hop counting (483) is the B2BUA's job
    ("cparam01.dat", Accept),
    ("cparam02.dat", Accept),
    ("regescrt.dat", Accept),
    ("sdp01.dat", Accept),
    // 3.4 backward compatibility
    ("inv2543.dat", Accept),
];

const RFC5118: &[(&str, Expect)] = &[
    ("ipv6-good", Accept),
    ("ipv6-bad", Reject(400)),
    ("port-ambiguous", Accept),
    ("port-unambiguous", Accept),
    ("via-received-param-with-delim", Accept),
    ("via-received-param-no-delim", Accept),
    ("ipv6-in-sdp", Accept),
    ("mult-ip-in-header", Accept),
    ("mult-ip-in-sdp", Accept),
    ("ipv4-mapped-ipv6", Accept),
    ("ipv6-bug-abnf-3-colons", Reject(400)),
    ("ipv6-correct-abnf-2-colons", Accept),
];

fn torture_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/sip-torture");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED: torture messages not found at {} (they live in shared/ beside the \
             project; CI has them) ***\n",
            dir.display()
        );
        None
    }
}

fn verdict(bytes: Vec<u8>) -> Expect {
    match screen(Bytes::from(bytes), &Limits::default(), SUPPORTED) {
        Screened::Request(_) | Screened::Response(_) => Accept,
        Screened::Reject(_, rejection) => Reject(rejection.status),
        Screened::Discard(_) => Discard,
    }
}

fn run_table(dir: PathBuf, table: &[(&str, Expect)]) {
    let mut failures = Vec::new();
    for (file, expected) in table {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let got = std::panic::catch_unwind(|| verdict(bytes));
        match got {
            Ok(got) if got == *expected => {}
            Ok(got) => failures.push(format!("{file}: expected {expected:?}, got {got:?}")),
            Err(_) => failures.push(format!("{file}: PANIC")),
        }
    }
    assert!(
        failures.is_empty(),
        "torture failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn rfc4475_torture_messages() {
    if let Some(dir) = torture_dir() {
        run_table(dir, RFC4475);
    }
}

#[test]
fn rfc5118_ipv6_torture_messages() {
    if let Some(dir) = torture_dir() {
        run_table(dir.join("rfc5118"), RFC5118);
    }
}

/// Every file of the folder is in a table, so nothing is silently left out.
#[test]
fn every_torture_file_is_covered() {
    let Some(dir) = torture_dir() else { return };
    let listed = |name: &str, table: &[(&str, Expect)]| table.iter().any(|(f, _)| *f == name);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".dat") {
            assert!(listed(&name, RFC4475), "{name} has no expectation");
        }
    }
    for entry in std::fs::read_dir(dir.join("rfc5118")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(listed(&name, RFC5118), "rfc5118/{name} has no expectation");
    }
}

/// The valid messages' typed headers read as the RFC describes them.
#[test]
fn valid_messages_read_correctly() {
    let Some(dir) = torture_dir() else { return };
    let read = |f: &str| {
        let bytes = Bytes::from(std::fs::read(dir.join(f)).unwrap());
        calltrack::sip::SipMessage::parse(bytes, &Limits::default()).unwrap()
    };
    let wsinv = read("wsinv.dat");
    assert_eq!(wsinv.max_forwards().unwrap().unwrap(), 68);
    assert_eq!(wsinv.cseq().unwrap().seq, 9);
    assert_eq!(wsinv.from().unwrap().tag(), Some("98asjd8"));
    assert_eq!(wsinv.to().unwrap().tag(), Some("1918181833n"));
    assert_eq!(wsinv.values(&calltrack::sip::HeaderName::Via).count(), 3);
    assert_eq!(wsinv.body().len(), 150);
    let dbl = read("dblreq.dat");
    assert_eq!(
        dbl.body().len(),
        0,
        "octets after Content-Length are not the body"
    );
    let mpart = read("mpart01.dat");
    assert!(mpart.body().contains(&0), "binary body kept whole");
    let unreason = read("unreason.dat");
    assert!(std::str::from_utf8(unreason.reason().unwrap()).is_ok());
    let esc = read("escnull.dat");
    assert_eq!(esc.values(&calltrack::sip::HeaderName::Contact).count(), 2);
}
