//! The B2BUA core on a virtual clock, shared by the core-level tests (`b2bua`, `b2bua_dialer`,
//! `b2bua_media`, `phantom_calls`, `edge_core`, `health`): a loopback endpoint, messages fed
//! as text, timers run in order up to a time, and what the core sent, parsed; `rig` puts a
//! carrier and a PBX around it. No sockets, no sleeps.

#![allow(dead_code, clippy::unwrap_used)]

pub mod rig;
pub mod voice;

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use calltrack::b2bua::{B2bua, CallEvent};
use calltrack::sip::dialog::LocalEndpoint;
use calltrack::sip::message::Limits;
use calltrack::sip::{Peer, SipMessage, Transport};

/// calltrack's own address in every core test: UDP (and TCP when `tcp`) on 127.0.0.1:5060.
pub fn loopback_endpoint(tcp: bool) -> LocalEndpoint {
    let addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    LocalEndpoint {
        udp: Some(addr),
        tcp: tcp.then_some(addr),
        advertised_host: None,
        advertised_port: None,
    }
}

/// One UDP message from `from`; `\n` line ends become CRLF.
pub fn feed(core: &mut B2bua, now: Instant, text: &str, from: SocketAddr) {
    let bytes = Bytes::from(text.replace('\n', "\r\n"));
    core.handle_datagram(now, bytes, Peer::new(Transport::Udp, from));
}

/// Fires every timer due up to `end`, in order, then moves `now` to `end`.
pub fn run_until(core: &mut B2bua, now: &mut Instant, end: Instant) {
    while let Some(due) = core.poll_timeout().filter(|t| *t <= end) {
        *now = due.max(*now);
        core.handle_timeout(*now);
    }
    *now = end;
    core.handle_timeout(*now);
}

/// Everything the core has sent since the last call, parsed, with its destination.
pub fn sent(core: &mut B2bua) -> Vec<(SocketAddr, SipMessage)> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|t| {
            let msg = SipMessage::parse(t.bytes, &Limits::default()).unwrap();
            (t.peer.addr, msg)
        })
        .collect()
}

/// Every call event the core has reported since the last call.
pub fn events(core: &mut B2bua) -> Vec<CallEvent> {
    std::iter::from_fn(|| core.poll_event()).collect()
}
