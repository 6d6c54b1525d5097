//! An estimated MOS (mean opinion score, 1-4.5) for G.711 from the ITU-T G.107 E-model, in
//! the simplified form used for VoIP monitoring (Cole & Rosenbluth, "Voice over IP
//! performance monitoring", 2001):
//!
//! ```text
//! R   = 93.2 − Id − Ie,eff                       (R0 − Is with G.107's default values, A = 0)
//! Id  = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)  (d: one-way mouth-to-ear delay, ms; H: step)
//! Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl)          (G.107 §7.4, Ie = 0 for G.711)
//! MOS = 1                                       for R ≤ 0
//!     = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶ for 0 < R < 100   (G.107 Annex B)
//!     = 4.5                                     for R ≥ 100
//! ```
//!
//! Inputs: `Ppl`, the packet-loss percentage; `Bpl`, the codec's robustness to loss from
//! ITU-T G.113 Appendix I: 4.3 for G.711 without packet-loss concealment, 25.1 with the
//! G.711 Appendix I PLC; `BurstR = 1` (random loss: the relay sees counts, not burst
//! lengths); and `d = RTT/2 + jitter-buffer allowance`, the allowance being twice the
//! interarrival jitter and at least one 20 ms packet.
//!
//! Limits: it is an estimate for planning, not a listening test (ITU-T P.800) nor a
//! perceptual measure of the audio (P.862 PESQ, P.863 POLQA); it knows nothing of echo,
//! noise, level or the endpoints' own jitter buffers and PLC beyond the `Bpl` chosen; losses
//! are assumed random (bursty loss sounds worse than this says); without a round-trip
//! measurement (no RTCP) the network delay counts as zero, so the score is an upper bound;
//! other codecs need their own `Ie` and `Bpl` (not modelled: the CDR leaves MOS empty for
//! them).

use std::time::Duration;

/// R0 − Is with G.107's default values (the R of a perfect narrowband G.711 call).
pub const R_DEFAULT: f64 = 93.2;
/// G.113 Appendix I `Bpl` for G.711 with packet-loss concealment (G.711 Appendix I).
pub const BPL_G711_PLC: f64 = 25.1;
/// G.113 Appendix I `Bpl` for G.711 without packet-loss concealment.
pub const BPL_G711: f64 = 4.3;
/// The jitter-buffer allowance never falls below one 20 ms packet.
const MIN_JITTER_BUFFER: Duration = Duration::from_millis(20);

/// What the E-model needs about one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MosInputs {
    /// Packets lost, percent of those expected (0-100).
    pub loss_percent: f64,
    /// Interarrival jitter (RFC 3550 §6.4.1).
    pub jitter: Duration,
    /// Round trip between the endpoints, if measured.
    pub rtt: Option<Duration>,
    /// The receiver conceals losses (G.711 Appendix I PLC).
    pub plc: bool,
}

impl MosInputs {
    /// `d`: RTT/2 plus the jitter-buffer allowance (2 × jitter, at least 20 ms), in ms.
    pub fn one_way_delay_ms(&self) -> f64 {
        let network = self.rtt.unwrap_or_default() / 2;
        let buffer = (self.jitter * 2).max(MIN_JITTER_BUFFER);
        (network + buffer).as_secs_f64() * 1000.0
    }
}

/// The delay impairment `Id` for a one-way delay of `d_ms`.
pub fn delay_impairment(d_ms: f64) -> f64 {
    let d = d_ms.max(0.0);
    let over = (d - 177.3).max(0.0);
    0.024 * d + 0.11 * over
}

/// The effective equipment impairment `Ie,eff` of G.711 (Ie = 0) at `loss_percent`.
pub fn loss_impairment(loss_percent: f64, bpl: f64) -> f64 {
    let ppl = loss_percent.clamp(0.0, 100.0);
    95.0 * ppl / (ppl + bpl)
}

/// The transmission rating R of a G.711 direction.
pub fn r_factor(inputs: &MosInputs) -> f64 {
    let bpl = if inputs.plc { BPL_G711_PLC } else { BPL_G711 };
    R_DEFAULT
        - delay_impairment(inputs.one_way_delay_ms())
        - loss_impairment(inputs.loss_percent, bpl)
}

/// G.107 Annex B: R to the estimated MOS (conversational quality, 1-4.5).
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    }
}

/// The estimated MOS of a G.711 direction.
pub fn estimate(inputs: &MosInputs) -> f64 {
    mos_from_r(r_factor(inputs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.005
    }

    #[test]
    fn r_to_mos_matches_published_points() {
        // G.107 Annex B / G.109 user-satisfaction boundaries.
        for (r, mos) in [
            (93.2, 4.41),
            (90.0, 4.339),
            (80.0, 4.024),
            (70.0, 3.597),
            (60.0, 3.10),
            (50.0, 2.575),
        ] {
            assert!(close(mos_from_r(r), mos), "R={r}: {}", mos_from_r(r));
        }
        assert_eq!(mos_from_r(0.0), 1.0);
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(f64::NAN), 1.0);
        assert_eq!(mos_from_r(100.0), 4.5);
        assert_eq!(mos_from_r(120.0), 4.5);
    }

    #[test]
    fn a_clean_short_call_scores_near_the_g711_ceiling() {
        let clean = MosInputs {
            loss_percent: 0.0,
            jitter: Duration::ZERO,
            rtt: None,
            plc: true,
        };
        // d = 20 ms of jitter buffer: Id = 0.48.
        assert!(close(r_factor(&clean), 92.72), "{}", r_factor(&clean));
        assert!(close(estimate(&clean), 4.40), "{}", estimate(&clean));
    }

    #[test]
    fn loss_hurts_more_without_concealment() {
        let five = |plc| MosInputs {
            loss_percent: 5.0,
            jitter: Duration::ZERO,
            rtt: None,
            plc,
        };
        // Ie,eff = 95·5/(5+25.1) = 15.78 with PLC; 95·5/(5+4.3) = 51.08 without.
        assert!(close(loss_impairment(5.0, BPL_G711_PLC), 15.78));
        assert!(close(loss_impairment(5.0, BPL_G711), 51.08));
        assert!(
            close(estimate(&five(true)), 3.90),
            "{}",
            estimate(&five(true))
        );
        assert!(
            close(estimate(&five(false)), 2.145),
            "{}",
            estimate(&five(false))
        );
    }

    #[test]
    fn delay_past_177_ms_costs_more() {
        assert!(close(delay_impairment(100.0), 2.4));
        assert!(close(delay_impairment(177.3), 4.2552));
        assert!(close(delay_impairment(300.0), 7.2 + 0.11 * 122.7));
        let slow = MosInputs {
            loss_percent: 0.0,
            jitter: Duration::from_millis(30),
            rtt: Some(Duration::from_millis(400)),
            plc: true,
        };
        // d = 200 + 60 = 260 ms.
        assert!(close(slow.one_way_delay_ms(), 260.0));
        assert!(estimate(&slow) < 4.2);
    }

    #[test]
    fn nonsense_inputs_stay_in_range() {
        for loss in [-10.0, 0.0, 100.0, 1e9, f64::NAN] {
            let m = estimate(&MosInputs {
                loss_percent: loss,
                jitter: Duration::from_secs(100),
                rtt: Some(Duration::from_secs(100)),
                plc: false,
            });
            assert!((1.0..=4.5).contains(&m), "{loss}: {m}");
        }
    }
}
