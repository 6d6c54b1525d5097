//! One relayed stream (one `m=` line of a call), sans-IO: each side sends to the RTP/RTCP
//! pair facing it, and each packet is admitted by that side's latch (`latch.rs`), measured
//! (`stats.rs`, RTP only) and forwarded out of the pair facing the other side, to the address
//! the other side's packets come from (or its SDP names until it has sent one). The payload
//! is never changed: any codec, SRTP included, passes as it came; RFC 4733 telephone-events
//! are relayed as they are and their keys noted on the way (`dtmf.rs`, `poll_digit`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp_rs::RtpReader;

use super::dtmf::{Digit, DtmfDetector};
use super::latch::{Admit, Latch};
use super::player::{Numbering, Player};
use super::prompt::{Codec, Prompt};
use super::recording::{Heard, Note, Recorder};
use super::rtcp::{RtcpFacts, on_rtcp};
use super::sdp::{Connection, MediaDesc};
use super::stats::{RtpHeader, RtpStats};
use super::stats_talk::TalkMeter;

/// The two parties of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }
}

/// One of a stream's four sockets: the RTP or RTCP port of the pair that `facing` sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Socket {
    pub facing: Side,
    pub rtcp: bool,
}

/// The RTP ports (even; RTCP is the next port) of the pairs facing each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPorts {
    pub caller: u16,
    pub callee: u16,
}

impl StreamPorts {
    /// The RTP port of the pair `side` sends to.
    pub fn facing(self, side: Side) -> u16 {
        match side {
            Side::Caller => self.caller,
            Side::Callee => self.callee,
        }
    }
}

/// Send a packet out of socket `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub from: Socket,
    pub to: SocketAddr,
}

/// What one side sent, as calltrack saw it.
#[derive(Debug, Clone, Default)]
pub struct SideFacts {
    pub rtp: RtpStats,
    /// What this side's RTCP reported (RFC 3550 §6.4), muxed RTCP included.
    pub rtcp: RtcpFacts,
    /// Talk time after the answer (`stats_talk.rs`).
    pub talk: TalkMeter,
    /// Packets from a third address after latching.
    pub dropped: u64,
    /// Packets on the RTP port that are not RTP version 2 (relayed all the same).
    pub malformed: u64,
    /// The first RTP packet at or after the answer.
    pub first_after_answer: Option<Instant>,
}

/// Keys kept for the engine to read; older ones are dropped past this.
const MAX_PENDING_DIGITS: usize = 32;

#[derive(Debug, Default)]
struct SideState {
    rtp: Latch,
    rtcp: Latch,
    facts: SideFacts,
    /// Keys this side pressed (RFC 4733), not yet read by `poll_digit`.
    dtmf: DtmfDetector,
    digits: std::collections::VecDeque<Digit>,
}

/// One stream's relay state.
#[derive(Debug)]
pub struct StreamRelay {
    pub ports: StreamPorts,
    caller: SideState,
    callee: SideState,
    /// `(payload type, clock rate)` from either side's SDP.
    rates: Vec<(u8, u32)>,
    /// SDES-keyed SRTP on either side: relayed, never recordable.
    pub srtp: bool,
    answered: Option<Instant>,
    /// Recording (`record`): the caller's and the callee's decoded audio since the answer.
    recorder: Option<Recorder>,
    /// The first G.711 codec of the caller's SDP: what a prompt is played in.
    caller_codec: Option<Codec>,
    /// A prompt played to the caller from the caller-facing RTP port (`player.rs`).
    player: Option<Player>,
}

impl StreamRelay {
    pub fn new(ports: StreamPorts) -> StreamRelay {
        StreamRelay {
            ports,
            caller: SideState::default(),
            callee: SideState::default(),
            rates: Vec::new(),
            srtp: false,
            answered: None,
            recorder: None,
            caller_codec: None,
            player: None,
        }
    }

    /// `side`'s SDP for this stream: where it wants packets, its codecs' clock rates.
    pub fn learn(&mut self, side: Side, desc: &MediaDesc, connection: Connection) {
        let ip = match connection {
            Connection::Addr(ip) if desc.port != 0 => Some(ip),
            _ => None,
        };
        let rtcp_port = desc.rtcp_port.unwrap_or(desc.port.saturating_add(1));
        let state = self.side_mut(side);
        state
            .rtp
            .expect(ip.map(|ip| SocketAddr::new(ip, desc.port)));
        state
            .rtcp
            .expect(ip.map(|ip| SocketAddr::new(ip, rtcp_port)));
        for &(pt, rate) in &desc.clock_rates {
            if !self.rates.iter().any(|(p, _)| *p == pt) {
                self.rates.push((pt, rate));
            }
        }
        self.srtp |= desc.crypto;
        if side == Side::Caller {
            let g711 = desc
                .formats
                .iter()
                .find_map(|pt| Codec::from_payload_type(*pt));
            self.caller_codec = g711.or(self.caller_codec);
        }
        if let Some(pt) = desc.telephone_event {
            // Either side's SDP names the events both send (RFC 4733 §2.1, the relay
            // passes the offer's payload types on untouched).
            self.caller.dtmf.set_payload_type(Some(pt));
            self.callee.dtmf.set_payload_type(Some(pt));
        }
    }

    /// Plays `prompt` to the caller from `now`, in the caller's G.711 codec; `None` (nothing
    /// played) when the caller offered no G.711 or the stream is SRTP.
    pub fn play(&mut self, now: Instant, prompt: &Prompt, numbering: Numbering) -> Option<Codec> {
        let codec = self.caller_codec.filter(|_| !self.srtp)?;
        let player = self
            .player
            .get_or_insert_with(|| Player::new(codec, numbering));
        player.play(now, prompt.encode(codec).into());
        Some(codec)
    }

    /// Stops the prompt (a key barged in, the call is bridged).
    pub fn stop_prompt(&mut self) {
        if let Some(player) = self.player.as_mut() {
            player.stop();
        }
    }

    /// When the prompt's next packet is due.
    pub fn prompt_due(&self) -> Option<Instant> {
        self.player.as_ref()?.poll_timeout()
    }

    /// Whether a prompt is still playing.
    pub fn prompt_playing(&self) -> bool {
        self.player.as_ref().is_some_and(|p| !p.is_idle())
    }

    /// The prompt's next packet due at `now` and where it goes (out of the caller-facing RTP
    /// socket); packets due while the caller's address is unknown are dropped.
    pub fn poll_prompt(&mut self, now: Instant) -> Option<(Vec<u8>, SocketAddr)> {
        let target = self.caller.rtp.target();
        let player = self.player.as_mut()?;
        loop {
            let packet = player.poll_transmit(now)?;
            if let Some(to) = target {
                return Some((packet, to));
            }
        }
    }

    /// The next key `side` pressed, oldest first.
    pub fn poll_digit(&mut self, side: Side) -> Option<Digit> {
        self.side_mut(side).digits.pop_front()
    }

    /// The call was answered: one-way audio is judged from here.
    pub fn answered(&mut self, now: Instant) {
        self.answered.get_or_insert(now);
    }

    /// Records this stream's audio from the answer on with `recorder` (SRTP cannot be: its
    /// payload is encrypted).
    pub fn record(&mut self, recorder: Recorder) {
        if !self.srtp && self.recorder.is_none() {
            self.recorder = Some(recorder);
        }
    }

    /// The call ended: the recording's last note for the writer, if the stream heard any
    /// audio (never for SRTP).
    pub fn finish_recording(&mut self) -> Option<Note> {
        let mut recorder = self.recorder.take()?;
        if self.srtp {
            return None;
        }
        recorder.finish()
    }

    /// Where `side`'s RTP is sent to (where it comes from, once latched).
    pub fn peer(&self, side: Side) -> Option<SocketAddr> {
        self.side(side).rtp.target()
    }

    /// A packet from `source` arrived on socket `on`; where to send it, if anywhere.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        on: Socket,
        source: SocketAddr,
        bytes: &[u8],
    ) -> Option<Forward> {
        let side = on.facing;
        let state = self.side_mut(side);
        let latch = if on.rtcp {
            &mut state.rtcp
        } else {
            &mut state.rtp
        };
        if latch.admit(source) == Admit::Drop {
            state.facts.dropped += 1;
            return None;
        }
        if on.rtcp {
            self.read_rtcp(now, side, bytes);
        } else {
            self.measure(now, side, source, bytes);
        }
        let other = self.side(side.other());
        let latch = if on.rtcp { &other.rtcp } else { &other.rtp };
        let to = latch.target()?;
        let from = Socket {
            facing: side.other(),
            rtcp: on.rtcp,
        };
        Some(Forward { from, to })
    }

    /// `side`'s RTCP: its reports, and round trips against the other side's sender reports.
    fn read_rtcp(&mut self, now: Instant, side: Side, bytes: &[u8]) {
        let (own, other) = match side {
            Side::Caller => (&mut self.caller.facts, &self.callee.facts),
            Side::Callee => (&mut self.callee.facts, &self.caller.facts),
        };
        on_rtcp(now, bytes, &mut own.rtcp, &other.rtcp);
    }

    fn measure(&mut self, now: Instant, side: Side, source: SocketAddr, bytes: &[u8]) {
        if is_muxed_rtcp(bytes) {
            self.read_rtcp(now, side, bytes);
            return;
        }
        let answered = self.answered;
        let rates = &self.rates;
        let recorder = &mut self.recorder;
        let state = match side {
            Side::Caller => &mut self.caller,
            Side::Callee => &mut self.callee,
        };
        let facts = &mut state.facts;
        let Ok(reader) = RtpReader::new(bytes) else {
            facts.malformed += 1;
            return;
        };
        if let Some(digit) = state.dtmf.on_rtp(bytes) {
            if state.digits.len() == MAX_PENDING_DIGITS {
                state.digits.pop_front();
            }
            state.digits.push_back(digit);
        }
        let header = RtpHeader {
            ssrc: reader.ssrc(),
            seq: reader.sequence_number().into(),
            timestamp: reader.timestamp(),
            payload_type: reader.payload_type(),
        };
        let rate = rates
            .iter()
            .find(|(pt, _)| *pt == header.payload_type)
            .map(|(_, rate)| *rate);
        facts.rtp.on_packet(now, header, rate);
        let after_answer = answered.is_some_and(|t| now >= t);
        if let Some(answered) = answered.filter(|_| after_answer) {
            facts.first_after_answer.get_or_insert(now);
            let payload = reader.payload();
            facts
                .talk
                .on_packet(answered, now, header.payload_type, payload);
        }
        if let Some(recorder) = recorder.as_mut().filter(|_| after_answer) {
            let heard = Heard {
                at: now,
                callee: side == Side::Callee,
                from: source,
                ssrc: header.ssrc,
                ts: header.timestamp,
                pt: header.payload_type,
                bytes,
                payload: reader.payload(),
            };
            // RFC 4733 events never decide the recording's format: the type the SDP names
            // (`a=rtpmap:N telephone-event`), else any dynamic type with a 4-byte payload.
            let event = match state.dtmf.payload_type() {
                Some(pt) => heard.pt == pt,
                None => heard.pt >= 96 && heard.payload.len() == 4,
            };
            recorder.push(heard, event);
        }
    }

    /// What `side` sent so far.
    pub fn facts(&self, side: Side) -> &SideFacts {
        &self.side(side).facts
    }

    /// Whether `side` stayed silent for longer than `limit` after the answer, as of `now`.
    pub fn silent(&self, side: Side, now: Instant, limit: Duration) -> bool {
        let Some(answered) = self.answered else {
            return false;
        };
        let deadline = answered + limit;
        match self.side(side).facts.first_after_answer {
            Some(first) => first > deadline,
            None => now > deadline,
        }
    }

    fn side(&self, side: Side) -> &SideState {
        match side {
            Side::Caller => &self.caller,
            Side::Callee => &self.callee,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut SideState {
        match side {
            Side::Caller => &mut self.caller,
            Side::Callee => &mut self.callee,
        }
    }
}

/// RTCP multiplexed on the RTP port (RFC 5761 §4): the second octet is an RTCP packet type
/// (200-204 and the rest of 192-223), which as RTP would be a marker bit with type 64-95.
fn is_muxed_rtcp(bytes: &[u8]) -> bool {
    bytes.get(1).is_some_and(|b| (192..=223).contains(b))
}

#[cfg(test)]
#[path = "stream_tests.rs"]
pub(crate) mod tests;
