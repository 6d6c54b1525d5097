//! DTMF digits from RFC 4733 telephone-events, sans-IO: the relay shows each RTP packet of a
//! stream to a `DtmfDetector` (the packet itself is relayed untouched), which names each
//! digit once. An event is one RTP timestamp (RFC 4733 §2.5.1.3: every packet of an event,
//! the three retransmitted end packets with the E bit included, carries the timestamp of its
//! start), so a digit is counted when a new timestamp shows up, whether its first packet
//! or only its end packets got through.

use std::fmt;

use rtp_rs::RtpReader;

/// A DTMF key (RFC 4733 §3.2 events 0-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(char);

/// The keys, in event-code order.
const KEYS: &[u8; 16] = b"0123456789*#ABCD";

impl Digit {
    /// The key of telephone-event `code` (0-15); other events (flash, tones) are not keys.
    pub fn from_event(code: u8) -> Option<Digit> {
        KEYS.get(usize::from(code)).map(|k| Digit(char::from(*k)))
    }

    /// A key written as itself: `0`-`9`, `*`, `#`, `A`-`D` (either case).
    pub fn from_char(key: char) -> Option<Digit> {
        let key = key.to_ascii_uppercase();
        KEYS.contains(&u8::try_from(key).ok()?)
            .then_some(Digit(key))
    }

    pub fn as_char(self) -> char {
        self.0
    }

    /// The telephone-event code of this key.
    pub fn event(self) -> u8 {
        let code = KEYS.iter().position(|k| char::from(*k) == self.0);
        code.and_then(|c| u8::try_from(c).ok()).unwrap_or_default()
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    /// The E bit: the event has ended.
    pub end: bool,
    pub volume: u8,
    /// In timestamp units since the event's start.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The first four bytes of a payload; `None` if shorter.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        Some(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }
}

/// Digits arriving on one direction of one stream.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    /// The telephone-event payload type from the SDP (`a=rtpmap:N telephone-event/8000`).
    payload_type: Option<u8>,
    /// `(SSRC, timestamp)` of the last event counted.
    last: Option<(u32, u32)>,
}

impl DtmfDetector {
    pub fn new(payload_type: Option<u8>) -> DtmfDetector {
        DtmfDetector {
            payload_type,
            last: None,
        }
    }

    /// The payload type changed with a new offer or answer.
    pub fn set_payload_type(&mut self, payload_type: Option<u8>) {
        self.payload_type = payload_type;
    }

    /// The telephone-event payload type the SDP named, if any.
    pub fn payload_type(&self) -> Option<u8> {
        self.payload_type
    }

    /// The digit a packet starts, if it is the first packet seen of a key's event. Any bytes
    /// are accepted: what is not RTP, not a telephone-event or not a key is `None`.
    pub fn on_rtp(&mut self, packet: &[u8]) -> Option<Digit> {
        let pt = self.payload_type?;
        let rtp = RtpReader::new(packet).ok()?;
        if rtp.payload_type() != pt {
            return None;
        }
        let event = TelephoneEvent::parse(rtp.payload())?;
        let id = (rtp.ssrc(), rtp.timestamp());
        if self.last == Some(id) {
            return None;
        }
        let digit = Digit::from_event(event.event)?;
        self.last = Some(id);
        Some(digit)
    }
}

#[cfg(test)]
#[path = "dtmf_tests.rs"]
mod tests;
