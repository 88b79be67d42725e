//! Householder QR of an `m x n` matrix (`m >= n`), and linear least squares `min ||A x - b||` with it
//! (Golub & Van Loan, *Matrix Computations*, 4th ed., Algorithms 5.2.1 and 5.3.2): `x = R^-1 Q^T b`,
//! which avoids squaring the condition number as the normal equations `A^T A x = A^T b` do.

use wengert_autodiff::Float;

use super::{check_len, DenseMatrix, LinalgError};

/// `A = Q R` with `Q` kept as Householder vectors `v_k` (`H_k = I - beta_k v_k v_k^T`).
#[derive(Clone, Debug)]
pub struct Qr<T> {
    r: DenseMatrix<T>,
    vs: Vec<Vec<T>>,
    betas: Vec<T>,
}

impl<T: Float> Qr<T> {
    /// Factors `a` (`rows >= cols`).
    ///
    /// # Errors
    /// [`LinalgError::DimensionMismatch`] if `a` has fewer rows than columns.
    pub fn factor(a: &DenseMatrix<T>) -> Result<Self, LinalgError> {
        let (m, n) = (a.rows(), a.cols());
        if m < n {
            return Err(LinalgError::DimensionMismatch { expected: n, got: m });
        }
        let mut r = a.clone();
        let mut vs = Vec::with_capacity(n);
        let mut betas = Vec::with_capacity(n);
        for k in 0..n {
            let mut v: Vec<T> = (k..m).map(|i| r[(i, k)]).collect();
            let alpha = super::norm(&v);
            let (beta, v) = if alpha == T::ZERO {
                (T::ZERO, v)
            } else {
                // v = x + sign(x_0) ||x|| e_0 avoids cancellation.
                let s = if v[0] >= T::ZERO { T::ONE } else { -T::ONE };
                v[0] += s * alpha;
                let vv = super::dot(&v, &v);
                (T::from_f64(2.0) / vv, v)
            };
            for j in k..n {
                let s: T = (k..m).map(|i| v[i - k] * r[(i, j)]).sum::<T>() * beta;
                for i in k..m {
                    r[(i, j)] -= s * v[i - k];
                }
            }
            vs.push(v);
            betas.push(beta);
        }
        Ok(Qr { r, vs, betas })
    }

    /// The upper-triangular `n x n` block of `R`.
    pub fn r(&self) -> DenseMatrix<T> {
        let n = self.r.cols();
        DenseMatrix::from_fn(n, n, |i, j| if j >= i { self.r[(i, j)] } else { T::ZERO })
    }

    /// `Q^T b` (length `m`). Its first `n` entries are the coordinates of the projection of `b` onto the range
    /// of `A` in the basis `Q_1`, the other `m - n` those of the least-squares residual:
    /// `||b||^2 = ||(Q^T b)_{1..n}||^2 + min_x ||A x - b||^2`.
    ///
    /// # Errors
    /// [`LinalgError::DimensionMismatch`] on a wrong `b` length.
    pub fn apply_qt(&self, b: &[T]) -> Result<Vec<T>, LinalgError> {
        let m = self.r.rows();
        check_len(m, b.len())?;
        let mut qtb = b.to_vec();
        for (k, (v, &beta)) in self.vs.iter().zip(&self.betas).enumerate() {
            let s: T = (k..m).map(|i| v[i - k] * qtb[i]).sum::<T>() * beta;
            for i in k..m {
                qtb[i] -= s * v[i - k];
            }
        }
        Ok(qtb)
    }

    /// The least-squares solution of `A x ~= b`.
    ///
    /// # Errors
    /// [`LinalgError::DimensionMismatch`] on a wrong `b` length; [`LinalgError::Singular`] if `R` has a zero
    /// diagonal entry (rank-deficient `A`).
    pub fn solve_least_squares(&self, b: &[T]) -> Result<Vec<T>, LinalgError> {
        let (m, n) = (self.r.rows(), self.r.cols());
        let qtb = self.apply_qt(b)?;
        let scale = (0..n).fold(T::ZERO, |s, i| s.max(self.r[(i, i)].abs()));
        let mut x = qtb[..n].to_vec();
        for i in (0..n).rev() {
            let d = self.r[(i, i)];
            if d.abs() <= scale * T::EPSILON * T::from_usize(m.max(1)) {
                return Err(LinalgError::Singular { index: i });
            }
            for j in i + 1..n {
                let t = self.r[(i, j)] * x[j];
                x[i] -= t;
            }
            x[i] /= d;
        }
        Ok(x)
    }
}
