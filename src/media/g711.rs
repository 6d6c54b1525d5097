//! G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, 8) to and from 16-bit linear PCM
//! (ITU-T G.711, as in the reference `g711.c` of Sun Microsystems that most stacks carry).

const SIGN_BIT: u8 = 0x80;
const QUANT_MASK: u8 = 0x0f;
const SEG_MASK: u8 = 0x70;
const SEG_SHIFT: u8 = 4;
const BIAS: i32 = 0x84;

/// One µ-law byte as a linear sample (a table made at compile time: the recorder decodes
/// every byte it records).
pub fn ulaw(byte: u8) -> i16 {
    ULAW[usize::from(byte)]
}

/// One A-law byte as a linear sample (a table made at compile time).
pub fn alaw(byte: u8) -> i16 {
    ALAW[usize::from(byte)]
}

/// Every µ-law byte's sample, indexed by the byte.
pub static ULAW: [i16; 256] = table(false);
/// Every A-law byte's sample, indexed by the byte.
pub static ALAW: [i16; 256] = table(true);

/// Every byte's sample, A-law or µ-law.
pub(super) const fn table(alaw: bool) -> [i16; 256] {
    let mut out = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        out[i] = if alaw {
            alaw_decode(i as u8)
        } else {
            ulaw_decode(i as u8)
        };
        i += 1;
    }
    out
}

/// The reference µ-law expansion (`ulaw2linear`).
const fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let t = (((u & QUANT_MASK) as i32) << 3) + BIAS;
    let t = t << ((u & SEG_MASK) >> SEG_SHIFT);
    let linear = if u & SIGN_BIT != 0 {
        BIAS - t
    } else {
        t - BIAS
    };
    clamp(linear)
}

/// The reference A-law expansion (`alaw2linear`).
const fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & QUANT_MASK) as i32) << 4;
    match (a & SEG_MASK) >> SEG_SHIFT {
        0 => t += 8,
        1 => t += 0x108,
        seg => t = (t + 0x108) << (seg - 1),
    }
    clamp(if a & SIGN_BIT != 0 { t } else { -t })
}

/// Upper bounds of the eight segments of the encoders (`seg_end` of the reference).
const SEG_END_ULAW: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
const SEG_END_ALAW: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
const ULAW_CLIP: i32 = 8159;

/// One linear sample as a µ-law byte (`linear2ulaw` of the reference).
pub fn encode_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 2;
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7f
    } else {
        0xff
    };
    pcm = pcm.min(ULAW_CLIP) + (BIAS >> 2);
    let byte = match segment(pcm, &SEG_END_ULAW) {
        Some(seg) => (seg << 4) | low_nibble(pcm >> (seg + 1)),
        None => 0x7f,
    };
    byte ^ mask
}

/// One linear sample as an A-law byte (`linear2alaw` of the reference).
pub fn encode_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xd5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let byte = match segment(pcm, &SEG_END_ALAW) {
        Some(0) => low_nibble(pcm >> 1),
        Some(seg) => (seg << 4) | low_nibble(pcm >> seg),
        None => 0x7f,
    };
    byte ^ mask
}

/// The segment whose upper bound holds `value`, `None` past the last one.
fn segment(value: i32, ends: &[i32; 8]) -> Option<u8> {
    let seg = ends.iter().position(|&end| value <= end)?;
    u8::try_from(seg).ok()
}

fn low_nibble(v: i32) -> u8 {
    u8::try_from(v & i32::from(QUANT_MASK)).unwrap_or_default()
}

const fn clamp(v: i32) -> i16 {
    if v > i16::MAX as i32 {
        i16::MAX
    } else if v < i16::MIN as i32 {
        i16::MIN
    } else {
        v as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_extremes_decode_as_the_reference_does() {
        assert_eq!(ulaw(0xff), 0);
        assert_eq!(ulaw(0x7f), 0);
        assert_eq!(ulaw(0x00), -32124);
        assert_eq!(ulaw(0x80), 32124);
        assert_eq!(alaw(0xd5), 8);
        assert_eq!(alaw(0x55), -8);
        assert_eq!(alaw(0xaa), 32256);
        assert_eq!(alaw(0x2a), -32256);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for byte in 0..=u8::MAX {
            // µ-law has two zeros (0x7f and 0xff): both decode to 0, which encodes as 0xff.
            let expected = if byte == 0x7f { 0xff } else { byte };
            assert_eq!(encode_ulaw(ulaw(byte)), expected, "µ-law {byte:#04x}");
            assert_eq!(encode_alaw(alaw(byte)), byte, "A-law {byte:#04x}");
        }
    }

    #[test]
    fn encoding_then_decoding_stays_within_the_quantisation_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let s = i32::from(sample);
            // The step of the top segment is 1024 (µ-law) and 512 (A-law) in 16-bit units.
            assert!(
                (i32::from(ulaw(encode_ulaw(sample))) - s).abs() <= 1024,
                "{sample}"
            );
            assert!(
                (i32::from(alaw(encode_alaw(sample))) - s).abs() <= 1024,
                "{sample}"
            );
            let small = s.clamp(-1000, 1000);
            let small16 = i16::try_from(small).unwrap_or_default();
            assert!((i32::from(ulaw(encode_ulaw(small16))) - small).abs() <= 36);
            assert!((i32::from(alaw(encode_alaw(small16))) - small).abs() <= 36);
        }
        assert_eq!(encode_ulaw(0), 0xff);
        assert_eq!(encode_alaw(0), 0xd5);
    }

    #[test]
    fn decoding_is_monotonic_within_a_sign() {
        let positive: Vec<i16> = (0x80..=0xffu8).rev().map(ulaw).collect();
        assert!(positive.windows(2).all(|w| w[0] <= w[1]));
    }
}
