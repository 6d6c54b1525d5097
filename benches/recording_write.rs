//! What a recording costs, off the SIP core: a long G.711 call streamed through the recorder
//! (timeline, blocks) and the writer into a synced stereo WAV, the same for a non-G.711 call as
//! a pcap (`media::recording`, `media::recording_writer`, the driver's writer threads), and one
//! retention decision over a large recordings directory (`media::retention::plan`). Printed as
//! a table; `cargo bench --bench recording_write`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use calltrack::call::recording::RecordingSettled;
use calltrack::media::recording::{Heard, Note, RecordSink, Recorder};
use calltrack::media::recording_writer::Writer;
use calltrack::media::retention::{Retention, StoredFile, plan};

/// Minutes of audio per written call.
const MINUTES: u32 = 10;
/// Files in the directory the janitor decides over.
const FILES: usize = 100_000;

/// The writer's queue, handed straight to the writer.
type Wall = fn(Instant) -> Duration;

struct Direct(Mutex<Writer<Wall>>);

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Direct")
    }
}

impl RecordSink for Direct {
    fn offer(&self, note: Note) -> bool {
        self.0.lock().unwrap().handle(note);
        true
    }
}

fn epoch(_: Instant) -> Duration {
    Duration::from_secs(1_800_000_000)
}

fn write(pt: u8, dir: &std::path::Path) -> (Duration, u64) {
    let t0 = Instant::now();
    let sink = Arc::new(Direct(Mutex::new(Writer::new(dir, epoch as Wall))));
    let none = SocketAddr::from(([127, 0, 0, 1], 0));
    let id = format!("bench{pt}");
    let mut recorder = Recorder::new(&id, t0, Some(sink.clone()), [none; 2]);
    let start = Instant::now();
    for n in 0..MINUTES * 60 * 50 {
        let at = t0 + Duration::from_millis(20 * u64::from(n));
        let mut packet = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        packet.extend((0..160).map(|i| (i + n as usize) as u8));
        for callee in [false, true] {
            let heard = Heard {
                at,
                callee,
                from: none,
                ssrc: 1,
                ts: n * 160,
                pt,
                bytes: &packet,
                payload: &packet[12..],
            };
            recorder.push(heard, false);
        }
    }
    let end = recorder.finish().unwrap();
    let (_, settled) = sink.0.lock().unwrap().handle(end).unwrap();
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
