//! Which shard of the core owns a message: a stable hash of its Call-ID, read from the raw
//! bytes before any parsing, so the socket loops can hand each message to its shard.
//!
//! Every message of a dialog and of its transactions carries the same Call-ID (RFC 3261
//! §8.1.1.4, §12.1.1, §17.1.3: CANCEL and the ACK of a non-2xx repeat the INVITE's), so one
//! call's messages on one leg all reach one shard. calltrack draws its own B-leg Call-IDs until
//! one hashes to the shard that made it ([`crate::sip::dialog::Ids`]), so both legs of a call
//! meet in the same shard. A message without a readable Call-ID goes to shard 0, whose parser
//! answers it (400) or drops it.

/// The Call-ID header's value in a raw message head (long form `Call-ID` or compact `i`, any
/// case, RFC 3261 §7.3.3 and §20.8), trimmed; `None` when absent before the blank line.
pub fn raw_call_id(raw: &[u8]) -> Option<&[u8]> {
    let mut lines = raw.split(|b| *b == b'\n');
    lines.next()?; // the start line
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            return Some(trim(&line[colon + 1..]));
        }
    }
    None
}

/// The shard (below `shards`) that owns the raw message `raw`.
pub fn shard_of(raw: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    raw_call_id(raw).map_or(0, |id| shard_of_call_id(id, shards))
}

/// The shard (below `shards`) that owns the dialogs of Call-ID `call_id`.
pub fn shard_of_call_id(call_id: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let hash = fnv1a(call_id);
    // `shards` is small; the remainder of a 64-bit hash is as even as the hash.
    usize::try_from(hash % shards as u64).unwrap_or(0)
}

/// FNV-1a, 64 bits: stable across builds and runs (a crash-recovered call hashes as before),
/// and fast on the short strings Call-IDs are.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(PRIME))
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: abc@host \r\nCSeq: 1 INVITE\r\n\r\n";

    #[test]
    fn reads_the_long_and_the_compact_form_in_any_case() {
        assert_eq!(raw_call_id(INVITE), Some(&b"abc@host"[..]));
        let compact = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h\r\ni:abc@host\r\n\r\n";
        assert_eq!(raw_call_id(compact), Some(&b"abc@host"[..]));
        let shouted = b"BYE sip:x SIP/2.0\nCALL-ID :  abc@host\n\n";
        assert_eq!(raw_call_id(shouted), Some(&b"abc@host"[..]));
    }

    #[test]
    fn stops_at_the_end_of_the_head() {
        let in_body = b"MESSAGE sip:x SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\r\nCall-ID: body\r\n";
        assert_eq!(raw_call_id(in_body), None);
        assert_eq!(raw_call_id(b""), None);
        assert_eq!(raw_call_id(b"garbage without lines"), None);
    }

    #[test]
    fn a_header_named_like_a_prefix_is_not_the_call_id() {
        let raw = b"BYE sip:x SIP/2.0\r\nIn-Reply-To: other\r\nCall-Info: <x>\r\ni: real\r\n\r\n";
        assert_eq!(raw_call_id(raw), Some(&b"real"[..]));
    }

    #[test]
    fn every_message_of_a_call_lands_on_one_shard() {
        let ack = b"ACK sip:1@h SIP/2.0\r\ni: abc@host\r\n\r\n";
        for shards in 1..8 {
            assert_eq!(shard_of(INVITE, shards), shard_of(ack, shards));
            assert_eq!(
                shard_of(INVITE, shards),
                shard_of_call_id(b"abc@host", shards)
            );
            assert!(shard_of(INVITE, shards) < shards);
        }
        assert_eq!(shard_of(b"no call id\r\n\r\n", 4), 0);
    }

    #[test]
    fn call_ids_spread_evenly() {
        let mut counts = [0usize; 4];
        for n in 0..4000 {
            counts[shard_of_call_id(format!("{n}-1234@10.0.0.1").as_bytes(), 4)] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }
}
