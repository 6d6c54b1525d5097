//! Regression tests from fuzzing (`fuzz/`): inputs the fuzz targets flagged, kept so the
//! behaviour they pinned down stays put.

use bytes::Bytes;

use super::{Frame, Limits, Screened, SipMessage, frame, screen};

/// `sip_roundtrip` found a REGISTER whose Request-URI holds a non-UTF-8 byte (0xB6 inside an
/// IPv6 reference). The parser indexes it, but such a request must never be acted on or
/// forwarded: the screen refuses it, and the refusal can still be answered.
#[test]
fn request_uri_with_non_utf8_byte_is_refused() {
    let mut raw = b"REGISTER sip:[4002:db8::".to_vec();
    raw.push(0xB6);
    raw.extend_from_slice(
        b"10] SIP/2.0\r\nTo: sip:user@example.com\r\nFrom: sip:user@example.com;tag=81x2\r\n\
Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\r\nCall-ID: SSG95599@hla\r\n\
Max-Forwards: 70\r\nCSeq: 98176 REGISTER\r\nContent-Length: 0\r\n\r\n",
    );
    let parsed = SipMessage::parse(Bytes::from(raw.clone()), &Limits::default());
    assert!(parsed.is_ok_and(|m| m.request_uri() == Some("")));
    match screen(Bytes::from(raw), &Limits::default(), &[]) {
        Screened::Reject(_, rejection) => assert!(rejection.status >= 400),
        Screened::Discard(_) => {}
        other => panic!("a non-UTF-8 Request-URI was accepted: {other:?}"),
    }
}

/// Cuts a stream the way the TCP transport does, one read at a time; the messages cut.
fn cut(reads: &[&[u8]]) -> Vec<Vec<u8>> {
    let limits = Limits::default();
    let (mut buf, mut out) = (Vec::new(), Vec::new());
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match frame(&buf, &limits) {
                Ok(Frame::Complete(n)) => out.push(buf.drain(..n).collect()),
                Ok(Frame::KeepAlive(n)) if n < buf.len() || n >= 4 => {
                    buf.drain(..n);
                }
                Ok(_) => break,
                Err(e) => panic!("framing error {e}"),
            }
        }
    }
    out
}

/// `tcp_framing` found that a CR/LF run at the end of a stream is consumed differently
/// depending on where reads end (a trailing run may be half a ping). The messages cut must
/// never depend on it: every split of this stream into two reads cuts the same two messages.
#[test]
fn messages_cut_from_a_stream_do_not_depend_on_read_boundaries() {
    let stream: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
l: 0\r\n\r\n\r\n\r\nINVITE sip:c@d SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\n\
l: 6\r\n\n\r\r\nv=0\r\n\n\r\n";
    let whole = cut(&[stream]);
    assert_eq!(whole.len(), 2);
    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(cut(&[a, b]), whole, "split at {at}");
    }
}
