//! The writer behind the relay: it takes the [`Note`]s of many calls' recordings, in order per
//! call, keeps each call's file open while the call lasts (`WavPart` or `PcapPart`), and at a
//! call's end puts the file in place and says how it ended. A failed write removes the partial
//! file and turns every later piece of that call into nothing: the call is never affected.
//! Blocking: the driver runs one per writer thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::recording::{Format, Note, Piece};
use super::recording_file::{WavPart, WriteError, discard};
use super::recording_pcap::PcapPart;
use crate::call::recording::{RecordingReason, RecordingSettled};

/// A call's file, or why it has none.
enum Open {
    Wav(WavPart),
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
        match note {
            Note::Piece { id, piece } => {
                self.append(&id, piece);
                None
            }
            Note::End { id, format, tail } => {
                for piece in tail {
                    self.append(&id, piece);
                }
                if !self.open.contains_key(&id) {
                    self.start(&id, format);
                }
                let settled = self.finish(&id);
                Some((id.to_string(), settled))
            }
        }
    }

    fn path(&self, id: &str, format: Format) -> PathBuf {
        self.dir.join(format!("{id}.{}", format.extension()))
    }

    fn start(&mut self, id: &Arc<str>, format: Format) {
        let path = self.path(id, format);
        let open = match format {
            Format::Wav => WavPart::create(&path).map(Open::Wav),
            Format::Pcap => PcapPart::create(&path).map(Open::Pcap),
        };
        let open = open.unwrap_or_else(|error| failed(&path, &error));
        self.open.insert(id.clone(), open);
    }

    fn append(&mut self, id: &Arc<str>, piece: Piece) {
        if !self.open.contains_key(id) {
            let format = match piece {
                Piece::Frames(_) => Format::Wav,
                Piece::Packet { .. } => Format::Pcap,
            };
            self.start(id, format);
        }
        let path = |format| self.path(id, format);
        let (wav, pcap) = (path(Format::Wav), path(Format::Pcap));
        let Some(open) = self.open.get_mut(id) else {
            return;
        };
        let result = match (&mut *open, &piece) {
            (Open::Wav(part), Piece::Frames(block)) => part.append(block.at, &block.samples),
            (
                Open::Pcap(part),
                Piece::Packet {
                    at,
                    from,
                    to,
                    bytes,
                },
            ) => part.append(*at, (self.wall)(*at), (*from, *to), bytes),
            _ => Ok(()),
        };
        if let Err(error) = result {
            let path = if matches!(open, Open::Wav(_)) {
                wav
            } else {
                pcap
            };
            *open = failed(&path, &error);
        }
    }

    fn finish(&mut self, id: &Arc<str>) -> RecordingSettled {
        let (path, done) = match self.open.remove(id) {
            Some(Open::Wav(part)) => {
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
