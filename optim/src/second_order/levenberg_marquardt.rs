//! Levenberg-Marquardt for nonlinear least squares `min f(x) = 1/2 ||r(x)||^2`, in the trust-region form of
//! MINPACK's `lmder` (Moré, "The Levenberg-Marquardt algorithm: implementation and theory", 1977; Moré,
//! Garbow & Hillstrom, MINPACK-1, 1980). Each iteration solves
//!
//! ```text
//! min_p ||J p + r||^2   subject to   ||D p|| <= delta,
//! i.e.  (J^T J + lambda D^2) p = -J^T r   with lambda >= 0 such that ||D p|| ~ delta (Moré's `lmpar`),
//! ```
//!
//! accepts the step when the actual reduction of `||r||^2` is at least `1e-4` of the reduction the linear model
//! predicted, and updates the radius `delta` from that ratio. The damping `lambda` is therefore not a free
//! parameter grown by factors of ten: it is the Lagrange multiplier of the trust region, `0` whenever the
//! Gauss-Newton step fits inside it. `D` is the identity ([`Damping::Identity`], Levenberg) or, as MINPACK,
//! the column norms of `J`, never decreasing over the run ([`Damping::Diagonal`], Marquardt's scaling), which
//! makes the method invariant under a diagonal rescaling of the variables. As in MINPACK, `J = Q R` is factored
//! once (Householder) and each damped system is the small least-squares problem `[R; sqrt(lambda) D] p ~=
//! [-Q_1^T r; 0]`, so the condition number of `J` is not squared.
//!
//! `J` is formed densely from exact Jacobian products (`n` products `J e_j`) once per accepted point: intended
//! for small `n` (as MINPACK). A trial point is evaluated once; its Jacobian is formed only if it is accepted.
//!
//! ## Large residuals: the adaptive model (the default)
//! Near the solution of a problem whose residuals do not vanish, the Gauss-Newton model drops the term
//! `S = sum_i r_i grad^2 r_i` of the Hessian and Levenberg-Marquardt converges only linearly; in f64 `lmder`
//! then stops on `ftol`/`xtol` some 1e-7 short of the solution (ENSO, MGH09, Thurber, Roszman1 in the NIST
//! table). With [`LsModel::Adaptive`] (the default) the trial model switches to `J^T J + S`, `S` exact from the
//! tape, as NL2SOL switches (Dennis, Gay & Welsch 1981): see [`LsModel::Adaptive`] for the rule and the measured
//! effect. [`LmConfig::minpack`] is `lmder` alone.
//!
//! ## Stopping rules (as `lmder`; a tolerance of `0` is off)
//! - `ftol`: the actual and the predicted relative reductions of `||r||^2` are both at most `ftol`
//!   ([`StopReason::FunctionTolerance`]);
//! - `xtol`: the trust radius is at most `xtol ||D x||`, a relative step bound ([`StopReason::StepTolerance`]);
//! - `gtol`: the largest cosine between `r` and a column of `J`, `max_j |J_j^T r| / (||J_j|| ||r||)`, is at most
//!   `gtol` ([`StopReason::GradientTolerance`]); scale-free, unlike the absolute [`Tolerances::grad_tol`];
//! - the same three at machine precision stop the run with [`StopReason::NoProgress`] (`lmder`'s `info` 6-8:
//!   nothing representable is left to gain), so the run never ends in a string of rejected trials;
//! - the budgets and the absolute rules of [`LmConfig::tol`], as every method.
//!
//! A trial point whose residuals are not finite is rejected like any bad step (the radius shrinks); a Jacobian
//! that is not finite at an accepted point stops the run (never reported as convergence).

use wengert_autodiff::Float;

use super::driver::{self, Context, Method, Point, Step};
use super::gauss_newton::dense_jacobian;
use super::lbfgsb::{ActiveBound, Bounds};
use super::newton::dense_hessian;
use super::robust_loss::{Loss, RobustLoss};
use super::{check, check_nonneg, check_positive, Iteration, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::qr::Qr;
use crate::linalg::{dot, norm, trust_region, DenseMatrix};
use crate::objective::{Counted, LeastSquares};

/// The scaling matrix `D` of the trust region `||D p|| <= delta` (equivalently the damping `lambda D^2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damping {
    /// `D = I` (Levenberg 1944).
    Identity,
    /// `D = diag(||J_j||)`, the column norms of `J`, each the largest seen so far (Marquardt 1963's scaling as
    /// MINPACK `lmder` with `mode = 1`); a zero column counts as `1`.
    Diagonal,
}

/// The quadratic model of `1/2 ||r(x + p)||^2` a trial minimises in the trust region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LsModel {
    /// Gauss-Newton, `1/2 ||r + J p||^2` (Hessian `J^T J`): MINPACK's `lmder` exactly.
    GaussNewton,
    /// NL2SOL's adaptive choice (Dennis, Gay & Welsch, "An adaptive nonlinear least-squares algorithm", ACM
    /// TOMS 7, 1981) between the Gauss-Newton model and the augmented model with Hessian `J^T J + S`,
    /// `S = sum_i r_i grad^2 r_i`. NL2SOL keeps a secant approximation of `S`; here `S` is **exact**, `n`
    /// Hessian-vector products of `sum_i r_i(x) r_i` (`r` held constant) at each accepted point
    /// ([`LeastSquares::with_residual_hessian`]). After every trial the model whose predicted reduction of
    /// `||r||^2` was nearer the actual reduction is used for the next trial (NL2SOL's rule, without its
    /// immediate retry of a rejected step with the other model); the first trial uses Gauss-Newton. A step of
    /// the augmented model solves the trust-region subproblem with the possibly indefinite Hessian by Moré-Sorensen
    /// ([`crate::linalg::trust_region`]) in the scaled variables `D p`.
    ///
    /// The switch is gated so that the run is `lmder`'s until Levenberg-Marquardt stalls (NL2SOL switches from the
    /// first step; measured on the NIST table, that costs evaluations on the problems `lmder` solves fast): the
    /// augmented model is chosen for the next trial only after an unconstrained trial (`lambda = 0`) that changed
    /// `||r||^2` by less than 1% and whose Gauss-Newton prediction was off by more than 10% and further off than
    /// the augmented one's. That happens near the solution of a problem with large residuals, where
    /// Levenberg-Marquardt converges linearly and the augmented (Newton) model quadratically.
    ///
    /// Near the solution the ratio of actual to predicted reduction is rounding noise; an unconstrained trial
    /// predicted to gain at most `1000 eps` of `||r||^2` is taken if `||r||` did not grow by more than that or if
    /// it reduced `||P r||`, the norm of the part of `r` in the range of `J` (`||J e||` at a distance `e` from the
    /// solution, which rounding errors in `r` blur far less than `||r||` or `J^T r`), and the run stops at the
    /// second such step in a row ([`StopReason::FunctionTolerance`]; NL2SOL's relative function convergence;
    /// [`StopReason::NoProgress`] if `ftol` is off).
    /// Measured on the NIST StRD table (`optim/tests/nist_strd.rs`): with the restart of [`minimize`], all 54 runs
    /// within 1e-8 of the certified values (MINPACK: 41), never more residual evaluations than MINPACK's +1 where
    /// MINPACK reaches 1e-8, except MGH10 from start 1 (288 against 284, a draw of rounding: see
    /// `optim/tests/nist_strd.rs`). The cost is `S` at every accepted point:
    /// `n` Hessian-vector products ([`LmInfo::second_order_evaluations`]), no residual evaluations. Falls back to
    /// [`LsModel::GaussNewton`] for a robust loss or a problem that gives no `S` (e.g. a sharded one).
    Adaptive,
}

/// Settings of Levenberg-Marquardt. Defaults as MINPACK's `lmder` driver `lmder1` and scipy's `leastsq`
/// (`ftol = xtol = 1.49012e-8`, i.e. `sqrt(eps)` in f64; `gtol = 0`; `factor = 100`), except that `xtol`
/// defaults to `1e-10`, `ftol` and `gtol` to `1e-15` so that fits reach the solution to about 8 significant
/// digits (see `optim/tests/nist_strd.rs`); the absolute rules of [`Tolerances`] are off (`grad_tol = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct LmConfig {
    /// Budgets (`max_iter` counts trials, accepted or rejected; `max_evals` counts all evaluations) and the
    /// absolute rules every method has. Default [`Tolerances::default`] with `grad_tol = 0`.
    pub tol: Tolerances,
    /// Relative reduction of `||r||^2` (actual and predicted). Default `1e-15`.
    pub ftol: f64,
    /// Relative step: stop when `delta <= xtol ||D x||`. Default `1e-10`.
    pub xtol: f64,
    /// Cosine between `r` and the columns of `J`. Default `1e-15` (MINPACK: `0`).
    pub gtol: f64,
    /// Scaling of the trust region. Default [`Damping::Diagonal`] (Marquardt, MINPACK).
    pub damping: Damping,
    /// The first radius is `factor ||D x0||` (or `factor` if that is 0). Default `100` (MINPACK).
    pub factor: f64,
    /// The cost: `1/2 ||r||^2` or a robust loss of the residuals (scipy's `loss=`, `f_scale=`). Default
    /// [`Loss::Linear`]. Reported `f` values are this cost.
    pub loss: RobustLoss,
    /// The model of each trial. Default [`LsModel::Adaptive`] (NL2SOL's switching; measured on the NIST StRD
    /// problems in `optim/tests/nist_strd.rs`).
    pub model: LsModel,
}

impl Default for LmConfig {
    fn default() -> Self {
        LmConfig {
            tol: Tolerances::default().with_grad_tol(0.0),
            ftol: 1e-15,
            xtol: 1e-10,
            gtol: 1e-15,
            damping: Damping::Diagonal,
            factor: 100.0,
            loss: RobustLoss::default(),
            model: LsModel::Adaptive,
        }
    }
}

impl LmConfig {
    /// Levenberg's method: the defaults with [`Damping::Identity`] and the Gauss-Newton model.
    pub fn levenberg() -> Self {
        LmConfig { damping: Damping::Identity, model: LsModel::GaussNewton, ..Self::default() }
    }

    /// MINPACK's `lmder` (Marquardt's scaling, the Gauss-Newton model only) with these defaults' tolerances.
    pub fn minpack() -> Self {
        LmConfig { model: LsModel::GaussNewton, ..Self::default() }
    }

    /// Checks the settings: the tolerances, `ftol`, `xtol`, `gtol >= 0`, `factor > 0`, `loss.f_scale > 0`.
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        check_nonneg("LmConfig", "ftol", self.ftol)?;
        check_nonneg("LmConfig", "xtol", self.xtol)?;
        check_nonneg("LmConfig", "gtol", self.gtol)?;
        check_positive("LmConfig", "factor", self.factor)?;
        check_positive("LmConfig", "loss.f_scale", self.loss.f_scale)
    }
}

/// What only Levenberg-Marquardt knows about a run.
#[derive(Clone, Debug, PartialEq)]
pub struct LmInfo<T> {
    /// The damping `lambda` of the last trial (`0` if it was a Gauss-Newton step).
    pub damping: T,
    /// The final trust radius `delta` (in the scaled norm `||D p||`).
    pub radius: T,
    /// Residual evaluations `r(x)`, MINPACK's `nfev` (the start and every trial).
    pub residual_evaluations: usize,
    /// Jacobians formed, MINPACK's `njev` (the start and every accepted point).
    pub jacobian_evaluations: usize,
    /// Second-order terms `S` formed ([`LsModel::Adaptive`]: the start and every accepted point; `n`
    /// Hessian-vector products each, counted in [`super::Counts::hvp`]).
    pub second_order_evaluations: usize,
    /// Trials made with the augmented model `J^T J + S`.
    pub augmented_trials: usize,
    /// Where each variable ends with respect to its bounds ([`minimize_bounded`]; all [`ActiveBound::Free`]
    /// without bounds).
    pub active: Vec<ActiveBound>,
    /// Columns of `J` at the last point with norm at most `eps` times the largest (parameters without effect
    /// there).
    pub vanished_columns: usize,
    /// The run was made again with Levenberg's scaling ([`LsModel::Adaptive`]: see [`minimize`]); the counts
    /// and the iterations are those of both runs.
    pub restarted: bool,
}

/// Minimises `1/2 ||r(x)||^2` (or the robust cost of [`LmConfig::loss`]) from `x0`.
///
/// With [`LsModel::Adaptive`] (the default) and Marquardt's scaling, a run that ends where a column of `J` has
/// vanished is made once more from `x0` with Levenberg's scaling and the better end returned
/// ([`LmInfo::restarted`]; the observer, if any, sees both runs).
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`] (also for a non-finite Jacobian at `x0`),
/// [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig,
) -> Result<Report<T, LmInfo<T>>, OptimError> {
    config.validate()?;
    run(problem, x0, config, None, None)
}

/// [`minimize`], calling `observer` after every accepted step.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, LmInfo<T>>, OptimError> {
    config.validate()?;
    run(problem, x0, config, None, Some(observer))
}

/// Minimises `1/2 ||r(x)||^2` (or the robust cost) subject to `lower <= x <= upper` from `x0`, projected into the
/// box (an infeasible start is moved to the nearest feasible point, as L-BFGS-B does).
///
/// A projected Levenberg-Marquardt method with the active-set rule of scipy's `least_squares(method='dogbox')`
/// (Voglis & Lagaris, "A rectangular trust region dogleg approach for unconstrained and bound constrained
/// nonlinear optimization", 2004): at each trial the variables *held* at a bound (at the lower bound with
/// `g_i > 0`, at the upper with `g_i < 0`: the descent direction leaves the box) are fixed, the damped subproblem
/// of the spherical region `||D p|| <= delta` (or the augmented one, [`LsModel::Adaptive`]) is solved over the
/// free variables, and the trial point is projected into the box; the predicted reduction is that of the
/// projected step, and the radius is updated from it as `lmder` does. (dogbox itself takes dogleg steps in a
/// rectangular region.) The
/// scale-free gradient test reads the projected gradient `x - P(x - g)`; the absolute
/// [`Tolerances::grad_tol`] still reads the full gradient `J^T r` (default `0`, off). [`LmInfo::active`] says
/// which bounds are active at the end.
///
/// # Errors
/// As [`minimize`]; [`OptimError::InvalidConfig`] if `bounds` has another length than `x0`.
pub fn minimize_bounded<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    bounds: &Bounds<T>,
    config: &LmConfig,
) -> Result<Report<T, LmInfo<T>>, OptimError> {
    config.validate()?;
    check(bounds.len() == x0.len(), || format!("Bounds: {} variables bounded, x0 has {}", bounds.len(), x0.len()))?;
    let mut x = x0.to_vec();
    bounds.project(&mut x);
    run(problem, &x, config, Some(bounds), None)
}

/// [`minimize`], with the [`LmInfo`] apart from the common report (as before every method carried its
/// `Info` in [`Report::info`]; kept so that callers of the pair keep working).
///
/// # Errors
/// As [`minimize`].
pub fn minimize_with_info<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig,
) -> Result<(Report<T>, LmInfo<T>), OptimError> {
    let r = minimize(problem, x0, config)?;
    let info = r.info.clone();
    Ok((r.without_info(), info))
}

/// A predicted relative reduction of `||r||^2` at most this many `eps` is at the rounding level of `||r||^2`
/// (see [`LsModel::Adaptive`]).
const ROUNDING_LEVEL: f64 = 1e3;

/// The Gauss-Newton model is taken to mispredict when its predicted reduction is off the actual one by more than
/// this fraction (see [`LsModel::Adaptive`]).
const MISPREDICTION: f64 = 0.1;

/// A trial that reduces `||r||^2` by less than this fraction is one of the final, slow steps of
/// Levenberg-Marquardt on a problem with large residuals: only there is the augmented model tried (see
/// [`LsModel::Adaptive`]).
const STALL: f64 = 1e-2;

/// The step of the augmented model `J^T J + S` in the region `||D p|| <= delta`: the subproblem in the scaled
/// variables `D p` by Moré-Sorensen, from the damping estimate `par`. `None` if no finite step is found.
fn augmented_step<T: Float>(
    jac: &DenseMatrix<T>,
    s: &DenseMatrix<T>,
    d: &[T],
    g: &[T],
    delta: T,
    par: T,
) -> Option<(T, Vec<T>)> {
    let mut h = jac.gram();
    let n = h.rows();
    for i in 0..n {
        for j in 0..n {
            h[(i, j)] = (h[(i, j)] + s[(i, j)]) / (d[i] * d[j]);
        }
    }
    let gs: Vec<T> = g.iter().zip(d).map(|(&a, &b)| a / b).collect();
    let (lambda, ps) = trust_region::solve(&h, &gs, delta, par)?;
    Some((lambda, ps.iter().zip(d).map(|(&a, &b)| a / b).collect()))
}

/// Variable `i` is held at its bound: at the lower bound with `g_i > 0` or at the upper with `g_i < 0` (the
/// steepest descent direction leaves the box there).
fn held<T: Float>(b: &Bounds<T>, x: &[T], g: &[T], i: usize) -> bool {
    x[i] <= b.lower()[i] && g[i] > T::ZERO || x[i] >= b.upper()[i] && g[i] < T::ZERO
}

/// The run, and with [`LsModel::Adaptive`] its one restart: a run that ends where a column of `J` has vanished
/// (a parameter without effect, e.g. an exponential rate sent so far that `exp(-b t)` underflows the data's
/// scale) is made again from `x0` with Levenberg's scaling [`Damping::Identity`], and the better of the two ends
/// is returned (evaluations of both counted). Marquardt's scaling takes its first `D` from the start, where such
/// a column can be tiny (BoxBOD from NIST's start 1: `b1 = 1` makes the column of `b2` small, the first
/// Gauss-Newton step moves `b2` from 1 to 110); the identity does not.
fn run<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig,
    bounds: Option<&Bounds<T>>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T, LmInfo<T>>, OptimError> {
    // one observer for both runs
    let mut observe = |it: &Iteration<'_, T>| {
        if let Some(o) = observer.as_mut() {
            o(it)
        }
    };
    let first = driver::run(problem, x0, &config.tol, Lm::new(config, bounds), Some(&mut observe))?;
    let degenerate = first.info.vanished_columns > 0
        && !matches!(first.stop, StopReason::MaxIterations | StopReason::MaxEvaluations);
    if config.model != LsModel::Adaptive || config.damping != Damping::Diagonal || !degenerate {
        return Ok(first);
    }
    let levenberg = LmConfig { damping: Damping::Identity, ..config.clone() };
    let second = driver::run(problem, x0, &config.tol, Lm::new(&levenberg, bounds), Some(&mut observe))?;
    let (mut best, other) = if second.f < first.f { (second, first) } else { (first, second) };
    let (c, o) = (&mut best.counts, &other.counts);
    (c.function, c.gradient, c.hvp, c.jvp, c.vjp, c.residual, c.jacobian) = (
        c.function + o.function,
        c.gradient + o.gradient,
        c.hvp + o.hvp,
        c.jvp + o.jvp,
        c.vjp + o.vjp,
        c.residual + o.residual,
        c.jacobian + o.jacobian,
    );
    best.iterations += other.iterations;
    best.info.residual_evaluations += other.info.residual_evaluations;
    best.info.jacobian_evaluations += other.info.jacobian_evaluations;
    best.info.second_order_evaluations += other.info.second_order_evaluations;
    best.info.augmented_trials += other.info.augmented_trials;
    best.info.restarted = true;
    Ok(best)
}

/// Column norms `||J_j||`.
fn column_norms<T: Float>(j: &DenseMatrix<T>) -> Vec<T> {
    (0..j.cols()).map(|c| (0..j.rows()).map(|i| j[(i, c)] * j[(i, c)]).sum::<T>().sqrt()).collect()
}

fn all_finite<T: Float>(v: &[T]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// `J = Q R` (Householder; MINPACK's `qrfac`): the factor `R` (`n x n`) and `Q_1^T r`, from which every damped
/// system of a trial is solved (an underdetermined `J` is made square by zero rows, which change nothing).
fn compress<T: Float>(j: &DenseMatrix<T>, r: &[T]) -> Option<(DenseMatrix<T>, Vec<T>)> {
    let (m, n) = (j.rows(), j.cols());
    let rows = m.max(n);
    let jt = DenseMatrix::from_fn(rows, n, |i, c| if i < m { j[(i, c)] } else { T::ZERO });
    let rt: Vec<T> = r.iter().copied().chain(std::iter::repeat_n(T::ZERO, rows - m)).collect();
    let qr = Qr::factor(&jt).ok()?;
    let mut qtr = qr.apply_qt(&rt).ok()?;
    qtr.truncate(n);
    Some((qr.r(), qtr))
}

/// The least-squares solution `p` of `[J; sqrt(lambda) D] p ~= [-r; 0]`, solved as the `2n x n` problem
/// `[R; sqrt(lambda) D] p ~= [-Q_1^T r; 0]` from [`compress`] (MINPACK's `qrsolv`), and the factor `R_lambda` of
/// that matrix (`R_lambda^T R_lambda = J^T J + lambda D^2`); `None` if it is singular (only for `lambda = 0` and a
/// rank-deficient `J`) or not finite. The component of `r` outside the range of `J` is left out once, in
/// [`compress`], rather than carried through every damped solve. Measured on MGH10 from NIST's start 1 (large
/// residuals, `J` ill-conditioned along a curved valley) over 201 starts moved by -100..100 ulps in `b1`:
/// factoring `[J; sqrt(lambda) D]` afresh for each `lambda` ended 11 runs in 345-363 evaluations (long cycles of
/// a doubled radius and a rejected trial), this form ends all in 278-303 (MINPACK's `lmder`: 278-300).
fn damped_step<T: Float>(rj: &DenseMatrix<T>, qtr: &[T], d: &[T], lambda: T) -> Option<(Vec<T>, DenseMatrix<T>)> {
    let n = rj.cols();
    let s = lambda.sqrt();
    let a = DenseMatrix::from_fn(2 * n, n, |i, c| {
        if i < n {
            rj[(i, c)]
        } else if i - n == c {
            s * d[c]
        } else {
            T::ZERO
        }
    });
    let b: Vec<T> = qtr.iter().map(|&v| -v).chain(std::iter::repeat_n(T::ZERO, n)).collect();
    let qr = Qr::factor(&a).ok()?;
    let p = qr.solve_least_squares(&b).ok()?;
    all_finite(&p).then(|| (p, qr.r()))
}

/// `||P r||`, the norm of the projection of `r` onto the range of `J` (`||Q_1^T r||` for `J = Q_1 R`): `||J e||`
/// to first order at a distance `e` from a stationary point, where `Q_1^T r = 0`. Rounding errors of size `delta`
/// in `r` blur it by about `delta` only, where they blur `||r||^2` by about `||r|| delta` and the gradient
/// `J^T r = R^T Q_1^T r` by `||J|| delta` (whose signal, `J^T J e`, is the smaller in the directions of small
/// singular values). `None` if it is not finite.
fn range_norm<T: Float>(j: &DenseMatrix<T>, r: &[T]) -> Option<T> {
    let qtr = Qr::factor(j).ok()?.apply_qt(r).ok()?;
    let v = norm(&qtr[..j.cols()]);
    v.is_finite().then_some(v)
}

/// `||R^-T w||^2` for upper-triangular `R` (forward substitution on `R^T z = w`).
fn inv_rt_norm2<T: Float>(rf: &DenseMatrix<T>, w: &[T]) -> T {
    let n = w.len();
    let mut z = vec![T::ZERO; n];
    for i in 0..n {
        let s: T = (0..i).map(|k| rf[(k, i)] * z[k]).sum();
        z[i] = (w[i] - s) / rf[(i, i)];
    }
    dot(&z, &z)
}

/// Moré's `lmpar`: the damping `lambda >= 0` (from the estimate `lambda`) and step `p` with `||D p||` within 10%
/// of `delta`, or `lambda = 0` if the Gauss-Newton step is shorter than `1.1 delta`; safeguarded Newton
/// iterations on `phi(lambda) = ||D p(lambda)|| - delta`, at most 10 solves. `None` if no finite step exists.
fn lmpar<T: Float>(j: &DenseMatrix<T>, r: &[T], d: &[T], delta: T, lambda: T) -> Option<(T, Vec<T>)> {
    let dwarf = T::ONE / T::MAX;
    let scaled_norm = |p: &[T]| p.iter().zip(d).map(|(&a, &b)| (a * b) * (a * b)).sum::<T>().sqrt();
    // phi'(lambda) / ||D p|| up to the factor -1: ||R^-T D (D p) / ||D p|| ||^2 / ||D p||
    let slope = |rf: &DenseMatrix<T>, p: &[T], dxnorm: T| {
        let w: Vec<T> = p.iter().zip(d).map(|(&a, &b)| b * (b * a) / dxnorm).collect();
        inv_rt_norm2(rf, &w)
    };
    let (rj, qtr) = compress(j, r)?;
    let mut parl = T::ZERO;
    let mut gn_norm = None;
    if let Some((p, rf)) = damped_step(&rj, &qtr, d, T::ZERO) {
        let dxnorm = scaled_norm(&p);
        let fp = dxnorm - delta;
        if fp <= T::from_f64(0.1) * delta {
            return Some((T::ZERO, p));
        }
        parl = fp / delta / slope(&rf, &p, dxnorm);
        gn_norm = Some(dxnorm);
    }
    let mut g = vec![T::ZERO; j.cols()];
    for (c, gc) in g.iter_mut().enumerate() {
        *gc = (0..j.rows()).map(|i| j[(i, c)] * r[i]).sum::<T>() / d[c];
    }
    let gnorm = norm(&g);
    let mut paru = gnorm / delta;
    if paru == T::ZERO {
        paru = dwarf / delta.min(T::from_f64(0.1));
    }
    let mut par = lambda.max(parl).min(paru);
    if par == T::ZERO {
        par = gn_norm.map_or(T::ZERO, |dx| gnorm / dx);
    }
    let mut best = None;
    let mut fp_old = T::ZERO;
    for iter in 1..=10 {
        if par == T::ZERO {
            par = dwarf.max(T::from_f64(0.001) * paru);
        }
        let (p, rf) = damped_step(&rj, &qtr, d, par)?;
        let dxnorm = scaled_norm(&p);
        let fp = dxnorm - delta;
        let done =
            fp.abs() <= T::from_f64(0.1) * delta || (parl == T::ZERO && fp <= fp_old && fp_old < T::ZERO) || iter == 10;
        if done {
            return Some((par, p));
        }
        let parc = fp / delta / slope(&rf, &p, dxnorm);
        if fp > T::ZERO {
            parl = parl.max(par);
        } else if fp < T::ZERO {
            paru = paru.min(par);
        }
        best = Some((par, p));
        fp_old = fp;
        par = parl.max(par + parc);
    }
    best
}

/// Levenberg-Marquardt as a [`driver`] step: one trial per iteration (accepted or rejected), the state of
/// `lmder` between them.
struct Lm<'c, T> {
    config: &'c LmConfig,
    /// `config.ftol`, `xtol`, `gtol` and `factor` in `T`, converted once for the run.
    ftol: T,
    xtol: T,
    gtol: T,
    factor: T,
    /// Box constraints ([`minimize_bounded`]).
    bounds: Option<&'c Bounds<T>>,
    /// The current point (for the active set reported at the end).
    x: Vec<T>,
    /// The residuals at the current point (unscaled) and the working residuals and Jacobian of the model
    /// (rescaled for a robust loss).
    r: Vec<T>,
    rw: Vec<T>,
    jac: DenseMatrix<T>,
    /// Column norms of `jac`.
    cnorm: Vec<T>,
    /// `sqrt(2 F)` at the current point (`||r||` for plain least squares).
    fnorm: T,
    diag: Vec<T>,
    par: T,
    delta: T,
    xnorm: T,
    /// No step accepted yet (the first trial also caps the radius, as `lmder`).
    first: bool,
    /// `S` at the current point ([`LsModel::Adaptive`], plain least squares, if the problem gives it).
    s: Option<DenseMatrix<T>>,
    /// The next trial uses the augmented model.
    augmented: bool,
    /// Unconstrained steps at the rounding level taken in a row.
    rounding_steps: usize,
    info: LmInfo<T>,
}

impl<'c, T: Float> Lm<'c, T> {
    fn new(config: &'c LmConfig, bounds: Option<&'c Bounds<T>>) -> Self {
        Lm {
            config,
            ftol: T::from_f64(config.ftol),
            xtol: T::from_f64(config.xtol),
            gtol: T::from_f64(config.gtol),
            factor: T::from_f64(config.factor),
            bounds,
            x: vec![],
            r: vec![],
            rw: vec![],
            jac: DenseMatrix::zeros(0, 0),
            cnorm: vec![],
            fnorm: T::ZERO,
            diag: vec![],
            par: T::ZERO,
            delta: T::ZERO,
            xnorm: T::ZERO,
            first: true,
            s: None,
            augmented: false,
            rounding_steps: 0,
            info: LmInfo {
                damping: T::ZERO,
                radius: T::ZERO,
                residual_evaluations: 0,
                jacobian_evaluations: 0,
                second_order_evaluations: 0,
                augmented_trials: 0,
                active: vec![],
                vanished_columns: 0,
                restarted: false,
            },
        }
    }

    /// `sqrt(2 F)`: `||r||` for plain least squares.
    fn cost_norm(&self, r: &[T]) -> T {
        let loss = self.config.loss;
        if loss.loss == Loss::Linear {
            norm(r)
        } else {
            (T::from_f64(2.0) * loss.cost(r)).sqrt()
        }
    }

    /// Takes `r` and `J` at a new current point: the working residuals and Jacobian (rescaled for a robust loss,
    /// see `robust_loss`), their column norms; returns `(F, g = J~^T r~)`.
    fn set_point(&mut self, r: Vec<T>, mut j: DenseMatrix<T>) -> (T, Vec<T>) {
        let loss = self.config.loss;
        self.rw = match loss.scale(&r) {
            None => r.clone(),
            Some((rs, w)) => {
                for (i, &wi) in w.iter().enumerate() {
                    for c in 0..j.cols() {
                        j[(i, c)] *= wi;
                    }
                }
                rs
            }
        };
        self.jac = j;
        self.cnorm = column_norms(&self.jac);
        self.fnorm = self.cost_norm(&r);
        let f = loss.cost(&r);
        self.r = r;
        self.info.jacobian_evaluations += 1;
        (f, self.jac.matvec_t(&self.rw))
    }

    /// `S = sum_i r_i grad^2 r_i` at the current point `x` (dense, from `n` products), when the model is adaptive.
    fn second_order<L: LeastSquares<T> + ?Sized>(&mut self, problem: &mut Counted<'_, L>, x: &[T]) {
        self.s = None;
        if self.config.model != LsModel::Adaptive || self.config.loss.loss != Loss::Linear {
            return;
        }
        let s = problem.with_residual_hessian(x, &self.r, |h| dense_hessian(h));
        if s.is_some() {
            self.info.second_order_evaluations += 1;
        }
        self.s = s.filter(|s| all_finite(s.as_slice()));
    }

    fn scaled_norm(&self, v: &[T]) -> T {
        norm(&v.iter().zip(&self.diag).map(|(&a, &b)| a * b).collect::<Vec<_>>())
    }
}

impl<T: Float, L: LeastSquares<T> + ?Sized> Method<T, L> for Lm<'_, T> {
    type Info = LmInfo<T>;

    fn start(&mut self, problem: &mut Counted<'_, L>, x: &[T], g: &mut [T], _: &Context<'_, T>) -> T {
        let (r, jac) = problem.with_jacobian(x, |r, j| (r.to_vec(), dense_jacobian(j)));
        self.info.residual_evaluations += 1;
        // a non-finite Jacobian makes g non-finite: the driver reports NonFiniteStart
        let (f, g0) = self.set_point(r, jac);
        g.copy_from_slice(&g0);
        self.diag = match self.config.damping {
            Damping::Diagonal => self.cnorm.iter().map(|&c| if c == T::ZERO { T::ONE } else { c }).collect(),
            Damping::Identity => vec![T::ONE; x.len()],
        };
        self.xnorm = self.scaled_norm(x);
        self.delta = if self.xnorm == T::ZERO { self.factor } else { self.factor * self.xnorm };
        self.second_order(problem, x);
        self.x = x.to_vec();
        f
    }

    /// The scale-free gradient test: the largest cosine between `r` and a column of `J`.
    fn stop(&self, at: &Point<T>) -> Option<StopReason> {
        // with bounds, the gradient of the bounded problem: the projected gradient x - P(x - g)
        let mut gp = at.g.clone();
        if let Some(b) = self.bounds {
            b.projected_gradient(&at.x, &at.g, &mut gp);
        }
        let rwnorm = norm(&self.rw);
        let cnorm = &self.cnorm;
        let cosine = if rwnorm == T::ZERO {
            T::ZERO
        } else {
            (0..at.g.len())
                .filter(|&c| cnorm[c] != T::ZERO)
                .fold(T::ZERO, |s, c| s.max((gp[c] / cnorm[c] / rwnorm).abs()))
        };
        if cosine <= self.gtol {
            Some(StopReason::GradientTolerance)
        } else if cosine <= T::EPSILON {
            Some(StopReason::NoProgress)
        } else {
            None
        }
    }

    fn step(&mut self, problem: &mut Counted<'_, L>, at: &Point<T>, _: &Context<'_, T>) -> Step<T> {
        let eps = T::EPSILON;
        let (p1, p25, p5, p75, p0001) =
            (T::from_f64(0.1), T::from_f64(0.25), T::from_f64(0.5), T::from_f64(0.75), T::from_f64(1e-4));
        let fnorm = self.fnorm;
        let f2 = fnorm * fnorm;
        let n = at.x.len();
        // With bounds, the variables held at a bound take no part in the step (as scipy's `dogbox`): the
        // subproblem is solved over the free ones, in the columns of J (and rows and columns of S) they own.
        let free: Vec<usize> = match self.bounds {
            None => (0..n).collect(),
            Some(b) => (0..n).filter(|&i| !held(b, &at.x, &at.g, i)).collect(),
        };
        if free.is_empty() {
            return Step::NoProgress;
        }
        let (jf, df, gf, sf);
        let (jac, diag, g, s) = if self.bounds.is_none() {
            (&self.jac, &self.diag[..], &at.g[..], self.s.as_ref())
        } else {
            jf = DenseMatrix::from_fn(self.jac.rows(), free.len(), |i, c| self.jac[(i, free[c])]);
            df = free.iter().map(|&i| self.diag[i]).collect::<Vec<_>>();
            gf = free.iter().map(|&i| at.g[i]).collect::<Vec<_>>();
            sf = self.s.as_ref().map(|s| DenseMatrix::from_fn(free.len(), free.len(), |a, b| s[(free[a], free[b])]));
            (&jf, &df[..], &gf[..], sf.as_ref())
        };
        // the augmented model's step and its predicted relative reduction -(2 g^T p + p^T (J^T J + S) p) / ||r||^2
        let augmented = s.filter(|_| self.augmented).and_then(|s| {
            let (lambda, p) = augmented_step(jac, s, diag, g, self.delta, self.par)?;
            let jp = jac.matvec(&p);
            let prered = -(T::from_f64(2.0) * dot(g, &p) + dot(&jp, &jp) + dot(&p, &s.matvec(&p))) / f2;
            (prered > T::ZERO).then_some((lambda, p, prered))
        });
        let (lambda, pf, augmented_prered) = match augmented {
            Some((lambda, p, prered)) => {
                self.info.augmented_trials += 1;
                (lambda, p, Some(prered))
            }
            None => match lmpar(jac, &self.rw, diag, self.delta, self.par) {
                Some((lambda, p)) => (lambda, p, None),
                None => return Step::NoProgress,
            },
        };
        self.par = lambda;
        let mut p = vec![T::ZERO; n];
        for (c, &i) in free.iter().enumerate() {
            p[i] = pf[c];
        }
        let mut xn: Vec<T> = at.x.iter().zip(&p).map(|(&a, &b)| a + b).collect();
        if let Some(b) = self.bounds {
            // a free variable that crosses its bound stops there: the step actually taken is the projected one
            b.project(&mut xn);
            for i in 0..n {
                p[i] = xn[i] - at.x[i];
            }
        }
        let pnorm = self.scaled_norm(&p);
        if self.first {
            self.delta = self.delta.min(pnorm);
        }
        // the model's prediction, from the current J: ||r + J p||^2 = ||r||^2 - prered ||r||^2 (lmder's form,
        // which uses g^T p = -(||J p||^2 + lambda ||D p||^2), true of the unprojected Gauss-Newton step only)
        let jp = self.jac.matvec(&p);
        let gp = dot(&at.g, &p);
        let (prered, dirder) = match (augmented_prered, self.bounds) {
            (Some(_), Some(_)) => {
                let s = self.s.as_ref().expect("an augmented step has S");
                (-(T::from_f64(2.0) * gp + dot(&jp, &jp) + dot(&p, &s.matvec(&p))) / f2, gp / f2)
            }
            (Some(prered), None) => (prered, gp / f2),
            (None, Some(_)) => (-(T::from_f64(2.0) * gp + dot(&jp, &jp)) / f2, gp / f2),
            (None, None) => {
                let t1 = norm(&jp) / fnorm;
                let t2 = self.par.sqrt() * pnorm / fnorm;
                (t1 * t1 + t2 * t2 / p5, -(t1 * t1 + t2 * t2))
            }
        };
        let decrease = prered > T::ZERO; // false for NaN
        if !decrease {
            // the projection left no predicted decrease: a smaller region, no evaluation
            if pnorm == T::ZERO {
                return Step::NoProgress;
            }
            self.delta = p5 * self.delta.min(pnorm);
            return if self.delta <= self.xtol * self.xnorm {
                Step::Stop(StopReason::StepTolerance)
            } else if self.delta <= eps * self.xnorm {
                Step::Stop(StopReason::NoProgress)
            } else {
                Step::Rejected
            };
        }
        // actual relative reduction of ||r||^2 and its ratio to the predicted one (-1 for a non-finite or
        // much larger residual, as lmder)
        let assess = move |fnorm1: T| {
            let actred = if fnorm1.is_finite() && p1 * fnorm1 < fnorm {
                T::ONE - (fnorm1 / fnorm) * (fnorm1 / fnorm)
            } else {
                -T::ONE
            };
            (actred, if prered != T::ZERO { actred / prered } else { T::ZERO })
        };
        // An unconstrained step (lambda = 0, of either model) whose predicted reduction is at the rounding level of
        // ||r||^2 (a problem a few digits from its solution): the ratio is noise there, and rejecting the step
        // would shrink the radius until `xtol` stops the run short of the solution. With the adaptive model the
        // step is taken if ||r|| did not grow beyond that level, and the run stops at the second such step in a
        // row (NL2SOL's relative function convergence); the Gauss-Newton model alone keeps lmder's rule.
        let noise = T::from_f64(ROUNDING_LEVEL) * eps;
        let rounding_newton = self.s.is_some() && lambda == T::ZERO && prered <= noise;
        self.info.residual_evaluations += 1;
        let (rn, jn) = problem.with_jacobian(&xn, |rn, j| {
            // the Jacobian only where the trial may be accepted
            let jn = (rounding_newton || assess(self.cost_norm(rn)).1 >= p0001).then(|| dense_jacobian(j));
            (rn.to_vec(), jn)
        });
        let fnorm1 = self.cost_norm(&rn);
        let (actred, ratio) = assess(fnorm1);
        // at the rounding level ||r|| may also grow by noise larger than `noise` (residuals that cancel digits of
        // the data): the step is then taken if it reduces ||P r||, the part of r in the range of J, which rounding
        // blurs far less than ||r||^2 or the gradient J^T r (Bennett5 from NIST's start 2: ||P r|| falls 500-fold,
        // from 9.3e-10 to 1.8e-12, on the step that takes it from 6e-8 to 1e-10 of the solution, while ||r|| grows
        // by 1.4e-13 and ||J^T r|| from 3.3e-10 to 2.2e-9)
        let rounding_accepted = rounding_newton
            && jn.as_ref().is_some_and(|jn| {
                actred >= -noise || range_norm(jn, &rn).zip(range_norm(&self.jac, &self.rw)).is_some_and(|(a, b)| a < b)
            });
        let accepted = ratio >= p0001 || rounding_accepted;
        // the run stops at the second such step in a row (one step from a point a few digits off the solution
        // can leave it a few digits off, in the directions the Gauss-Newton model gets wrong)
        let rounding_stop = rounding_accepted && self.rounding_steps > 0;
        self.rounding_steps = if rounding_accepted { self.rounding_steps + 1 } else { 0 };
        // NL2SOL's choice for the next trial: the model that predicted this trial's reduction better
        if let Some(s) = &self.s {
            let actual = T::ONE - (fnorm1 / fnorm) * (fnorm1 / fnorm);
            let gn = -(T::from_f64(2.0) * gp + dot(&jp, &jp)) / f2;
            let full = gn - dot(&p, &s.matvec(&p)) / f2;
            let (gn_err, full_err) = ((gn - actual).abs(), (full - actual).abs());
            self.augmented = lambda == T::ZERO
                && actual.abs() < T::from_f64(STALL)
                && full_err < gn_err
                && gn_err > T::from_f64(MISPREDICTION) * actual.abs();
        }
        // the radius update of lmder
        if ratio <= p25 {
            let mut temp = if actred >= T::ZERO { p5 } else { p5 * dirder / (dirder + p5 * actred) };
            if !fnorm1.is_finite() || p1 * fnorm1 >= fnorm || temp < p1 {
                temp = p1;
            }
            self.delta = temp * self.delta.min(pnorm / p1);
            self.par /= temp;
        } else if self.par == T::ZERO || ratio >= p75 {
            self.delta = pnorm / p5;
            self.par = p5 * self.par;
        }
        let moved = match jn {
            Some(jn) if accepted => {
                self.first = false;
                // a non-finite Jacobian makes g non-finite: the driver stops with NonFinite at `at`
                let (f, g) = self.set_point(rn, jn);
                self.second_order(problem, &xn);
                self.x.clone_from(&xn);
                // xnorm with the scaling of this iteration; D grows with the new column norms afterwards
                self.xnorm = self.scaled_norm(&xn);
                if self.config.damping == Damping::Diagonal {
                    for (d, &c) in self.diag.iter_mut().zip(&self.cnorm) {
                        *d = d.max(c);
                    }
                }
                Some(Point { x: xn, f, g })
            }
            _ => None,
        };
        let (ftol, xtol) = (self.ftol, self.xtol);
        let stop = if rounding_stop && ftol == T::ZERO {
            // the rounding-level stop with `ftol` off: what it says is that nothing representable is left to gain
            Some(StopReason::NoProgress)
        } else if rounding_stop || actred.abs() <= ftol && prered <= ftol && p5 * ratio <= T::ONE {
            Some(StopReason::FunctionTolerance)
        } else if self.delta <= xtol * self.xnorm {
            Some(StopReason::StepTolerance)
        } else if actred.abs() <= eps && prered <= eps && p5 * ratio <= T::ONE || self.delta <= eps * self.xnorm {
            Some(StopReason::NoProgress)
        } else {
            None
        };
        match (moved, stop) {
            (Some(new), Some(s)) => Step::MovedAndStop(new, s),
            (Some(new), None) => Step::Moved(new),
            (None, Some(s)) => Step::Stop(s),
            (None, None) => Step::Rejected,
        }
    }

    fn info(mut self) -> LmInfo<T> {
        self.info.damping = self.par;
        self.info.radius = self.delta;
        let largest = self.cnorm.iter().fold(T::ZERO, |m, &c| m.max(c));
        self.info.vanished_columns = self.cnorm.iter().filter(|&&c| c <= T::EPSILON * largest).count();
        self.info.active = match self.bounds {
            Some(b) => b.active_set(&self.x),
            None => vec![ActiveBound::Free; self.x.len()],
        };
        self.info
    }
}
