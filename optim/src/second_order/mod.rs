//! Second-order and full-batch methods fed by the tape: the user writes only the loss; gradients,
//! Hessian-vector products and Jacobian products are exact, from reverse mode.
//!
//! | file | method | needs |
//! |---|---|---|
//! | [`gradient_descent`] | steepest descent with a line search | [`Objective`] |
//! | [`newton`] | Newton, dense Hessian from `n` HVPs, Cholesky with added multiple of `I` (N&W Alg. 3.3) | [`Objective`] |
//! | [`newton_cg`] | line-search Newton-CG, Hessian-free (as scipy `newton-cg`) | [`Objective`] |
//! | [`trust_ncg`] | trust-region Newton-CG, Steihaug-Toint (as scipy `trust-ncg`) | [`Objective`] |
//! | [`bfgs`] | BFGS, dense inverse-Hessian update | [`Objective`] |
//! | [`lbfgs`] | L-BFGS, two-loop recursion | [`Objective`] |
//! | [`lbfgsb`] | L-BFGS-B: L-BFGS with bounds `l <= x <= u` (generalised Cauchy point, subspace minimisation) | [`Objective`] |
//! | [`nonlinear_cg`] | Fletcher-Reeves, Polak-Ribière+ | [`Objective`] |
//! | [`gauss_newton`] | Gauss-Newton, `J^T J` dense or by CG on products | [`LeastSquares`] |
//! | [`robust_loss`] | Huber, soft-L1, Cauchy, arctan losses for least squares (as scipy `least_squares(loss=...)`) | [`LeastSquares`] |
//! | [`levenberg_marquardt`] | Levenberg-Marquardt as MINPACK `lmder` (trust region, `J^T J + lambda D^2`, `D = I` or column norms of `J`), switching to the exact Hessian `J^T J + sum r_i grad^2 r_i` as NL2SOL when residuals are large (the default), robust losses: **the default least-squares solver** | [`LeastSquares`] |
//!
//! Every method is a pair of functions, `minimize(obj, x0, &config)` and `minimize_observed(obj, x0, &config,
//! observer)`, and returns a [`Report`] (solution, value, gradient norm, iterations, [`Counts`], [`StopReason`])
//! with the method's own `Info` in [`Report::info`] (Newton's added regularisation, the trust radius, ...).
//! The loop they share (start check, budgets, non-finite guard, tolerances, observer, report) is written once,
//! in [`driver`]; each method file holds only its step. Every config is checked (`validate`) before the run.
//!
//! **How hyperparameters are typed.** One rule across the crate, the one of PyTorch and scipy (which take them
//! as Python floats): every hyperparameter in a public config is `f64` (tolerances, radii, damping, shifts,
//! line-search constants here; learning rates, betas, damping in the first-order optimisers, `stochastic` and
//! `curvature`), and the configs are not generic, so one config value serves `f32` and `f64` problems. A method
//! converts each setting to the problem's float type `T` with [`Float::from_f64`] where its run starts (a
//! line search, a CG solve, [`Tolerances::check`] and the [`robust_loss`] functions at each call; a conversion
//! is one cast): exact for `f64`, the nearest `f32` for `f32`. A default that depends on `T` is `None`
//! ([`lbfgs::LbfgsConfig::curvature_eps`], machine epsilon). What belongs to the problem stays `T`: the start
//! `x0`, bounds, and what a run reports (the final trust radius or damping in an `Info`).
//!
//! **Full batch is the design point.** These methods assume the same deterministic `f` at every evaluation:
//! line searches compare values and quasi-Newton pairs compare gradients across points. With minibatches
//! (a different `f` per call) the comparisons are between different functions; it may run, but the
//! guarantees (descent, superlinear convergence) are gone. Use the first-order optimisers for minibatches.
//!
//! ```
//! use wengert_optim::objective::TapeObjective;
//! use wengert_optim::second_order::{lbfgs, StopReason};
//! // Rosenbrock: f = 100 (x1 - x0^2)^2 + (1 - x0)^2
//! let mut f = TapeObjective::new(|x: wengert_autodiff::Var<'_, f64>| {
//!     let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
//!     ((b - a * a).square() * 100.0 + (1.0 - a).square()).sum()
//! });
//! let r = lbfgs::minimize(&mut f, &[-1.2_f64, 1.0], &lbfgs::LbfgsConfig::default()).unwrap();
//! assert_eq!(r.stop, StopReason::GradientTolerance);
//! assert!((r.x[0] - 1.0).abs() < 1e-4 && (r.x[1] - 1.0).abs() < 1e-4);
//! ```

use wengert_autodiff::Float;

pub use crate::error::OptimError;
pub use crate::objective::Counts;
#[allow(unused_imports)]
use crate::objective::{LeastSquares, Objective};

pub mod bfgs;
pub mod driver;
pub mod gauss_newton;
pub mod gradient_descent;
pub mod lbfgs;
pub mod lbfgsb;
pub mod levenberg_marquardt;
pub mod newton;
pub mod newton_cg;
pub mod nonlinear_cg;
pub mod robust_loss;
pub mod trust_ncg;

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `||grad f|| <= grad_tol`.
    GradientTolerance,
    /// `||x_{k+1} - x_k|| <= step_tol`.
    StepTolerance,
    /// `(f_k - f_{k+1}) <= f_rel_tol max(|f_k|, |f_{k+1}|, 1)`.
    FunctionTolerance,
    /// The iteration budget ran out.
    MaxIterations,
    /// The evaluation budget ran out.
    MaxEvaluations,
    /// The line search (or trust region) could not make progress: usually the solution is as accurate as the
    /// arithmetic allows.
    NoProgress,
    /// A step reached a point whose value or gradient is NaN or infinite; the run stopped at the last finite
    /// point (never reported as convergence).
    NonFinite,
}

/// What every method returns: the common fields, and in `info` what only the method knows (`()` for a
/// method with nothing to add).
#[derive(Clone, Debug, PartialEq)]
pub struct Report<T, I = ()> {
    /// The last accepted point.
    pub x: Vec<T>,
    /// `f(x)`.
    pub f: T,
    /// `||grad f(x)||` (Euclidean).
    pub grad_norm: T,
    /// Iterations done (accepted or rejected steps).
    pub iterations: usize,
    /// Evaluation counts.
    pub counts: Counts,
    /// Why it stopped.
    pub stop: StopReason,
    /// The method's own report (e.g. [`newton::NewtonInfo`], [`trust_ncg::TrustNcgInfo`]).
    pub info: I,
}

impl<T, I> Report<T, I> {
    /// The common report without the method's own `info` (to keep reports of several methods together).
    pub fn without_info(self) -> Report<T> {
        let Report { x, f, grad_norm, iterations, counts, stop, .. } = self;
        Report { x, f, grad_norm, iterations, counts, stop, info: () }
    }
}

/// Stopping rules shared by all methods. A rule with tolerance `0` (or budget `usize::MAX`) is off.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerances {
    /// Stop when `||grad f|| <= grad_tol`. Default `1e-5` (scipy's `gtol`, there in the max-norm).
    pub grad_tol: f64,
    /// Stop when `||x_{k+1} - x_k|| <= step_tol`. Default `0` (off).
    pub step_tol: f64,
    /// Stop when the relative decrease of `f` is at most this. Default `0` (off).
    pub f_rel_tol: f64,
    /// Iteration budget. Default `1000`.
    pub max_iter: usize,
    /// Budget on [`Counts::total`]. Default `usize::MAX` (off).
    pub max_evals: usize,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { grad_tol: 1e-5, step_tol: 0.0, f_rel_tol: 0.0, max_iter: 1000, max_evals: usize::MAX }
    }
}

impl Tolerances {
    /// These tolerances with `grad_tol` replaced.
    pub fn with_grad_tol(mut self, grad_tol: f64) -> Self {
        self.grad_tol = grad_tol;
        self
    }

    /// These tolerances with `max_iter` replaced.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Checks the tolerances: each is `>= 0` (not NaN).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field and its value.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_nonneg("Tolerances", "grad_tol", self.grad_tol)?;
        check_nonneg("Tolerances", "step_tol", self.step_tol)?;
        check_nonneg("Tolerances", "f_rel_tol", self.f_rel_tol)
    }

    /// The budget rule met at iteration `k` with `evals` evaluations spent, if any.
    pub fn budget_spent(&self, k: usize, evals: usize) -> Option<StopReason> {
        if k >= self.max_iter {
            Some(StopReason::MaxIterations)
        } else if evals >= self.max_evals {
            Some(StopReason::MaxEvaluations)
        } else {
            None
        }
    }

    /// The stopping rule met after a step from `(x_old, f_old)` to `(x_new, f_new)` with gradient norm
    /// `gnorm`, at iteration `k` (1-based) with `evals` evaluations spent. (Each rule reads a different
    /// argument; bundling them into a struct would only move the list to every call site.) The tolerances are
    /// compared in `T` ([`Float::from_f64`]).
    #[allow(clippy::too_many_arguments)]
    pub fn check<T: Float>(
        &self,
        k: usize,
        x_old: &[T],
        x_new: &[T],
        f_old: T,
        f_new: T,
        gnorm: T,
        evals: usize,
    ) -> Option<StopReason> {
        let (grad_tol, step_tol, f_rel_tol) =
            (T::from_f64(self.grad_tol), T::from_f64(self.step_tol), T::from_f64(self.f_rel_tol));
        if gnorm <= grad_tol {
            return Some(StopReason::GradientTolerance);
        }
        if step_tol > T::ZERO {
            let s: T = x_old.iter().zip(x_new).map(|(&a, &b)| (a - b) * (a - b)).sum::<T>().sqrt();
            if s <= step_tol {
                return Some(StopReason::StepTolerance);
            }
        }
        if f_rel_tol > T::ZERO && f_old - f_new <= f_rel_tol * f_old.abs().max(f_new.abs()).max(T::ONE) {
            return Some(StopReason::FunctionTolerance);
        }
        self.budget_spent(k, evals)
    }
}

/// What the observer sees after each iteration.
#[derive(Clone, Copy, Debug)]
pub struct Iteration<'a, T> {
    /// Iteration number (1-based).
    pub k: usize,
    /// `f` at the current point.
    pub f: T,
    /// `||grad f||` at the current point.
    pub grad_norm: T,
    /// The current point.
    pub x: &'a [T],
}

/// A per-iteration callback (logging, plotting).
pub type Observer<'a, T> = &'a mut dyn FnMut(&Iteration<'_, T>);

/// `Err(InvalidConfig)` unless `v >= 0` (NaN fails).
pub(crate) fn check_nonneg(config: &str, field: &str, v: f64) -> Result<(), OptimError> {
    check(v >= 0.0, || format!("{config}.{field} = {v:?} must be >= 0"))
}

/// `Err(InvalidConfig)` unless `v > 0` and finite.
pub(crate) fn check_positive(config: &str, field: &str, v: f64) -> Result<(), OptimError> {
    check(v > 0.0 && v.is_finite(), || format!("{config}.{field} = {v:?} must be positive and finite"))
}

pub(crate) use crate::first_order::error_check as check;
