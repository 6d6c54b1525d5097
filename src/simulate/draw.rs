//! Random draws for the traffic script from one seeded ChaCha stream: uniform, exponential,
//! lognormal. ChaCha8 gives the same stream for a seed on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The simulator's random source; one per purpose (traffic, naive allocation) so changing one
/// policy never shifts the traffic the other sees.
#[derive(Debug, Clone)]
pub struct Draw(ChaCha8Rng);

impl Draw {
    /// A stream for `seed`; `stream` separates independent uses of one seed.
    pub fn new(seed: u64, stream: u64) -> Draw {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Draw(rng)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n.max(1))
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Lognormal with the given median and σ (Box-Muller for the normal).
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        median * (sigma * normal).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<f64> = (0..5)
            .map({
                let mut d = Draw::new(7, 0);
                move |_| d.unit()
            })
            .collect();
        let b: Vec<f64> = (0..5)
            .map({
                let mut d = Draw::new(7, 0);
                move |_| d.unit()
            })
            .collect();
        let c: Vec<f64> = (0..5)
            .map({
                let mut d = Draw::new(7, 1);
                move |_| d.unit()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut d = Draw::new(1, 0);
        let mut v: Vec<f64> = (0..4001).map(|_| d.lognormal(100.0, 1.0)).collect();
        v.sort_by(f64::total_cmp);
        let median = v[2000];
        assert!((85.0..115.0).contains(&median), "{median}");
        assert!((0..100).all(|_| d.lognormal(50.0, 0.0) == 50.0));
    }
}
