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

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::cholesky::Cholesky;
use crate::linalg::{norm, DenseMatrix, LinOp};
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of Newton's method.
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances<T>,
    /// Line search, tried from `alpha = 1`. Default Armijo ([`ArmijoConfig::default`]).
    pub line_search: LineSearch<T>,
    /// Smallest shift `beta` of the Hessian modification, relative to `max(1, max_i |H_ii|)`. Default `1e-3`
    /// (N&W Alg. 3.3).
    pub beta: T,
}

impl<T: Float> Default for NewtonConfig<T> {
    fn default() -> Self {
        NewtonConfig {
            tol: Tolerances::default(),
            line_search: LineSearch::Armijo(ArmijoConfig::default()),
            beta: T::from_f64(1e-3),
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
/// and the `tau` used.
pub fn modified_cholesky<T: Float>(h: &DenseMatrix<T>, beta: T) -> (Cholesky<T>, T) {
    let n = h.rows();
    let diag = h.diagonal();
    let scale = diag.iter().fold(T::ONE, |s, d| s.max(d.abs()));
    let beta = beta * scale;
    let min_diag = diag.iter().fold(T::INFINITY, |s, &d| s.min(d));
    let mut tau = if min_diag > T::ZERO { T::ZERO } else { beta - min_diag };
    loop {
        let mut shifted = h.clone();
        for i in 0..n {
            shifted[(i, i)] += tau;
        }
        match Cholesky::factor(&shifted) {
            Ok(c) => return (c, tau),
            Err(_) => tau = (T::from_f64(2.0) * tau).max(beta),
        }
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonConfig<T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut obj = Counted::new(obj);
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![T::ZERO; n];
    let mut prev: Option<(Vec<T>, T)> = None;
    for k in 0.. {
        // the n products are not spent at a point where the run stops anyway
        let (grad_tol, last) = (config.tol.grad_tol, k >= config.tol.max_iter);
        let (f, h) = obj.with_hessian(&x, &mut g, |g, h| (norm(g) > grad_tol && !last).then(|| dense_hessian(h)));
        match &prev {
            None => {
                check_start(&x, f, &g)?;
                if norm(&g) <= config.tol.grad_tol {
                    return Ok(report(x, f, &g, 0, obj.counts(), StopReason::GradientTolerance));
                }
            }
            Some((xo, fo)) => {
                observe(&mut observer, k, f, &g, &x);
                if let Some(s) = config.tol.check(k, xo, &x, *fo, f, norm(&g), obj.counts().total()) {
                    return Ok(report(x, f, &g, k, obj.counts(), s));
                }
            }
        }
        let Some(h) = h else {
            let s = if last { StopReason::MaxIterations } else { StopReason::GradientTolerance };
            return Ok(report(x, f, &g, k, obj.counts(), s));
        };
        let (chol, _) = modified_cholesky(&h, config.beta);
        let minus_g: Vec<T> = g.iter().map(|&v| -v).collect();
        let p = chol.solve(&minus_g);
        let Ok(ls) = config.line_search.search(&mut obj, &x, f, &g, &p, T::ONE) else {
            return Ok(report(x, f, &g, k, obj.counts(), StopReason::NoProgress));
        };
        prev = Some((std::mem::replace(&mut x, ls.x), f));
    }
    unreachable!("the iteration budget always stops the loop")
}
