//! The Moré-Thuente line search (J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed
//! sufficient decrease", ACM TOMS 20(3), 1994): MINPACK-2's `dcsrch` and `dcstep`, the search inside
//! L-BFGS-B (and so scipy's `L-BFGS-B`) and libLBFGS.
//!
//! It finds a step satisfying the strong Wolfe conditions
//!
//! ```text
//! f(x + alpha d) <= f(x) + ftol alpha g^T d            (sufficient decrease)
//! |grad f(x + alpha d)^T d| <= gtol |g^T d|             (curvature)
//! ```
//!
//! keeping an interval of uncertainty `[stx, sty]` whose ends are chosen by `dcstep` from cubic and quadratic
//! (secant) interpolants of `phi(alpha) = f(x + alpha d)` and `phi'`. Until a step with `psi(alpha) =
//! phi(alpha) - phi(0) - ftol alpha phi'(0) <= 0` and `phi' >= 0` is found (stage 1), the interpolation works
//! on `psi`, which gives the guarantee of the paper's title. When the interval is no longer shrinking fast
//! enough (by 2/3 per two trials) the next trial bisects it.
//!
//! A trial whose value or gradient is NaN or infinite is treated as too long: the step is halved towards the
//! best point so far, and such a point is never returned.

use wengert_autodiff::Float;

use super::{all_finite, start_slope, step_to, LineSearchError, LineSearchResult};
use crate::linalg::dot;
use crate::objective::Objective;

/// Settings of [`search`]; defaults as L-BFGS-B (`lnsrlb`), so as scipy's `L-BFGS-B`.
#[derive(Clone, Debug, PartialEq)]
pub struct MoreThuenteConfig {
    /// Sufficient-decrease constant `ftol`. Default `1e-3` (L-BFGS-B).
    pub ftol: f64,
    /// Curvature constant `gtol`. Default `0.9` (L-BFGS-B).
    pub gtol: f64,
    /// Relative width of the interval of uncertainty at which the search stops. Default `0.1` (L-BFGS-B).
    pub xtol: f64,
    /// Largest step. Default `1e10` (L-BFGS-B's `stpmx` without bounds).
    pub alpha_max: f64,
    /// Trials before giving up. Default `20` (scipy's `maxls`).
    pub max_iter: usize,
}

impl Default for MoreThuenteConfig {
    fn default() -> Self {
        MoreThuenteConfig { ftol: 1e-3, gtol: 0.9, xtol: 0.1, alpha_max: 1e10, max_iter: 20 }
    }
}

/// One end of the interval of uncertainty: step, value, derivative along `d`.
#[derive(Clone, Copy, Debug)]
struct End<T> {
    a: T,
    f: T,
    d: T,
}

/// `dcstep`: the next trial from the best step `x`, the other end `y`, and the current trial `t` (MINPACK-2;
/// the four cases of Moré and Thuente, section 4). Updates the ends and `bracketed`.
fn dcstep<T: Float>(x: &mut End<T>, y: &mut End<T>, t: End<T>, bracketed: &mut bool, lo: T, hi: T) -> T {
    let (three, two, p66) = (T::from_f64(3.0), T::from_f64(2.0), T::from_f64(0.66));
    let sgnd = t.d * x.d.signum0();
    // Cubic through (x.a, x.f, x.d) and (t.a, t.f, t.d): its `gamma` with the sign that selects the minimiser.
    let cubic = |u: End<T>, v: End<T>, clamp_zero: bool| -> (T, T) {
        let theta = three * (u.f - v.f) / (v.a - u.a) + u.d + v.d;
        let s = theta.abs().max(u.d.abs()).max(v.d.abs());
        let disc = (theta / s) * (theta / s) - (u.d / s) * (v.d / s);
        let gamma = s * if clamp_zero { disc.max(T::ZERO) } else { disc }.sqrt();
        (theta, gamma)
    };
    let next = if t.f > x.f {
        // Case 1: higher value: the minimum is bracketed; take the cubic step, or halfway to the quadratic.
        let (theta, mut gamma) = cubic(*x, t, false);
        if t.a < x.a {
            gamma = -gamma;
        }
        let p = (gamma - x.d) + theta;
        let q = ((gamma - x.d) + gamma) + t.d;
        let stpc = x.a + p / q * (t.a - x.a);
        let stpq = x.a + x.d / ((x.f - t.f) / (t.a - x.a) + x.d) / two * (t.a - x.a);
        *bracketed = true;
        if (stpc - x.a).abs() < (stpq - x.a).abs() {
            stpc
        } else {
            stpc + (stpq - stpc) / two
        }
    } else if sgnd < T::ZERO {
        // Case 2: lower value, derivatives of opposite sign: bracketed; the step farther from t.
        let (theta, mut gamma) = cubic(*x, t, false);
        if t.a > x.a {
            gamma = -gamma;
        }
        let p = (gamma - t.d) + theta;
        let q = ((gamma - t.d) + gamma) + x.d;
        let stpc = t.a + p / q * (x.a - t.a);
        let stpq = t.a + t.d / (t.d - x.d) * (x.a - t.a);
        *bracketed = true;
        if (stpc - t.a).abs() > (stpq - t.a).abs() {
            stpc
        } else {
            stpq
        }
    } else if t.d.abs() < x.d.abs() {
        // Case 3: lower value, same sign, derivative decreasing in size.
        let (theta, mut gamma) = cubic(*x, t, true);
        if t.a > x.a {
            gamma = -gamma;
        }
        let p = (gamma - t.d) + theta;
        let q = (gamma + (x.d - t.d)) + gamma;
        let r = p / q;
        let stpc = if r < T::ZERO && gamma != T::ZERO {
            t.a + r * (x.a - t.a)
        } else if t.a > x.a {
            hi
        } else {
            lo
        };
        let stpq = t.a + t.d / (t.d - x.d) * (x.a - t.a);
        if *bracketed {
            let s = if (stpc - t.a).abs() < (stpq - t.a).abs() { stpc } else { stpq };
            let limit = t.a + p66 * (y.a - t.a);
            if t.a > x.a {
                limit.min(s)
            } else {
                limit.max(s)
            }
        } else {
            let s = if (stpc - t.a).abs() > (stpq - t.a).abs() { stpc } else { stpq };
            s.min(hi).max(lo)
        }
    } else if *bracketed {
        // Case 4: lower value, same sign, derivative not decreasing: the cubic through t and y.
        let (theta, mut gamma) = cubic(t, *y, false);
        if t.a > y.a {
            gamma = -gamma;
        }
        let p = (gamma - t.d) + theta;
        let q = ((gamma - t.d) + gamma) + y.d;
        t.a + p / q * (y.a - t.a)
    } else if t.a > x.a {
        hi
    } else {
        lo
    };
    if t.f > x.f {
        *y = t;
    } else {
        if sgnd < T::ZERO {
            *y = *x;
        }
        *x = t;
    }
    next
}

/// Finds a step satisfying the strong Wolfe conditions with `ftol`, `gtol` (see the module docs), trying
/// `alpha0` first. Evaluates value and gradient at each trial, and returns the gradient at the accepted point.
/// When the interval of uncertainty falls below `xtol` (or rounding stops progress) the best point found so
/// far is returned if it decreases `f`.
///
/// # Errors
/// [`LineSearchError::NotDescent`] if `g0^T d >= 0`; [`LineSearchError::BadInitialStep`] unless `alpha0` is
/// positive and finite; [`LineSearchError::NoAcceptableStep`] if no trial of the budget decreased `f`.
pub fn search<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x: &[T],
    f0: T,
    g0: &[T],
    d: &[T],
    alpha0: T,
    config: &MoreThuenteConfig,
) -> Result<LineSearchResult<T>, LineSearchError> {
    let dphi0 = start_slope(g0, d, alpha0)?;
    let (half, p66, xtrapl, xtrapu) = (T::from_f64(0.5), T::from_f64(0.66), T::from_f64(1.1), T::from_f64(4.0));
    let (ftol, gtol, xtol) = (T::from_f64(config.ftol), T::from_f64(config.gtol), T::from_f64(config.xtol));
    let (stpmin, stpmax) = (T::ZERO, T::from_f64(config.alpha_max));
    let gtest = ftol * dphi0;
    let mut width = stpmax - stpmin;
    let mut width1 = width / half;
    let mut bracketed = false;
    let mut stage1 = true;
    let mut bx = End { a: T::ZERO, f: f0, d: dphi0 };
    let mut by = bx;
    let (mut stmin, mut stmax) = (T::ZERO, alpha0 + xtrapu * alpha0);
    let mut stp = alpha0.min(stpmax).max(stpmin);
    // The best trial so far (lowest value), with its point and gradient.
    let mut best: Option<(T, Vec<T>, T, Vec<T>)> = None;
    // Shortest step known to give a NaN or infinity: later trials stay below it.
    let mut cap = T::INFINITY;
    let mut g = vec![T::ZERO; x.len()];
    for _ in 0..config.max_iter {
        if stp >= cap {
            stp = bx.a + half * (cap - bx.a);
        }
        let xt = step_to(x, stp, d);
        let f = obj.value_grad(&xt, &mut g);
        if !f.is_finite() || !all_finite(&g) {
            // Too long: back towards the best end, and never this far again.
            cap = stp;
            stp = bx.a + half * (stp - bx.a);
            continue;
        }
        let dg = dot(&g, d);
        if best.as_ref().is_none_or(|b| f < b.2) && f < f0 {
            best = Some((stp, xt.clone(), f, g.clone()));
        }
        let ftest = f0 + stp * gtest;
        if stage1 && f <= ftest && dg >= T::ZERO {
            stage1 = false;
        }
        if f <= ftest && dg.abs() <= gtol * (-dphi0) {
            return Ok(LineSearchResult { alpha: stp, x: xt, f, g: Some(g) });
        }
        let stalled = bracketed && (stp <= stmin || stp >= stmax || stmax - stmin <= xtol * stmax);
        let at_max = stp == stpmax && f <= ftest && dg <= gtest;
        let at_min = stp == stpmin && (f > ftest || dg >= gtest);
        if stalled || at_max || at_min {
            break;
        }
        let t = End { a: stp, f, d: dg };
        stp = if stage1 && f <= bx.f && f > ftest {
            // The modified function psi: its values and derivatives, then back.
            let m = |e: End<T>| End { a: e.a, f: e.f - e.a * gtest, d: e.d - gtest };
            let (mut mx, mut my) = (m(bx), m(by));
            let next = dcstep(&mut mx, &mut my, m(t), &mut bracketed, stmin, stmax);
            let back = |e: End<T>| End { a: e.a, f: e.f + e.a * gtest, d: e.d + gtest };
            (bx, by) = (back(mx), back(my));
            next
        } else {
            dcstep(&mut bx, &mut by, t, &mut bracketed, stmin, stmax)
        };
        if bracketed {
            // Bisect when the interval did not shrink by 2/3 over the last two trials.
            if (by.a - bx.a).abs() >= p66 * width1 {
                stp = bx.a + half * (by.a - bx.a);
            }
            width1 = width;
            width = (by.a - bx.a).abs();
            (stmin, stmax) = (bx.a.min(by.a), bx.a.max(by.a));
        } else {
            stmin = stp + xtrapl * (stp - bx.a);
            stmax = stp + xtrapu * (stp - bx.a);
        }
        stp = stp.max(stpmin).min(stpmax);
        if bracketed && (stp <= stmin || stp >= stmax || stmax - stmin <= xtol * stmax) {
            stp = bx.a;
        }
    }
    match best {
        Some((alpha, x, f, g)) => Ok(LineSearchResult { alpha, x, f, g: Some(g) }),
        None => Err(LineSearchError::NoAcceptableStep { alpha: stp.to_f64() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::TapeObjective;

    fn wolfe_holds(r: &LineSearchResult<f64>, f0: f64, g0: &[f64], d: &[f64], c: &MoreThuenteConfig) -> bool {
        let dphi0 = dot(g0, d);
        let dphi = dot(r.g.as_ref().unwrap(), d);
        r.f <= f0 + c.ftol * r.alpha * dphi0 && dphi.abs() <= c.gtol * dphi0.abs()
    }

    #[test]
    fn finds_strong_wolfe_steps_on_rosenbrock_from_short_and_long_first_trials() {
        let mut f = TapeObjective::new(|x| {
            let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
            ((b - a * a).square().mul_scalar(100.0) + (a.neg().add_scalar(1.0)).square()).sum()
        });
        let x = [-1.2, 1.0];
        let mut g = [0.0; 2];
        let f0 = f.value_grad(&x, &mut g);
        let d = [-g[0], -g[1]];
        for (c, alpha0) in [(0.9, 1e-6), (0.9, 1.0), (0.9, 1e3), (0.1, 1e-3), (0.1, 10.0)] {
            let cfg = MoreThuenteConfig { gtol: c, ftol: 1e-4, ..MoreThuenteConfig::default() };
            let r = search(&mut f, &x, f0, &g, &d, alpha0, &cfg).unwrap();
            assert!(wolfe_holds(&r, f0, &g, &d, &cfg), "gtol {c}, alpha0 {alpha0}: alpha {}", r.alpha);
        }
    }

    #[test]
    fn the_paper_s_first_test_function_converges_from_every_starting_step() {
        // Moré & Thuente's function (5.1): phi(a) = -a / (a^2 + beta), beta = 2, ftol 1e-3, gtol 0.1; the
        // minimiser is sqrt(2). Along x = 0, d = 1. From short first steps the search ends near it (the
        // paper's table: 1.4); from long ones at steps far beyond, where phi' is already small enough.
        let mut f = TapeObjective::new(|x| (x.neg() / (x.square().add_scalar(2.0))).sum());
        let x = [0.0];
        let mut g = [0.0];
        let f0 = f.value_grad(&x, &mut g);
        let cfg = MoreThuenteConfig { ftol: 1e-3, gtol: 0.1, ..MoreThuenteConfig::default() };
        for alpha0 in [1e-3, 1e-1, 1e1, 1e3] {
            let r = search(&mut f, &x, f0, &g, &[1.0], alpha0, &cfg).unwrap();
            assert!(wolfe_holds(&r, f0, &g, &[1.0], &cfg), "alpha0 {alpha0}: alpha {}", r.alpha);
            if alpha0 < 1.0 {
                assert!((r.alpha - 2f64.sqrt()).abs() < 0.1, "alpha0 {alpha0}: alpha {}", r.alpha);
            }
        }
    }

    #[test]
    fn non_finite_trials_are_too_long_and_never_returned() {
        // f = x^2 where x < 3, NaN beyond: a first trial of 10 must be shortened.
        let mut f = TapeObjective::new(|x| {
            let v = x.value().as_slice()[0];
            if v < 3.0 {
                (x * x).sum()
            } else {
                (x * x).sum().mul_scalar(f64::NAN)
            }
        });
        let x = [2.0];
        let mut g = [0.0];
        let f0 = f.value_grad(&x, &mut g);
        let r = search(&mut f, &x, f0, &g, &[-1.0], 10.0, &MoreThuenteConfig::default()).unwrap();
        assert!(r.f.is_finite() && r.f < f0 && r.x[0] < 3.0, "{r:?}");
        assert_eq!(
            search(&mut f, &x, f0, &g, &[1.0], 1.0, &MoreThuenteConfig::default()),
            Err(LineSearchError::NotDescent)
        );
    }
}
