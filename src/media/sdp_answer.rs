//! calltrack's own SDP, for the calls it answers itself to play a prompt or a menu before
//! bridging: the answer to the caller's offer (RFC 3264 §6: one `m=` line per offered one,
//! the payload type numbers of the offer, the first G.711 codec it lists and its RFC 4733
//! telephone-event; every other stream rejected with port 0), and the offer to the callee
//! built from what the caller negotiated, so both legs share one codec and the relay needs
//! no transcoding.

use std::fmt::Write;
use std::net::IpAddr;

use super::prompt::Codec;
use super::sdp::{Direction, Sdp};

/// What the caller and calltrack agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The index of the accepted `m=` line in the offer.
    pub stream: usize,
    pub codec: Codec,
    /// The offer's telephone-event payload type, if it offered one.
    pub telephone_event: Option<u8>,
}

/// Where calltrack receives the stream, and the `o=` session id (RFC 4566 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub ip: IpAddr,
    pub port: u16,
    pub session_id: u64,
}

/// calltrack's answer to `offer`, and what it agreed; `None` when the offer has no audio
/// stream with G.711 (the engine answers 488 Not Acceptable Here, RFC 3261 §13.3.1.1).
pub fn answer(offer: &Sdp, local: Local) -> Option<(String, Negotiated)> {
    let negotiated = offer.media.iter().enumerate().find_map(|(stream, m)| {
        let usable = m.kind == "audio" && m.port != 0 && m.is_rtp() && !m.crypto;
        let codec = m
            .formats
            .iter()
            .find_map(|pt| Codec::from_payload_type(*pt));
        let codec = codec.filter(|_| usable)?;
        let telephone_event = m.telephone_event.filter(|pt| m.formats.contains(pt));
        Some(Negotiated {
            stream,
            codec,
            telephone_event,
        })
    })?;
    let mut body = head(local);
    for (index, m) in offer.media.iter().enumerate() {
        if index == negotiated.stream {
            let direction = answer_direction(m.direction);
            audio(&mut body, local.port, negotiated, direction);
        } else {
            let first = m.formats.first().map_or("0".to_owned(), u8::to_string);
            let _ = write!(body, "m={} 0 {} {first}\r\n", m.kind, m.proto);
        }
    }
    Some((body, negotiated))
}

/// The offer to the callee: the caller's codec and telephone-event, payload types kept.
pub fn offer_to_callee(negotiated: Negotiated, local: Local) -> String {
    let mut body = head(local);
    audio(&mut body, local.port, negotiated, "sendrecv");
    body
}

fn head(local: Local) -> String {
    let family = if local.ip.is_ipv4() { "IP4" } else { "IP6" };
    let (id, ip) = (local.session_id, local.ip);
    format!(
        "v=0\r\no=calltrack {id} {id} IN {family} {ip}\r\ns=calltrack\r\nc=IN {family} {ip}\r\nt=0 0\r\n"
    )
}

fn audio(body: &mut String, port: u16, negotiated: Negotiated, direction: &str) {
    let pt = negotiated.codec.payload_type();
    let name = match negotiated.codec {
        Codec::Pcmu => "PCMU",
        Codec::Pcma => "PCMA",
    };
    match negotiated.telephone_event {
        Some(te) => {
            let _ = write!(
                body,
                "m=audio {port} RTP/AVP {pt} {te}\r\na=rtpmap:{pt} {name}/8000\r\n\
                 a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
            );
        }
        None => {
            let _ = write!(
                body,
                "m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\n"
            );
        }
    }
    let _ = write!(body, "a=ptime:20\r\na={direction}\r\n");
}

/// RFC 3264 §6.1: the answer's direction mirrors the offer's.
fn answer_direction(offered: Direction) -> &'static str {
    match offered {
        Direction::SendOnly => "recvonly",
        Direction::RecvOnly => "sendonly",
        Direction::Inactive => "inactive",
        Direction::SendRecv => "sendrecv",
    }
}

#[cfg(test)]
#[path = "sdp_answer_tests.rs"]
mod tests;
