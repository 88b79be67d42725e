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

use super::driver::{self, Context, Method, Point, Step};
use super::{Observer, OptimError, Report, Tolerances};
use crate::linalg::cg::{self, CgConfig};
use crate::linalg::DenseMatrix;
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::LineSearch;
use crate::objective::{half_squared_norm, Counted, GaussNewtonOp, Jacobian, LeastSquares, SumOfSquares};

/// How the Gauss-Newton system is solved.
#[derive(Clone, Debug, PartialEq)]
pub enum GnSolver {
    /// Form `J` and `J^T J`, Cholesky (with a tiny ridge if `J` is rank deficient).
    Dense,
    /// CG on the products `J^T (J v)`.
    Cg(CgConfig),
}

/// Settings of Gauss-Newton.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussNewtonConfig {
    /// Stopping rules (the gradient is `J^T r`). Default [`Tolerances::default`].
    pub tol: Tolerances,
    /// Linear solver. Default [`GnSolver::Dense`].
    pub solver: GnSolver,
    /// Line search on `1/2 ||r||^2`, from `alpha = 1`. Default Armijo.
    pub line_search: LineSearch,
}

impl GaussNewtonConfig {
    /// Checks the settings (the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        self.line_search.validate()
    }
}

/// What only Gauss-Newton knows about a run.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussNewtonInfo<T> {
    /// The step length `alpha` the line search accepted last (`1`: a full Gauss-Newton step).
    pub last_alpha: T,
    /// The largest ridge `tau` added to `J^T J` by the dense solver (`0`: `J` had full rank throughout).
    pub max_ridge: T,
    /// CG iterations over the run ([`GnSolver::Cg`]; `0` for the dense solver).
    pub cg_iterations: usize,
}

impl Default for GaussNewtonConfig {
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
pub(crate) fn solve_ridged<T: Float>(a: &DenseMatrix<T>, rhs: &[T]) -> Option<(Vec<T>, T)> {
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
            return Some((c.solve(rhs), tau));
        }
        tau = if tau == T::ZERO { T::EPSILON * scale } else { tau * T::from_f64(10.0) };
    }
    None
}

/// Minimises `1/2 ||r(x)||^2` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &GaussNewtonConfig,
) -> Result<Report<T, GaussNewtonInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(problem, x0, &config.tol, GaussNewton::new(config), None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &GaussNewtonConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, GaussNewtonInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(problem, x0, &config.tol, GaussNewton::new(config), Some(observer))
}

/// The direction at the current point: solved, not computed (the run stops there), or none (the Jacobian is
/// not finite, or no ridge made `J^T J` factorable).
enum Direction<T> {
    Solved(Vec<T>),
    Skipped,
    NonFinite,
    Singular,
}

/// Gauss-Newton as a [`driver`] step: the direction is solved when a point is evaluated (unless the run stops
/// there), the line search runs in the next iteration.
struct GaussNewton<'c, T> {
    config: &'c GaussNewtonConfig,
    p: Direction<T>,
    info: GaussNewtonInfo<T>,
}

impl<'c, T: Float> GaussNewton<'c, T> {
    fn new(config: &'c GaussNewtonConfig) -> Self {
        let info = GaussNewtonInfo { last_alpha: T::ZERO, max_ridge: T::ZERO, cg_iterations: 0 };
        GaussNewton { config, p: Direction::Skipped, info }
    }

    /// `f(x) = 1/2 ||r||^2`, `g = J^T r` into `g`, and the direction solving `J^T J p = -g` unless the run stops
    /// at `x`.
    fn evaluate<L: LeastSquares<T> + ?Sized>(
        &mut self,
        problem: &mut L,
        x: &[T],
        g: &mut [T],
        ctx: &Context<'_, T>,
    ) -> T {
        let n = x.len();
        let (f, p, ridge, cg_iterations) = problem.with_jacobian(x, |r, j| {
            j.jtu(r, g);
            let f = half_squared_norm(r);
            if ctx.stops_at(g) {
                return (f, Direction::Skipped, T::ZERO, 0);
            }
            let minus_g: Vec<T> = g.iter().map(|&v| -v).collect();
            match &self.config.solver {
                GnSolver::Dense => {
                    let jtj = dense_jacobian(j).gram();
                    if !jtj.as_slice().iter().all(|v| v.is_finite()) {
                        return (f, Direction::NonFinite, T::ZERO, 0);
                    }
                    match solve_ridged(&jtj, &minus_g) {
                        Some((p, tau)) => (f, Direction::Solved(p), tau, 0),
                        None => (f, Direction::Singular, T::ZERO, 0),
                    }
                }
                GnSolver::Cg(c) => {
                    let mut p = vec![T::ZERO; n];
                    match cg::solve(&GaussNewtonOp::new(j), &minus_g, &mut p, c) {
                        Ok(s) => (f, Direction::Solved(p), T::ZERO, s.iterations),
                        // negative curvature of J^T J only by rounding: steepest descent
                        Err(_) => (f, Direction::Solved(minus_g), T::ZERO, 0),
                    }
                }
            }
        });
        self.p = p;
        self.info.max_ridge = self.info.max_ridge.max(ridge);
        self.info.cg_iterations += cg_iterations;
        f
    }
}

impl<T: Float, L: LeastSquares<T> + ?Sized> Method<T, L> for GaussNewton<'_, T> {
    type Info = GaussNewtonInfo<T>;

    fn start(&mut self, problem: &mut Counted<'_, L>, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        self.evaluate(problem, x, g, ctx)
    }

    fn step(&mut self, problem: &mut Counted<'_, L>, at: &Point<T>, ctx: &Context<'_, T>) -> Step<T> {
        let p = match std::mem::replace(&mut self.p, Direction::Skipped) {
            Direction::Solved(p) => p,
            Direction::NonFinite => return Step::NonFinite,
            Direction::Singular | Direction::Skipped => return Step::NoProgress,
        };
        let search = self.config.line_search.search(&mut SumOfSquares::new(problem), &at.x, at.f, &at.g, &p, T::ONE);
        // Armijo accepts a step whose decrease rounds away (f unchanged): with every tolerance at 0 that would
        // go on for ever
        let ls = match search {
            Ok(ls) if ls.f < at.f => ls,
            _ => return Step::NoProgress,
        };
        self.info.last_alpha = ls.alpha;
        let mut g = vec![T::ZERO; at.x.len()];
        let f = self.evaluate(problem, &ls.x, &mut g, ctx);
        Step::Moved(Point { x: ls.x, f, g })
    }

    fn info(self) -> GaussNewtonInfo<T> {
        self.info
    }
}
