//! Cholesky factorisation `A = L L^T` of a symmetric positive definite matrix, and solves with it
//! (Golub & Van Loan, *Matrix Computations*, 4th ed., Algorithm 4.2.1). Newton's method solves its system
//! this way: an inverse is never formed.

use wengert_autodiff::Float;

use super::{check_len, DenseMatrix, LinalgError};

/// The lower-triangular factor `L` of `A = L L^T`.
#[derive(Clone, Debug)]
pub struct Cholesky<T> {
    l: DenseMatrix<T>,
}

impl<T: Float> Cholesky<T> {
    /// Factors `a` (only its lower triangle is read).
    ///
    /// # Errors
    /// [`LinalgError::DimensionMismatch`] if `a` is not square; [`LinalgError::NotPositiveDefinite`] at the
    /// first pivot that is not positive (or not finite).
    pub fn factor(a: &DenseMatrix<T>) -> Result<Self, LinalgError> {
        let n = a.rows();
        check_len(n, a.cols())?;
        let mut l = DenseMatrix::zeros(n, n);
        for j in 0..n {
            let mut d = a[(j, j)];
            for k in 0..j {
                d -= l[(j, k)] * l[(j, k)];
            }
            if d <= T::ZERO || !d.is_finite() {
                return Err(LinalgError::NotPositiveDefinite { index: j });
            }
            let d = d.sqrt();
            l[(j, j)] = d;
            for i in j + 1..n {
                let mut s = a[(i, j)];
                for k in 0..j {
                    s -= l[(i, k)] * l[(j, k)];
                }
                l[(i, j)] = s / d;
            }
        }
        Ok(Cholesky { l })
    }

    /// The factor `L`.
    pub fn l(&self) -> &DenseMatrix<T> {
        &self.l
    }

    /// Solves `A x = b`: `L y = b`, then `L^T x = y`.
    ///
    /// # Panics
    /// If `b` has the wrong length.
    pub fn solve(&self, b: &[T]) -> Vec<T> {
        let n = self.l.rows();
        assert_eq!(b.len(), n, "Cholesky::solve: right-hand side length");
        let mut x = b.to_vec();
        for i in 0..n {
            for k in 0..i {
                let t = self.l[(i, k)] * x[k];
                x[i] -= t;
            }
            x[i] /= self.l[(i, i)];
        }
        for i in (0..n).rev() {
            for k in i + 1..n {
                let t = self.l[(k, i)] * x[k];
                x[i] -= t;
            }
            x[i] /= self.l[(i, i)];
        }
        x
    }
}
