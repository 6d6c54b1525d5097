//! Rewriting an SDP body so that a stream's packets come to the relay: the `c=` addresses
//! become the advertised address, each relayed `m=` line's port becomes the relay's RTP port
//! and an `a=rtcp:` line (RFC 3605 §2.1) names the relay's RTCP port (RTP port + 1). Every
//! other byte, codecs and unknown attributes included, is kept as it was; a port 0 (a
//! rejected or disabled stream, RFC 3264 §6) stays 0, and a hold address (`0.0.0.0`, `::`)
//! stays a hold address, so the other side still sends nothing.

use std::net::IpAddr;

use super::sdp::lines;

/// The relay's side of one body: where each stream's packets should come.
#[derive(Debug, Clone, Copy)]
pub struct RelayAddrs<'a> {
    /// Written into `c=` lines.
    pub advertised: IpAddr,
    /// Per `m=` line in order: the relay's RTP port, or `None` to leave the line alone
    /// (port 0). Lines past the end are left alone too.
    pub ports: &'a [Option<u16>],
}

/// The body with the relay's addresses and ports in place of the side's.
pub fn rewrite(body: &[u8], relay: RelayAddrs<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut index: Option<usize> = None;
    for (line, end) in lines(body) {
        if line.starts_with(b"m=") {
            index = Some(index.map_or(0, |i| i + 1));
        }
        let port = index.and_then(|i| relay.ports.get(i).copied().flatten());
        match rewritten(line, index.is_some(), port, relay.advertised) {
            Some(new) => out.extend_from_slice(new.as_bytes()),
            None => out.extend_from_slice(line),
        }
        out.extend_from_slice(end);
    }
    out
}

/// The new text of `line`, or `None` to keep it. `in_media`: past the first `m=` line;
/// `port`: the relay's RTP port for the current stream.
fn rewritten(line: &[u8], in_media: bool, port: Option<u16>, ip: IpAddr) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    if let Some(rest) = text.strip_prefix("m=") {
        return port.map(|p| media_line(rest, p));
    }
    if let Some(rest) = text.strip_prefix("c=") {
        // A media-level c= of a stream left alone keeps its address.
        return (!in_media || port.is_some())
            .then(|| connection(rest, ip))
            .flatten();
    }
    let rest = text.strip_prefix("a=rtcp:")?;
    port.map(|p| rtcp(rest, p, ip))
}

/// `m=<media> <port>[/<count>] <proto> <fmt> ...` with the port replaced.
fn media_line(rest: &str, port: u16) -> String {
    let mut parts = rest.splitn(3, ' ');
    let kind = parts.next().unwrap_or("");
    let old = parts.next().unwrap_or("");
    let tail = parts.next().unwrap_or("");
    let count = old.find('/').map_or("", |at| &old[at..]);
    format!("m={kind} {port}{count} {tail}")
}

/// `c=IN IP4 <addr>` for the advertised address, unless the side put a hold address.
fn connection(rest: &str, ip: IpAddr) -> Option<String> {
    let addr = rest.split_ascii_whitespace().nth(2).unwrap_or("");
    let addr = addr.split('/').next().unwrap_or(addr);
    if addr.parse::<IpAddr>().is_ok_and(|a| a.is_unspecified()) {
        return None;
    }
    Some(format!("c=IN {} {ip}", family(ip)))
}

/// `a=rtcp:<port>` keeping its form: with an address, the advertised one.
fn rtcp(rest: &str, rtp_port: u16, ip: IpAddr) -> String {
    let rtcp_port = rtp_port.saturating_add(1);
    if rest.split_ascii_whitespace().count() > 1 {
        format!("a=rtcp:{rtcp_port} IN {} {ip}", family(ip))
    } else {
        format!("a=rtcp:{rtcp_port}")
    }
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}
