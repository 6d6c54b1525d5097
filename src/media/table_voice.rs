//! The media table's voice side: prompts played to a call's caller and the keys its parties
//! pressed, for the engine (menus, announcements, digit collection). The table queues each
//! stream whose prompt started so the driver wakes its task (`poll_prompting`).

use std::time::Instant;

use super::{MediaTable, lock_stream};
use crate::media::dtmf::Digit;
use crate::media::player::Numbering;
use crate::media::prompt::{Codec, Prompt};
use crate::media::stream::{Side, StreamPorts};

impl MediaTable {
    /// Plays `prompt` to call `call`'s caller from `now` (its first stream, in the caller's
    /// G.711 codec); the codec, or `None` when nothing can be played (no relayed stream yet,
    /// no G.711, SRTP). The caller-facing port sends it to the caller's latched address.
    pub fn play(
        &self,
        call: u64,
        now: Instant,
        prompt: &Prompt,
        numbering: Numbering,
    ) -> Option<Codec> {
        let codec = {
            let mut inner = self.lock();
            let stream = inner
                .calls
                .get(&call)?
                .streams
                .iter()
                .flatten()
                .next()?
                .clone();
            let mut stream = lock_stream(&stream);
            let codec = stream.play(now, prompt, numbering)?;
            if inner.driven {
                inner.prompting.push_back(stream.ports);
            }
            codec
        };
        self.wake();
        Some(codec)
    }

    /// Stops call `call`'s prompt; whether one was still playing.
    pub fn stop_prompt(&self, call: u64) -> bool {
        let inner = self.lock();
        let Some(media) = inner.calls.get(&call) else {
            return false;
        };
        media.streams.iter().flatten().any(|stream| {
            let mut stream = lock_stream(stream);
            let playing = stream.prompt_playing();
            stream.stop_prompt();
            playing
        })
    }

    /// Whether call `call`'s prompt is still playing (the engine waits for its end).
    pub fn prompt_playing(&self, call: u64) -> bool {
        let inner = self.lock();
        let Some(media) = inner.calls.get(&call) else {
            return false;
        };
        media
            .streams
            .iter()
            .flatten()
            .any(|s| lock_stream(s).prompt_playing())
    }

    /// The advertised address and the ports of call `call`'s stream on `m=` line `index`
    /// (the engine writes its own SDP with them when it answers the caller itself).
    pub fn stream_ports(&self, call: u64, index: usize) -> Option<(std::net::IpAddr, StreamPorts)> {
        let inner = self.lock();
        let stream = inner.calls.get(&call)?.streams.get(index)?.as_ref()?;
        let ports = lock_stream(stream).ports;
        Some((inner.advertised, ports))
    }

    /// A stream whose prompt started (for the driver).
    pub fn poll_prompting(&self) -> Option<StreamPorts> {
        self.lock().prompting.pop_front()
    }

    /// The next key `side` of call `call` pressed in RTP (RFC 4733 telephone-events, relayed
    /// unchanged all the same), for the engine's menus and digit collection.
    pub fn poll_digit(&self, call: u64, side: Side) -> Option<Digit> {
        let inner = self.lock();
        let media = inner.calls.get(&call)?;
        let mut streams = media.streams.iter().flatten();
        streams.find_map(|stream| lock_stream(stream).poll_digit(side))
    }
}
