//! Newton's method with the full Hessian: `H_k p = -g_k`, `x_{k+1} = x_k + alpha_k p` (Nocedal & Wright,
//! *Numerical Optimization*, 2nd ed., §3.3-3.4).
//!
//! The dense Hessian is assembled from `n` exact Hessian-vector products (one per column) and the system is
//! solved by Cholesky: an inverse is never formed. Where `H` is not positive definite, the modified Newton
//! step of N&W Algorithm 3.3 is used: factor `H + tau I` with `tau = 0` (or `beta - min_i H_ii` if a diagonal
//! entry is not positive), doubling `tau` (at least to `beta`) until Cholesky succeeds. The step length comes
//! from a line search starting at `alpha = 1`, so near the solution the full Newton step is taken and the
//! convergence is quadratic. On a quadratic (e.g. linear regression) the first step lands on the minimiser.
//!
//! Cost per iteration: one gradient, `n` HVPs and an `O(n^3)` factorisation: for small `n`.

use wengert_autodiff::Float;

use super::driver::{self, Context, Method, Point, Step};
use super::{check_positive, Observer, OptimError, Report, Tolerances};
use crate::linalg::cholesky::Cholesky;
use crate::linalg::{DenseMatrix, LinOp};
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of Newton's method.
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonConfig {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances,
    /// Line search, tried from `alpha = 1`. Default Armijo ([`ArmijoConfig::default`]).
    pub line_search: LineSearch,
    /// Smallest shift `beta` of the Hessian modification, relative to `max(1, max_i |H_ii|)`. Default `1e-3`
    /// (N&W Alg. 3.3).
    pub beta: f64,
}

impl Default for NewtonConfig {
    fn default() -> Self {
        NewtonConfig {
            tol: Tolerances::default(),
            line_search: LineSearch::Armijo(ArmijoConfig::default()),
            beta: 1e-3,
        }
    }
}

/// The dense matrix of an operator, one product per column, symmetrised.
pub fn dense_hessian<T: Float, H: LinOp<T> + ?Sized>(h: &H) -> DenseMatrix<T> {
    let n = h.dim();
    let mut m = DenseMatrix::zeros(n, n);
    let mut e = vec![T::ZERO; n];
    let mut col = vec![T::ZERO; n];
    for j in 0..n {
        e[j] = T::ONE;
        h.apply(&e, &mut col);
        e[j] = T::ZERO;
        for i in 0..n {
            m[(i, j)] = col[i];
        }
    }
    m.symmetrize();
    m
}

/// Cholesky of `H + tau I` for the smallest `tau` of the sequence in N&W Algorithm 3.3; returns the factor
/// and the `tau` used, or `None` if `H` has a NaN or infinite entry (no shift makes it factorable).
pub fn modified_cholesky<T: Float>(h: &DenseMatrix<T>, beta: T) -> Option<(Cholesky<T>, T)> {
    let n = h.rows();
    if !(0..n).all(|i| (0..n).all(|j| h[(i, j)].is_finite())) {
        return None;
    }
    let diag = h.diagonal();
    let scale = diag.iter().fold(T::ONE, |s, d| s.max(d.abs()));
    let beta = beta * scale;
    let min_diag = diag.iter().fold(T::INFINITY, |s, &d| s.min(d));
    let mut tau = if min_diag > T::ZERO { T::ZERO } else { beta - min_diag };
    // With finite entries the loop ends: a shift beyond the Gershgorin bound makes H + tau I positive definite.
    while tau.is_finite() {
        let mut shifted = h.clone();
        for i in 0..n {
            shifted[(i, i)] += tau;
        }
        match Cholesky::factor(&shifted) {
            Ok(c) => return Some((c, tau)),
            Err(_) => tau = (T::from_f64(2.0) * tau).max(beta),
        }
    }
    None
}

/// What Newton's method reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonInfo<T> {
    /// The shift `tau` of `H + tau I` in the last iteration (`0` when `H` was positive definite).
    pub last_shift: T,
    /// The largest shift over the run.
    pub max_shift: T,
    /// Iterations whose Hessian needed a shift.
    pub shifted_iterations: usize,
}

impl NewtonConfig {
    /// Checks the settings (`beta > 0`, the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        self.line_search.validate()?;
        check_positive("NewtonConfig", "beta", self.beta)
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonConfig,
) -> Result<Report<T, NewtonInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, Newton::new(config), None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, NewtonInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, Newton::new(config), Some(observer))
}

/// Newton's method as a [`driver`] step: the Hessian is factored when the point is evaluated (unless the run
/// stops there), the line search runs in the next iteration.
struct Newton<'c, T> {
    config: &'c NewtonConfig,
    /// `config.beta` in `T`.
    beta: T,
    /// The Newton direction at the current point (`Some(None)`: the Hessian there is not finite).
    p: Option<Option<Vec<T>>>,
    info: NewtonInfo<T>,
}

impl<'c, T: Float> Newton<'c, T> {
    fn new(config: &'c NewtonConfig) -> Self {
        let info = NewtonInfo { last_shift: T::ZERO, max_shift: T::ZERO, shifted_iterations: 0 };
        Newton { config, beta: T::from_f64(config.beta), p: None, info }
    }

    /// `f(x)`, `grad f(x)` into `g`, and the direction `-(H + tau I)^{-1} g` unless the run stops at `x`
    /// (`Some(None)` when the Hessian is not finite).
    fn evaluate<O: Objective<T> + ?Sized>(&mut self, obj: &mut O, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        let (f, h) = obj.with_hessian(x, g, |g, h| (!ctx.stops_at(g)).then(|| dense_hessian(h)));
        self.p = h.map(|h| {
            let (chol, tau) = modified_cholesky(&h, self.beta)?;
            self.info.last_shift = tau;
            if tau > T::ZERO {
                self.info.max_shift = self.info.max_shift.max(tau);
                self.info.shifted_iterations += 1;
            }
            let minus_g: Vec<T> = g.iter().map(|&v| -v).collect();
            Some(chol.solve(&minus_g))
        });
        f
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for Newton<'_, T> {
    type Info = NewtonInfo<T>;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        self.evaluate(obj, x, g, ctx)
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, ctx: &Context<'_, T>) -> Step<T> {
        let p = match self.p.take() {
            Some(Some(p)) => p,
            Some(None) => return Step::NonFinite,
            None => return Step::NoProgress,
        };
        let Ok(ls) = self.config.line_search.search(obj, &at.x, at.f, &at.g, &p, T::ONE) else {
            return Step::NoProgress;
        };
        let mut g = vec![T::ZERO; at.x.len()];
        let f = self.evaluate(obj, &ls.x, &mut g, ctx);
        Step::Moved(Point { x: ls.x, f, g })
    }

    fn info(self) -> NewtonInfo<T> {
        self.info
    }
}
