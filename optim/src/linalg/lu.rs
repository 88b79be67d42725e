//! LU factorisation with partial pivoting: `P A = L U` (Golub & Van Loan, *Matrix Computations*, 4th ed.,
//! Algorithm 3.4.1), for square systems `A x = b`.

use wengert_autodiff::Float;

use super::{check_len, DenseMatrix, LinalgError};

/// The factors of `P A = L U`: unit lower `L` and upper `U` stored together, and the row permutation.
#[derive(Clone, Debug)]
pub struct Lu<T> {
    lu: DenseMatrix<T>,
    perm: Vec<usize>,
    sign: T,
}

impl<T: Float> Lu<T> {
    /// Factors the square matrix `a`, choosing the largest pivot in each column.
    ///
    /// # Errors
    /// [`LinalgError::DimensionMismatch`] if `a` is not square; [`LinalgError::Singular`] if a column has
    /// no non-zero pivot.
    pub fn factor(a: &DenseMatrix<T>) -> Result<Self, LinalgError> {
        let n = a.rows();
        check_len(n, a.cols())?;
        let mut lu = a.clone();
        let mut perm: Vec<usize> = (0..n).collect();
        let mut sign = T::ONE;
        for k in 0..n {
            let p = (k..n).max_by(|&i, &j| lu[(i, k)].abs().partial_cmp(&lu[(j, k)].abs()).unwrap()).unwrap();
            if lu[(p, k)] == T::ZERO || !lu[(p, k)].is_finite() {
                return Err(LinalgError::Singular { index: k });
            }
            if p != k {
                for j in 0..n {
                    let t = lu[(k, j)];
                    lu[(k, j)] = lu[(p, j)];
                    lu[(p, j)] = t;
                }
                perm.swap(k, p);
                sign = -sign;
            }
            let pivot = lu[(k, k)];
            for i in k + 1..n {
                let l = lu[(i, k)] / pivot;
                lu[(i, k)] = l;
                for j in k + 1..n {
                    let u = lu[(k, j)];
                    lu[(i, j)] -= l * u;
                }
            }
        }
        Ok(Lu { lu, perm, sign })
    }

    /// Solves `A x = b` by forward and back substitution.
    ///
    /// # Panics
    /// If `b` has the wrong length.
    pub fn solve(&self, b: &[T]) -> Vec<T> {
        let n = self.lu.rows();
        assert_eq!(b.len(), n, "Lu::solve: right-hand side length");
        let mut x: Vec<T> = self.perm.iter().map(|&p| b[p]).collect();
        for i in 0..n {
            for j in 0..i {
                let t = self.lu[(i, j)] * x[j];
                x[i] -= t;
            }
        }
        for i in (0..n).rev() {
            for j in i + 1..n {
                let t = self.lu[(i, j)] * x[j];
                x[i] -= t;
            }
            x[i] /= self.lu[(i, i)];
        }
        x
    }

    /// `det A = sign(P) prod_i U_ii`.
    pub fn determinant(&self) -> T {
        (0..self.lu.rows()).fold(self.sign, |d, i| d * self.lu[(i, i)])
    }
}
