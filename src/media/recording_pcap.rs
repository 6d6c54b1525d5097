//! A recorded call that carried no G.711 (Opus, G.722, G.729, ...) is kept as a pcap of its
//! RTP as calltrack received it: each packet whole, in arrival order, wrapped in the IP and UDP
//! headers it came with (sender to calltrack's port), libpcap format with raw-IP link type
//! (`LINKTYPE_RAW`, 101), so Wireshark's RTP player decodes it. Sans-IO: the bytes are built
//! here, the file is written by `recording_file.rs`.

use std::io::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

/// At most this many bytes of packets per call (an hour of a 64 kbit/s codec both ways is
/// about 60 MB with headers): what comes later is not kept, so a forgotten call cannot eat
/// the memory.
const MAX_LOG_BYTES: usize = 64 << 20;

/// One kept packet: when it arrived, who sent it (the callee, or the caller), the RTP bytes.
#[derive(Debug, Clone)]
struct Logged {
    at: Instant,
    callee: bool,
    bytes: Vec<u8>,
}

/// The packets of a recorded stream that are not G.711.
#[derive(Debug, Clone, Default)]
pub struct PacketLog {
    packets: Vec<Logged>,
    bytes: usize,
}

impl PacketLog {
    /// Keeps a packet `callee` (or the caller) sent, unless the log is full.
    pub fn push(&mut self, at: Instant, callee: bool, bytes: &[u8]) {
        if self.bytes + bytes.len() > MAX_LOG_BYTES {
            return;
        }
        self.bytes += bytes.len();
        self.packets.push(Logged {
            at,
            callee,
            bytes: bytes.to_vec(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// From the first packet to the last.
    pub fn span(&self) -> Duration {
        match (self.packets.first(), self.packets.last()) {
            (Some(first), Some(last)) => last.at.saturating_duration_since(first.at),
            _ => Duration::ZERO,
        }
    }
}

/// Who sent what: each side's address and the relay's address and port facing it.
#[derive(Debug, Clone, Copy)]
pub struct PcapAddrs {
    pub caller: SocketAddr,
    pub callee: SocketAddr,
    /// The relay's RTP address facing the caller, then the callee.
    pub relay_caller: SocketAddr,
    pub relay_callee: SocketAddr,
}

impl PcapAddrs {
    /// Addresses for packets whose sender is unknown (both sides' `0.0.0.0:0`).
    pub fn unknown() -> PcapAddrs {
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        PcapAddrs {
            caller: none,
            callee: none,
            relay_caller: none,
            relay_callee: none,
        }
    }
}

/// An I/O or format error while writing a pcap.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("pcap: {0}")]
    Pcap(#[from] pcap_file::PcapError),
    #[error("packet headers: {0}")]
    Headers(#[from] etherparse::err::packet::BuildWriteError),
}

/// Writes `log` as a pcap to `out`; `wall` gives each arrival's time since the Unix epoch.
/// Returns the writer.
pub fn write_pcap<W: Write>(
    log: &PacketLog,
    addrs: &PcapAddrs,
    wall: impl Fn(Instant) -> Duration,
    out: W,
) -> Result<W, PcapError> {
    let header = PcapHeader {
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(out, header)?;
    let mut frame = Vec::with_capacity(256);
    for packet in &log.packets {
        let (from, to) = match packet.callee {
            false => (addrs.caller, addrs.relay_caller),
            true => (addrs.callee, addrs.relay_callee),
        };
        frame.clear();
        udp_frame(from, to, &packet.bytes, &mut frame)?;
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        writer.write_packet(&PcapPacket::new(wall(packet.at), len, &frame))?;
    }
    Ok(writer.into_writer())
}

/// An IPv4 or IPv6 datagram from `from` to `to` carrying `payload` (a mixed pair is written
/// as IPv6, the IPv4 side mapped).
fn udp_frame(
    from: SocketAddr,
    to: SocketAddr,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), PcapError> {
    let builder = match (from.ip(), to.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => PacketBuilder::ipv4(a.octets(), b.octets(), 64),
        (a, b) => PacketBuilder::ipv6(v6(a).octets(), v6(b).octets(), 64),
    };
    builder
        .udp(from.port(), to.port())
        .write(out, payload)
        .map_err(PcapError::from)
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    #[test]
    fn packets_come_back_whole_with_their_addresses_and_times() {
        let t0 = Instant::now();
        let mut log = PacketLog::default();
        let rtp_a = [0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xa, 1, 2, 3];
        let rtp_b = [0x80, 111, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0xb, 4, 5];
        log.push(t0, false, &rtp_a);
        log.push(t0 + Duration::from_millis(20), true, &rtp_b);
        assert_eq!(log.span(), Duration::from_millis(20));
        let addrs = PcapAddrs {
            caller: "192.0.2.1:4000".parse().unwrap(),
            callee: "198.51.100.2:5000".parse().unwrap(),
            relay_caller: "203.0.113.9:30000".parse().unwrap(),
            relay_callee: "203.0.113.9:30002".parse().unwrap(),
        };
        let epoch = Duration::from_secs(1_800_000_000);
        let bytes = write_pcap(&log, &addrs, |at| epoch + (at - t0), Vec::new()).unwrap();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let first = reader.next_packet().unwrap().unwrap().into_owned();
        assert_eq!(first.timestamp, epoch);
        let ip = etherparse::SlicedPacket::from_ip(&first.data).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = &ip.transport else {
            panic!("UDP expected");
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (4000, 30000));
        assert_eq!(udp.payload(), &rtp_a);
        let Some(etherparse::NetSlice::Ipv4(v4)) = ip.net else {
            panic!("IPv4 expected");
        };
        assert_eq!(v4.header().source(), [192, 0, 2, 1]);
        assert_eq!(v4.header().destination(), [203, 0, 113, 9]);
        let second = reader.next_packet().unwrap().unwrap().into_owned();
        assert_eq!(second.timestamp, epoch + Duration::from_millis(20));
        let udp = etherparse::SlicedPacket::from_ip(&second.data).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = udp.transport else {
            panic!("UDP expected");
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (5000, 30002));
        assert_eq!(udp.payload(), &rtp_b);
        assert!(reader.next_packet().is_none());
    }

    #[test]
    fn a_mixed_family_pair_is_written_as_ipv6() {
        let mut frame = Vec::new();
        let from = "192.0.2.1:4000".parse().unwrap();
        let to = "[2001:db8::1]:30000".parse().unwrap();
        udp_frame(from, to, &[1, 2, 3], &mut frame).unwrap();
        assert_eq!(frame[0] >> 4, 6);
    }
}
