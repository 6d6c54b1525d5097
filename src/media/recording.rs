//! A call's recording as it happens, sans-IO: from the answer on, the first stream's packets
//! are turned into what the file holds and handed, piece by piece, to a writer off the relay
//! through a [`RecordSink`] that never blocks (a full queue drops the piece, counted). The
//! first audio packet decides the file: G.711 (PCMU, PCMA) makes a stereo WAV laid out by
//! `recording_stream.rs` (caller left, callee right), any other codec a pcap of every RTP
//! packet whole (`recording_pcap.rs`). Mixed calls keep that first choice: in a WAV, packets
//! of another codec are silence; a pcap keeps every packet, G.711 included. Comfort noise
//! (13) and RFC 4733 telephone events never decide. The writer is `recording_writer.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub use super::recording_stream::SAMPLE_RATE;
use super::recording_stream::{Block, Interleaver};

/// What a recording's file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 8 kHz 16-bit stereo, caller left, callee right.
    Wav,
    /// The call's RTP as received, libpcap format (other codecs).
    Pcap,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Wav => "wav",
            Format::Pcap => "pcap",
        }
    }
}

/// One piece of a recording's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Interleaved stereo frames from frame `at` of the call's timeline (a WAV).
    Frames(Block),
    /// One RTP packet whole, as `from` sent it to the relay's `to` (a pcap).
    Packet {
        at: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
}

/// What the writer is told about call `id`'s file (`<dir>/<id>.<wav|pcap>`).
#[derive(Debug)]
pub enum Note {
    /// A piece to append.
    Piece { id: Arc<str>, piece: Piece },
    /// The call ended: append `tail`, then sync the file and put it in place.
    End {
        id: Arc<str>,
        format: Format,
        tail: Vec<Piece>,
    },
}

/// Takes a recording's pieces off the relay without ever blocking it.
pub trait RecordSink: Send + Sync + std::fmt::Debug + 'static {
    /// Queues `note`; `false` when the queue is full (the piece is dropped).
    fn offer(&self, note: Note) -> bool;
}

/// One stream's recording since the answer.
pub struct Recorder {
    id: Arc<str>,
    sink: Option<Arc<dyn RecordSink>>,
    /// The relay's address facing the caller, then the callee (a pcap packet's destination).
    relay: [SocketAddr; 2],
    format: Option<Format>,
    timeline: Interleaver,
    /// Pieces the sink had no room for.
    pub dropped: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("id", &self.id)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A packet as the recorder needs it.
#[derive(Debug, Clone, Copy)]
pub struct Heard<'a> {
    pub at: Instant,
    pub callee: bool,
    pub from: SocketAddr,
    pub ssrc: u32,
    pub ts: u32,
    pub pt: u8,
    /// The whole RTP packet, and its payload.
    pub bytes: &'a [u8],
    pub payload: &'a [u8],
}

impl Recorder {
    /// Recording `id`, answered at `answered`, its pieces going to `sink` (none: dropped, for
    /// a table without a driver).
    pub fn new(
        id: &str,
        answered: Instant,
        sink: Option<Arc<dyn RecordSink>>,
        relay: [SocketAddr; 2],
    ) -> Recorder {
        Recorder {
            id: id.into(),
            sink,
            relay,
            format: None,
            timeline: Interleaver::new(answered),
            dropped: 0,
        }
    }

    /// A packet heard after the answer; `side_info` says whether its payload type is comfort
    /// noise or telephone events (those never decide the format).
    pub fn push(&mut self, heard: Heard<'_>, side_info: bool) {
        let format = match self.format {
            Some(format) => format,
            None if side_info || heard.pt == 13 => return,
            None => *self.format.insert(match heard.pt {
                0 | 8 => Format::Wav,
                _ => Format::Pcap,
            }),
        };
        match format {
            Format::Wav => {
                let h = heard;
                self.timeline
                    .push(h.at, h.callee, h.ssrc, h.ts, h.pt, h.payload);
                while let Some(block) = self.timeline.poll_block() {
                    self.offer(Piece::Frames(block));
                }
            }
            Format::Pcap => self.offer(Piece::Packet {
                at: heard.at,
                from: heard.from,
                to: self.relay[usize::from(heard.callee)],
                bytes: heard.bytes.to_vec(),
            }),
        }
    }

    fn offer(&mut self, piece: Piece) {
        let id = self.id.clone();
        let queued = self
            .sink
            .as_ref()
            .is_some_and(|sink| sink.offer(Note::Piece { id, piece }));
        if !queued && self.sink.is_some() {
            self.dropped += 1;
            metrics::counter!("calltrack_media_recording_dropped_total", "reason" => "writer_busy")
                .increment(1);
        }
    }

    /// The call ended: the last pieces, for the writer to finish the file with; `None` when
    /// no audio was heard (nothing was written).
    pub fn finish(&mut self) -> Option<Note> {
        let format = self.format?;
        let tail = match format {
            Format::Wav => self
                .timeline
                .finish()
                .into_iter()
                .map(Piece::Frames)
                .collect(),
            Format::Pcap => Vec::new(),
        };
        Some(Note::End {
            id: self.id.clone(),
            format,
            tail,
        })
    }

    /// Packets (wholly or partly) too late for their place in a WAV.
    pub fn late(&self) -> u64 {
        self.timeline.late
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A writer queue with room for `room` notes, keeping them.
    #[derive(Debug)]
    struct Queue {
        room: usize,
        kept: Mutex<Vec<Note>>,
    }

    impl RecordSink for Queue {
        fn offer(&self, note: Note) -> bool {
            let mut kept = self.kept.lock().unwrap();
            if kept.len() == self.room {
                return false;
            }
            kept.push(note);
            true
        }
    }

    #[test]
    fn a_full_writer_queue_drops_pieces_counted_and_never_blocks_the_end() {
        let queue = Arc::new(Queue {
            room: 2,
            kept: Mutex::new(Vec::new()),
        });
        let relay = [
            "127.0.0.1:30000".parse().unwrap(),
            "127.0.0.1:30002".parse().unwrap(),
        ];
        let t0 = Instant::now();
        let mut recorder = Recorder::new("c", t0, Some(queue.clone()), relay);
        let payload = [0u8; 20];
        for i in 0..5u32 {
            let heard = Heard {
                at: t0 + std::time::Duration::from_millis(u64::from(i) * 20),
                callee: false,
                from: "192.0.2.1:4000".parse().unwrap(),
                ssrc: 7,
                ts: i * 160,
                pt: 18,
                bytes: &payload,
                payload: &payload,
            };
            recorder.push(heard, false);
        }
        assert_eq!(
            queue.kept.lock().unwrap().len(),
            2,
            "the queue took what it had room for"
        );
        assert_eq!(recorder.dropped, 3, "the rest was dropped and counted");
        // The end is handed back to the caller (the driver waits for room for it).
        let Some(Note::End { format, .. }) = recorder.finish() else {
            panic!("a recording with audio ends with a note");
        };
        assert_eq!(format, Format::Pcap);
    }
}
