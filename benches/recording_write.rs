//! What a recording costs once the call ends, off the SIP core: writing a long G.711 call as a
//! synced stereo WAV and a non-G.711 call as a pcap (`media::recording_file`, the driver's
//! blocking threads), and one retention decision over a large recordings directory
//! (`media::retention::plan`). Printed as a table; `cargo bench --bench recording_write`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use calltrack::call::recording::RecordingSettled;
use calltrack::media::recording::{PcapAddrs, Recorder, Recording};
use calltrack::media::recording_file;
use calltrack::media::retention::{Retention, StoredFile, plan};

/// Minutes of audio per written call.
const MINUTES: u32 = 10;
/// Files in the directory the janitor decides over.
const FILES: usize = 100_000;

fn captured(pt: u8, minutes: u32) -> (Recorder, Instant) {
    let t0 = Instant::now();
    let mut rec = Recorder::default();
    let packets = minutes * 60 * 50;
    for n in 0..packets {
        let at = t0 + Duration::from_millis(20 * u64::from(n));
        let mut packet = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        packet.extend((0..160).map(|i| (i + n as usize) as u8));
        for callee in [false, true] {
            rec.push(at, callee, n * 160, pt, &packet, &packet[12..]);
        }
    }
    (rec, t0)
}

fn write(pt: u8, dir: &std::path::Path) -> (Duration, u64) {
    let (captured, answered) = captured(pt, MINUTES);
    let recording = Recording {
        id: format!("bench{pt}"),
        dir: dir.to_path_buf(),
        captured,
        answered,
        addrs: PcapAddrs::unknown(),
    };
    let start = Instant::now();
    let settled = recording_file::write(&recording, |_| Duration::from_secs(1_800_000_000));
    let took = start.elapsed();
    let RecordingSettled::Recorded { bytes, .. } = settled else {
        panic!("not written: {settled:?}");
    };
    (took, bytes)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("| what | size | time |\n|---|---|---|");
    for (name, pt) in [
        ("G.711 call as WAV (synced)", 0u8),
        ("Opus-typed call as pcap (synced)", 111),
    ] {
        let (took, bytes) = write(pt, dir.path());
        println!(
            "| {MINUTES} min {name} | {:.1} MB | {:.1} ms |",
            bytes as f64 / 1e6,
            took.as_secs_f64() * 1e3
        );
    }
    let now = SystemTime::now();
    let files: Vec<StoredFile> = (0..FILES)
        .map(|n| StoredFile {
            id: format!("{n:016x}"),
            path: format!("/rec/{n:016x}.wav").into(),
            bytes: 1_000_000,
            modified: now - Duration::from_secs(60 * (n as u64 % 200_000)),
        })
        .collect();
    let limits = Retention {
        max_age: Some(Duration::from_secs(90 * 86_400)),
        max_bytes: Some(50_000_000_000),
    };
    let start = Instant::now();
    let decided = plan(files, limits, now);
    let took = start.elapsed();
    println!(
        "| retention plan over {FILES} files ({} to remove) | | {:.1} ms |",
        decided.remove.len(),
        took.as_secs_f64() * 1e3
    );
}
