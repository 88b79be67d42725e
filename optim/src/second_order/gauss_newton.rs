//! Gauss-Newton for nonlinear least squares `min 1/2 ||r(x)||^2` (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., §10.3): the Hessian `J^T J + sum r_i H_i` is approximated by `J^T J`, and
//!
//! ```text
//! J^T J p = -J^T r,     x_{k+1} = x_k + alpha_k p   (Armijo line search from alpha = 1)
//! ```
//!
//! The system is solved either densely (`J` formed from `min(n, m)` exact Jacobian products, then Cholesky of
//! `J^T J`, for small problems) or matrix-free by CG on `v -> J^T (J v)` (two products per CG iteration).
//! Quadratic convergence on zero-residual problems, linear otherwise; for a rank-deficient `J` use
//! [`super::levenberg_marquardt`].

use wengert_autodiff::Float;

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::cg::{self, CgConfig};
use crate::linalg::{norm, DenseMatrix};
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::LineSearch;
use crate::objective::{half_squared_norm, Counted, GaussNewtonOp, Jacobian, LeastSquares, SumOfSquares};

/// How the Gauss-Newton system is solved.
#[derive(Clone, Debug, PartialEq)]
pub enum GnSolver<T> {
    /// Form `J` and `J^T J`, Cholesky (with a tiny ridge if `J` is rank deficient).
    Dense,
    /// CG on the products `J^T (J v)`.
    Cg(CgConfig<T>),
}

/// Settings of Gauss-Newton.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussNewtonConfig<T> {
    /// Stopping rules (the gradient is `J^T r`). Default [`Tolerances::default`].
    pub tol: Tolerances<T>,
    /// Linear solver. Default [`GnSolver::Dense`].
    pub solver: GnSolver<T>,
    /// Line search on `1/2 ||r||^2`, from `alpha = 1`. Default Armijo.
    pub line_search: LineSearch<T>,
}

impl<T: Float> Default for GaussNewtonConfig<T> {
    fn default() -> Self {
        GaussNewtonConfig {
            tol: Tolerances::default(),
            solver: GnSolver::Dense,
            line_search: LineSearch::Armijo(ArmijoConfig::default()),
        }
    }
}

/// The dense `m x n` Jacobian, from `n` products `J e_j` or `m` products `J^T e_i`, whichever is fewer.
pub fn dense_jacobian<T: Float>(j: &dyn Jacobian<T>) -> DenseMatrix<T> {
    let (m, n) = (j.rows(), j.cols());
    let mut out = DenseMatrix::zeros(m, n);
    if n <= m {
        let mut e = vec![T::ZERO; n];
        let mut col = vec![T::ZERO; m];
        for c in 0..n {
            e[c] = T::ONE;
            j.jv(&e, &mut col);
            e[c] = T::ZERO;
            for i in 0..m {
                out[(i, c)] = col[i];
            }
        }
    } else {
        let mut e = vec![T::ZERO; m];
        let mut row = vec![T::ZERO; n];
        for r in 0..m {
            e[r] = T::ONE;
            j.jtu(&e, &mut row);
            e[r] = T::ZERO;
            for c in 0..n {
                out[(r, c)] = row[c];
            }
        }
    }
    out
}

/// Solves `(A + tau I) p = rhs` by Cholesky for symmetric positive semi-definite `A`: `tau` is `0`, or, if
/// `A` is singular to working precision, grows by factors of 10 from `eps max_i |A_ii|` until the factorisation
/// succeeds. `None` if `A` or `rhs` holds a NaN or infinity (no ridge can fix that) or if 40 tries fail.
pub(crate) fn solve_ridged<T: Float>(a: &DenseMatrix<T>, rhs: &[T]) -> Option<Vec<T>> {
    if !a.as_slice().iter().chain(rhs).all(|v| v.is_finite()) {
        return None;
    }
    let n = a.rows();
    let scale = a.diagonal().iter().fold(T::ZERO, |s, v| s.max(v.abs())).max(T::EPSILON);
    let mut tau = T::ZERO;
    for _ in 0..40 {
        let mut m = a.clone();
        for i in 0..n {
            m[(i, i)] += tau;
        }
        if let Ok(c) = crate::linalg::cholesky::Cholesky::factor(&m) {
            return Some(c.solve(rhs));
        }
        tau = if tau == T::ZERO { T::EPSILON * scale } else { tau * T::from_f64(10.0) };
    }
    None
}

/// Minimises `1/2 ||r(x)||^2` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`].
pub fn minimize<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &GaussNewtonConfig<T>,
) -> Result<Report<T>, OptimError> {
    run(problem, x0, config, None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &GaussNewtonConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(problem, x0, config, Some(observer))
}

fn run<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &GaussNewtonConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut problem = Counted::new(problem);
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut prev: Option<(Vec<T>, T)> = None;
    for k in 0.. {
        let (f, g, p) = problem.with_jacobian(&x, |r, j| {
            let f = half_squared_norm(r);
            let mut g = vec![T::ZERO; n];
            j.jtu(r, &mut g);
            let minus_g: Vec<T> = g.iter().map(|&v| -v).collect();
            let p = match &config.solver {
                GnSolver::Dense => solve_ridged(&dense_jacobian(j).gram(), &minus_g),
                GnSolver::Cg(c) => {
                    let mut p = vec![T::ZERO; n];
                    match cg::solve(&GaussNewtonOp::new(j), &minus_g, &mut p, c) {
                        Ok(_) => Some(p),
                        Err(_) => Some(minus_g),
                    }
                }
            };
            (f, g, p)
        });
        match &prev {
            None => {
                check_start(&x, f, &g)?;
                if norm(&g) <= config.tol.grad_tol {
                    return Ok(report(x, f, &g, 0, problem.counts(), StopReason::GradientTolerance));
                }
            }
            Some((xo, fo)) => {
                observe(&mut observer, k, f, &g, &x);
                if let Some(s) = config.tol.check(k, xo, &x, *fo, f, norm(&g), problem.counts().total()) {
                    return Ok(report(x, f, &g, k, problem.counts(), s));
                }
            }
        }
        // a Jacobian with a NaN or infinity gives no step (the ridge loop would never end)
        let Some(p) = p else {
            return Ok(report(x, f, &g, k, problem.counts(), StopReason::NoProgress));
        };
        let Ok(ls) = config.line_search.search(&mut SumOfSquares::new(&mut problem), &x, f, &g, &p, T::ONE) else {
            return Ok(report(x, f, &g, k, problem.counts(), StopReason::NoProgress));
        };
        // Armijo accepts a step whose decrease rounds away (f unchanged): with every tolerance at 0 that would
        // go on for ever
        if ls.f >= f {
            return Ok(report(x, f, &g, k, problem.counts(), StopReason::NoProgress));
        }
        prev = Some((std::mem::replace(&mut x, ls.x), f));
    }
    unreachable!("the iteration budget always stops the loop")
}
