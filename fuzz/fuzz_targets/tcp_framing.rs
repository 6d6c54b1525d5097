//! Fuzz target: a TCP byte stream cut into messages by `frame` (the transport's loop, RFC 3261
//! §18.3) gives the same messages and the same verdict (close or not) however the stream is
//! split into reads; keep-alive bytes consumed plus bytes still buffered at the end are the
//! same too (a CR/LF run at the very end may still wait for the rest of a ping). The first
//! bytes of the input choose the split points.
#![no_main]

use calltrack::sip::message::{Frame, Limits, SipMessage, frame};
use libfuzzer_sys::fuzz_target;

/// The RFC 5626 double-CRLF ping.
const PING: &[u8] = b"\r\n\r\n";

/// Small caps so the size limits are reachable.
const LIMITS: Limits = Limits {
    max_message_bytes: 2048,
    max_headers: 32,
};

#[derive(Debug, Default, PartialEq, Eq)]
struct Cut {
    messages: Vec<Vec<u8>>,
    failed: bool,
    /// Keep-alive bytes consumed plus bytes left in the buffer at the end of the stream.
    other_bytes: usize,
}

fuzz_target!(|data: &[u8]| {
    let Some((&n_splits, rest)) = data.split_first() else {
        return;
    };
    let n_splits = usize::from(n_splits % 16).min(rest.len());
    let (split_bytes, stream) = rest.split_at(n_splits);
    let whole = cut(&[stream]);
    let chunks = chunks(stream, split_bytes);
    let split = cut(&chunks);
    assert_eq!(
        whole, split,
        "framing depends on how the stream was split: {chunks:?}"
    );
    for message in &whole.messages {
        let _ = SipMessage::parse(bytes::Bytes::copy_from_slice(message), &LIMITS);
    }
});

/// Splits `stream` at offsets derived from `split_bytes` (each byte a step of 1..=256).
fn chunks<'a>(stream: &'a [u8], split_bytes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for &b in split_bytes {
        let end = (at + usize::from(b) + 1).min(stream.len());
        out.push(&stream[at..end]);
        at = end;
    }
    out.push(&stream[at..]);
    out
}

/// The transport's read loop: append each read, then cut every complete frame.
fn cut(reads: &[&[u8]]) -> Cut {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Cut::default();
    for read in reads {
        buf.extend_from_slice(read);
        if !drain(&mut buf, &mut out) {
            // The connection closes: what happened to CR/LF runs before that no longer matters.
            out.failed = true;
            out.other_bytes = 0;
            return out;
        }
    }
    out.other_bytes += buf.len();
    out
}

/// Mirrors `transport::tcp::Tcp::cut_frames`; `false` when the connection would close.
fn drain(buf: &mut Vec<u8>, out: &mut Cut) -> bool {
    loop {
        match frame(buf, &LIMITS) {
            Ok(Frame::Incomplete) => return true,
            Ok(Frame::Complete(len)) => {
                assert!(
                    len > 0 && len <= buf.len(),
                    "frame length {len} of {}",
                    buf.len()
                );
                out.messages.push(buf.drain(..len).collect());
            }
            Ok(Frame::KeepAlive(len)) => {
                assert!(len > 0 && len <= buf.len());
                if len == buf.len() && len < PING.len() && PING.starts_with(buf) {
                    return true;
                }
                out.other_bytes += len;
                buf.drain(..len);
            }
            Err(_) => return false,
        }
    }
}
