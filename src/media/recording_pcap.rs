//! A recorded call that carried no G.711 (Opus, G.722, G.729, ...) is kept as a pcap of its
//! RTP as calltrack received it: each packet whole, in arrival order, wrapped in the IP and UDP
//! headers it came with (sender to calltrack's port), libpcap format with raw-IP link type
//! (`LINKTYPE_RAW`, 101), so Wireshark's RTP player decodes it. [`PcapPart`] appends packets
//! to the call's `.part` file as they come (`recording_file.rs` puts it in place).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use super::recording_file::{WriteError, create_part, put_in_place};

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

/// A pcap written packet by packet.
pub struct PcapFrames<W: Write> {
    writer: PcapWriter<W>,
    frame: Vec<u8>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl<W: Write> PcapFrames<W> {
    pub fn new(out: W) -> Result<Self, PcapError> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ..PcapHeader::default()
        };
        Ok(PcapFrames {
            writer: PcapWriter::with_header(out, header)?,
            frame: Vec::with_capacity(256),
            first: None,
            last: None,
        })
    }

    /// Appends `bytes` as `from` sent them to `to`, at `wall` (time since the Unix epoch).
    pub fn append(
        &mut self,
        at: Instant,
        wall: Duration,
        (from, to): (SocketAddr, SocketAddr),
        bytes: &[u8],
    ) -> Result<(), PcapError> {
        self.frame.clear();
        udp_frame(from, to, bytes, &mut self.frame)?;
        let len = u32::try_from(self.frame.len()).unwrap_or(u32::MAX);
        self.writer
            .write_packet(&PcapPacket::new(wall, len, &self.frame))?;
        self.first.get_or_insert(at);
        self.last = Some(at);
        Ok(())
    }

    /// From the first packet to the last.
    pub fn span(&self) -> Duration {
        match (self.first, self.last) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
    }

    pub fn into_writer(self) -> W {
        self.writer.into_writer()
    }
}

/// A call's pcap in its `.part` file.
pub struct PcapPart {
    path: PathBuf,
    frames: PcapFrames<BufWriter<File>>,
}

impl PcapPart {
    pub fn create(path: &Path) -> Result<PcapPart, WriteError> {
        Ok(PcapPart {
            path: path.to_path_buf(),
            frames: PcapFrames::new(create_part(path)?)?,
        })
    }

    pub fn append(
        &mut self,
        at: Instant,
        wall: Duration,
        addrs: (SocketAddr, SocketAddr),
        bytes: &[u8],
    ) -> Result<(), WriteError> {
        Ok(self.frames.append(at, wall, addrs, bytes)?)
    }

    /// Whole seconds from the first packet to the last.
    pub fn secs(&self) -> u32 {
        u32::try_from(self.frames.span().as_secs()).unwrap_or(u32::MAX)
    }

    /// Flushes and puts the file in place; returns its size.
    pub fn finish(self) -> Result<u64, WriteError> {
        let file = self.frames.into_writer();
        let file = file
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        drop(file);
        put_in_place(&self.path)
    }
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
        let rtp_a = [0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xa, 1, 2, 3];
        let rtp_b = [0x80, 111, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0xb, 4, 5];
        let caller = "192.0.2.1:4000".parse().unwrap();
        let callee = "198.51.100.2:5000".parse().unwrap();
        let relay_caller = "203.0.113.9:30000".parse().unwrap();
        let relay_callee = "203.0.113.9:30002".parse().unwrap();
        let epoch = Duration::from_secs(1_800_000_000);
        let mut frames = PcapFrames::new(Vec::new()).unwrap();
        frames
            .append(t0, epoch, (caller, relay_caller), &rtp_a)
            .unwrap();
        let later = t0 + Duration::from_millis(20);
        let wall = epoch + Duration::from_millis(20);
        frames
            .append(later, wall, (callee, relay_callee), &rtp_b)
            .unwrap();
        assert_eq!(frames.span(), Duration::from_millis(20));
        let bytes = frames.into_writer();
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
