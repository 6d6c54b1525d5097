//! Reading an SDP body (RFC 4566) for what a relay needs: the connection addresses (session-
//! and media-level `c=`, §5.7), each `m=` line's port and protocol (§5.14), the RTCP port
//! (`a=rtcp:`, RFC 3605), SDES keys (`a=crypto`, RFC 4568), the codecs' clock rates
//! (`a=rtpmap`, §6) and the direction attribute (RFC 3264 §5.1). Everything else is left to
//! the endpoints: the rewrite (`sdp_rewrite.rs`) keeps it byte for byte.

use std::net::IpAddr;

/// Why a body cannot be relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("line {0} is not text")]
    NotText(usize),
    #[error("line {0}: malformed m= line")]
    MediaLine(usize),
}

/// RFC 3264 §5.1 direction of a stream (the media-level attribute, else the session's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// Where a side wants a stream's packets: an address (`None` when unknown or a host name)
/// or the RFC 2543 hold address (`0.0.0.0`, `::`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Addr(IpAddr),
    /// `0.0.0.0` or `::`: "send me nothing" (RFC 3264 §8.4 notes this older hold style).
    Hold,
    /// A host name or something unreadable: packets go where they come from (latching).
    Unknown,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    /// `audio`, `video`, `image`, ...
    pub kind: String,
    /// 0: a rejected or disabled stream (RFC 3264 §6, §8.2).
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, `udptl`, ...
    pub proto: String,
    /// The media-level `c=`, if any.
    pub connection: Option<Connection>,
    /// RFC 3605 `a=rtcp:port [IN IP4 addr]`: where the side wants RTCP (default `port + 1`).
    pub rtcp_port: Option<u16>,
    /// SDES keys are present (RFC 4568): the payload is SRTP, relayed but not recordable.
    pub crypto: bool,
    /// `(payload type, clock rate)` from `a=rtpmap`, plus the static G.711/G.722/G.729 types
    /// (RFC 3551 §6) listed on the `m=` line.
    pub clock_rates: Vec<(u8, u32)>,
    /// The payload types of the `m=` line, in the sender's order of preference.
    pub formats: Vec<u8>,
    /// RFC 4733 `a=rtpmap:<pt> telephone-event/8000`: the payload type of DTMF events.
    pub telephone_event: Option<u8>,
    pub direction: Direction,
}

impl MediaDesc {
    /// Carries RTP (its packets are measured); `udptl` (T.38) and others are only relayed.
    pub fn is_rtp(&self) -> bool {
        self.proto.starts_with("RTP/") || self.proto.contains("/RTP/")
    }

    /// The clock rate of payload type `pt`, if the SDP names it.
    pub fn clock_rate(&self, pt: u8) -> Option<u32> {
        self.clock_rates
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, rate)| *rate)
    }
}

/// What a relay reads from one SDP body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdp {
    /// The session-level `c=`.
    pub connection: Option<Connection>,
    pub media: Vec<MediaDesc>,
}

impl Sdp {
    /// Where the side wants stream `index`'s RTP: the media-level `c=`, else the session's.
    pub fn connection_of(&self, index: usize) -> Connection {
        self.media
            .get(index)
            .and_then(|m| m.connection)
            .or(self.connection)
            .unwrap_or(Connection::Unknown)
    }
}

/// One line of a body without its terminator (CRLF, or a bare LF some stacks send).
pub(super) fn lines(body: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    body.split_inclusive(|&b| b == b'\n').map(|line| {
        let text_len = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .map_or(line.len(), <[u8]>::len);
        line.split_at(text_len)
    })
}

/// Reads a body; unknown lines and attributes are skipped (they stay as they are).
pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
    let mut sdp = Sdp::default();
    let mut session_direction = Direction::SendRecv;
    for (number, (line, _)) in lines(body).enumerate() {
        let Ok(text) = std::str::from_utf8(line) else {
            if line.starts_with(b"c=") || line.starts_with(b"m=") || line.starts_with(b"a=") {
                return Err(SdpError::NotText(number + 1));
            }
            continue;
        };
        let prefix = text.get(..2);
        if prefix == Some("m=") {
            sdp.media
                .push(media_line(&text[2..], session_direction, number)?);
            continue;
        }
        match (prefix, sdp.media.last_mut()) {
            (Some("c="), None) => sdp.connection = Some(connection(&text[2..])),
            (Some("c="), Some(m)) => m.connection = Some(connection(&text[2..])),
            (Some("a="), None) => {
                session_direction = direction(&text[2..]).unwrap_or(session_direction);
            }
            (Some("a="), Some(m)) => attribute(m, &text[2..]),
            _ => {}
        }
    }
    Ok(sdp)
}

/// `<media> <port>[/<count>] <proto> <fmt> ...`
fn media_line(rest: &str, direction: Direction, number: usize) -> Result<MediaDesc, SdpError> {
    let mut fields = rest.split_ascii_whitespace();
    let bad = || SdpError::MediaLine(number + 1);
    let kind = fields.next().ok_or_else(bad)?.to_owned();
    let port_field = fields.next().ok_or_else(bad)?;
    let port_text = port_field.split('/').next().unwrap_or(port_field);
    let port = port_text.parse::<u16>().map_err(|_| bad())?;
    let proto = fields.next().ok_or_else(bad)?.to_owned();
    let formats: Vec<u8> = fields.filter_map(|f| f.parse::<u8>().ok()).collect();
    let clock_rates = formats
        .iter()
        .filter_map(|&pt| static_rate(pt).map(|rate| (pt, rate)))
        .collect();
    Ok(MediaDesc {
        kind,
        port,
        proto,
        connection: None,
        rtcp_port: None,
        crypto: false,
        clock_rates,
        formats,
        telephone_event: None,
        direction,
    })
}

/// RFC 3551 §6 static payload types calltrack may meet on a phone call.
fn static_rate(pt: u8) -> Option<u32> {
    match pt {
        // PCMU, GSM, G723, PCMA, G722 (8000 by the RTP clock, §4.5.2), G728, G729.
        0 | 3 | 4 | 8 | 9 | 15 | 18 => Some(8000),
        _ => None,
    }
}

/// `IN IP4 <addr>[/ttl]` or `IN IP6 <addr>`.
fn connection(rest: &str) -> Connection {
    let addr = rest.split_ascii_whitespace().nth(2).unwrap_or("");
    let addr = addr.split('/').next().unwrap_or(addr);
    match addr.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => Connection::Hold,
        Ok(ip) => Connection::Addr(ip),
        Err(_) => Connection::Unknown,
    }
}

fn attribute(m: &mut MediaDesc, attr: &str) {
    let (name, value) = attr.split_once(':').unwrap_or((attr, ""));
    match name {
        "rtcp" => {
            m.rtcp_port = value
                .split_ascii_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
        }
        "crypto" => m.crypto = true,
        "rtpmap" => {
            let pt = value
                .split(' ')
                .next()
                .and_then(|pt| pt.trim().parse().ok());
            if is_telephone_event(value) && pt.is_some() {
                m.telephone_event = pt;
            }
            if let Some(entry) = rtpmap(value) {
                m.clock_rates.retain(|(pt, _)| *pt != entry.0);
                m.clock_rates.push(entry);
            }
        }
        _ => m.direction = direction(attr).unwrap_or(m.direction),
    }
}

/// `<pt> <name>/<rate>[/<channels>]`
fn rtpmap(value: &str) -> Option<(u8, u32)> {
    let (pt, encoding) = value.split_once(' ')?;
    let rate = encoding.trim().split('/').nth(1)?;
    Some((pt.trim().parse().ok()?, rate.parse().ok()?))
}

/// `<pt> telephone-event/8000` (the encoding name is case-insensitive, RFC 4855 §3).
fn is_telephone_event(value: &str) -> bool {
    let encoding = value.split_once(' ').map(|(_, e)| e.trim()).unwrap_or("");
    encoding
        .get(..16)
        .is_some_and(|name| name.eq_ignore_ascii_case("telephone-event/"))
}

fn direction(attr: &str) -> Option<Direction> {
    match attr {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
