//! Steepest descent `x_{k+1} = x_k - alpha_k grad f(x_k)` with a line search (Nocedal & Wright,
//! *Numerical Optimization*, 2nd ed., §3.3), or with the exact step `alpha = g^T g / g^T H g` of the local
//! quadratic model (one Hessian-vector product per iteration).
//!
//! Linear convergence at rate about `(kappa - 1) / (kappa + 1)` (kappa the condition number of the Hessian):
//! the baseline the second-order methods beat.

use wengert_autodiff::Float;

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::norm;
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::{exact, step_to, LineSearch};
use crate::objective::{Counted, Objective};

/// How the step length is chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum GdStep<T> {
    /// A line search; the first trial is twice the previous accepted step.
    LineSearch(LineSearch<T>),
    /// The exact minimiser along `-g` of the quadratic model, `g^T g / g^T H g` (falls back to Armijo
    /// backtracking when the curvature is not positive or the step does not decrease `f`).
    ExactQuadratic,
}

/// Settings of gradient descent.
#[derive(Clone, Debug, PartialEq)]
pub struct GdConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`] with `max_iter = 100_000` (descent is slow).
    pub tol: Tolerances<T>,
    /// Step rule. Default Armijo backtracking ([`ArmijoConfig::default`]).
    pub step: GdStep<T>,
}

impl<T: Float> Default for GdConfig<T> {
    fn default() -> Self {
        GdConfig {
            tol: Tolerances::default().with_max_iter(100_000),
            step: GdStep::LineSearch(LineSearch::Armijo(ArmijoConfig::default())),
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
    config: &GdConfig<T>,
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
    config: &GdConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &GdConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut obj = Counted::new(obj);
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![T::ZERO; n];
    let mut f = obj.value_grad(&x, &mut g);
    check_start(&x, f, &g)?;
    if norm(&g) <= config.tol.grad_tol {
        return Ok(report(x, f, &g, 0, obj.counts(), StopReason::GradientTolerance));
    }
    let fallback = LineSearch::Armijo(ArmijoConfig::default());
    let mut alpha_prev = T::ONE / norm(&g).max(T::ONE);
    for k in 1.. {
        let d: Vec<T> = g.iter().map(|&gi| -gi).collect();
        let searched = match &config.step {
            GdStep::LineSearch(ls) => ls.search(&mut obj, &x, f, &g, &d, T::from_f64(2.0) * alpha_prev),
            GdStep::ExactQuadratic => {
                let (_, alpha) = obj.with_hessian(&x, &mut g, |g, h| exact::quadratic_step(h, g, &d));
                match alpha.map(|a| (a, step_to(&x, a, &d))) {
                    Some((a, xn)) => {
                        let fnew = obj.value(&xn);
                        if fnew.is_finite() && fnew < f {
                            Ok(crate::line_search::LineSearchResult { alpha: a, x: xn, f: fnew, g: None })
                        } else {
                            fallback.search(&mut obj, &x, f, &g, &d, a)
                        }
                    }
                    None => fallback.search(&mut obj, &x, f, &g, &d, alpha_prev),
                }
            }
        };
        let Ok(ls) = searched else {
            return Ok(report(x, f, &g, k, obj.counts(), StopReason::NoProgress));
        };
        let gn = match ls.g {
            Some(gn) => gn,
            None => {
                let mut gn = vec![T::ZERO; n];
                obj.value_grad(&ls.x, &mut gn);
                gn
            }
        };
        alpha_prev = ls.alpha;
        let stop = config.tol.check(k, &x, &ls.x, f, ls.f, norm(&gn), obj.counts().total());
        x = ls.x;
        f = ls.f;
        g = gn;
        observe(&mut observer, k, f, &g, &x);
        if let Some(s) = stop {
            return Ok(report(x, f, &g, k, obj.counts(), s));
        }
    }
    unreachable!("the iteration budget always stops the loop")
}
