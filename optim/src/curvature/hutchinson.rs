//! Hutchinson's estimators of the trace and the diagonal of a symmetric operator, with Rademacher probes.

use rand::Rng;
use wengert_autodiff::Float;

use crate::linalg::LinOp;
use crate::OptimError;

/// An estimate with its standard error (the sample standard deviation of the per-probe values over
/// `sqrt(probes)`; itself an estimate, from the same probes).
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEstimate {
    /// `1/K sum_k z_k^T A z_k`.
    pub trace: f64,
    /// `std_k(z_k^T A z_k) / sqrt(K)`, with the `K - 1` (unbiased) variance.
    pub standard_error: f64,
    /// `K`, the number of probes (operator products).
    pub probes: usize,
}

/// A diagonal estimate with elementwise standard errors.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalEstimate {
    /// `1/K sum_k z_k ⊙ A z_k`.
    pub diagonal: Vec<f64>,
    /// `std_k(z_k ⊙ A z_k)_i / sqrt(K)` per entry.
    pub standard_error: Vec<f64>,
    /// `K`, the number of probes.
    pub probes: usize,
}

/// A Rademacher vector: entries `+1` or `-1` with probability 1/2 each.
pub fn rademacher<T: Float, R: Rng + ?Sized>(n: usize, rng: &mut R) -> Vec<T> {
    (0..n).map(|_| if rng.random::<bool>() { T::ONE } else { -T::ONE }).collect()
}

/// Hutchinson's trace estimator (Hutchinson 1990; Avron & Toledo 2011): `tr A ≈ 1/K sum_k z_k^T A z_k` with
/// Rademacher probes `z_k`, unbiased because `E[z z^T] = I`; the variance of one probe is
/// `2 (||A||_F^2 - sum_i A_ii^2)`. Used for the trace of the Hessian in PyHessian (Yao et al. 2020).
///
/// `Err(InvalidConfig)` if `probes < 2` (no standard error), `Err(NonFinite)` if a product is not finite.
pub fn hutchinson_trace<T: Float, R: Rng + ?Sized>(
    op: &dyn LinOp<T>,
    probes: usize,
    rng: &mut R,
) -> Result<TraceEstimate, OptimError> {
    check_probes(probes)?;
    let n = op.dim();
    let mut az = vec![T::ZERO; n];
    let mut values = Vec::with_capacity(probes);
    for _ in 0..probes {
        let z = rademacher::<T, R>(n, rng);
        op.apply(&z, &mut az);
        let q = crate::linalg::dot(&z, &az).to_f64();
        if !q.is_finite() {
            return Err(non_finite());
        }
        values.push(q);
    }
    let (trace, standard_error) = mean_and_se(&values);
    Ok(TraceEstimate { trace, standard_error, probes })
}

/// Hutchinson's diagonal estimator (Bekas, Kokiopoulou & Saad 2007): `diag A ≈ 1/K sum_k z_k ⊙ A z_k` with
/// Rademacher probes, unbiased; entry `i` of one probe has variance `sum_{j != i} A_ij^2`. AdaHessian and
/// Sophia-H precondition with it.
///
/// `Err(InvalidConfig)` if `probes < 2`, `Err(NonFinite)` if a product is not finite.
pub fn hutchinson_diagonal<T: Float, R: Rng + ?Sized>(
    op: &dyn LinOp<T>,
    probes: usize,
    rng: &mut R,
) -> Result<DiagonalEstimate, OptimError> {
    check_probes(probes)?;
    let n = op.dim();
    let mut az = vec![T::ZERO; n];
    let (mut sum, mut sq) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..probes {
        let z = rademacher::<T, R>(n, rng);
        op.apply(&z, &mut az);
        for i in 0..n {
            let d = (z[i] * az[i]).to_f64();
            if !d.is_finite() {
                return Err(non_finite());
            }
            sum[i] += d;
            sq[i] += d * d;
        }
    }
    let k = probes as f64;
    let diagonal: Vec<f64> = sum.iter().map(|s| s / k).collect();
    let standard_error =
        sq.iter().zip(&diagonal).map(|(q, m)| (((q - k * m * m) / (k - 1.0)).max(0.0) / k).sqrt()).collect();
    Ok(DiagonalEstimate { diagonal, standard_error, probes })
}

fn check_probes(probes: usize) -> Result<(), OptimError> {
    if probes < 2 {
        return Err(OptimError::InvalidConfig(format!("Hutchinson: probes = {probes}, need at least 2")));
    }
    Ok(())
}

fn non_finite() -> OptimError {
    OptimError::NonFinite { param: "Hutchinson probe product".into() }
}

/// Mean and standard error of the mean (unbiased variance).
pub(crate) fn mean_and_se(values: &[f64]) -> (f64, f64) {
    let k = values.len() as f64;
    let mean = values.iter().sum::<f64>() / k;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (k - 1.0).max(1.0);
    (mean, (var / k).sqrt())
}
