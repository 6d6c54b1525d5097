//! The ACK for a 2xx kept as the recipe that rebuilds it from the 2xx it acknowledges
//! (issue 12): a client INVITE in Accepted re-sends the TU's ACK for every retransmission of
//! that 2xx until Timer M (RFC 6026 §7.2, RFC 3261 §13.2.2.4: "The ACK MUST be passed to the
//! client transport every time a retransmission of the 2xx final response that triggered
//! the ACK arrives"), and the ACK's bytes were most of what an ended call kept for 32 s.
//!
//! An ACK for a 2xx is built from the dialog the 2xx established (§13.2.2.4, §12.2.1.1):
//! its Request-URI is the 2xx's Contact, its Route set the 2xx's Record-Route, its From, To
//! and Call-ID those of the 2xx, its CSeq number the 2xx's. So nearly every byte of it is in
//! the 2xx already: the recipe is a list of slices of the 2xx's lines and the few literal
//! bytes that are not (our Via branch, `Max-Forwards`, the CSeq method, `Content-Length`).
//! It is kept only when it rebuilds the ACK byte for byte from the 2xx it answered, and a
//! rebuild from a retransmission is sent only when it gives those same bytes again (a 64-bit
//! check of them): a retransmitted 2xx carries the same bytes (§13.3.1.4 retransmits the
//! response; proxies forward it unchanged, §16.7), so the peer gets the very same ACK.

use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;

/// More lines than this in a 2xx are not looked into (a slice names its line in one byte).
const MAX_LINES: usize = 255;
/// A shorter common prefix is written as literal bytes.
const MIN_PREFIX: usize = 8;

/// Starts the next line (written as CRLF before every line but the first).
const END_OF_LINE: u8 = 0;
/// Line index, start, length: part of a line of the 2xx.
const SLICE: u8 = 1;
/// Line index: a whole line of the 2xx.
const LINE: u8 = 2;
/// Length, bytes.
const LITERAL: u8 = 3;
/// `WORD + i`: [`WORDS`]`[i]`.
const WORD: u8 = 0x10;
/// What every ACK calltrack builds has and no 2xx does (`sip::dialog::Dialog::request`).
const WORDS: [&[u8]; 7] = [
    b"ACK ",
    b" SIP/2.0",
    b"Route: ",
    b"ACK",
    b"Max-Forwards: 70",
    b"Content-Length: 0",
    b";rport",
];

/// How to rebuild an ACK from the 2xx it acknowledges: a little program of slices of the
/// 2xx's lines, common words and literals in one buffer, and a check of the bytes it must
/// give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AckRecipe {
    program: Box<[u8]>,
    check: u64,
}

impl AckRecipe {
    /// The recipe for `ack` against `response`, when it rebuilds `ack` exactly.
    pub(crate) fn of(ack: &[u8], response: &[u8]) -> Option<AckRecipe> {
        let lines = lines_of(response);
        let mut program = Vec::with_capacity(ack.len() / 2);
        for line in split_crlf(ack) {
            program.push(END_OF_LINE);
            write_line(&mut program, line, &lines)?;
        }
        let recipe = AckRecipe {
            program: program.into_boxed_slice(),
            check: check(ack),
        };
        (recipe.run(response).as_deref() == Some(ack)).then_some(recipe)
    }

    /// The ACK rebuilt from `response` (a retransmission of the 2xx), when it gives the bytes
    /// the recipe was made from.
    pub(crate) fn rebuild(&self, response: &[u8]) -> Option<Bytes> {
        let ack = self.run(response)?;
        (check(&ack) == self.check).then(|| Bytes::from(ack))
    }

    fn run(&self, response: &[u8]) -> Option<Vec<u8>> {
        let lines = lines_of(response);
        let mut out = Vec::with_capacity(self.program.len() * 4);
        let mut program = self.program.iter().copied();
        let mut first = true;
        while let Some(op) = program.next() {
            match op {
                END_OF_LINE if first => first = false,
                END_OF_LINE => out.extend_from_slice(b"\r\n"),
                SLICE => {
                    let line = lines.get(usize::from(program.next()?))?;
                    let start = read_varint(&mut program)?;
                    let len = read_varint(&mut program)?;
                    out.extend_from_slice(line.get(start..start.checked_add(len)?)?);
                }
                LINE => out.extend_from_slice(lines.get(usize::from(program.next()?))?),
                LITERAL => {
                    let len = read_varint(&mut program)?;
                    for _ in 0..len {
                        out.push(program.next()?);
                    }
                }
                word => out.extend_from_slice(WORDS.get(usize::from(word.checked_sub(WORD)?))?),
            }
        }
        Some(out)
    }
}

/// `bytes` split at every CRLF (joined with CRLF again, they give `bytes` back).
fn split_crlf(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                rest = Some(&text[at + 2..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The lines of a 2xx, at most [`MAX_LINES`].
fn lines_of(message: &[u8]) -> Vec<&[u8]> {
    split_crlf(message).take(MAX_LINES).collect()
}

/// Writes one ACK line: a common word, a whole 2xx line, or the longest piece found in the
/// 2xx (its value, or a common prefix) as a slice with the rest around it.
fn write_line(program: &mut Vec<u8>, line: &[u8], lines: &[&[u8]]) -> Option<()> {
    if line.is_empty() || write_word(program, line) {
        return Some(());
    }
    if let Some(index) = lines.iter().position(|l| *l == line) {
        program.extend_from_slice(&[LINE, u8::try_from(index).ok()?]);
        return Some(());
    }
    let Some((index, start, at, len)) = best_piece(line, lines) else {
        return write_literal(program, line);
    };
    write_literal(program, &line[..at])?;
    program.extend_from_slice(&[SLICE, u8::try_from(index).ok()?]);
    write_varint(program, start);
    write_varint(program, len);
    write_literal(program, &line[at + len..])
}

fn write_word(program: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let Some(i) = WORDS.iter().position(|w| *w == bytes) else {
        return false;
    };
    program.push(WORD + i as u8);
    true
}

fn write_literal(program: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
    if bytes.is_empty() || write_word(program, bytes) {
        return Some(());
    }
    program.push(LITERAL);
    write_varint(program, bytes.len());
    program.extend_from_slice(bytes);
    Some(())
}

/// LEB128: seven bits a byte, low first.
fn write_varint(program: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        program.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    program.push(n as u8);
}

fn read_varint(program: &mut impl Iterator<Item = u8>) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let b = program.next()?;
        n |= usize::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// The best piece of `line` found in a 2xx line: (2xx line, start there, start in `line`,
/// length). Tried: the value after `Name: ` or the Request-URI, found anywhere in a 2xx line
/// (a Route in a Record-Route, the Request-URI in the Contact); the longest common prefix
/// with a 2xx line (our Via up to its branch, `CSeq: 102 `).
fn best_piece(line: &[u8], lines: &[&[u8]]) -> Option<(usize, usize, usize, usize)> {
    let value = value_of(line).and_then(|(at, value)| {
        let (index, start) = find_in(lines, value)?;
        Some((index, start, at, value.len()))
    });
    let prefix = lines
        .iter()
        .enumerate()
        .map(|(index, l)| (index, common_prefix(l, line)))
        .max_by_key(|&(_, len)| len)
        .filter(|&(_, len)| len >= MIN_PREFIX)
        .map(|(index, len)| (index, 0, 0, len));
    match (value, prefix) {
        (Some(v), Some(p)) => Some(if v.3 >= p.3 { v } else { p }),
        (v, p) => v.or(p),
    }
}

/// Where the interesting value of a line starts, and the value: after `Name: ` for a header
/// (to the end of the line), or the Request-URI of a request line.
fn value_of(line: &[u8]) -> Option<(usize, &[u8])> {
    if let Some(colon) = line.windows(2).position(|w| w == b": ") {
        let at = colon + 2;
        return Some((at, &line[at..]));
    }
    let first = line.iter().position(|&b| b == b' ')? + 1;
    let len = line[first..].iter().position(|&b| b == b' ')?;
    Some((first, &line[first..first + len]))
}

fn find_in(lines: &[&[u8]], value: &[u8]) -> Option<(usize, usize)> {
    if value.len() < MIN_PREFIX {
        return None;
    }
    let first = value[0];
    lines.iter().enumerate().find_map(|(index, l)| {
        let mut windows = l.windows(value.len());
        let start = windows.position(|w| w[0] == first && w == value)?;
        Some((index, start))
    })
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn check(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv;rport=5060;received=192.0.2.10\r\n\
Record-Route: <sip:192.0.2.9;lr>\r\nFrom: <sip:a@192.0.2.10>;tag=f1\r\n\
To: <sip:101@192.0.2.20>;tag=t1\r\nCall-ID: c1@calltrack\r\nCSeq: 7 INVITE\r\n\
Contact: <sip:101@192.0.2.20:5062>\r\nContent-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    const ACK: &[u8] = b"ACK sip:101@192.0.2.20:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack;rport\r\nRoute: <sip:192.0.2.9;lr>\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@192.0.2.10>;tag=f1\r\nTo: <sip:101@192.0.2.20>;tag=t1\r\n\
Call-ID: c1@calltrack\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn an_ack_built_from_its_2xx_is_a_short_recipe_that_rebuilds_it() {
        let recipe = AckRecipe::of(ACK, OK).unwrap();
        assert!(
            recipe.program.len() * 4 < ACK.len(),
            "{} bytes for a {}-byte ACK",
            recipe.program.len(),
            ACK.len()
        );
        assert_eq!(recipe.rebuild(OK).as_deref(), Some(ACK));
    }

    #[test]
    fn a_2xx_with_other_bytes_rebuilds_nothing() {
        let recipe = AckRecipe::of(ACK, OK).unwrap();
        let other = String::from_utf8_lossy(OK).replace("tag=t1", "tag=t2");
        assert_eq!(recipe.rebuild(other.as_bytes()), None);
        assert_eq!(recipe.rebuild(b""), None);
    }

    #[test]
    fn anything_rebuilds_exactly_even_with_nothing_in_common() {
        for ack in [&b""[..], b"\r\n", b"x\ny\r\n\r\nbody", ACK] {
            let recipe = AckRecipe::of(ack, b"SIP/2.0 200 OK\r\n\r\n").unwrap();
            assert_eq!(
                recipe.rebuild(b"SIP/2.0 200 OK\r\n\r\n").as_deref(),
                Some(ack)
            );
        }
    }
}
