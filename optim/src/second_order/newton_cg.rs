//! Line-search Newton-CG, Hessian-free (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 7.1; the
//! variant of scipy's `minimize(method="Newton-CG")`).
//!
//! Each iteration solves `H p = -g` approximately by conjugate gradient on exact Hessian-vector products,
//! stopping when `||r||_1 <= eta ||g||_1` with `eta = min(0.5, sqrt(||g||_1))` (superlinear convergence).
//! Negative curvature (`d^T H d < 0`): at the first CG iteration the step is steepest descent scaled by
//! `g^T g / |d^T H d|`; later, CG stops with the current iterate (always a descent direction). A line search
//! from `alpha = 1` globalises the step.

use wengert_autodiff::Float;

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::{axpy, dot, norm, LinOp};
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of Newton-CG.
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonCgConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances<T>,
    /// Line search, tried from `alpha = 1`. Default Armijo ([`ArmijoConfig::default`]); scipy uses Wolfe.
    pub line_search: LineSearch<T>,
    /// Inner CG budget per iteration, as a multiple of `n`. Default `20` (scipy's `cg_maxiter = 20 n`).
    pub cg_max_iter_factor: usize,
}

impl<T: Float> Default for NewtonCgConfig<T> {
    fn default() -> Self {
        NewtonCgConfig {
            tol: Tolerances::default(),
            line_search: LineSearch::Armijo(ArmijoConfig::default()),
            cg_max_iter_factor: 20,
        }
    }
}

/// The truncated-CG Newton direction for `H p = -g` (see the module doc).
pub fn newton_cg_direction<T: Float, H: LinOp<T> + ?Sized>(h: &H, g: &[T], max_iter: usize) -> Vec<T> {
    let n = g.len();
    let g1: T = g.iter().map(|v| v.abs()).sum();
    let eta = T::from_f64(0.5).min(g1.sqrt());
    let term = eta * g1;
    let mut z = vec![T::ZERO; n];
    let mut r = g.to_vec();
    let mut d: Vec<T> = g.iter().map(|&v| -v).collect();
    let mut rr = dot(&r, &r);
    let mut hd = vec![T::ZERO; n];
    for i in 0..max_iter {
        if r.iter().map(|v| v.abs()).sum::<T>() <= term {
            break;
        }
        h.apply(&d, &mut hd);
        let curv = dot(&d, &hd);
        if curv >= T::ZERO && curv <= T::from_f64(3.0) * T::EPSILON {
            break;
        }
        if curv < T::ZERO {
            if i == 0 {
                z = d.iter().map(|&v| v * (rr / -curv)).collect();
            }
            break;
        }
        let alpha = rr / curv;
        axpy(alpha, &d, &mut z);
        axpy(alpha, &hd, &mut r);
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        rr = rr_new;
        for (di, &ri) in d.iter_mut().zip(&r) {
            *di = -ri + beta * *di;
        }
    }
    if z.iter().all(|&v| v == T::ZERO) {
        return g.iter().map(|&v| -v).collect();
    }
    z
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonCgConfig<T>,
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
    config: &NewtonCgConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonCgConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut obj = Counted::new(obj);
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![T::ZERO; n];
    let mut prev: Option<(Vec<T>, T)> = None;
    let max_cg = config.cg_max_iter_factor * n.max(1);
    for k in 0.. {
        // the direction is not computed at a point where the run stops anyway
        let (grad_tol, last) = (config.tol.grad_tol, k >= config.tol.max_iter);
        let (f, p) = obj
            .with_hessian(&x, &mut g, |g, h| (norm(g) > grad_tol && !last).then(|| newton_cg_direction(h, g, max_cg)));
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
        let Some(p) = p else {
            let s = if last { StopReason::MaxIterations } else { StopReason::GradientTolerance };
            return Ok(report(x, f, &g, k, obj.counts(), s));
        };
        let Ok(ls) = config.line_search.search(&mut obj, &x, f, &g, &p, T::ONE) else {
            return Ok(report(x, f, &g, k, obj.counts(), StopReason::NoProgress));
        };
        prev = Some((std::mem::replace(&mut x, ls.x), f));
    }
    unreachable!("the iteration budget always stops the loop")
}
