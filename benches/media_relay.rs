//! CPU per relayed packet through the sans-IO stream path (`StreamRelay::handle_packet`):
//! latch check, RTP header read, sequence/loss/jitter statistics, talk-time energy of the G.711
//! payload, and the forwarding decision; with recording on (the packet copied into the
//! recording's batch, 200 ms batches handed to a writer queue: laying them out is the writer
//! thread's work, measured by `benches/recording_write.rs`) and for an RTCP compound packet
//! (SR + RR parsed, round trip matched). Issue 17's
//! budget is 5 µs of CPU per packet; the socket send/receive of the driver is not included
//! (see `benches/media_load.sh` for the whole process under load).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use calltrack::media::recording::{Note, RecordSink, Recorder};
use calltrack::media::sdp;
use calltrack::media::stream::{Side, Socket, StreamPorts, StreamRelay};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtcp_types::{Compound, ReceiverReport, ReportBlock, RtcpPacketWriterExt, SenderReport};

const CALLER_SDP: &str = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
const CALLEE_SDP: &str = "v=0\r\nc=IN IP4 10.1.1.5\r\nm=audio 6000 RTP/AVP 8\r\n";

const CALLER_RTP: Socket = Socket {
    facing: Side::Caller,
    rtcp: false,
};

/// An answered stream, both sides known; recording on when `record`.
fn stream(now: Instant, record: bool) -> StreamRelay {
    let mut s = StreamRelay::new(StreamPorts {
        caller: 30000,
        callee: 30002,
    });
    let caller = sdp::parse(CALLER_SDP.as_bytes()).unwrap();
    s.learn(Side::Caller, &caller.media[0], caller.connection_of(0));
    let callee = sdp::parse(CALLEE_SDP.as_bytes()).unwrap();
    s.learn(Side::Callee, &callee.media[0], callee.connection_of(0));
    s.answered(now);
    if record {
        let relay: SocketAddr = "203.0.113.9:30000".parse().unwrap();
        let sink = std::sync::Arc::new(Discard);
        s.record(Recorder::new("bench", now, Some(sink), [relay; 2]));
    }
    s
}

/// A writer queue that is never full and writes nothing (the writer thread is not measured).
#[derive(Debug)]
struct Discard;

impl RecordSink for Discard {
    fn offer(&self, note: Note) -> bool {
        black_box(note);
        true
    }
}

/// A 20 ms PCMA packet: 12-byte header, 160 bytes of a varying signal.
fn rtp(seq: u16, ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    p.extend((0..160u32).map(|i| (i * 37 % 256) as u8));
    p
}

/// Relays `n` consecutive packets (20 ms apart) of one caller; the stream is rebuilt every
/// minute of audio so that recording memory stays bounded (a call records an hour at most).
fn relay_run(c: &mut Criterion, name: &str, record: bool) {
    let mut group = c.benchmark_group("media_relay");
    group.throughput(Throughput::Elements(1));
    let source: SocketAddr = "192.0.2.10:4000".parse().unwrap();
    let packets: Vec<Vec<u8>> = (0..3000u32).map(|i| rtp(i as u16, i * 160)).collect();
    let t0 = Instant::now();
    let mut s = stream(t0, record);
    let mut i = 0usize;
    group.bench_function(name, |b| {
        b.iter(|| {
            if i == packets.len() {
                i = 0;
                s = stream(t0, record);
            }
            let at = t0 + Duration::from_millis(20 * i as u64);
            let out = s.handle_packet(at, CALLER_RTP, source, black_box(&packets[i]));
            i += 1;
            black_box(out)
        })
    });
    group.finish();
}

fn rtp_packet(c: &mut Criterion) {
    relay_run(c, "rtp_g711_with_stats", false);
    relay_run(c, "rtp_g711_with_stats_and_recording", true);
}

fn rtcp_packet(c: &mut Criterion) {
    let ntp: u64 = 0xe8a1_b2c3_d4e5_f607;
    let block = ReportBlock::builder(0xb0b)
        .fraction_lost(3)
        .cumulative_lost(12)
        .interarrival_jitter(40)
        .last_sender_report_timestamp(((ntp >> 16) & 0xffff_ffff) as u32)
        .delay_since_last_sender_report_timestamp(4000);
    let compound = Compound::builder()
        .add_packet(SenderReport::builder(0x0bad_cafe).ntp_timestamp(ntp))
        .add_packet(ReceiverReport::builder(0x0bad_cafe).add_report_block(block));
    let mut bytes = vec![0; 1500];
    let n = compound.write_into(&mut bytes).unwrap();
    bytes.truncate(n);
    let now = Instant::now();
    let mut s = stream(now, false);
    let on = Socket {
        facing: Side::Caller,
        rtcp: true,
    };
    let source: SocketAddr = "192.0.2.10:4001".parse().unwrap();
    let mut group = c.benchmark_group("media_relay");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rtcp_sr_rr_compound", |b| {
        b.iter(|| black_box(s.handle_packet(now, on, source, black_box(&bytes))))
    });
    group.finish();
}

criterion_group!(benches, rtp_packet, rtcp_packet);
criterion_main!(benches);
