//! Line search to the strong Wolfe conditions (Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
//! Algorithms 3.5 and 3.6):
//!
//! ```text
//! f(x + alpha d) <= f(x) + c1 alpha g^T d              (sufficient decrease)
//! |grad f(x + alpha d)^T d| <= c2 |g^T d|               (curvature)
//! ```
//!
//! Phase one grows the step until it brackets an acceptable one; `zoom` then shrinks the bracket, each trial
//! at the minimiser of the cubic interpolating `phi` and `phi'` at the bracket ends (N&W eq. 3.59), falling
//! back to bisection when the cubic is unusable or too close to an end. A trial whose value or gradient is NaN
//! or infinite is treated as too long: it becomes the upper end of the bracket.

use wengert_autodiff::Float;

use super::{all_finite, start_slope, step_to, LineSearchError, LineSearchResult};
use crate::linalg::dot;
use crate::objective::Objective;

/// Settings of [`search`].
#[derive(Clone, Debug, PartialEq)]
pub struct WolfeConfig {
    /// Sufficient-decrease constant. Default `1e-4` (N&W, scipy).
    pub c1: f64,
    /// Curvature constant. Default `0.9` (N&W for quasi-Newton; use `0.1`-`0.4` for nonlinear CG).
    pub c2: f64,
    /// Largest step. Default `1e10`.
    pub alpha_max: f64,
    /// Trials before giving up (both phases). Default `50`.
    pub max_iter: usize,
}

impl Default for WolfeConfig {
    fn default() -> Self {
        WolfeConfig { c1: 1e-4, c2: 0.9, alpha_max: 1e10, max_iter: 50 }
    }
}

struct Trial<T> {
    alpha: T,
    x: Vec<T>,
    f: T,
    g: Vec<T>,
    dphi: T,
}

fn eval<T: Float, O: Objective<T> + ?Sized>(obj: &mut O, x: &[T], d: &[T], alpha: T) -> Option<Trial<T>> {
    let xn = step_to(x, alpha, d);
    let mut g = vec![T::ZERO; x.len()];
    let f = obj.value_grad(&xn, &mut g);
    if !f.is_finite() || !all_finite(&g) {
        return None;
    }
    let dphi = dot(&g, d);
    Some(Trial { alpha, x: xn, f, g, dphi })
}

/// Minimiser of the cubic through `(a, fa, da)` and `(b, fb, db)` (N&W eq. 3.59), if it exists.
fn cubic_min<T: Float>(a: T, fa: T, da: T, b: T, fb: T, db: T) -> Option<T> {
    let d1 = da + db - T::from_f64(3.0) * (fa - fb) / (a - b);
    let disc = d1 * d1 - da * db;
    if disc < T::ZERO {
        return None;
    }
    let d2 = (b - a).signum0() * disc.sqrt();
    let t = b - (b - a) * (db + d2 - d1) / (db - da + T::from_f64(2.0) * d2);
    t.is_finite().then_some(t)
}

fn done<T>(t: Trial<T>) -> LineSearchResult<T> {
    LineSearchResult { alpha: t.alpha, x: t.x, f: t.f, g: Some(t.g) }
}

/// Finds a step satisfying the strong Wolfe conditions, trying `alpha0` first. Evaluates value and gradient
/// at each trial, and returns the gradient at the accepted point.
///
/// # Errors
/// [`LineSearchError::NotDescent`] if `g0^T d >= 0`; [`LineSearchError::BadInitialStep`] unless `alpha0` is
/// positive and finite; [`LineSearchError::NoAcceptableStep`] after `max_iter` trials.
pub fn search<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x: &[T],
    f0: T,
    g0: &[T],
    d: &[T],
    alpha0: T,
    config: &WolfeConfig,
) -> Result<LineSearchResult<T>, LineSearchError> {
    let dphi0 = start_slope(g0, d, alpha0)?;
    let (c1, c2, alpha_max) = (T::from_f64(config.c1), T::from_f64(config.c2), T::from_f64(config.alpha_max));
    let armijo = |t: &Trial<T>| t.f <= f0 + c1 * t.alpha * dphi0;
    let curvature = |t: &Trial<T>| t.dphi.abs() <= -c2 * dphi0;
    // previous trial (alpha = 0 at the start); a trial at alpha = 0 is never returned, so its point and
    // gradient are not copied
    let mut prev = Trial { alpha: T::ZERO, x: Vec::new(), f: f0, g: Vec::new(), dphi: dphi0 };
    let mut alpha = alpha0.min(alpha_max);
    let mut evals = 0;
    // Phase 1: bracket.
    let (mut lo, mut hi): (Trial<T>, Option<Trial<T>>);
    let mut hi_alpha;
    loop {
        if evals >= config.max_iter {
            return Err(LineSearchError::NoAcceptableStep { alpha: alpha.to_f64() });
        }
        evals += 1;
        let Some(t) = eval(obj, x, d, alpha) else {
            // too long: bracket [prev, alpha] with an unusable upper end
            lo = prev;
            hi = None;
            hi_alpha = alpha;
            break;
        };
        if !armijo(&t) || (evals > 1 && t.f >= prev.f) {
            hi_alpha = t.alpha;
            lo = prev;
            hi = Some(t);
            break;
        }
        if curvature(&t) {
            return Ok(done(t));
        }
        if t.dphi >= T::ZERO {
            hi_alpha = prev.alpha;
            lo = t;
            hi = Some(prev);
            break;
        }
        if alpha >= alpha_max {
            return Ok(done(t));
        }
        alpha = (T::from_f64(2.0) * alpha).min(alpha_max);
        prev = t;
    }
    // Phase 2: zoom on [lo, hi]; lo satisfies sufficient decrease and has the lowest f so far.
    while evals < config.max_iter {
        evals += 1;
        let (a, b) = (lo.alpha, hi_alpha);
        let width = (b - a).abs();
        let (left, right) = (a.min(b), a.max(b));
        let margin = T::from_f64(0.1) * width;
        let trial_alpha = hi
            .as_ref()
            .and_then(|h| cubic_min(lo.alpha, lo.f, lo.dphi, h.alpha, h.f, h.dphi))
            .filter(|&t| t > left + margin && t < right - margin)
            .unwrap_or(T::from_f64(0.5) * (a + b));
        if width <= T::EPSILON * a.abs().max(T::ONE) {
            break;
        }
        match eval(obj, x, d, trial_alpha) {
            None => {
                hi_alpha = trial_alpha;
                hi = None;
            }
            Some(t) => {
                if !armijo(&t) || t.f >= lo.f {
                    hi_alpha = t.alpha;
                    hi = Some(t);
                } else {
                    if curvature(&t) {
                        return Ok(done(t));
                    }
                    if t.dphi * (hi_alpha - lo.alpha) >= T::ZERO {
                        hi_alpha = lo.alpha;
                        hi = Some(lo);
                    }
                    lo = t;
                }
            }
        }
    }
    // Budget spent: accept the best sufficient-decrease point if it moved at all.
    if lo.alpha > T::ZERO {
        return Ok(done(lo));
    }
    Err(LineSearchError::NoAcceptableStep { alpha: hi_alpha.to_f64() })
}
