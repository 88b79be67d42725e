//! Lanczos with full reorthogonalisation: extreme eigenpairs of a symmetric operator from products `A v` only.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wengert_autodiff::Float;

use crate::linalg::{dot, LinOp};
use crate::OptimError;

/// Settings of [`top_eigenpairs`] / [`bottom_eigenpairs`].
#[derive(Clone, Debug, PartialEq)]
pub struct LanczosConfig {
    /// Largest Krylov dimension (operator products), capped at the operator's dimension `n`. Default 100
    /// (PyHessian's `maxIter` is 100 for its power iteration).
    pub max_iterations: usize,
    /// Stop when every wanted Ritz pair has residual `||A x - theta x|| = beta_m |y_m| <= tol * max|theta|`.
    /// Default `1e-10`. With `tol = 0` the iteration runs `min(max_iterations, n)` steps.
    pub tol: f64,
    /// Seed of the random (Gaussian) start vector. Default 0.
    pub seed: u64,
}

impl Default for LanczosConfig {
    fn default() -> Self {
        LanczosConfig { max_iterations: 100, tol: 1e-10, seed: 0 }
    }
}

impl LanczosConfig {
    /// `Err(InvalidConfig)` unless `max_iterations >= 1` and `tol` is finite and non-negative.
    pub fn validate(&self) -> Result<(), OptimError> {
        if self.max_iterations == 0 {
            return Err(OptimError::InvalidConfig("LanczosConfig.max_iterations must be at least 1".into()));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(OptimError::InvalidConfig(format!("LanczosConfig.tol = {} must be >= 0", self.tol)));
        }
        Ok(())
    }
}

/// Eigenpairs found by Lanczos (Ritz pairs), sorted from the requested end of the spectrum.
#[derive(Clone, Debug, PartialEq)]
pub struct Eigenpairs<T> {
    /// Ritz values `theta_i` (descending for [`top_eigenpairs`], ascending for [`bottom_eigenpairs`]).
    pub values: Vec<f64>,
    /// Unit Ritz vectors `x_i = Q y_i`, one per value.
    pub vectors: Vec<Vec<T>>,
    /// Residual norms `||A x_i - theta_i x_i|| = beta_m |e_m^T y_i|` (zero once the Krylov space is invariant).
    pub residuals: Vec<f64>,
    /// Lanczos steps (operator products) taken.
    pub iterations: usize,
}

/// The Lanczos tridiagonalisation `A Q = Q T + beta_m q_{m+1} e_m^T`, `T = tridiag(beta, alpha, beta)`.
pub(crate) struct Tridiagonal<T> {
    pub basis: Vec<Vec<T>>,
    pub alpha: Vec<f64>,
    /// `beta[j]` couples steps `j` and `j + 1`; `beta[m - 1]` is the residual coefficient (0 if invariant).
    pub beta: Vec<f64>,
}

impl<T: Float> Tridiagonal<T> {
    /// Eigen-decomposition of `T`: values ascending, `vectors[k]` the `k`-th unit eigenvector (length `m`).
    pub fn eigen(&self) -> (Vec<f64>, Vec<Vec<f64>>) {
        let m = self.alpha.len();
        let mut a = vec![0.0; m * m];
        for j in 0..m {
            a[j * m + j] = self.alpha[j];
            if j + 1 < m {
                a[j * m + j + 1] = self.beta[j];
                a[(j + 1) * m + j] = self.beta[j];
            }
        }
        symmetric_eigen(&a, m)
    }
}

/// Runs up to `steps` Lanczos steps from `start` with full reorthogonalisation (classical Gram-Schmidt twice
/// against the whole basis: Parlett, "The symmetric eigenvalue problem", ch. 13). On breakdown (an invariant
/// subspace, `beta_j ≈ 0`) it restarts with a random vector orthogonal to the basis if `restart` is given
/// (`beta_j = 0` then decouples `T`), and stops otherwise. `stop(&t)` is asked after every step.
pub(crate) fn lanczos<T: Float>(
    op: &dyn LinOp<T>,
    start: Vec<T>,
    steps: usize,
    mut restart: Option<&mut StdRng>,
    mut stop: impl FnMut(&Tridiagonal<T>) -> bool,
) -> Result<Tridiagonal<T>, OptimError> {
    let n = op.dim();
    let steps = steps.min(n);
    let mut t = Tridiagonal { basis: Vec::with_capacity(steps), alpha: Vec::new(), beta: Vec::new() };
    if n == 0 || steps == 0 {
        return Ok(t);
    }
    let Some(q0) = normalized(start) else {
        return Err(OptimError::InvalidConfig("Lanczos: the start vector is zero".into()));
    };
    t.basis.push(q0);
    let mut w = vec![T::ZERO; n];
    let mut scale: f64 = 0.0;
    for j in 0..steps {
        op.apply(&t.basis[j], &mut w);
        if w.iter().any(|x| !x.is_finite()) {
            return Err(OptimError::NonFinite { param: "Lanczos operator product".into() });
        }
        let alpha = dot(&t.basis[j], &w).to_f64();
        for _ in 0..2 {
            for q in &t.basis {
                let c = dot(q, &w);
                for (wi, &qi) in w.iter_mut().zip(q) {
                    *wi -= c * qi;
                }
            }
        }
        let beta = dot(&w, &w).to_f64().sqrt();
        scale = scale.max(alpha.abs()).max(beta);
        t.alpha.push(alpha);
        t.beta.push(beta);
        if j + 1 == steps || stop(&t) {
            break;
        }
        let tiny = 1e3 * T::EPSILON.to_f64() * scale.max(f64::MIN_POSITIVE);
        let next = if beta > tiny { normalized(w.clone()) } else { None };
        match next {
            Some(q) => t.basis.push(q),
            None => {
                t.beta[j] = 0.0;
                let Some(rng) = restart.as_deref_mut() else { break };
                let mut r: Vec<T> = (0..n).map(|_| T::from_f64(rng.random::<f64>() - 0.5)).collect();
                for _ in 0..2 {
                    for q in &t.basis {
                        let c = dot(q, &r);
                        for (ri, &qi) in r.iter_mut().zip(q) {
                            *ri -= c * qi;
                        }
                    }
                }
                match normalized(r) {
                    Some(q) => t.basis.push(q),
                    None => break,
                }
            }
        }
    }
    t.basis.truncate(t.alpha.len());
    Ok(t)
}

fn normalized<T: Float>(mut v: Vec<T>) -> Option<Vec<T>> {
    let nrm = dot(&v, &v).sqrt();
    if nrm <= T::ZERO || !nrm.is_finite() {
        return None;
    }
    for x in &mut v {
        *x /= nrm;
    }
    Some(v)
}

/// A Gaussian random start vector.
pub(crate) fn random_start<T: Float>(n: usize, rng: &mut StdRng) -> Vec<T> {
    (0..n)
        .map(|_| {
            // Box-Muller
            let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
            T::from_f64((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos())
        })
        .collect()
}

/// The `k` algebraically largest eigenvalues of a symmetric operator with their eigenvectors, by Lanczos with
/// full reorthogonalisation (Lanczos 1950; Golub & Van Loan, "Matrix Computations", 10.1): a Krylov space
/// built from a random start, `T = Q^T A Q` tridiagonal, its eigenpairs `(theta, y)` give Ritz pairs
/// `(theta, Q y)`. Extreme eigenvalues converge first, fast when they are separated. Full reorthogonalisation
/// keeps `Q` orthonormal to rounding (no ghost copies), at `O(n m)` memory; on an invariant subspace the
/// iteration restarts with a random orthogonal vector, so with `max_iterations >= n` the result is exact to
/// rounding for any spectrum.
///
/// Errors: `InvalidConfig` (a bad config, `k == 0` or `k > n`), `NonFinite` (a product with NaN or infinity).
pub fn top_eigenpairs<T: Float>(op: &dyn LinOp<T>, k: usize, cfg: &LanczosConfig) -> Result<Eigenpairs<T>, OptimError> {
    extreme(op, k, cfg, true)
}

/// The `k` algebraically smallest eigenvalues with their eigenvectors (most negative first): as
/// [`top_eigenpairs`] from the other end of the spectrum.
pub fn bottom_eigenpairs<T: Float>(
    op: &dyn LinOp<T>,
    k: usize,
    cfg: &LanczosConfig,
) -> Result<Eigenpairs<T>, OptimError> {
    extreme(op, k, cfg, false)
}

fn extreme<T: Float>(
    op: &dyn LinOp<T>,
    k: usize,
    cfg: &LanczosConfig,
    largest: bool,
) -> Result<Eigenpairs<T>, OptimError> {
    cfg.validate()?;
    let n = op.dim();
    if k == 0 || k > n {
        return Err(OptimError::InvalidConfig(format!("Lanczos: k = {k} eigenpairs of a {n}x{n} operator")));
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let start = random_start(n, &mut rng);
    let wanted = |values: &[f64]| -> Vec<usize> {
        let m = values.len();
        if largest {
            (0..m.min(k)).map(|i| m - 1 - i).collect()
        } else {
            (0..m.min(k)).collect()
        }
    };
    let tol = cfg.tol;
    let stop = |t: &Tridiagonal<T>| {
        let m = t.alpha.len();
        if tol == 0.0 || m < k || (m > 20 && !m.is_multiple_of(5)) {
            return false;
        }
        let (values, vectors) = t.eigen();
        let scale = values.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(f64::MIN_POSITIVE);
        let last = t.beta[m - 1];
        wanted(&values).into_iter().all(|i| last * vectors[i][m - 1].abs() <= tol * scale)
    };
    let t = lanczos(op, start, cfg.max_iterations, Some(&mut rng), stop)?;
    let (values, vectors) = t.eigen();
    let m = t.alpha.len();
    let last = t.beta[m - 1];
    let idx = wanted(&values);
    let mut out = Eigenpairs { values: vec![], vectors: vec![], residuals: vec![], iterations: m };
    for i in idx {
        let y = &vectors[i];
        let mut x = vec![T::ZERO; n];
        for (q, &yj) in t.basis.iter().zip(y) {
            let c = T::from_f64(yj);
            for (xi, &qi) in x.iter_mut().zip(q) {
                *xi += c * qi;
            }
        }
        out.values.push(values[i]);
        out.vectors.push(x);
        out.residuals.push(last * y[m - 1].abs());
    }
    Ok(out)
}

/// Eigen-decomposition of a small dense symmetric matrix (row-major `n x n`) by the cyclic Jacobi method
/// (Golub & Van Loan, 8.5): rotations zero the off-diagonal entries until they are below rounding. Returns the
/// eigenvalues ascending and the unit eigenvectors in the same order.
pub(crate) fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let frob: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * frob || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let vectors = order.iter().map(|&i| (0..n).map(|k| v[k * n + i]).collect()).collect();
    (values, vectors)
}
