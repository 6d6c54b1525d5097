//! The streamed path writes the same bytes as the whole-call path it replaced, leaves nothing
//! partial, and turns write errors into CDR reasons.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::call::recording::RecordingSettled;
use crate::media::g711;
use crate::media::recording::{Heard, Note, RecordSink, Recorder};
use crate::media::recording_writer::Writer;

/// A sink that keeps every note (a writer queue that is never full), or refuses them all.
#[derive(Debug, Default)]
struct Kept(Mutex<Vec<Note>>, bool);

impl RecordSink for Kept {
    fn offer(&self, note: Note) -> bool {
        if self.1 {
            return false;
        }
        self.0.lock().unwrap().push(note);
        true
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ct-recfile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The whole-call path this replaced, kept verbatim as the oracle: each side decoded into one
/// vector by `ts - base`, placed at its first arrival, interleaved, written with hound.
fn whole_call_wav(packets: &[(Instant, bool, u32, u8, Vec<u8>)], t0: Instant) -> Vec<u8> {
    let mut tracks: [(Option<u32>, Option<Instant>, Vec<i16>); 2] = Default::default();
    for (at, callee, ts, pt, payload) in packets {
        let decode: fn(u8) -> i16 = if *pt == 0 { g711::ulaw } else { g711::alaw };
        let (base, first, samples) = &mut tracks[usize::from(*callee)];
        let base = *base.get_or_insert(*ts);
        first.get_or_insert(*at);
        let offset = ts.wrapping_sub(base) as usize;
        let end = offset.saturating_add(payload.len()).min(8000 * 3600);
        if offset >= end {
            continue;
        }
        if samples.len() < end {
            samples.resize(end, 0);
        }
        for (slot, byte) in samples[offset..end].iter_mut().zip(payload) {
            *slot = decode(*byte);
        }
    }
    let lead = |t: &Option<Instant>| {
        let since = t.map_or(0.0, |t| t.saturating_duration_since(t0).as_secs_f64());
        (since * 8000.0).round() as usize
    };
    let [(_, fl, l), (_, fr, r)] = &tracks;
    let (ll, lr) = (lead(fl), lead(fr));
    let len = (ll + l.len()).max(lr + r.len());
    let at = |t: &Vec<i16>, lead: usize, i: usize| {
        i.checked_sub(lead)
            .and_then(|j| t.get(j))
            .copied()
            .unwrap_or(0)
    };
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..len {
        writer.write_sample(at(l, ll, i)).unwrap();
        writer.write_sample(at(r, lr, i)).unwrap();
    }
    writer.finalize().unwrap();
    out.into_inner()
}

const NOWHERE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Streams `packets` through a recorder and a writer into `dir`; returns the outcome.
fn streamed(
    dir: &Path,
    id: &str,
    packets: &[(Instant, bool, u32, u8, Vec<u8>)],
    t0: Instant,
) -> RecordingSettled {
    let kept = Arc::new(Kept::default());
    let mut recorder = Recorder::new(id, t0, Some(kept.clone()), [NOWHERE; 2]);
    let mut bytes = vec![0x80u8; 12];
    for (at, callee, ts, pt, payload) in packets {
        bytes.truncate(12);
        bytes.extend_from_slice(payload);
        let heard = Heard {
            at: *at,
            callee: *callee,
            from: NOWHERE,
            ssrc: u32::from(*callee),
            ts: *ts,
            pt: *pt,
            bytes: &bytes,
            payload,
        };
        recorder.push(heard, false);
    }
    let end = recorder.finish().unwrap();
    let mut writer = Writer::new(dir, |_| Duration::from_secs(1_800_000_000));
    let notes: Vec<Note> = std::mem::take(&mut *kept.0.lock().unwrap());
    for note in notes {
        assert!(writer.handle(note).is_none());
    }
    let (done, settled) = writer.handle(end).unwrap();
    assert_eq!(done, id);
    settled
}

/// Two minutes of a call: jitter up to 60 ms, every 17th caller packet lost, every 29th
/// callee packet 120 ms late (reordered), the callee starting 730 ms after the answer, the
/// caller's timestamps wrapping.
fn a_call(t0: Instant) -> Vec<(Instant, bool, u32, u8, Vec<u8>)> {
    let mut packets = Vec::new();
    for n in 0..6000u32 {
        let due = u64::from(n) * 20;
        let jitter = u64::from(n * 7919 % 61);
        let payload: Vec<u8> = (0..160).map(|i| (n as u8).wrapping_add(i as u8)).collect();
        if n % 17 != 5 {
            let ts = (u32::MAX - 50_000).wrapping_add(n * 160);
            packets.push((
                t0 + Duration::from_millis(due + jitter),
                false,
                ts,
                0,
                payload.clone(),
            ));
        }
        if due >= 730 {
            let late = if n % 29 == 3 { 120 } else { 0 };
            let at = t0 + Duration::from_millis(due + 5 + late);
            packets.push((at, true, 1234 + n * 160, 8, payload));
        }
    }
    packets.sort_by_key(|p| p.0);
    packets
}

#[test]
fn the_streamed_wav_has_the_same_bytes_as_the_whole_call_path() {
    let dir = temp_dir("same");
    let t0 = Instant::now();
    let packets = a_call(t0);
    let settled = streamed(&dir, "00000000000000aa", &packets, t0);
    let RecordingSettled::Recorded { path, bytes, secs } = settled else {
        panic!("written: {settled:?}");
    };
    let written = std::fs::read(&path).unwrap();
    let oracle = whole_call_wav(&packets, t0);
    assert_eq!(written.len(), oracle.len());
    assert!(written == oracle, "the same bytes");
    assert_eq!((bytes, secs), (oracle.len() as u64, 120));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["00000000000000aa.wav"], "nothing partial is left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropped_pieces_leave_silence_in_their_place() {
    let mut part_dir = temp_dir("gap");
    std::fs::create_dir_all(&part_dir).unwrap();
    part_dir.push("gap.wav");
    let mut part = WavPart::create(&part_dir).unwrap();
    part.append(0, &[7; 320]).unwrap();
    // Frames 160..1760 never came; the next piece starts at frame 1760.
    part.append(1760, &[9; 320]).unwrap();
    part.finish().unwrap();
    let samples: Vec<i16> = hound::WavReader::open(&part_dir)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    assert_eq!(samples.len(), 2 * 1920);
    assert!(samples[320..3520].iter().all(|s| *s == 0));
    assert!(samples[3520..].iter().all(|s| *s == 9));
    std::fs::remove_dir_all(part_dir.parent().unwrap()).unwrap();
}

#[test]
fn a_full_queue_drops_pieces_and_counts_them_but_the_end_still_comes() {
    let refusing = Arc::new(Kept(Mutex::default(), true));
    let t0 = Instant::now();
    let mut recorder = Recorder::new("busy", t0, Some(refusing), [NOWHERE; 2]);
    for (at, callee, ts, pt, payload) in a_call(t0).iter().take(400) {
        let heard = Heard {
            at: *at,
            callee: *callee,
            from: NOWHERE,
            ssrc: 1,
            ts: *ts,
            pt: *pt,
            bytes: payload,
            payload,
        };
        recorder.push(heard, false);
    }
    assert!(recorder.dropped > 0);
    assert!(matches!(recorder.finish(), Some(Note::End { .. })));
}

#[test]
fn a_non_g711_call_is_a_pcap_of_every_packet() {
    let dir = temp_dir("pcap");
    let t0 = Instant::now();
    let kept = Arc::new(Kept::default());
    let relay: SocketAddr = "203.0.113.9:30000".parse().unwrap();
    let mut recorder = Recorder::new("opus", t0, Some(kept.clone()), [relay; 2]);
    for (n, pt) in [(0u32, 101u8), (1, 111), (2, 0), (3, 111)] {
        let packet = [0x80, pt, 0, n as u8, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
        let heard = Heard {
            at: t0 + Duration::from_millis(500 * u64::from(n)),
            callee: n % 2 == 1,
            from: "192.0.2.1:4000".parse().unwrap(),
            ssrc: 1,
            ts: n,
            pt,
            bytes: &packet,
            payload: &packet[12..],
        };
        recorder.push(heard, pt == 101);
    }
    let end = recorder.finish().unwrap();
    let mut writer = Writer::new(&dir, |_| Duration::from_secs(1_800_000_000));
    for note in std::mem::take(&mut *kept.0.lock().unwrap()) {
        writer.handle(note);
    }
    let (_, settled) = writer.handle(end).unwrap();
    let RecordingSettled::Recorded { path, secs, .. } = settled else {
        panic!("written: {settled:?}");
    };
    assert!(path.ends_with("opus.pcap"));
    assert_eq!(secs, 1, "first packet to last");
    let file = std::fs::File::open(&path).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut n = 0;
    while let Some(packet) = reader.next_packet() {
        packet.unwrap();
        n += 1;
    }
    assert_eq!(
        n, 3,
        "the event before the first audio decides nothing; G.711 after is kept"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_write_error_is_a_reason_and_leaves_no_file() {
    let dir = temp_dir("bad");
    std::fs::write(&dir, b"a file where the directory should be").unwrap();
    let t0 = Instant::now();
    let packets = a_call(t0);
    let settled = streamed(&dir.join("sub"), "x", &packets[..100], t0);
    assert_eq!(
        settled,
        RecordingSettled::Failed(RecordingReason::WriteFailed)
    );
    std::fs::remove_file(&dir).unwrap();
    let full = WriteError::Io(std::io::Error::from(ErrorKind::StorageFull));
    assert_eq!(full.reason(), RecordingReason::DiskFull);
    let wav_full = WriteError::Wav(hound::Error::IoError(ErrorKind::QuotaExceeded.into()));
    assert_eq!(wav_full.reason(), RecordingReason::DiskFull);
}

#[test]
fn dev_full_is_a_full_disk() {
    // Linux's /dev/full answers every write with ENOSPC, like a full file system.
    let Ok(file) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let mut out = std::io::BufWriter::with_capacity(16, file);
    let error = std::io::Write::write_all(&mut out, &[0u8; 64])
        .and_then(|()| std::io::Write::flush(&mut out))
        .unwrap_err();
    assert_eq!(WriteError::Io(error).reason(), RecordingReason::DiskFull);
}

#[test]
fn a_writer_hands_each_batch_back_empty_for_the_relay_to_fill_again() {
    let dir = temp_dir("spare");
    let t0 = Instant::now();
    let kept = Arc::new(Kept::default());
    let mut recorder = Recorder::new("spare", t0, Some(kept.clone()), [NOWHERE; 2]);
    let mut packet = vec![0x80u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    packet.extend([0x55; 160]);
    for n in 0..50u32 {
        let heard = Heard {
            at: t0 + Duration::from_millis(20 * u64::from(n)),
            callee: false,
            from: NOWHERE,
            ssrc: 1,
            ts: n * 160,
            pt: 0,
            bytes: &packet,
            payload: &packet[12..],
        };
        recorder.push(heard, false);
    }
    let mut writer = Writer::new(&dir, |_| Duration::ZERO);
    let mut spent = Vec::new();
    let notes: Vec<Note> = std::mem::take(&mut *kept.0.lock().unwrap());
    let heard = notes.len();
    assert!(heard >= 4, "a second of audio is several batches");
    for note in notes {
        assert!(
            writer
                .handle_keeping(note, &mut |b| spent.push(b))
                .is_none()
        );
    }
    let end = recorder.finish().unwrap();
    let (_, settled) = writer.handle_keeping(end, &mut |b| spent.push(b)).unwrap();
    assert!(matches!(
        settled,
        RecordingSettled::Recorded { secs: 1, .. }
    ));
    assert_eq!(
        spent.len(),
        heard + 1,
        "every batch comes back, the tail too"
    );
    assert!(spent.iter().all(|b| b.is_empty()), "emptied");
    std::fs::remove_dir_all(&dir).unwrap();
}
