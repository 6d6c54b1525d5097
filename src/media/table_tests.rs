//! The relay table through whole calls: offer and answer rewritten, ports allocated and given
//! back on release, exhaustion, and the queues a driver takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.1.1.5\r\ns=-\r\nc=IN IP4 10.1.1.5\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n";
const TWO_STREAMS: &str = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\n\
m=video 4002 RTP/AVP 99\r\n";

fn table(ports: std::ops::RangeInclusive<u16>) -> MediaTable {
    MediaTable::new(&MediaConfig {
        rtp_ports: ports,
        bind_ip: "127.0.0.1".parse().unwrap(),
        advertised_ip: "203.0.113.7".parse().unwrap(),
        one_way_audio: Duration::from_secs(5),
        recordings_dir: std::env::temp_dir(),
        retention: Default::default(),
        on_no_ports: crate::config::OnNoPorts::Direct,
        relay_threads: 1,
    })
}

fn text(body: Option<Vec<u8>>) -> String {
    String::from_utf8(body.expect("rewritten")).unwrap()
}

#[test]
fn offer_and_answer_name_the_pair_facing_their_receiver() {
    let t = table(30000..=30099);
    let now = Instant::now();
    let offer = text(t.rewrite(now, 1, Side::Caller, OFFER.as_bytes()));
    assert!(offer.contains("c=IN IP4 203.0.113.7\r\n"));
    assert!(
        offer.contains("m=audio 30002 RTP/AVP 0 8\r\n"),
        "the callee sends to its pair"
    );
    assert!(offer.contains("o=- 1 1 IN IP4 192.0.2.10\r\n"));
    let answer = text(t.rewrite(now, 1, Side::Callee, ANSWER.as_bytes()));
    assert!(
        answer.contains("m=audio 30000 RTP/AVP 0\r\n"),
        "the caller sends to its pair"
    );
    // A re-INVITE from the callee keeps the same streams.
    let again = text(t.rewrite(now, 1, Side::Callee, ANSWER.as_bytes()));
    assert_eq!(again, answer);
    assert_eq!(t.port_pairs(), (48, 50));
    let facts = t.release(1, now + Duration::from_secs(1)).unwrap();
    assert_eq!(facts.caller.packets, 0);
    assert_eq!(t.port_pairs(), (50, 50), "every pair back without a driver");
    assert_eq!(t.release(1, now), None, "a second release is harmless");
    assert_eq!(t.calls(), 0);
}

#[test]
fn rejected_streams_stay_at_port_zero_and_take_no_ports() {
    let t = table(30000..=30099);
    let body = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 99\r\n";
    let out = text(t.rewrite(Instant::now(), 7, Side::Caller, body.as_bytes()));
    assert!(out.contains("m=video 0 RTP/AVP 99\r\n"));
    assert_eq!(t.port_pairs().0, 48);
}

#[test]
fn without_ports_a_new_call_is_left_direct() {
    let t = table(30000..=30003);
    let now = Instant::now();
    assert!(t.rewrite(now, 1, Side::Caller, OFFER.as_bytes()).is_some());
    assert_eq!(t.rewrite(now, 2, Side::Caller, OFFER.as_bytes()), None);
    assert_eq!(
        t.rewrite(now, 2, Side::Callee, ANSWER.as_bytes()),
        None,
        "direct for good"
    );
    assert_eq!(t.release(2, now), None, "a direct call has no facts");
    assert!(t.release(1, now).is_some());
    assert!(t.rewrite(now, 3, Side::Caller, OFFER.as_bytes()).is_some());
}

#[test]
fn a_stream_added_without_ports_is_disabled() {
    let t = table(30000..=30003);
    let out = text(t.rewrite(Instant::now(), 1, Side::Caller, TWO_STREAMS.as_bytes()));
    assert!(out.contains("m=audio 30002 RTP/AVP 0\r\n"));
    assert!(out.contains("m=video 0 RTP/AVP 99\r\n"));
}

#[test]
fn unreadable_sdp_passes_unchanged() {
    let t = table(30000..=30099);
    assert_eq!(
        t.rewrite(Instant::now(), 1, Side::Caller, b"m=audio x RTP/AVP 0\r\n"),
        None
    );
    assert_eq!(t.port_pairs().0, 50);
}

#[test]
fn a_driver_opens_then_closes_and_only_then_ports_come_back() {
    let t = table(30000..=30099);
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    t.attach(Box::new(move || {
        counter.fetch_add(1, Ordering::Relaxed);
    }));
    let now = Instant::now();
    t.rewrite(now, 1, Side::Caller, OFFER.as_bytes());
    t.rewrite(now, 1, Side::Callee, ANSWER.as_bytes());
    let opened = t.poll_opened().unwrap();
    assert!(t.poll_opened().is_none(), "one stream, opened once");
    assert_eq!(wakes.load(Ordering::Relaxed), 1);
    t.answered(1, now, None);
    t.release(1, now);
    let closing = t.poll_closing().unwrap();
    assert_eq!(closing, opened.ports);
    assert_eq!(t.port_pairs().0, 48, "sockets still open");
    t.sockets_closed(closing);
    assert_eq!(t.port_pairs().0, 50);
    assert_eq!(wakes.load(Ordering::Relaxed), 2);
}

#[test]
fn one_way_audio_is_judged_at_release() {
    let t = table(30000..=30099);
    let now = Instant::now();
    t.rewrite(now, 1, Side::Caller, OFFER.as_bytes());
    t.rewrite(now, 1, Side::Callee, ANSWER.as_bytes());
    t.answered(1, now, None);
    let facts = t.release(1, now + Duration::from_secs(30)).unwrap();
    assert!(facts.one_way_audio);
}

#[test]
fn a_recorded_call_hands_its_audio_to_the_driver_and_its_file_to_the_cdr() {
    use crate::media::stream::Socket;
    let t = table(30000..=30099);
    t.attach(Box::new(|| {}));
    let kept = std::sync::Arc::new(Kept::default());
    t.attach_sink(kept.clone());
    let now = Instant::now();
    t.rewrite(now, 1, Side::Caller, OFFER.as_bytes());
    t.rewrite(now, 1, Side::Callee, ANSWER.as_bytes());
    let stream = t.poll_opened().unwrap().stream;
    t.answered(1, now, Some("00000000000000aa"));
    let caller = Socket {
        facing: Side::Caller,
        rtcp: false,
    };
    let source = "192.0.2.10:4000".parse().unwrap();
    for seq in 0..50u16 {
        let at = now + Duration::from_millis(20 * u64::from(seq));
        let packet = crate::media::stream::tests::rtp(seq, u32::from(seq) * 160);
        stream
            .lock()
            .unwrap()
            .handle_packet(at, caller, source, &packet);
    }
    let facts = t.release(1, now + Duration::from_secs(2)).unwrap();
    assert_eq!(facts.recording, Some(RecordingFacts::Pending));
    let Some(end) = t.poll_recording() else {
        panic!("the recording's end is queued");
    };
    let crate::media::recording::Note::End { id, tail } = &end else {
        panic!("an end note");
    };
    assert_eq!(&**id, "00000000000000aa");
    assert_eq!(tail.format, crate::media::recording::Format::Wav);
    let dir = std::env::temp_dir().join(format!("ct-table-rec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut writer = crate::media::recording_writer::Writer::new(&dir, |_| Duration::ZERO);
    for note in std::mem::take(&mut *kept.0.lock().unwrap()) {
        assert!(writer.handle(note).is_none());
    }
    let Some((_, crate::call::recording::RecordingSettled::Recorded { path, .. })) =
        writer.handle(end)
    else {
        panic!("the file is written");
    };
    let stereo: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .into_samples()
        .map(Result::unwrap)
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(stereo.len(), 2 * 50 * 160);
    assert_eq!(stereo[0], crate::media::g711::ulaw(0xff));
    assert!(
        stereo.iter().skip(1).step_by(2).all(|s| *s == 0),
        "the callee said nothing"
    );
}

/// A writer queue that keeps every note.
#[derive(Debug, Default)]
struct Kept(std::sync::Mutex<Vec<crate::media::recording::Note>>);

impl crate::media::recording::RecordSink for Kept {
    fn offer(&self, note: crate::media::recording::Note) -> bool {
        self.0.lock().unwrap().push(note);
        true
    }
}

#[test]
fn an_unrecorded_call_has_no_recording() {
    let t = table(30000..=30099);
    let now = Instant::now();
    t.rewrite(now, 1, Side::Caller, OFFER.as_bytes());
    t.answered(1, now, None);
    assert_eq!(t.release(1, now).unwrap().recording, None);
}

#[test]
fn srtp_or_silence_is_skipped_with_its_reason() {
    let t = table(30000..=30099);
    t.attach(Box::new(|| {}));
    let now = Instant::now();
    let srtp = OFFER.replace(
        "a=sendrecv",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
    );
    t.rewrite(now, 1, Side::Caller, srtp.as_bytes());
    t.answered(1, now, Some("srtp"));
    let facts = t.release(1, now).unwrap();
    assert_eq!(
        facts.recording,
        Some(RecordingFacts::Skipped(RecordingReason::Srtp))
    );
    t.rewrite(now, 2, Side::Caller, OFFER.as_bytes());
    t.answered(2, now, Some("quiet"));
    let facts = t.release(2, now).unwrap();
    assert_eq!(
        facts.recording,
        Some(RecordingFacts::Skipped(RecordingReason::NoMedia))
    );
    assert!(t.poll_recording().is_none());
}
