//! Stochastic Lanczos quadrature: an estimate of the spectral density of a symmetric operator.

use rand::rngs::StdRng;
use rand::SeedableRng;
use wengert_autodiff::Float;

use super::hutchinson::rademacher;
use super::lanczos::lanczos;
use crate::linalg::LinOp;
use crate::OptimError;

/// Settings of [`spectral_density`]; defaults as PyHessian's `density(iter=100, n_v=1)` except for the probes.
#[derive(Clone, Debug, PartialEq)]
pub struct SlqConfig {
    /// Lanczos steps per probe (quadrature nodes), capped at the dimension. Default 100 (PyHessian).
    pub steps: usize,
    /// Random probes averaged. Default 4 (PyHessian: 1; more probes lower the variance of the weights).
    pub probes: usize,
    /// Seed of the Rademacher probes. Default 0.
    pub seed: u64,
}

impl Default for SlqConfig {
    fn default() -> Self {
        SlqConfig { steps: 100, probes: 4, seed: 0 }
    }
}

impl SlqConfig {
    /// `Err(InvalidConfig)` unless `steps >= 1` and `probes >= 1`.
    pub fn validate(&self) -> Result<(), OptimError> {
        if self.steps == 0 || self.probes == 0 {
            return Err(OptimError::InvalidConfig(format!(
                "SlqConfig: steps = {} and probes = {} must be at least 1",
                self.steps, self.probes
            )));
        }
        Ok(())
    }
}

/// The spectral density `phi(t) = 1/n sum_i delta(t - lambda_i)` of a symmetric `n x n` operator as a mixture of
/// Gauss quadrature rules: probe `l` gives nodes `theta_{l,i}` (Ritz values) and weights `w_{l,i}` (squared first
/// components of the eigenvectors of `T`, summing to 1) with `sum_i w_{l,i} f(theta_{l,i}) ≈ v_l^T f(A) v_l`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralDensity {
    /// Quadrature nodes per probe.
    pub nodes: Vec<Vec<f64>>,
    /// Quadrature weights per probe (each row sums to 1).
    pub weights: Vec<Vec<f64>>,
    /// `n`, the operator's dimension.
    pub dim: usize,
}

impl SpectralDensity {
    /// `1/L sum_l sum_i w_{l,i} f(theta_{l,i}) ≈ tr f(A) / n`.
    pub fn moment(&self, f: impl Fn(f64) -> f64) -> f64 {
        let l = self.nodes.len().max(1) as f64;
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(t, w)| t.iter().zip(w).map(|(&a, &b)| b * f(a)).sum::<f64>())
            .sum::<f64>()
            / l
    }

    /// The trace estimate `n * moment(t -> t)`.
    pub fn trace(&self) -> f64 {
        self.dim as f64 * self.moment(|t| t)
    }

    /// The smallest and largest node: the estimated spectral range.
    pub fn range(&self) -> (f64, f64) {
        self.nodes.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| (lo.min(t), hi.max(t)))
    }

    /// The density smoothed by a Gaussian kernel of width `sigma` (PyHessian's `density_generate`):
    /// `phi(t) = 1/L sum_l sum_i w_{l,i} exp(-(t - theta_{l,i})^2 / (2 sigma^2)) / (sigma sqrt(2 pi))`, at each
    /// point of `grid`. It integrates to 1.
    pub fn density(&self, grid: &[f64], sigma: f64) -> Vec<f64> {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        grid.iter()
            .map(|&t| self.moment(|theta| norm * (-(t - theta) * (t - theta) / (2.0 * sigma * sigma)).exp()))
            .collect()
    }
}

/// Stochastic Lanczos quadrature (Lin, Saad & Yang 2016, "Approximating spectral densities of large matrices";
/// for neural-network Hessians Ghorbani, Krishnan & Xiao 2019 and PyHessian, Yao et al. 2020): for each
/// normalised Rademacher probe `v`, `m` Lanczos steps from `v` (full reorthogonalisation) give `T = Y Θ Y^T`,
/// nodes `Θ` and weights `(e_1^T Y)^2`, the `m`-point Gauss quadrature of the measure `v^T δ(t - A) v`, exact for
/// polynomials of degree `< 2m`. Averaged over probes, `E[v^T f(A) v] = tr f(A) / n`.
///
/// Errors: `InvalidConfig`, `NonFinite` (a product with NaN or infinity).
pub fn spectral_density<T: Float>(op: &dyn LinOp<T>, cfg: &SlqConfig) -> Result<SpectralDensity, OptimError> {
    cfg.validate()?;
    let n = op.dim();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut out = SpectralDensity { nodes: vec![], weights: vec![], dim: n };
    if n == 0 {
        return Ok(out);
    }
    for _ in 0..cfg.probes {
        let v = rademacher::<T, _>(n, &mut rng);
        let t = lanczos(op, v, cfg.steps, None, |_| false)?;
        let (values, vectors) = t.eigen();
        out.weights.push(vectors.iter().map(|y| y[0] * y[0]).collect());
        out.nodes.push(values);
    }
    Ok(out)
}
