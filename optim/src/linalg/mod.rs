//! Linear solvers: a matrix-free operator trait and the classic direct and iterative methods.
//!
//! | where | what |
//! |---|---|
//! | [`LinOp`], [`FnOp`] | a matrix-free operator `y = A x`: exact Hessian-vector products, Gauss-Newton products and dense matrices all plug in |
//! | [`DenseMatrix`] | a small row-major dense matrix |
//! | [`cg`] | conjugate gradient and Jacobi-preconditioned CG (SPD systems, matrix-free) |
//! | [`jacobi`], [`gauss_seidel`] | stationary iterations on dense matrices |
//! | [`lu`], [`qr`], [`cholesky`] | dense factorisations: LU with partial pivoting, Householder QR (least squares), Cholesky |
//!
//! ## Gradient descent is not a way to solve a linear system
//!
//! Solving `A x = b` for SPD `A` is minimising `q(x) = 1/2 x^T A x - b^T x`. Gradient descent with a fixed
//! step `alpha < 2 / lambda_max` contracts the error by `(kappa - 1) / (kappa + 1)` per iteration at best
//! (kappa the condition number): thousands of iterations for `kappa = 1000`. CG reaches the solution in at most
//! `n` iterations in exact arithmetic, and a direct factorisation in one `O(n^3)` pass. The test
//! `gradient_descent_is_not_a_linear_solver` in `optim/tests/linalg.rs` shows it.
//!
//! ```
//! use wengert_optim::linalg::{cg, DenseMatrix};
//! let a = DenseMatrix::from_vec(2, 2, vec![4.0_f64, 1.0, 1.0, 3.0]);
//! let mut x = vec![0.0; 2];
//! let rep = cg::solve(&a, &[1.0, 2.0], &mut x, &cg::CgConfig::default()).unwrap();
//! assert!(rep.iterations <= 2);
//! assert!((x[0] - 1.0 / 11.0).abs() < 1e-12 && (x[1] - 7.0 / 11.0).abs() < 1e-12);
//! ```

use std::fmt;

use wengert_autodiff::Float;

pub mod cg;
pub mod cholesky;
pub mod gauss_seidel;
pub mod jacobi;
pub mod lu;
pub mod qr;
pub mod trust_region;

mod dense;
#[cfg(target_arch = "x86_64")]
mod simd;
pub use dense::DenseMatrix;

/// A square linear operator applied without forming its matrix: `y = A x`.
///
/// `apply` takes `&self` so operators backed by a tape (which records through interior mutability)
/// and dense matrices are used alike.
pub trait LinOp<T: Float> {
    /// The dimension `n` of the (square) operator.
    fn dim(&self) -> usize;
    /// Writes `y = A x`; `x` and `y` have length [`LinOp::dim`].
    fn apply(&self, x: &[T], y: &mut [T]);
}

impl<T: Float, O: LinOp<T> + ?Sized> LinOp<T> for &O {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn apply(&self, x: &[T], y: &mut [T]) {
        (**self).apply(x, y)
    }
}

/// A [`LinOp`] from a closure `|x, y| y = A x`.
///
/// ```
/// use wengert_optim::linalg::{FnOp, LinOp};
/// let twice = FnOp::new(3, |x: &[f64], y: &mut [f64]| for (yi, xi) in y.iter_mut().zip(x) { *yi = 2.0 * xi });
/// let mut y = [0.0; 3];
/// twice.apply(&[1.0, 2.0, 3.0], &mut y);
/// assert_eq!(y, [2.0, 4.0, 6.0]);
/// ```
pub struct FnOp<F> {
    n: usize,
    f: F,
}

impl<F> FnOp<F> {
    /// An operator of dimension `n` applying `f`.
    pub fn new(n: usize, f: F) -> Self {
        FnOp { n, f }
    }
}

impl<T: Float, F: Fn(&[T], &mut [T])> LinOp<T> for FnOp<F> {
    fn dim(&self) -> usize {
        self.n
    }
    fn apply(&self, x: &[T], y: &mut [T]) {
        (self.f)(x, y)
    }
}

/// Why a linear solve failed.
#[derive(Clone, Debug, PartialEq)]
pub enum LinalgError {
    /// Operand sizes do not agree.
    DimensionMismatch {
        /// What was expected.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// The matrix is not positive definite (Cholesky pivot, or CG curvature `p^T A p <= 0`).
    NotPositiveDefinite {
        /// Index of the failing pivot or CG iteration.
        index: usize,
    },
    /// The matrix is (numerically) singular or rank deficient at this pivot / column.
    Singular {
        /// Index of the zero pivot.
        index: usize,
    },
    /// A stationary iteration needs a non-zero diagonal.
    ZeroDiagonal {
        /// The row.
        row: usize,
    },
}

impl fmt::Display for LinalgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinalgError::DimensionMismatch { expected, got } => {
                write!(f, "dimension mismatch: expected {expected}, got {got}")
            }
            LinalgError::NotPositiveDefinite { index } => write!(f, "matrix is not positive definite (at {index})"),
            LinalgError::Singular { index } => write!(f, "matrix is singular (zero pivot at {index})"),
            LinalgError::ZeroDiagonal { row } => write!(f, "zero diagonal entry in row {row}"),
        }
    }
}

impl std::error::Error for LinalgError {}

/// Report of an iterative solve.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveReport<T> {
    /// Iterations done.
    pub iterations: usize,
    /// Final residual norm `||b - A x||` (as tracked by the method).
    pub residual_norm: T,
    /// Whether the tolerance was met (otherwise the iteration budget ran out).
    pub converged: bool,
}

/// `sum_i a_i b_i`.
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if let Some(d) = simd::dot(a, b) {
        return d;
    }
    dot_portable(a, b)
}

/// Eight independent partial sums: a single running sum is a chain of dependent adds that cannot
/// be vectorised (it was half of L-BFGS's time on the 1000-d Rosenbrock). The AVX kernels in `simd`
/// add in the same order.
#[inline(always)]
fn dot_portable<T: Float>(a: &[T], b: &[T]) -> T {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::ZERO; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let tail = ra.iter().zip(rb).fold(T::ZERO, |s, (&x, &y)| s + x * y);
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Euclidean norm `sqrt(sum_i a_i^2)`.
pub fn norm<T: Float>(a: &[T]) -> T {
    dot(a, a).sqrt()
}

/// `y += alpha x`.
pub fn axpy<T: Float>(alpha: T, x: &[T], y: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only requirement of `axpy_avx2`.
        return unsafe { axpy_avx2(alpha, x, y) };
    }
    axpy_portable(alpha, x, y)
}

/// [`axpy_portable`] compiled for AVX2 (4 doubles or 8 floats per instruction instead of SSE2's 2 or 4),
/// chosen at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn axpy_avx2<T: Float>(alpha: T, x: &[T], y: &mut [T]) {
    axpy_portable(alpha, x, y)
}

#[inline(always)]
fn axpy_portable<T: Float>(alpha: T, x: &[T], y: &mut [T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `y += alpha x`, then returns `z^T y` with the updated `y` (all three of one length): [`axpy`] followed by
/// [`dot`], with the same result, in one pass over the vectors instead of two (the L-BFGS two-loop is a
/// chain of these).
pub fn axpy_dot<T: Float>(alpha: T, x: &[T], y: &mut [T], z: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if let Some(d) = simd::axpy_dot(alpha, x, y, z) {
        return d;
    }
    axpy_portable(alpha, x, y);
    dot_portable(z, y)
}

pub(crate) fn check_len(expected: usize, got: usize) -> Result<(), LinalgError> {
    if expected == got {
        Ok(())
    } else {
        Err(LinalgError::DimensionMismatch { expected, got })
    }
}
