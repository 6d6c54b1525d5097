//! A call's recording as it happens, on the relay side, sans-IO: from the answer on, the first
//! stream's packets are copied whole, in arrival order, into a [`Batch`] that goes to a writer
//! off the relay every [`BATCH_SPAN`] through a [`RecordSink`] that never blocks (a full queue
//! drops the batch, counted: its audio becomes silence in place). The first audio packet
//! decides the file: G.711 (PCMU, PCMA) makes a stereo WAV laid out by the writer with
//! `recording_stream.rs` (caller left, callee right), any other codec a pcap of every RTP
//! packet whole (`recording_pcap.rs`). Mixed calls keep that first choice: in a WAV, packets of
//! another codec are silence; a pcap keeps every packet, G.711 included. Comfort noise (13) and
//! RFC 4733 telephone events never decide. The writer is `recording_writer.rs`.
//!
//! Why the relay only copies: decoding and reordering on the relay thread touched each call's
//! 400 ms window (about 19 KB) for every packet, and with hundreds of calls those windows fall
//! out of cache. A batch is written once, sequentially, and laid out by the writer a call at a
//! time; the writer sees the same packets with the same arrival times, so the file is the same.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::recording_stream::SAMPLE_RATE;

/// How much of a call (by arrival) one batch holds before it goes to the writer.
pub const BATCH_SPAN: Duration = Duration::from_millis(200);
/// A batch goes earlier once it holds this many bytes (a high-rate codec in a pcap).
const BATCH_BYTES: usize = 32 * 1024;

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

/// One packet of a batch: what laying it out needs, and where its bytes lie in the batch
/// (28 bytes: a batch is a fifth of a second of two sides' packets, kept small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tapped {
    /// Arrival, in nanoseconds after the batch's first packet.
    after_ns: u32,
    callee: bool,
    pt: u8,
    /// Who sent it: an index into the batch's senders.
    sender: u8,
    ssrc: u32,
    ts: u32,
    /// The packet kept is `bytes[start..end]` of the batch (the whole packet for a pcap, the
    /// payload alone for a WAV), its payload `bytes[payload..end]`.
    start: u32,
    payload: u32,
    end: u32,
}

/// Packets one stream heard since the answer (or the last batch), in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The call's timeline starts here (frame 0 of a WAV).
    pub answered: Instant,
    pub format: Format,
    /// The relay's address facing the caller, then the callee (a pcap packet's destination).
    pub relay: [SocketAddr; 2],
    /// The first packet's arrival.
    first: Option<Instant>,
    /// The addresses packets came from (a side's, or a third one before latching).
    senders: Vec<SocketAddr>,
    packets: Vec<Tapped>,
    bytes: Vec<u8>,
}

impl Batch {
    fn new(answered: Instant, format: Format, relay: [SocketAddr; 2], room: Room) -> Batch {
        Batch {
            answered,
            format,
            relay,
            first: None,
            senders: Vec::new(),
            packets: Vec::with_capacity(room.packets),
            bytes: Vec::with_capacity(room.bytes),
        }
    }

    /// This batch emptied for another call's packets, keeping its buffers.
    fn renew(mut self, answered: Instant, format: Format, relay: [SocketAddr; 2]) -> Batch {
        self.clear();
        (self.answered, self.format, self.relay) = (answered, format, relay);
        self
    }

    /// Empties the batch, keeping its buffers (a writer hands spent batches back this way).
    pub fn clear(&mut self) {
        self.first = None;
        self.senders.clear();
        self.packets.clear();
        self.bytes.clear();
    }

    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Each packet as it was heard, in arrival order (a WAV's `bytes` are its payload alone).
    pub fn packets(&self) -> impl Iterator<Item = Heard<'_>> + '_ {
        let first = self.first.unwrap_or(self.answered);
        self.packets.iter().map(move |p| Heard {
            at: first + Duration::from_nanos(u64::from(p.after_ns)),
            callee: p.callee,
            from: self.senders[usize::from(p.sender)],
            ssrc: p.ssrc,
            ts: p.ts,
            pt: p.pt,
            bytes: &self.bytes[p.start as usize..p.end as usize],
            payload: &self.bytes[p.payload as usize..p.end as usize],
        })
    }

    /// Arrival span from the first packet to `at`, if a packet arriving then fits the batch.
    fn span_to(&self, at: Instant) -> Option<Duration> {
        let Some(first) = self.first else {
            return Some(Duration::ZERO);
        };
        let span = at.checked_duration_since(first)?;
        let fits = u32::try_from(span.as_nanos()).is_ok()
            && self.senders.len() < usize::from(u8::MAX)
            && u32::try_from(self.bytes.len() + 2048).is_ok();
        fits.then_some(span)
    }

    /// Keeps `heard` (its span checked by [`Batch::span_to`]).
    fn add(&mut self, heard: &Heard<'_>, span: Duration) {
        self.first.get_or_insert(heard.at);
        let sender = match self.senders.iter().position(|s| *s == heard.from) {
            Some(i) => i,
            None => {
                self.senders.push(heard.from);
                self.senders.len() - 1
            }
        };
        let kept = match self.format {
            Format::Wav => heard.payload,
            Format::Pcap => heard.bytes,
        };
        let offset = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(kept);
        let end = self.bytes.len();
        let payload = end - heard.payload.len().min(kept.len());
        self.packets.push(Tapped {
            after_ns: offset(span.as_nanos() as usize),
            callee: heard.callee,
            pt: heard.pt,
            sender: u8::try_from(sender).unwrap_or(u8::MAX),
            ssrc: heard.ssrc,
            ts: heard.ts,
            start: offset(start),
            payload: offset(payload),
            end: offset(end),
        });
    }
}

/// What the last batch took: the next one reserves as much.
#[derive(Debug, Clone, Copy, Default)]
struct Room {
    packets: usize,
    bytes: usize,
}

/// What the writer is told about call `id`'s file (`<dir>/<id>.<wav|pcap>`).
#[derive(Debug)]
pub enum Note {
    /// Packets to lay out and append.
    Heard { id: Arc<str>, batch: Batch },
    /// The call ended: lay out `tail`, then sync the file and put it in place.
    End { id: Arc<str>, tail: Batch },
}

impl Note {
    pub fn id(&self) -> &Arc<str> {
        match self {
            Note::Heard { id, .. } | Note::End { id, .. } => id,
        }
    }
}

/// Takes a recording's pieces off the relay without ever blocking it.
pub trait RecordSink: Send + Sync + std::fmt::Debug + 'static {
    /// Queues `note`; `false` when the queue is full (the piece is dropped).
    fn offer(&self, note: Note) -> bool;

    /// A batch the writers are done with, to fill again (none: a new one is made).
    fn spare(&self) -> Option<Batch> {
        None
    }
}

/// One stream's recording since the answer.
pub struct Recorder {
    id: Arc<str>,
    sink: Option<Arc<dyn RecordSink>>,
    answered: Instant,
    /// The relay's address facing the caller, then the callee (a pcap packet's destination).
    relay: [SocketAddr; 2],
    /// The batch being filled (`None` until the first audio packet decides the format).
    batch: Option<Batch>,
    /// What the last batch took.
    room: Room,
    /// Batches the sink had no room for.
    pub dropped: u64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("id", &self.id)
            .field("format", &self.batch.as_ref().map(|b| b.format))
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
            answered,
            relay,
            batch: None,
            room: Room::default(),
            dropped: 0,
        }
    }

    /// A packet heard after the answer; `side_info` says whether its payload type is comfort
    /// noise or telephone events (those never decide the format).
    pub fn push(&mut self, heard: Heard<'_>, side_info: bool) {
        let format = match &self.batch {
            Some(batch) => batch.format,
            None if side_info || heard.pt == 13 => return,
            None => match heard.pt {
                0 | 8 => Format::Wav,
                _ => Format::Pcap,
            },
        };
        let batch = self
            .batch
            .get_or_insert_with(|| Batch::new(self.answered, format, self.relay, self.room));
        let span = match batch.span_to(heard.at) {
            Some(span) => span,
            None => {
                // Too far from the batch's first packet (or out of order by the clock):
                // this packet starts the next batch.
                self.hand_over();
                Duration::ZERO
            }
        };
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        batch.add(&heard, span);
        if span >= BATCH_SPAN || batch.bytes.len() >= BATCH_BYTES {
            self.hand_over();
        }
    }

    /// Offers the batch to the writer and starts the next one.
    fn hand_over(&mut self) {
        let Some(batch) = self.batch.as_mut() else {
            return;
        };
        self.room = Room {
            packets: self.room.packets.max(batch.packets.len()),
            bytes: self.room.bytes.max(batch.bytes.len()),
        };
        let (answered, format, relay) = (batch.answered, batch.format, batch.relay);
        let next = match self.sink.as_ref().and_then(|sink| sink.spare()) {
            Some(spare) => spare.renew(answered, format, relay),
            None => Batch::new(answered, format, relay, self.room),
        };
        let batch = std::mem::replace(batch, next);
        if batch.is_empty() {
            return;
        }
        let id = self.id.clone();
        let queued = self
            .sink
            .as_ref()
            .is_some_and(|sink| sink.offer(Note::Heard { id, batch }));
        if !queued && self.sink.is_some() {
            self.dropped += 1;
            metrics::counter!("calltrack_media_recording_dropped_total", "reason" => "writer_busy")
                .increment(1);
        }
    }

    /// The call ended: the last packets, for the writer to finish the file with; `None` when
    /// no audio was heard (nothing was written).
    pub fn finish(&mut self) -> Option<Note> {
        let tail = self.batch.take()?;
        Some(Note::End {
            id: self.id.clone(),
            tail,
        })
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
        // Ten packets 200 ms apart: every second one completes a batch, five in all.
        for i in 0..10u32 {
            let heard = Heard {
                at: t0 + std::time::Duration::from_millis(u64::from(i) * 200),
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
        let Note::Heard { batch, .. } = &queue.kept.lock().unwrap()[1] else {
            panic!("batches of heard packets");
        };
        assert_eq!(batch.len(), 2, "a batch spans 200 ms of arrivals");
        // The end is handed back to the caller (the driver waits for room for it).
        let Some(Note::End { tail, .. }) = recorder.finish() else {
            panic!("a recording with audio ends with a note");
        };
        assert_eq!(tail.format, Format::Pcap);
    }

    #[test]
    fn a_batch_gives_back_each_packet_as_heard_even_across_a_long_hold() {
        let queue = Arc::new(Queue {
            room: 100,
            kept: Mutex::new(Vec::new()),
        });
        let relay = ["127.0.0.1:30000".parse().unwrap(); 2];
        let t0 = Instant::now();
        let mut recorder = Recorder::new("c", t0, Some(queue.clone()), relay);
        let (a, b): (SocketAddr, SocketAddr) = (
            "192.0.2.1:4000".parse().unwrap(),
            "192.0.2.2:5000".parse().unwrap(),
        );
        let mut heard = Vec::new();
        // Two sides 20 ms apart, then a 10 s hold (beyond a batch's 4.29 s of nanoseconds).
        for (i, ms) in [0u64, 7, 20, 27, 10_040, 10_047].into_iter().enumerate() {
            let mut packet = vec![0x80, 0, 0, i as u8, 0, 0, 0, 0, 0, 0, 0, 9];
            packet.extend([i as u8; 160]);
            let callee = i % 2 == 1;
            heard.push((
                t0 + std::time::Duration::from_nanos(ms * 1_000_000 + 13),
                callee,
                packet,
            ));
        }
        for (at, callee, packet) in &heard {
            recorder.push(
                Heard {
                    at: *at,
                    callee: *callee,
                    from: if *callee { b } else { a },
                    ssrc: 9,
                    ts: 0,
                    pt: 0,
                    bytes: packet,
                    payload: &packet[12..],
                },
                false,
            );
        }
        let mut batches: Vec<Batch> = std::mem::take(&mut *queue.kept.lock().unwrap())
            .into_iter()
            .map(|note| match note {
                Note::Heard { batch, .. } => batch,
                Note::End { .. } => panic!("no end yet"),
            })
            .collect();
        let Some(Note::End { tail, .. }) = recorder.finish() else {
            panic!("an end");
        };
        batches.push(tail);
        assert_eq!(batches.iter().map(Batch::len).collect::<Vec<_>>(), [4, 2]);
        let got: Vec<_> = batches
            .iter()
            .flat_map(|b| {
                b.packets()
                    .map(|p| (p.at, p.callee, p.from, p.payload.to_vec(), p.bytes.len()))
            })
            .collect();
        let want: Vec<_> = heard
            .iter()
            .map(|(at, callee, packet)| {
                (
                    *at,
                    *callee,
                    if *callee { b } else { a },
                    packet[12..].to_vec(),
                    160,
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "a WAV's batch keeps payloads, arrivals to the nanosecond"
        );
    }
}
