//! [`DenseMatrix`]: a small row-major matrix for the dense factorisations and dense Hessians.

use std::ops::{Index, IndexMut};

use wengert_autodiff::Float;

use super::LinOp;

/// A row-major `rows x cols` matrix stored in a `Vec`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseMatrix<T> {
    rows: usize,
    cols: usize,
    data: Vec<T>,
}

impl<T: Float> DenseMatrix<T> {
    /// The `rows x cols` zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        DenseMatrix { rows, cols, data: vec![T::ZERO; rows * cols] }
    }

    /// The `n x n` identity.
    pub fn identity(n: usize) -> Self {
        let mut m = Self::zeros(n, n);
        for i in 0..n {
            m[(i, i)] = T::ONE;
        }
        m
    }

    /// A matrix from row-major data.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, data: Vec<T>) -> Self {
        assert_eq!(data.len(), rows * cols, "DenseMatrix::from_vec: {} values for {rows}x{cols}", data.len());
        DenseMatrix { rows, cols, data }
    }

    /// A matrix with entries `f(i, j)`.
    pub fn from_fn(rows: usize, cols: usize, f: impl Fn(usize, usize) -> T) -> Self {
        DenseMatrix { rows, cols, data: (0..rows * cols).map(|k| f(k / cols, k % cols)).collect() }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row-major entries.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// `A^T`.
    pub fn transpose(&self) -> Self {
        Self::from_fn(self.cols, self.rows, |i, j| self[(j, i)])
    }

    /// `y = A x`.
    ///
    /// # Panics
    /// If `x.len() != cols`.
    pub fn matvec(&self, x: &[T]) -> Vec<T> {
        assert_eq!(x.len(), self.cols, "DenseMatrix::matvec: vector length");
        (0..self.rows).map(|i| super::dot(self.row(i), x)).collect()
    }

    /// `y = A^T x`.
    ///
    /// # Panics
    /// If `x.len() != rows`.
    pub fn matvec_t(&self, x: &[T]) -> Vec<T> {
        assert_eq!(x.len(), self.rows, "DenseMatrix::matvec_t: vector length");
        let mut y = vec![T::ZERO; self.cols];
        for (i, &xi) in x.iter().enumerate() {
            super::axpy(xi, self.row(i), &mut y);
        }
        y
    }

    /// `A B`.
    ///
    /// # Panics
    /// If the inner dimensions differ.
    pub fn matmul(&self, b: &Self) -> Self {
        assert_eq!(self.cols, b.rows, "DenseMatrix::matmul: inner dimensions");
        let mut c = Self::zeros(self.rows, b.cols);
        for i in 0..self.rows {
            for k in 0..self.cols {
                let a = self[(i, k)];
                if a != T::ZERO {
                    let (crow, brow) = (i * b.cols, k * b.cols);
                    for j in 0..b.cols {
                        c.data[crow + j] += a * b.data[brow + j];
                    }
                }
            }
        }
        c
    }

    /// The Gram matrix `A^T A` (`cols x cols`, symmetric).
    pub fn gram(&self) -> Self {
        let n = self.cols;
        let mut g = Self::zeros(n, n);
        for r in 0..self.rows {
            let row = self.row(r);
            for i in 0..n {
                if row[i] == T::ZERO {
                    continue;
                }
                for j in i..n {
                    g.data[i * n + j] += row[i] * row[j];
                }
            }
        }
        for i in 0..n {
            for j in 0..i {
                g.data[i * n + j] = g.data[j * n + i];
            }
        }
        g
    }

    /// The diagonal `A_ii`.
    pub fn diagonal(&self) -> Vec<T> {
        (0..self.rows.min(self.cols)).map(|i| self[(i, i)]).collect()
    }

    /// Replaces `A` by `(A + A^T) / 2` (a Hessian assembled from products is symmetric only up to rounding).
    ///
    /// # Panics
    /// If the matrix is not square.
    pub fn symmetrize(&mut self) {
        assert_eq!(self.rows, self.cols, "DenseMatrix::symmetrize: not square");
        let half = T::from_f64(0.5);
        for i in 0..self.rows {
            for j in 0..i {
                let s = half * (self[(i, j)] + self[(j, i)]);
                self[(i, j)] = s;
                self[(j, i)] = s;
            }
        }
    }
}

impl<T> Index<(usize, usize)> for DenseMatrix<T> {
    type Output = T;
    fn index(&self, (i, j): (usize, usize)) -> &T {
        debug_assert!(i < self.rows && j < self.cols);
        &self.data[i * self.cols + j]
    }
}

impl<T> IndexMut<(usize, usize)> for DenseMatrix<T> {
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut T {
        debug_assert!(i < self.rows && j < self.cols);
        &mut self.data[i * self.cols + j]
    }
}

/// A square dense matrix is an operator `x -> A x`.
impl<T: Float> LinOp<T> for DenseMatrix<T> {
    fn dim(&self) -> usize {
        debug_assert_eq!(self.rows, self.cols);
        self.rows
    }
    fn apply(&self, x: &[T], y: &mut [T]) {
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = super::dot(self.row(i), x);
        }
    }
}
