//! The Jacobi iteration for `A x = b`: `x_{k+1} = D^-1 (b - (A - D) x_k)`, `D = diag(A)`.
//!
//! Converges for strictly diagonally dominant `A` (and more generally when the spectral radius of
//! `D^-1 (A - D)` is below one); see Golub & Van Loan, *Matrix Computations*, 4th ed., §11.2.

use wengert_autodiff::Float;

use super::{check_len, norm, DenseMatrix, LinalgError, SolveReport};

/// Settings of the stationary iterations ([`solve`] here and [`super::gauss_seidel::solve`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StationaryConfig {
    /// Stop when `||b - A x|| <= rtol ||b||`. Default `1e-10`.
    pub rtol: f64,
    /// Iteration budget. Default `10_000`.
    pub max_iter: usize,
}

impl Default for StationaryConfig {
    fn default() -> Self {
        StationaryConfig { rtol: 1e-10, max_iter: 10_000 }
    }
}

/// Solves `A x = b` by Jacobi iteration from the `x` given.
///
/// # Errors
/// [`LinalgError::DimensionMismatch`] if `A` is not square or lengths differ; [`LinalgError::ZeroDiagonal`].
pub fn solve<T: Float>(
    a: &DenseMatrix<T>,
    b: &[T],
    x: &mut [T],
    config: &StationaryConfig,
) -> Result<SolveReport<T>, LinalgError> {
    let n = a.rows();
    check_len(n, a.cols())?;
    check_len(n, b.len())?;
    check_len(n, x.len())?;
    if let Some(row) = (0..n).find(|&i| a[(i, i)] == T::ZERO) {
        return Err(LinalgError::ZeroDiagonal { row });
    }
    let tol = T::from_f64(config.rtol) * norm(b);
    let mut next = vec![T::ZERO; n];
    let mut res = residual_norm(a, b, x);
    let mut it = 0;
    while res > tol && it < config.max_iter {
        for i in 0..n {
            let off: T = a
                .row(i)
                .iter()
                .zip(x.iter())
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (&aij, &xj))| aij * xj)
                .sum();
            next[i] = (b[i] - off) / a[(i, i)];
        }
        x.copy_from_slice(&next);
        res = residual_norm(a, b, x);
        it += 1;
    }
    Ok(SolveReport { iterations: it, residual_norm: res, converged: res <= tol })
}

pub(crate) fn residual_norm<T: Float>(a: &DenseMatrix<T>, b: &[T], x: &[T]) -> T {
    let ax = a.matvec(x);
    let r: Vec<T> = b.iter().zip(&ax).map(|(&bi, &yi)| bi - yi).collect();
    norm(&r)
}
