//! Conjugate gradient for symmetric positive definite systems `A x = b`, matrix-free, with an optional
//! Jacobi (diagonal) preconditioner.
//!
//! Preconditioned CG (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 5.3) with `M = diag(A)`:
//!
//! ```text
//! r = b - A x,  z = M^-1 r,  p = z
//! repeat: alpha = r^T z / p^T A p;  x += alpha p;  r -= alpha A p;
//!         z' = M^-1 r;  beta = r'^T z' / r^T z;  p = z' + beta p
//! ```
//!
//! In exact arithmetic CG terminates in at most `n` iterations. Stops when `||r|| <= max(rtol ||b||, atol)`.

use wengert_autodiff::Float;

use super::{axpy, check_len, dot, norm, LinOp, LinalgError, SolveReport};

/// Settings of [`solve`] and [`solve_preconditioned`].
#[derive(Clone, Debug, PartialEq)]
pub struct CgConfig {
    /// Relative residual tolerance `||r|| <= rtol ||b||`. Default `1e-10`.
    pub rtol: f64,
    /// Absolute residual tolerance. Default `0`.
    pub atol: f64,
    /// Iteration budget; `None` means `10 n` (as scipy.sparse.linalg.cg).
    pub max_iter: Option<usize>,
}

impl Default for CgConfig {
    fn default() -> Self {
        CgConfig { rtol: 1e-10, atol: 0.0, max_iter: None }
    }
}

/// Solves `A x = b` by CG, starting from the `x` given (use zeros if you have no guess).
///
/// # Errors
/// [`LinalgError::DimensionMismatch`] on wrong lengths; [`LinalgError::NotPositiveDefinite`] if a search
/// direction with `p^T A p <= 0` is met.
pub fn solve<T: Float, O: LinOp<T> + ?Sized>(
    a: &O,
    b: &[T],
    x: &mut [T],
    config: &CgConfig,
) -> Result<SolveReport<T>, LinalgError> {
    run(a, b, x, None, config)
}

/// Solves `A x = b` by CG preconditioned with `M = diag(A)` (Jacobi); `diag` holds `A_ii`, all positive.
///
/// # Errors
/// As [`solve`]; [`LinalgError::ZeroDiagonal`] if an entry of `diag` is not positive.
pub fn solve_preconditioned<T: Float, O: LinOp<T> + ?Sized>(
    a: &O,
    b: &[T],
    x: &mut [T],
    diag: &[T],
    config: &CgConfig,
) -> Result<SolveReport<T>, LinalgError> {
    check_len(a.dim(), diag.len())?;
    if let Some(row) = diag.iter().position(|&d| d <= T::ZERO || !d.is_finite()) {
        return Err(LinalgError::ZeroDiagonal { row });
    }
    let inv: Vec<T> = diag.iter().map(|&d| T::ONE / d).collect();
    run(a, b, x, Some(&inv), config)
}

fn run<T: Float, O: LinOp<T> + ?Sized>(
    a: &O,
    b: &[T],
    x: &mut [T],
    inv_diag: Option<&[T]>,
    config: &CgConfig,
) -> Result<SolveReport<T>, LinalgError> {
    let n = a.dim();
    check_len(n, b.len())?;
    check_len(n, x.len())?;
    let max_iter = config.max_iter.unwrap_or(10 * n.max(1));
    let tol = (T::from_f64(config.rtol) * norm(b)).max(T::from_f64(config.atol));
    let mut r = vec![T::ZERO; n];
    a.apply(x, &mut r);
    for (ri, &bi) in r.iter_mut().zip(b) {
        *ri = bi - *ri;
    }
    let precondition = |r: &[T], z: &mut [T]| match inv_diag {
        Some(m) => z.iter_mut().zip(r.iter().zip(m)).for_each(|(zi, (&ri, &mi))| *zi = ri * mi),
        None => z.copy_from_slice(r),
    };
    let mut z = vec![T::ZERO; n];
    precondition(&r, &mut z);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let mut ap = vec![T::ZERO; n];
    let mut rnorm = norm(&r);
    let mut it = 0;
    while rnorm > tol && it < max_iter {
        a.apply(&p, &mut ap);
        let curv = dot(&p, &ap);
        if curv <= T::ZERO || !curv.is_finite() {
            return Err(LinalgError::NotPositiveDefinite { index: it });
        }
        let alpha = rz / curv;
        axpy(alpha, &p, x);
        axpy(-alpha, &ap, &mut r);
        precondition(&r, &mut z);
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        for (pi, &zi) in p.iter_mut().zip(&z) {
            *pi = zi + beta * *pi;
        }
        rnorm = norm(&r);
        it += 1;
    }
    Ok(SolveReport { iterations: it, residual_norm: rnorm, converged: rnorm <= tol })
}
