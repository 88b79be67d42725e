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
//! makes the method invariant under a diagonal rescaling of the variables. Each damped system is solved by
//! Householder QR of `[J; sqrt(lambda) D]`, so the condition number of `J` is not squared.
//!
//! `J` is formed densely from exact Jacobian products (`n` products `J e_j`) once per accepted point: intended
//! for small `n` (as MINPACK). A trial point is evaluated once; its Jacobian is formed only if it is accepted.
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

use super::gauss_newton::dense_jacobian;
use super::robust_loss::{Loss, RobustLoss};
use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::qr::Qr;
use crate::linalg::{dot, norm, DenseMatrix};
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

/// Settings of Levenberg-Marquardt. Defaults as MINPACK's `lmder` driver `lmder1` and scipy's `leastsq`
/// (`ftol = xtol = 1.49012e-8`, i.e. `sqrt(eps)` in f64; `gtol = 0`; `factor = 100`), except that `xtol`
/// defaults to `1e-10`, `ftol` and `gtol` to `1e-15` so that fits reach the solution to about 8 significant
/// digits (see `optim/tests/nist_strd.rs`); the absolute rules of [`Tolerances`] are off (`grad_tol = 0`).
#[derive(Clone, Debug, PartialEq)]
pub struct LmConfig<T> {
    /// Budgets (`max_iter` counts trials, accepted or rejected; `max_evals` counts all evaluations) and the
    /// absolute rules every method has. Default [`Tolerances::default`] with `grad_tol = 0`.
    pub tol: Tolerances<T>,
    /// Relative reduction of `||r||^2` (actual and predicted). Default `1e-15`.
    pub ftol: T,
    /// Relative step: stop when `delta <= xtol ||D x||`. Default `1e-10`.
    pub xtol: T,
    /// Cosine between `r` and the columns of `J`. Default `1e-15` (MINPACK: `0`).
    pub gtol: T,
    /// Scaling of the trust region. Default [`Damping::Diagonal`] (Marquardt, MINPACK).
    pub damping: Damping,
    /// The first radius is `factor ||D x0||` (or `factor` if that is 0). Default `100` (MINPACK).
    pub factor: T,
    /// The cost: `1/2 ||r||^2` or a robust loss of the residuals (scipy's `loss=`, `f_scale=`). Default
    /// [`Loss::Linear`]. Reported `f` values are this cost.
    pub loss: RobustLoss<T>,
}

impl<T: Float> Default for LmConfig<T> {
    fn default() -> Self {
        LmConfig {
            tol: Tolerances::default().with_grad_tol(T::ZERO),
            ftol: T::from_f64(1e-15),
            xtol: T::from_f64(1e-10),
            gtol: T::from_f64(1e-15),
            damping: Damping::Diagonal,
            factor: T::from_f64(100.0),
            loss: RobustLoss::default(),
        }
    }
}

impl<T: Float> LmConfig<T> {
    /// Levenberg's method: the defaults with [`Damping::Identity`].
    pub fn levenberg() -> Self {
        LmConfig { damping: Damping::Identity, ..Self::default() }
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
}

/// Minimises `1/2 ||r(x)||^2` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`] (also for a non-finite Jacobian at `x0`).
pub fn minimize<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig<T>,
) -> Result<Report<T>, OptimError> {
    run(problem, x0, config, None).map(|(r, _)| r)
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
    run(problem, x0, config, Some(observer)).map(|(r, _)| r)
}

/// [`minimize`], also returning what only Levenberg-Marquardt knows ([`LmInfo`]: the final damping and radius,
/// MINPACK's evaluation counts).
///
/// # Errors
/// As [`minimize`].
pub fn minimize_with_info<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig<T>,
) -> Result<(Report<T>, LmInfo<T>), OptimError> {
    run(problem, x0, config, None)
}

/// Column norms `||J_j||`.
fn column_norms<T: Float>(j: &DenseMatrix<T>) -> Vec<T> {
    (0..j.cols()).map(|c| (0..j.rows()).map(|i| j[(i, c)] * j[(i, c)]).sum::<T>().sqrt()).collect()
}

fn all_finite<T: Float>(v: &[T]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// The least-squares solution `p` of `[J; sqrt(lambda) D] p ~= [-r; 0]` and the factor `R` of that matrix
/// (`R^T R = J^T J + lambda D^2`); `None` if it is singular (only for `lambda = 0` and a rank-deficient `J`) or
/// not finite.
fn damped_step<T: Float>(j: &DenseMatrix<T>, r: &[T], d: &[T], lambda: T) -> Option<(Vec<T>, DenseMatrix<T>)> {
    let (m, n) = (j.rows(), j.cols());
    let s = lambda.sqrt();
    let a = DenseMatrix::from_fn(m + n, n, |i, c| {
        if i < m {
            j[(i, c)]
        } else if i - m == c {
            s * d[c]
        } else {
            T::ZERO
        }
    });
    let b: Vec<T> = r.iter().map(|&v| -v).chain(std::iter::repeat_n(T::ZERO, n)).collect();
    let qr = Qr::factor(&a).ok()?;
    let p = qr.solve_least_squares(&b).ok()?;
    all_finite(&p).then(|| (p, qr.r()))
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
    let mut parl = T::ZERO;
    let mut gn_norm = None;
    if let Some((p, rf)) = damped_step(j, r, d, T::ZERO) {
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
        let (p, rf) = damped_step(j, r, d, par)?;
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

fn run<T: Float, L: LeastSquares<T> + ?Sized>(
    problem: &mut L,
    x0: &[T],
    config: &LmConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<(Report<T>, LmInfo<T>), OptimError> {
    if x0.is_empty() {
        return Err(OptimError::EmptyStart);
    }
    let eps = T::EPSILON;
    let (p1, p25, p5, p75, p0001) =
        (T::from_f64(0.1), T::from_f64(0.25), T::from_f64(0.5), T::from_f64(0.75), T::from_f64(1e-4));
    let mut problem = Counted::new(problem);
    let n = x0.len();
    let mut x = x0.to_vec();
    let loss = config.loss;
    // sqrt(2 F): ||r|| for plain least squares
    let cost_norm =
        |r: &[T]| if loss.loss == Loss::Linear { norm(r) } else { (T::from_f64(2.0) * loss.cost(r)).sqrt() };
    // the residuals and Jacobian the model uses: rescaled for a robust loss (see `robust_loss`)
    let working = |r: &[T], mut j: DenseMatrix<T>| match loss.scale(r) {
        None => (r.to_vec(), j),
        Some((rs, w)) => {
            for (i, &wi) in w.iter().enumerate() {
                for c in 0..j.cols() {
                    j[(i, c)] *= wi;
                }
            }
            (rs, j)
        }
    };
    let (mut r, jac0) = problem.with_jacobian(&x, |r, j| (r.to_vec(), dense_jacobian(j)));
    if !all_finite(jac0.as_slice()) {
        return Err(OptimError::NonFiniteStart);
    }
    let (mut rw, mut jac) = working(&r, jac0);
    let mut g = jac.matvec_t(&rw);
    check_start(&x, loss.cost(&r), &g)?;
    let mut info = LmInfo { damping: T::ZERO, radius: T::ZERO, residual_evaluations: 1, jacobian_evaluations: 1 };
    let finish = |x: Vec<T>, r: &[T], g: &[T], k: usize, counts, stop, mut info: LmInfo<T>, par, delta| {
        info.damping = par;
        info.radius = delta;
        Ok((report(x, loss.cost(r), g, k, counts, stop), info))
    };
    let mut fnorm = cost_norm(&r);
    let mut diag = vec![T::ONE; n];
    let (mut par, mut delta, mut xnorm) = (T::ZERO, T::ZERO, T::ZERO);
    let mut k = 0;
    for outer in 0.. {
        let cnorm = column_norms(&jac);
        if outer == 0 {
            if config.damping == Damping::Diagonal {
                diag = cnorm.iter().map(|&c| if c == T::ZERO { T::ONE } else { c }).collect();
            }
            xnorm = norm(&x.iter().zip(&diag).map(|(&a, &b)| a * b).collect::<Vec<_>>());
            delta = if xnorm == T::ZERO { config.factor } else { config.factor * xnorm };
        }
        // the scale-free gradient test: the largest cosine between r and a column of J
        let rwnorm = norm(&rw);
        let cosine = if rwnorm == T::ZERO {
            T::ZERO
        } else {
            (0..n).filter(|&c| cnorm[c] != T::ZERO).fold(T::ZERO, |s, c| s.max((g[c] / cnorm[c] / rwnorm).abs()))
        };
        let stop = if cosine <= config.gtol || norm(&g) <= config.tol.grad_tol {
            Some(StopReason::GradientTolerance)
        } else if cosine <= eps {
            Some(StopReason::NoProgress)
        } else {
            None
        };
        if let Some(s) = stop {
            return finish(x, &r, &g, k, problem.counts(), s, info, par, delta);
        }
        if config.damping == Damping::Diagonal {
            for (d, &c) in diag.iter_mut().zip(&cnorm) {
                *d = d.max(c);
            }
        }
        loop {
            k += 1;
            let Some((lambda, p)) = lmpar(&jac, &rw, &diag, delta, par) else {
                return finish(x, &r, &g, k, problem.counts(), StopReason::NoProgress, info, par, delta);
            };
            par = lambda;
            let xn: Vec<T> = x.iter().zip(&p).map(|(&a, &b)| a + b).collect();
            let pnorm = norm(&p.iter().zip(&diag).map(|(&a, &b)| a * b).collect::<Vec<_>>());
            if outer == 0 {
                delta = delta.min(pnorm);
            }
            // the model's prediction, from the current J: ||r + J p||^2 = ||r||^2 - prered ||r||^2
            let jp = jac.matvec(&p);
            let t1 = norm(&jp) / fnorm;
            let t2 = par.sqrt() * pnorm / fnorm;
            let prered = t1 * t1 + t2 * t2 / p5;
            let dirder = -(t1 * t1 + t2 * t2);
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
            info.residual_evaluations += 1;
            let (rn, jn) = problem.with_jacobian(&xn, |rn, j| {
                // the Jacobian only where the trial is accepted
                let jn = (assess(cost_norm(rn)).1 >= p0001).then(|| dense_jacobian(j));
                (rn.to_vec(), jn)
            });
            let fnorm1 = cost_norm(&rn);
            let (actred, ratio) = assess(fnorm1);
            // the radius update of lmder
            if ratio <= p25 {
                let mut temp = if actred >= T::ZERO { p5 } else { p5 * dirder / (dirder + p5 * actred) };
                if !fnorm1.is_finite() || p1 * fnorm1 >= fnorm || temp < p1 {
                    temp = p1;
                }
                delta = temp * delta.min(pnorm / p1);
                par /= temp;
            } else if par == T::ZERO || ratio >= p75 {
                delta = pnorm / p5;
                par = p5 * par;
            }
            let moved = match jn {
                Some(jn) if ratio >= p0001 => {
                    if !all_finite(jn.as_slice()) {
                        return finish(x, &r, &g, k, problem.counts(), StopReason::NoProgress, info, par, delta);
                    }
                    info.jacobian_evaluations += 1;
                    let xo = std::mem::replace(&mut x, xn);
                    let fo = loss.cost(&r);
                    r = rn;
                    (rw, jac) = working(&r, jn);
                    g = jac.matvec_t(&rw);
                    fnorm = fnorm1;
                    xnorm = norm(&x.iter().zip(&diag).map(|(&a, &b)| a * b).collect::<Vec<_>>());
                    observe(&mut observer, k, loss.cost(&r), &g, &x);
                    Some((xo, fo))
                }
                _ => None,
            };
            let stop = if actred.abs() <= config.ftol && prered <= config.ftol && p5 * ratio <= T::ONE {
                Some(StopReason::FunctionTolerance)
            } else if delta <= config.xtol * xnorm {
                Some(StopReason::StepTolerance)
            } else if actred.abs() <= eps && prered <= eps && p5 * ratio <= T::ONE || delta <= eps * xnorm {
                Some(StopReason::NoProgress)
            } else if let Some((xo, fo)) = &moved {
                let f = loss.cost(&r);
                config.tol.check(k, xo, &x, *fo, f, norm(&g), problem.counts().total())
            } else if k >= config.tol.max_iter {
                Some(StopReason::MaxIterations)
            } else if problem.counts().total() >= config.tol.max_evals {
                Some(StopReason::MaxEvaluations)
            } else {
                None
            };
            if let Some(s) = stop {
                return finish(x, &r, &g, k, problem.counts(), s, info, par, delta);
            }
            if moved.is_some() {
                break;
            }
        }
    }
    unreachable!("every iteration either stops or moves on")
}
