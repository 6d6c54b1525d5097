//! The relay's table of calls, shared by the SIP core and the media driver like the lease
//! table: the core hands it every SDP body that crosses a relayed call's legs and gets the
//! body back rewritten; the driver takes the streams to open and to close. Sans-IO: time is
//! handed in, sockets are the driver's.
//!
//! A body from one side teaches the relay where that side wants packets (offer or answer
//! alike, RFC 3264) and goes to the other side naming the pair facing it. Streams are
//! allocated per `m=` line as they appear with a non-zero port (m-lines are never removed,
//! RFC 3264 §8) and live until the call is released. Out of ports: a call with no stream yet
//! is left direct (its SDP passes untouched, counted in
//! `calltrack_media_ports_exhausted_total{outcome="direct"}`); a stream added later gets port 0
//! (disabled, `outcome="stream_disabled"`). With `[media] on_no_ports = "refuse"` the SIP core
//! [`MediaTable::reserve`]s the first stream's ports before it makes any call state, and
//! refuses the call when that fails.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::facts::voice_quality;
use super::ports::{PortPool, PortsExhausted};
use super::recording::{Note, RecordSink, Recorder};
use super::sdp::{self, Sdp};
use super::sdp_rewrite::{RelayAddrs, rewrite};
use super::stream::{Side, StreamPorts, StreamRelay};
use crate::call::recording::{RecordingFacts, RecordingReason};
use crate::call::voice::VoiceQuality;
use crate::config::MediaConfig;

/// A stream as the driver and the table share it.
pub type SharedStream = Arc<Mutex<StreamRelay>>;

/// Tells the driver that streams wait to be opened or closed.
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// A stream whose four sockets the driver binds.
#[derive(Debug, Clone)]
pub struct Opened {
    pub ports: StreamPorts,
    pub stream: SharedStream,
}

#[derive(Debug, Default)]
struct CallMedia {
    /// Left direct (no ports when its first stream was wanted): bodies pass untouched.
    direct: bool,
    /// By `m=` line; `None` for a line never relayed (port 0, or no ports left).
    streams: Vec<Option<SharedStream>>,
    answered: Option<Instant>,
    /// Recorded (`record`): the file's name without extension (the call's id).
    record_as: Option<String>,
}

#[derive(Debug)]
struct Inner {
    advertised: IpAddr,
    one_way: Duration,
    pool: PortPool,
    calls: HashMap<u64, CallMedia>,
    /// A driver is attached: opened and closed streams are queued for it.
    driven: bool,
    opened: VecDeque<Opened>,
    closing: VecDeque<StreamPorts>,
    recordings_dir: std::path::PathBuf,
    /// Where recorded streams send their pieces (the driver's writers).
    sink: Option<Arc<dyn RecordSink>>,
    /// Ended recordings whose last note the driver hands to their writer (in order after
    /// their pieces, waiting for room).
    recordings: VecDeque<Note>,
    /// Streams whose prompt started: their tasks must wake to pace it.
    prompting: VecDeque<StreamPorts>,
}

/// The relay's calls and ports.
pub struct MediaTable {
    inner: Mutex<Inner>,
    waker: Mutex<Option<Waker>>,
}

impl std::fmt::Debug for MediaTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaTable").finish_non_exhaustive()
    }
}

impl Default for MediaTable {
    /// No ports: every call wanting the relay is left direct (tests and tools).
    fn default() -> Self {
        Self::with_ports(IpAddr::from([127, 0, 0, 1]), 0..=0, Duration::from_secs(5))
    }
}

impl MediaTable {
    pub fn new(config: &MediaConfig) -> MediaTable {
        let ports = config.rtp_ports.clone();
        let table = Self::with_ports(config.advertised_ip, ports, config.one_way_audio);
        table.lock().recordings_dir = config.recordings_dir.clone();
        table
    }

    fn with_ports(
        advertised: IpAddr,
        ports: std::ops::RangeInclusive<u16>,
        one_way: Duration,
    ) -> MediaTable {
        let inner = Inner {
            advertised,
            one_way,
            pool: PortPool::new(ports),
            calls: HashMap::new(),
            driven: false,
            opened: VecDeque::new(),
            closing: VecDeque::new(),
            recordings_dir: std::path::PathBuf::from("."),
            sink: None,
            recordings: VecDeque::new(),
            prompting: VecDeque::new(),
        };
        MediaTable {
            inner: Mutex::new(inner),
            waker: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Attaches the driver: from now on streams are queued for it and `waker` is called
    /// whenever some wait.
    pub fn attach(&self, waker: Waker) {
        self.lock().driven = true;
        *self
            .waker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(waker);
    }

    /// Driver: recorded streams send their pieces to `sink`.
    pub fn attach_sink(&self, sink: Arc<dyn RecordSink>) {
        self.lock().sink = Some(sink);
    }

    /// Where recordings are written.
    pub fn recordings_dir(&self) -> std::path::PathBuf {
        self.lock().recordings_dir.clone()
    }

    fn wake(&self) {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(wake) = waker.as_ref() {
            wake();
        }
    }

    /// A body `from` one side of relayed call `call`, on its way to the other side: the
    /// rewritten body, or `None` to forward it unchanged (unreadable SDP, a call left direct).
    pub fn rewrite(&self, now: Instant, call: u64, from: Side, body: &[u8]) -> Option<Vec<u8>> {
        let sdp = match sdp::parse(body) {
            Ok(sdp) => sdp,
            Err(error) => {
                tracing::debug!(%error, "SDP not relayed");
                metrics::counter!("calltrack_media_sdp_unreadable_total").increment(1);
                return None;
            }
        };
        let (out, opened) = {
            let mut inner = self.lock();
            let queued = inner.opened.len();
            let ports = inner.learn(now, call, from, &sdp)?;
            let advertised = inner.advertised;
            let out = rewrite(
                body,
                RelayAddrs {
                    advertised,
                    ports: &ports,
                },
            );
            (out, inner.opened.len() > queued)
        };
        if opened {
            self.wake();
        }
        Some(out)
    }

    /// Takes the ports of call `call`'s first stream now, before any SDP is seen (so that a
    /// call can be refused while nothing of it exists yet, `on_no_ports = "refuse"`); the
    /// first `m=` line of its first body uses them. Released with the call.
    pub fn reserve(&self, now: Instant, call: u64) -> Result<(), PortsExhausted> {
        let opened = {
            let mut inner = self.lock();
            let mut media = inner.calls.remove(&call).unwrap_or_default();
            let result = if media.streams.iter().flatten().next().is_some() {
                Ok(())
            } else {
                inner.open(now, &mut media, 0).map(|_| ())
            };
            if result.is_ok() {
                inner.calls.insert(call, media);
            }
            result.map(|()| inner.driven)?
        };
        if opened {
            self.wake();
        }
        Ok(())
    }

    /// Relayed call `call` was answered: one-way audio is judged from `now`; with
    /// `record_as` (the call's id) its first stream is recorded from now on.
    pub fn answered(&self, call: u64, now: Instant, record_as: Option<&str>) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(media) = inner.calls.get_mut(&call) else {
            return;
        };
        media.answered = Some(now);
        media.record_as = record_as.map(str::to_owned);
        for stream in media.streams.iter().flatten() {
            lock_stream(stream).answered(now);
        }
        let first = media.streams.iter().flatten().next().cloned();
        if let (Some(first), Some(id)) = (first, record_as) {
            let mut stream = lock_stream(&first);
            let relay = |port| SocketAddr::new(inner.advertised, port);
            let ports = stream.ports;
            let relay = [relay(ports.caller), relay(ports.callee)];
            let sink = inner.sink.clone();
            stream.record(Recorder::new(id, now, sink, relay));
        }
    }

    /// The call is over: its facts (`None` for a call that never relayed a stream), and its
    /// ports go back once the driver has closed their sockets. Releasing twice is harmless.
    pub fn release(&self, call: u64, now: Instant) -> Option<VoiceQuality> {
        let (facts, queued) = {
            let mut inner = self.lock();
            let media = inner.calls.remove(&call)?;
            let recording = media
                .record_as
                .as_deref()
                .map(|id| inner.recording(id, &media));
            let streams: Vec<SharedStream> = media.streams.into_iter().flatten().collect();
            let guards: Vec<MutexGuard<'_, StreamRelay>> =
                streams.iter().map(lock_stream).collect();
            let refs: Vec<&StreamRelay> = guards.iter().map(|g| &**g).collect();
            let mut facts = (!refs.is_empty()).then(|| voice_quality(&refs, now, inner.one_way));
            super::metrics::streams_ended(&refs);
            let ports: Vec<StreamPorts> = refs.iter().map(|s| s.ports).collect();
            drop(guards);
            for p in &ports {
                inner.close(*p);
            }
            super::metrics::free_pairs(inner.pool.free());
            if let (Some(facts), Some(recording)) = (facts.as_mut(), recording) {
                facts.recording = Some(match recording {
                    Ok(end) => {
                        if inner.driven && inner.sink.is_some() {
                            inner.recordings.push_back(end);
                        }
                        RecordingFacts::Pending
                    }
                    Err(reason) => RecordingFacts::Skipped(reason),
                });
            }
            (facts, inner.driven && !ports.is_empty())
        };
        if queued {
            self.wake();
        }
        if let Some(quality) = &facts {
            super::metrics::call_ended(quality);
        }
        facts
    }

    /// Driver: the next stream whose sockets to bind.
    pub fn poll_opened(&self) -> Option<Opened> {
        self.lock().opened.pop_front()
    }

    /// Driver: the next stream whose sockets to close (then [`Self::sockets_closed`]).
    pub fn poll_closing(&self) -> Option<StreamPorts> {
        self.lock().closing.pop_front()
    }

    /// Driver: the next ended recording's last note, for its writer.
    pub fn poll_recording(&self) -> Option<Note> {
        self.lock().recordings.pop_front()
    }

    /// Driver: a closed stream's sockets are gone; its ports may be taken again.
    pub fn sockets_closed(&self, ports: StreamPorts) {
        let mut inner = self.lock();
        inner.pool.put(ports.caller);
        inner.pool.put(ports.callee);
        super::metrics::free_pairs(inner.pool.free());
    }

    /// RTP/RTCP pairs free now and in all.
    pub fn port_pairs(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.pool.free(), inner.pool.capacity())
    }

    /// Calls with an entry (relayed, or left direct while they last).
    pub fn calls(&self) -> usize {
        self.lock().calls.len()
    }
}

fn lock_stream(stream: &SharedStream) -> MutexGuard<'_, StreamRelay> {
    stream
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    /// The end of `media`'s first stream's recording, or why there is none.
    fn recording(&self, _id: &str, media: &CallMedia) -> Result<Note, RecordingReason> {
        let first = media
            .streams
            .iter()
            .flatten()
            .next()
            .ok_or(RecordingReason::NotRelayed)?;
        let mut stream = lock_stream(first);
        if stream.srtp {
            return Err(RecordingReason::Srtp);
        }
        stream.finish_recording().ok_or(RecordingReason::NoMedia)
    }

    /// Learns `from`'s addresses and returns the relay's RTP port per `m=` line for the body
    /// going to the other side; `None`: the call is direct.
    fn learn(
        &mut self,
        now: Instant,
        call: u64,
        from: Side,
        sdp: &Sdp,
    ) -> Option<Vec<Option<u16>>> {
        let media = self.calls.remove(&call).unwrap_or_default();
        let (media, ports) = self.streams_for(now, media, from, sdp);
        self.calls.insert(call, media);
        ports
    }

    fn streams_for(
        &mut self,
        now: Instant,
        mut media: CallMedia,
        from: Side,
        sdp: &Sdp,
    ) -> (CallMedia, Option<Vec<Option<u16>>>) {
        if media.direct {
            return (media, None);
        }
        let mut ports = Vec::with_capacity(sdp.media.len());
        for (index, desc) in sdp.media.iter().enumerate() {
            if desc.port == 0 {
                ports.push(None);
                continue;
            }
            let stream = match media.streams.get(index).cloned().flatten() {
                Some(stream) => stream,
                None => match self.open(now, &mut media, index) {
                    Ok(stream) => stream,
                    Err(PortsExhausted) if media.streams.iter().all(Option::is_none) => {
                        metrics::counter!("calltrack_media_ports_exhausted_total", "outcome" => "direct")
                            .increment(1);
                        tracing::warn!("no RTP ports left: the call is bridged direct");
                        media.direct = true;
                        return (media, None);
                    }
                    Err(PortsExhausted) => {
                        metrics::counter!(
                            "calltrack_media_ports_exhausted_total",
                            "outcome" => "stream_disabled"
                        )
                        .increment(1);
                        ports.push(Some(0));
                        continue;
                    }
                },
            };
            let mut relay = lock_stream(&stream);
            relay.learn(from, desc, sdp.connection_of(index));
            ports.push(Some(relay.ports.facing(from.other())));
        }
        (media, Some(ports))
    }

    /// Two pairs for stream `index`: one facing each side.
    fn open(
        &mut self,
        now: Instant,
        media: &mut CallMedia,
        index: usize,
    ) -> Result<SharedStream, PortsExhausted> {
        let caller = self.pool.take()?;
        let callee = self.pool.take().inspect_err(|_| self.pool.put(caller))?;
        super::metrics::free_pairs(self.pool.free());
        let mut relay = StreamRelay::new(StreamPorts { caller, callee });
        if let Some(at) = media.answered {
            relay.answered(at.min(now));
        }
        let stream = Arc::new(Mutex::new(relay));
        if media.streams.len() <= index {
            media.streams.resize(index + 1, None);
        }
        media.streams[index] = Some(stream.clone());
        if self.driven {
            self.opened.push_back(Opened {
                ports: StreamPorts { caller, callee },
                stream: stream.clone(),
            });
        }
        Ok(stream)
    }

    /// A released stream: the driver closes its sockets first, else its ports are free now.
    fn close(&mut self, ports: StreamPorts) {
        if self.driven {
            self.closing.push_back(ports);
        } else {
            self.pool.put(ports.caller);
            self.pool.put(ports.callee);
        }
    }
}

#[path = "table_voice.rs"]
mod voice;

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
