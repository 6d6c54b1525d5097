//! G.711 µ-law (PCMU, payload type 0) and A-law (PCMA, 8) to 16-bit linear PCM (ITU-T G.711,
//! as in the reference `g711.c` of Sun Microsystems that most stacks carry).

const SIGN_BIT: u8 = 0x80;
const QUANT_MASK: u8 = 0x0f;
const SEG_MASK: u8 = 0x70;
const SEG_SHIFT: u8 = 4;
const BIAS: i32 = 0x84;

/// One µ-law byte as a linear sample.
pub fn ulaw(byte: u8) -> i16 {
    let u = !byte;
    let t = ((i32::from(u & QUANT_MASK) << 3) + BIAS) << ((u & SEG_MASK) >> SEG_SHIFT);
    let linear = if u & SIGN_BIT != 0 {
        BIAS - t
    } else {
        t - BIAS
    };
    clamp(linear)
}

/// One A-law byte as a linear sample.
pub fn alaw(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = i32::from(a & QUANT_MASK) << 4;
    match (a & SEG_MASK) >> SEG_SHIFT {
        0 => t += 8,
        1 => t += 0x108,
        seg => t = (t + 0x108) << (seg - 1),
    }
    clamp(if a & SIGN_BIT != 0 { t } else { -t })
}

fn clamp(v: i32) -> i16 {
    i16::try_from(v.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or_default()
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
    fn decoding_is_monotonic_within_a_sign() {
        let positive: Vec<i16> = (0x80..=0xffu8).rev().map(ulaw).collect();
        assert!(positive.windows(2).all(|w| w[0] <= w[1]));
    }
}
