//! The writer behind the relay: it takes the [`Note`]s of many calls' recordings, in order per
//! call, lays each batch of packets out (a WAV's stereo timeline, `recording_stream.rs`, or a
//! pcap's packets whole), keeps each call's file open while the call lasts (`WavPart` or
//! `PcapPart`), and at a call's end puts the file in place and says how it ended. A failed
//! write removes the partial file and turns every later piece of that call into nothing: the
//! call is never affected. Blocking: the driver runs one per writer thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recording::{Batch, Format, Note};
use super::recording_file::{WavPart, WriteError, discard};
use super::recording_pcap::PcapPart;
use super::recording_stream::Interleaver;
use crate::call::recording::{RecordingReason, RecordingSettled};

/// A call's file and what lays its packets out, or why it has none.
enum Open {
    Wav {
        part: WavPart,
        timeline: Box<Interleaver>,
    },
    Pcap(PcapPart),
    Failed(RecordingReason),
}

/// One writer thread's calls.
pub struct Writer<F> {
    dir: PathBuf,
    /// A packet's arrival as time since the Unix epoch (a pcap's timestamps).
    wall: F,
    open: HashMap<Arc<str>, Open>,
}

impl<F: Fn(Instant) -> Duration> Writer<F> {
    pub fn new(dir: &Path, wall: F) -> Writer<F> {
        Writer {
            dir: dir.to_path_buf(),
            wall,
            open: HashMap::new(),
        }
    }

    /// Files open now.
    pub fn calls(&self) -> usize {
        self.open.len()
    }

    /// Handles one note; a call's end gives its id and outcome.
    pub fn handle(&mut self, note: Note) -> Option<(String, RecordingSettled)> {
        self.handle_keeping(note, &mut |_| {})
    }

    /// Handles one note and gives its batch, emptied, to `spent` (for the relay to fill
    /// again); a call's end gives its id and outcome.
    pub fn handle_keeping(
        &mut self,
        note: Note,
        spent: &mut impl FnMut(Batch),
    ) -> Option<(String, RecordingSettled)> {
        let (id, mut batch, end) = match note {
            Note::Heard { id, batch } => (id, batch, false),
            Note::End { id, tail } => (id, tail, true),
        };
        self.lay(&id, &batch, end);
        batch.clear();
        spent(batch);
        end.then(|| {
            let settled = self.finish(&id);
            (id.to_string(), settled)
        })
    }

    fn path(&self, id: &str, format: Format) -> PathBuf {
        self.dir.join(format!("{id}.{}", format.extension()))
    }

    fn start(&mut self, id: &Arc<str>, batch: &Batch) {
        let path = self.path(id, batch.format);
        let open = match batch.format {
            Format::Wav => WavPart::create(&path).map(|part| Open::Wav {
                part,
                timeline: Box::new(Interleaver::new(batch.answered)),
            }),
            Format::Pcap => PcapPart::create(&path).map(Open::Pcap),
        };
        let open = open.unwrap_or_else(|error| failed(&path, &error));
        self.open.insert(id.clone(), open);
    }

    /// Lays `batch` out into call `id`'s file; at the `end`, everything still held too.
    fn lay(&mut self, id: &Arc<str>, batch: &Batch, end: bool) {
        if !self.open.contains_key(id) {
            self.start(id, batch);
        }
        let Some(open) = self.open.get_mut(id) else {
            return;
        };
        let result = match open {
            Open::Wav { part, timeline } => lay_wav(part, timeline, batch, end),
            Open::Pcap(part) => lay_pcap(part, batch, &self.wall),
            Open::Failed(_) => Ok(()),
        };
        if let Err(error) = result {
            let format = match open {
                Open::Pcap(_) => Format::Pcap,
                _ => Format::Wav,
            };
            *open = failed(
                &self.dir.join(format!("{id}.{}", format.extension())),
                &error,
            );
        }
    }

    fn finish(&mut self, id: &Arc<str>) -> RecordingSettled {
        let (path, done) = match self.open.remove(id) {
            Some(Open::Wav { part, .. }) => {
                let path = self.path(id, Format::Wav);
                let secs = part.secs();
                (path, part.finish().map(|bytes| (bytes, secs)))
            }
            Some(Open::Pcap(part)) => {
                let path = self.path(id, Format::Pcap);
                let secs = part.secs();
                (path, part.finish().map(|bytes| (bytes, secs)))
            }
            Some(Open::Failed(reason)) => return RecordingSettled::Failed(reason),
            None => return RecordingSettled::Failed(RecordingReason::WriteFailed),
        };
        match done {
            Ok((bytes, secs)) => RecordingSettled::Recorded {
                path: path.to_string_lossy().into_owned(),
                bytes,
                secs,
            },
            Err(error) => match failed(&path, &error) {
                Open::Failed(reason) => RecordingSettled::Failed(reason),
                _ => RecordingSettled::Failed(RecordingReason::WriteFailed),
            },
        }
    }
}

/// A write failed: the partial file goes, the reason stays.
fn failed(path: &Path, error: &WriteError) -> Open {
    tracing::warn!(%error, path = %path.display(), "recording not written");
    discard(path);
    Open::Failed(error.reason())
}

/// A WAV's packets onto its timeline, and the blocks the window has passed into the file.
fn lay_wav(
    part: &mut WavPart,
    timeline: &mut Interleaver,
    batch: &Batch,
    end: bool,
) -> Result<(), WriteError> {
    for p in batch.packets() {
        timeline.push(p.at, p.callee, p.ssrc, p.ts, p.pt, p.payload);
    }
    timeline.flush();
    while let Some(block) = timeline.poll_block() {
        part.append(block.at, &block.samples)?;
    }
    if end {
        for block in timeline.finish() {
            part.append(block.at, &block.samples)?;
        }
        metrics::counter!("calltrack_media_recording_late_packets_total").increment(timeline.late);
    }
    Ok(())
}

/// A pcap's packets whole, as each side sent them to the relay.
fn lay_pcap(
    part: &mut PcapPart,
    batch: &Batch,
    wall: &impl Fn(Instant) -> Duration,
) -> Result<(), WriteError> {
    for p in batch.packets() {
        let to = batch.relay[usize::from(p.callee)];
        part.append(p.at, wall(p.at), (p.from, to), p.bytes)?;
    }
    Ok(())
}
