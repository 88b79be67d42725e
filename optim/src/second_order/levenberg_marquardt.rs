//! Levenberg and Levenberg-Marquardt for nonlinear least squares `min 1/2 ||r(x)||^2`: damped Gauss-Newton
//! steps
//!
//! ```text
//! Levenberg:            (J^T J + lambda I) p = -J^T r
//! Levenberg-Marquardt:  (J^T J + lambda diag(J^T J)) p = -J^T r
//! ```
//!
//! with the damping rule of the lecture (Levenberg 1944, Marquardt 1963): if `f(x + p) < f(x)` the step is
//! taken and `lambda /= lambda_down`; otherwise it is rejected and `lambda *= lambda_up`, and the system is
//! solved again with the same `J`. Small `lambda` gives Gauss-Newton, large `lambda` a short gradient step
//! (scaled per component by the curvature `diag(J^T J)` for Marquardt). `J` is formed densely from exact
//! Jacobian products (`min(n, m)` of them) once per accepted point: intended for small `n`.

use wengert_autodiff::Float;

use super::gauss_newton::{dense_jacobian, solve_damped};
use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::norm;
use crate::line_search::step_to;
use crate::objective::{half_squared_norm, Counted, LeastSquares};

/// The damping matrix `D` in `J^T J + lambda D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damping {
    /// `D = I` (Levenberg).
    Identity,
    /// `D = diag(J^T J)` (Marquardt), floored at `eps max_i (J^T J)_ii`.
    Diagonal,
}

/// Settings of Levenberg(-Marquardt).
#[derive(Clone, Debug, PartialEq)]
pub struct LmConfig<T> {
    /// Stopping rules (the gradient is `J^T r`; iterations count rejected trials too). Default
    /// [`Tolerances::default`].
    pub tol: Tolerances<T>,
    /// Damping matrix. Default [`Damping::Diagonal`] (Levenberg-Marquardt).
    pub damping: Damping,
    /// Initial `lambda`. Default `1e-3` (Marquardt 1963, Numerical Recipes).
    pub lambda0: T,
    /// Factor on rejection. Default `10`.
    pub lambda_up: T,
    /// Divisor on acceptance. Default `10`.
    pub lambda_down: T,
    /// Above this `lambda` the run stops with [`StopReason::NoProgress`]. Default `1e16`.
    pub lambda_max: T,
}

impl<T: Float> Default for LmConfig<T> {
    fn default() -> Self {
        LmConfig {
            tol: Tolerances::default(),
            damping: Damping::Diagonal,
            lambda0: T::from_f64(1e-3),
            lambda_up: T::from_f64(10.0),
            lambda_down: T::from_f64(10.0),
            lambda_max: T::from_f64(1e16),
        }
    }
}

impl<T: Float> LmConfig<T> {
    /// Levenberg's method: the defaults with [`Damping::Identity`].
    pub fn levenberg() -> Self {
        LmConfig { damping: Damping::Identity, ..Self::default() }
    }
}

/// Minimises `1/2 ||r(x)||^2` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`].
pub fn minimize<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig<T>,
) -> Result<Report<T>, OptimError> {
    run(problem, x0, config, None)
}

/// [`minimize`], calling `observer` after every accepted step.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(problem, x0, config, Some(observer))
}

fn run<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut problem = Counted::new(problem);
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut lambda = config.lambda0;
    let mut prev: Option<(Vec<T>, T)> = None;
    let mut k = 0;
    loop {
        let (f, g, a) = problem.with_jacobian(&x, |r, j| {
            let mut g = vec![T::ZERO; n];
            j.jtu(r, &mut g);
            (half_squared_norm(r), g, dense_jacobian(j).gram())
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
        let d: Vec<T> = match config.damping {
            Damping::Identity => vec![T::ONE; n],
            Damping::Diagonal => {
                let diag = a.diagonal();
                let floor = T::EPSILON * diag.iter().fold(T::ZERO, |s, &v| s.max(v)).max(T::EPSILON);
                diag.iter().map(|&v| v.max(floor)).collect()
            }
        };
        let minus_g: Vec<T> = g.iter().map(|&v| -v).collect();
        loop {
            k += 1;
            let p = solve_damped(&a, &d, lambda, &minus_g);
            let xn = step_to(&x, T::ONE, &p);
            let fnew = half_squared_norm(&problem.residuals(&xn));
            if fnew.is_finite() && fnew < f {
                lambda /= config.lambda_down;
                prev = Some((std::mem::replace(&mut x, xn), f));
                break;
            }
            lambda *= config.lambda_up;
            let budget = if k >= config.tol.max_iter {
                Some(StopReason::MaxIterations)
            } else if problem.counts().total() >= config.tol.max_evals {
                Some(StopReason::MaxEvaluations)
            } else if lambda > config.lambda_max {
                Some(StopReason::NoProgress)
            } else {
                None
            };
            if let Some(s) = budget {
                return Ok(report(x, f, &g, k, problem.counts(), s));
            }
        }
    }
}
