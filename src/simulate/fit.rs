//! Fitting the production confidence's logistic weights on the simulator's ground truth
//! (`calltrack simulate --fit-confidence`): Newton's method (iteratively reweighted least
//! squares) with a small ridge so that rare inputs stay finite.

use super::Simulation;
use super::compare::{CompareError, naive_target_size, nimbata_size, utmstat_size};
use crate::call::confidence::{FEATURES, RingFacts, SIGNS, features};

/// Ridge penalty on every weight but the constant.
const RIDGE: f64 = 1.0;
const ITERATIONS: usize = 50;

/// The weights fitted on the calibration traffic of every simulation at its model's pool
/// size, the rules of thumb's sizes and the size where naive allocation reaches 90 %, and
/// how many calls they were fitted on.
pub fn fit_models(sims: &[Simulation]) -> Result<([f64; FEATURES], usize), CompareError> {
    let mut judged = Vec::new();
    for sim in sims {
        let model = sim.model();
        let sizes = [
            model.pool.size,
            utmstat_size(model),
            nimbata_size(model),
            naive_target_size(sim)?,
        ];
        for size in sizes {
            judged.extend(sim.calibration_calls(size));
        }
    }
    Ok((fit(&judged), judged.len()))
}

/// The weights that best predict `correct` from the facts of `judged` calls (maximum
/// likelihood, ridge-penalised), each with its `SIGNS` sign: a weight that would come out
/// the wrong way round is pinned to 0 and the rest refitted. All zero without any call.
pub fn fit(judged: &[(RingFacts, bool)]) -> [f64; FEATURES] {
    let rows: Vec<([f64; FEATURES], f64)> = judged
        .iter()
        .map(|(facts, ok)| (features(facts), f64::from(u8::from(*ok))))
        .collect();
    let mut free = [true; FEATURES];
    loop {
        let w = newton(&rows, &free);
        let wrong = (0..FEATURES).find(|&i| free[i] && w[i] * SIGNS[i] < 0.0);
        match wrong {
            Some(i) => free[i] = false,
            None => return w,
        }
    }
}

/// Newton's method over the `free` weights (the others stay 0).
#[allow(clippy::needless_range_loop)] // matrix rows and columns read best by index
fn newton(rows: &[([f64; FEATURES], f64)], free: &[bool; FEATURES]) -> [f64; FEATURES] {
    let mut w = [0.0; FEATURES];
    for _ in 0..ITERATIONS {
        let (mut gradient, mut hessian) = derivatives(rows, &w);
        for i in (0..FEATURES).filter(|&i| !free[i]) {
            gradient[i] = 0.0;
            for j in 0..FEATURES {
                hessian[i][j] = f64::from(u8::from(i == j));
                hessian[j][i] = f64::from(u8::from(i == j));
            }
        }
        let Some(step) = solve(hessian, gradient) else {
            break;
        };
        let mut largest: f64 = 0.0;
        for (wi, si) in w.iter_mut().zip(step) {
            *wi += si;
            largest = largest.max(si.abs());
        }
        if largest < 1e-9 {
            break;
        }
    }
    w
}

type Matrix = [[f64; FEATURES]; FEATURES];

/// The penalised log-likelihood's gradient and the negated Hessian at `w`.
fn derivatives(rows: &[([f64; FEATURES], f64)], w: &[f64; FEATURES]) -> ([f64; FEATURES], Matrix) {
    let mut g = [0.0; FEATURES];
    let mut h = [[0.0; FEATURES]; FEATURES];
    for (x, y) in rows {
        let z: f64 = w.iter().zip(x).map(|(a, b)| a * b).sum();
        let p = 1.0 / (1.0 + (-z).exp());
        for i in 0..FEATURES {
            g[i] += (y - p) * x[i];
            for j in 0..FEATURES {
                h[i][j] += p * (1.0 - p) * x[i] * x[j];
            }
        }
    }
    for i in 1..FEATURES {
        g[i] -= RIDGE * w[i];
        h[i][i] += RIDGE;
    }
    (g, h)
}

/// Solves `a · x = b` by Gaussian elimination with partial pivoting; `None` if singular.
#[allow(clippy::needless_range_loop)] // matrix rows and columns read best by index
fn solve(mut a: Matrix, mut b: [f64; FEATURES]) -> Option<[f64; FEATURES]> {
    for col in 0..FEATURES {
        let pivot = (col..FEATURES).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..FEATURES {
            let f = a[row][col] / a[col][col];
            for k in col..FEATURES {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; FEATURES];
    for row in (0..FEATURES).rev() {
        let rest: f64 = (row + 1..FEATURES).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::confidence::{Earlier, predict_with};

    fn facts(page_open: bool, since: i64) -> RingFacts {
        RingFacts {
            pressure: 0.5,
            page_open,
            since_seen_secs: since,
            other_holders: 0,
            earlier: Earlier::Unknown,
        }
    }

    #[test]
    fn recovers_the_rates_of_two_groups() {
        // Open pages right 9 times in 10, old leases 1 in 2.
        let mut judged = Vec::new();
        for i in 0..1000 {
            judged.push((facts(true, 10), i % 10 != 0));
            judged.push((facts(false, 600), i % 2 == 0));
        }
        let w = fit(&judged);
        let open = predict_with(&w, &facts(true, 10));
        let old = predict_with(&w, &facts(false, 600));
        assert!((open - 0.9).abs() < 0.02, "open {open}");
        assert!((old - 0.5).abs() < 0.02, "old {old}");
        assert_eq!(fit(&[]), [0.0; FEATURES]);
    }

    #[test]
    fn a_weight_the_wrong_way_round_is_pinned_to_zero() {
        // Open pages right less often than closed ones: the data says the opposite of the sign.
        let mut judged = Vec::new();
        for i in 0..1000 {
            judged.push((facts(true, 600), i % 2 == 0));
            judged.push((facts(false, 600), i % 10 != 0));
        }
        let w = fit(&judged);
        assert_eq!(w[1], 0.0, "{w:?}");
        assert!(w.iter().zip(SIGNS).all(|(w, s)| w * s >= 0.0));
    }
}
