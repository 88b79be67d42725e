//! Steepest descent `x_{k+1} = x_k - alpha_k grad f(x_k)` with a line search (Nocedal & Wright,
//! *Numerical Optimization*, 2nd ed., §3.3), or with the exact step `alpha = g^T g / g^T H g` of the local
//! quadratic model (one Hessian-vector product per iteration).
//!
//! Linear convergence at rate about `(kappa - 1) / (kappa + 1)` (kappa the condition number of the Hessian):
//! the baseline the second-order methods beat.

use wengert_autodiff::Float;

use super::driver::{self, Context, Method, Point, Step};
use super::{Observer, OptimError, Report, Tolerances};
use crate::linalg::norm;
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::{exact, step_to, LineSearch, LineSearchResult};
use crate::objective::{Counted, Objective};

/// How the step length is chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum GdStep {
    /// A line search; the first trial is twice the previous accepted step.
    LineSearch(LineSearch),
    /// The exact minimiser along `-g` of the quadratic model, `g^T g / g^T H g` (falls back to Armijo
    /// backtracking when the curvature is not positive or the step does not decrease `f`).
    ExactQuadratic,
}

/// Settings of gradient descent.
#[derive(Clone, Debug, PartialEq)]
pub struct GdConfig {
    /// Stopping rules. Default [`Tolerances::default`] with `max_iter = 100_000` (descent is slow).
    pub tol: Tolerances,
    /// Step rule. Default Armijo backtracking ([`ArmijoConfig::default`]).
    pub step: GdStep,
}

impl Default for GdConfig {
    fn default() -> Self {
        GdConfig {
            tol: Tolerances::default().with_max_iter(100_000),
            step: GdStep::LineSearch(LineSearch::Armijo(ArmijoConfig::default())),
        }
    }
}

/// What gradient descent reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct GdInfo<T> {
    /// The last accepted step length `alpha`.
    pub last_step: T,
}

impl GdConfig {
    /// Checks the settings (the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        match &self.step {
            GdStep::LineSearch(ls) => ls.validate(),
            GdStep::ExactQuadratic => Ok(()),
        }
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &GdConfig,
) -> Result<Report<T, GdInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, Gd::new(config), None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &GdConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, GdInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, Gd::new(config), Some(observer))
}

/// Gradient descent as a [`driver`] step.
struct Gd<'c, T> {
    config: &'c GdConfig,
    fallback: LineSearch,
    /// The previous accepted step (the first trial of the next search is twice it).
    alpha_prev: T,
}

impl<'c, T: Float> Gd<'c, T> {
    fn new(config: &'c GdConfig) -> Self {
        Gd { config, fallback: LineSearch::Armijo(ArmijoConfig::default()), alpha_prev: T::ONE }
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for Gd<'_, T> {
    type Info = GdInfo<T>;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], _: &Context<'_, T>) -> T {
        let f = obj.value_grad(x, g);
        self.alpha_prev = T::ONE / norm(g).max(T::ONE);
        f
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, _: &Context<'_, T>) -> Step<T> {
        let (x, f, g) = (&at.x, at.f, &at.g);
        let d: Vec<T> = g.iter().map(|&gi| -gi).collect();
        let searched = match &self.config.step {
            GdStep::LineSearch(ls) => ls.search(obj, x, f, g, &d, T::from_f64(2.0) * self.alpha_prev),
            GdStep::ExactQuadratic => {
                let mut scratch = vec![T::ZERO; x.len()];
                let (_, alpha) = obj.with_hessian(x, &mut scratch, |g, h| exact::quadratic_step(h, g, &d));
                match alpha.map(|a| (a, step_to(x, a, &d))) {
                    Some((a, xn)) => {
                        let fnew = obj.value(&xn);
                        if fnew.is_finite() && fnew < f {
                            Ok(LineSearchResult { alpha: a, x: xn, f: fnew, g: None })
                        } else {
                            self.fallback.search(obj, x, f, g, &d, a)
                        }
                    }
                    None => self.fallback.search(obj, x, f, g, &d, self.alpha_prev),
                }
            }
        };
        match searched {
            Ok(ls) => {
                self.alpha_prev = ls.alpha;
                Step::Moved(ls.into_point(obj))
            }
            Err(_) => Step::NoProgress,
        }
    }

    fn info(self) -> GdInfo<T> {
        GdInfo { last_step: self.alpha_prev }
    }
}
