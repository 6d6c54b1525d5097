//! A carrier and a PBX around the core on a virtual clock, for the call-level tests
//! (`b2bua`, `b2bua_media`, `phantom_calls`): messages fed as text from either party, what
//! the core sent split by destination (the carrier, everything else), the call events, and
//! the PBX's answer to a request built from it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::call::record::CallDetailRecord;
use calltrack::sip::message::HeaderName;
use calltrack::sip::{Method, SipMessage};

/// The carrier's address: calls come from it (the configs trust 127.0.0.0/8).
pub const CARRIER: &str = "127.0.0.1:40000";
/// The PBX the demo site forwards to.
pub const PBX: &str = "127.0.0.1:5080";

/// The core, its virtual clock and what it sent and reported.
pub struct Rig {
    pub core: B2bua,
    pub now: Instant,
    pub to_carrier: Vec<SipMessage>,
    /// Everything not sent to the carrier.
    pub to_pbx: Vec<SipMessage>,
    pub events: Vec<CallEvent>,
    /// Every message not to the carrier must go to [`PBX`] (a single-target config).
    pub pbx_only: bool,
}

impl Rig {
    /// The rig around `core`, its clock at `now`.
    pub fn around(core: B2bua, now: Instant) -> Rig {
        Rig {
            core,
            now,
            to_carrier: vec![],
            to_pbx: vec![],
            events: vec![],
            pbx_only: false,
        }
    }

    /// The same, asserting that nothing goes anywhere but the carrier and [`PBX`].
    pub fn pbx_only(core: B2bua, now: Instant) -> Rig {
        Rig {
            pbx_only: true,
            ..Rig::around(core, now)
        }
    }

    pub fn carrier_sends(&mut self, text: &str) {
        self.feed(text, CARRIER);
    }

    pub fn pbx_sends(&mut self, text: &str) {
        self.feed(text, PBX);
    }

    /// One UDP message from `from`, then collects what the core did.
    pub fn feed(&mut self, text: &str, from: &str) {
        super::feed(&mut self.core, self.now, text, from.parse().unwrap());
        self.collect();
    }

    /// Runs the timers due within `by`, then collects.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        super::run_until(&mut self.core, &mut self.now, end);
        self.collect();
    }

    pub fn collect(&mut self) {
        let carrier: SocketAddr = CARRIER.parse().unwrap();
        for (to, msg) in super::sent(&mut self.core) {
            if to == carrier {
                self.to_carrier.push(msg);
            } else {
                if self.pbx_only {
                    assert_eq!(to, PBX.parse::<SocketAddr>().unwrap());
                }
                self.to_pbx.push(msg);
            }
        }
        self.events.extend(super::events(&mut self.core));
    }

    /// The last request of `method` sent towards the PBX.
    pub fn last_to_pbx(&self, method: Method) -> SipMessage {
        let found = self
            .to_pbx
            .iter()
            .rev()
            .find(|m| m.method() == Some(&method));
        let statuses: Vec<u16> = self.to_carrier.iter().filter_map(|m| m.status()).collect();
        found
            .cloned()
            .unwrap_or_else(|| panic!("no {method} to the PBX; the carrier got {statuses:?}"))
    }

    /// The last response with `status` sent to the carrier.
    pub fn last_to_carrier(&self, status: u16) -> SipMessage {
        let found = self
            .to_carrier
            .iter()
            .rev()
            .find(|m| m.status() == Some(status));
        found.cloned().unwrap()
    }

    /// The CDRs of the calls that ended.
    pub fn ended(&self) -> Vec<&CallDetailRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended(cdr) => Some(cdr),
                _ => None,
            })
            .collect()
    }
}

/// The PBX's response with `status` to `req` (its To gets the PBX's tag `pbx1`), with
/// `extra` header lines before the empty body.
pub fn pbx_response(req: &SipMessage, status: &str, extra: &str) -> String {
    let to = req.header(&HeaderName::To).unwrap();
    let to = if to.contains("tag=") {
        to.to_string()
    } else {
        format!("{to};tag=pbx1")
    };
    format!(
        "SIP/2.0 {status}
Via: {via}
From: {from}
To: {to}
Call-ID: {cid}
CSeq: {cseq}
Contact: <sip:pbx@{PBX}>
{extra}Content-Length: 0

",
        via = req.header(&HeaderName::Via).unwrap(),
        from = req.header(&HeaderName::From).unwrap(),
        cid = req.call_id().unwrap(),
        cseq = req.header(&HeaderName::CSeq).unwrap(),
    )
}

/// The carrier's response with `status` to `req`, a request calltrack sent it inside the
/// A-leg dialog (Call-ID `a-leg-1@carrier`), with an empty body.
pub fn carrier_response(req: &SipMessage, status: &str) -> String {
    format!(
        "SIP/2.0 {status}
Via: {via}
From: {from}
To: {to}
Call-ID: a-leg-1@carrier
CSeq: {cseq}
Contact: <sip:79161234567@{CARRIER}>
Content-Length: 0

",
        via = req.header(&HeaderName::Via).unwrap(),
        from = req.header(&HeaderName::From).unwrap(),
        to = req.header(&HeaderName::To).unwrap(),
        cseq = req.header(&HeaderName::CSeq).unwrap()
    )
}
