//! A recorded call's stereo timeline, streamed, sans-IO: each side's G.711 packets are decoded
//! and laid on the call's timeline (8000 frames a second from the answer) by RTP timestamp,
//! held in a short reorder window ([`WINDOW_FRAMES`]) so late or reordered packets still land
//! in place, and handed out as interleaved blocks (caller left, callee right) once the window
//! has passed them. Lost packets and a side that has not spoken yet stay silent; a packet that
//! comes after its place was handed out is dropped and counted ([`Interleaver::late`]).
//! Memory per call is the window and one block, whatever the call's length.
//!
//! A side starts where its first packet arrived after the answer. Its timestamps are extended
//! across the 32-bit wrap (RFC 3550 §5.1); a new SSRC, or a newer timestamp more than
//! [`JUMP_FRAMES`] away from where the packet's arrival puts it (a sender's restart, a hold that froze its
//! clock), or a run of [`FAR_RUN`] packets that far behind, starts the side afresh at its
//! arrival, never over audio already laid down; one packet that far behind is merely late.

use std::collections::VecDeque;
use std::time::Instant;

use super::g711;

/// G.711 runs at 8000 samples per second, one sample per payload byte (RFC 3551 §4.5.14).
pub const SAMPLE_RATE: u32 = 8000;
/// How long a packet may come after its place on the timeline and still land (400 ms).
pub const WINDOW_FRAMES: u64 = 3200;
/// Frames per handed-out block (200 ms).
pub const BLOCK_FRAMES: usize = 1600;
/// A timestamp this far (1 s) from where its arrival puts it is a discontinuity.
pub const JUMP_FRAMES: i64 = 8000;
/// This many packets in a row far behind their arrival: the sender's clock went back.
const FAR_RUN: u32 = 3;
/// A recording stops growing after 12 hours (1.4 GB), well inside WAV's 4 GB.
pub const MAX_FRAMES: u64 = SAMPLE_RATE as u64 * 3600 * 12;

/// Interleaved stereo frames that start at frame `at` of the call's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub at: u64,
    pub samples: Vec<i16>,
}

/// One side's place on the timeline and its samples not yet handed out.
#[derive(Debug, Default)]
struct Lane {
    ssrc: Option<u32>,
    /// The newest timestamp seen and its extended (wrap-free) value.
    last_ts: u32,
    last_ext: i64,
    /// The timeline frame of extended timestamp 0.
    origin: i64,
    /// One past the furthest frame holding this side's audio.
    end: u64,
    /// Samples from the interleaver's `emitted` frame on.
    pending: VecDeque<i16>,
    /// Packets in a row far behind where their arrival puts them.
    far_run: u32,
}

/// The call's two lanes, the frames handed out so far and the block being filled.
#[derive(Debug)]
pub struct Interleaver {
    answered: Instant,
    lanes: [Lane; 2],
    /// The latest arrival seen, as a timeline frame.
    clock: u64,
    /// Frames moved out of the lanes (into `block` or handed out).
    emitted: u64,
    block: Block,
    ready: VecDeque<Block>,
    /// Packets (wholly or partly) dropped because their place was already handed out.
    pub late: u64,
    /// Packets of another codec: not in the recording.
    pub other_codec: u64,
}

impl Interleaver {
    /// A timeline that starts at `answered`.
    pub fn new(answered: Instant) -> Interleaver {
        Interleaver {
            answered,
            lanes: [Lane::default(), Lane::default()],
            clock: 0,
            emitted: 0,
            block: Block {
                at: 0,
                samples: Vec::new(),
            },
            ready: VecDeque::new(),
            late: 0,
            other_codec: 0,
        }
    }

    /// A packet of payload type `pt` from `ssrc` with RTP timestamp `ts` that the callee (or
    /// the caller) sent, arriving at `now`.
    pub fn push(&mut self, now: Instant, callee: bool, ssrc: u32, ts: u32, pt: u8, payload: &[u8]) {
        let decode = match pt {
            0 => &g711::ULAW,
            8 => &g711::ALAW,
            _ => {
                self.other_codec += 1;
                return;
            }
        };
        let arrival = self.frame_of(now);
        self.clock = self.clock.max(arrival);
        let lane = &mut self.lanes[usize::from(callee)];
        let pos = lane.place(arrival, ssrc, ts);
        self.lay(usize::from(callee), pos, payload, decode);
        self.advance(false);
    }

    /// The next block ready to be written.
    pub fn poll_block(&mut self) -> Option<Block> {
        self.ready.pop_front()
    }

    /// Hands out the block being filled as it is, short of [`BLOCK_FRAMES`] (the writer does
    /// after each batch, so no call keeps a block between batches).
    pub fn flush(&mut self) {
        if !self.block.samples.is_empty() {
            self.hand_out();
        }
    }

    /// The call ended: every frame up to the furthest audio, in blocks.
    pub fn finish(&mut self) -> Vec<Block> {
        self.advance(true);
        self.ready.drain(..).collect()
    }

    /// Frames handed out (or waiting in blocks) so far.
    pub fn frames(&self) -> u64 {
        self.emitted
    }

    /// Frames held now (both lanes and the open block): the recording's memory.
    pub fn held(&self) -> usize {
        self.lanes.iter().map(|l| l.pending.len()).sum::<usize>() + self.block.samples.len()
    }

    /// `now` as a frame of the timeline (the rounding a side's start has always had).
    fn frame_of(&self, now: Instant) -> u64 {
        let secs = now.saturating_duration_since(self.answered).as_secs_f64();
        (secs * f64::from(SAMPLE_RATE)).round() as u64
    }

    /// Decodes `payload` into lane `side` from timeline frame `pos` on.
    fn lay(&mut self, side: usize, pos: i64, payload: &[u8], decode: &[i16; 256]) {
        let end = (pos + payload.len() as i64).min(MAX_FRAMES as i64);
        // Room for it: the window and a jump, else a far-ahead packet forces frames out.
        let limit = WINDOW_FRAMES + JUMP_FRAMES as u64 + BLOCK_FRAMES as u64;
        if end > 0 && end as u64 > self.emitted + limit {
            self.emit_to(end as u64 - limit);
        }
        let start = pos.max(self.emitted as i64);
        if start > pos {
            self.late += 1;
        }
        if start >= end {
            return;
        }
        let (start, end) = (start as u64, end as u64);
        let lane = &mut self.lanes[side];
        let need = (end - self.emitted) as usize;
        if lane.pending.len() < need {
            lane.pending.resize(need, 0);
        }
        let skip = (start as i64 - pos) as usize;
        let from = (start - self.emitted) as usize;
        let len = (end - start) as usize;
        let bytes = &payload[skip..skip + len];
        let (a, b) = lane.pending.as_mut_slices();
        let (in_a, in_b) = split_range(a.len(), from, len);
        decode_into(&mut a[in_a.clone()], &bytes[..in_a.len()], decode);
        decode_into(&mut b[in_b], &bytes[in_a.len()..], decode);
        lane.end = lane.end.max(end);
    }

    /// Hands out the frames no packet can land in any more (all of them when `all`).
    fn advance(&mut self, all: bool) {
        let furthest = self.lanes.iter().map(|l| l.end).max().unwrap_or(0);
        let target = if all {
            furthest
        } else {
            let clock = self.clock.saturating_sub(WINDOW_FRAMES);
            let settled = |l: &Lane| l.end.saturating_sub(WINDOW_FRAMES).max(clock);
            self.lanes
                .iter()
                .map(settled)
                .min()
                .unwrap_or(0)
                .min(furthest)
        };
        self.emit_to(target);
        if all && !self.block.samples.is_empty() {
            self.hand_out();
        }
    }

    /// Moves the frames before `target` into blocks.
    fn emit_to(&mut self, target: u64) {
        while self.emitted < target {
            let room = BLOCK_FRAMES - self.block.samples.len() / 2;
            let n = room.min((target - self.emitted) as usize);
            if self.block.samples.is_empty() {
                self.block.at = self.emitted;
                self.block.samples.reserve(BLOCK_FRAMES * 2);
            }
            let first = self.block.samples.len();
            self.block.samples.resize(first + 2 * n, 0);
            let out = &mut self.block.samples[first..];
            for (channel, lane) in self.lanes.iter_mut().enumerate() {
                let k = lane.pending.len().min(n);
                let (a, b) = lane.pending.as_slices();
                let from_a = a.len().min(k);
                interleave(&mut out[..2 * from_a], channel, &a[..from_a]);
                interleave(&mut out[2 * from_a..2 * k], channel, &b[..k - from_a]);
                lane.pending.drain(..k);
            }
            self.emitted += n as u64;
            if self.block.samples.len() == BLOCK_FRAMES * 2 {
                self.hand_out();
            }
        }
    }

    fn hand_out(&mut self) {
        let at = self.emitted - (self.block.samples.len() / 2) as u64;
        let samples = std::mem::take(&mut self.block.samples);
        self.ready.push_back(Block { at, samples });
    }
}

/// Decodes `bytes` into `out` (of the same length).
fn decode_into(out: &mut [i16], bytes: &[u8], decode: &[i16; 256]) {
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = decode[usize::from(*byte)];
    }
}

/// Writes `samples` into channel `channel` (0 left, 1 right) of the stereo frames `out`.
fn interleave(out: &mut [i16], channel: usize, samples: &[i16]) {
    for (frame, sample) in out.chunks_exact_mut(2).zip(samples) {
        if channel == 0 {
            frame[0] = *sample;
        } else {
            frame[1] = *sample;
        }
    }
}

/// Frames `from..from + len` of a ring whose first part holds `first` of them, as ranges in
/// the first and in the second part.
fn split_range(
    first: usize,
    from: usize,
    len: usize,
) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let end = from + len;
    let in_first = from.min(first)..end.min(first);
    let in_second = from.saturating_sub(first)..end.saturating_sub(first);
    (in_first, in_second)
}

impl Lane {
    /// Where a packet with `ssrc` and `ts`, arriving at timeline frame `arrival`, starts.
    fn place(&mut self, arrival: u64, ssrc: u32, ts: u32) -> i64 {
        let arrival = arrival as i64;
        if self.ssrc != Some(ssrc) {
            let first = self.ssrc.is_none();
            self.ssrc = Some(ssrc);
            self.restart(
                ts,
                if first {
                    arrival
                } else {
                    arrival.max(self.end as i64)
                },
            );
            return self.origin;
        }
        let ext = self.last_ext + i64::from(ts.wrapping_sub(self.last_ts) as i32);
        let newest = ext > self.last_ext;
        if newest {
            (self.last_ts, self.last_ext) = (ts, ext);
        }
        let pos = self.origin + ext;
        if (pos - arrival).abs() <= JUMP_FRAMES {
            self.far_run = 0;
            return pos;
        }
        // Far off: a jump ahead, or a run of packets behind (a reset clock); one packet
        // behind alone is just very late.
        self.far_run += 1;
        if newest || self.far_run >= FAR_RUN {
            self.far_run = 0;
            self.restart(ts, arrival.max(self.end as i64));
            return self.origin;
        }
        pos
    }

    /// Timestamp `ts` starts at frame `at` from now on.
    fn restart(&mut self, ts: u32, at: i64) {
        (self.last_ts, self.last_ext, self.origin) = (ts, 0, at);
    }
}

#[cfg(test)]
#[path = "recording_stream_tests.rs"]
mod tests;
