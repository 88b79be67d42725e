//! Backtracking line search to the Armijo (sufficient decrease) condition
//! `f(x + alpha d) <= f(x) + c1 alpha g^T d` (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 3.1),
//! with the backtracking step chosen by minimising the quadratic interpolant of `phi(alpha) = f(x + alpha d)`
//! (N&W eq. 3.58), safeguarded to `[0.1 alpha, 0.5 alpha]`.
//!
//! A trial with a NaN or infinite value is too long: the step is cut to `0.1 alpha`.
//!
//! No progress is reported as such, never as a step: the search gives up as soon as `x + alpha d` rounds to
//! `x` (after a run of NaN trials, say) instead of returning the unchanged point. (A trial that moves `x` but
//! leaves `f` equal is accepted, as the inequality says: near a minimum `f` is flat to rounding while the
//! gradient still shrinks, and Newton's last steps are such steps.)

use wengert_autodiff::Float;

use super::{start_slope, step_to, LineSearchError, LineSearchResult};
use crate::objective::Objective;

/// Settings of [`search`].
#[derive(Clone, Debug, PartialEq)]
pub struct ArmijoConfig {
    /// Sufficient-decrease constant `c1`. Default `1e-4` (N&W).
    pub c1: f64,
    /// Trials before giving up. Default `60`.
    pub max_iter: usize,
}

impl Default for ArmijoConfig {
    fn default() -> Self {
        ArmijoConfig { c1: 1e-4, max_iter: 60 }
    }
}

/// Backtracks from `alpha0` along `d` until the Armijo condition holds; evaluates values only.
///
/// # Errors
/// [`LineSearchError::NotDescent`] if `g0^T d >= 0`; [`LineSearchError::BadInitialStep`] unless `alpha0` is
/// positive and finite; [`LineSearchError::NoAcceptableStep`] after `max_iter` trials or when `x + alpha d`
/// rounds to `x`.
pub fn search<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x: &[T],
    f0: T,
    g0: &[T],
    d: &[T],
    alpha0: T,
    config: &ArmijoConfig,
) -> Result<LineSearchResult<T>, LineSearchError> {
    let dphi0 = start_slope(g0, d, alpha0)?;
    let c1 = T::from_f64(config.c1);
    let mut alpha = alpha0;
    for _ in 0..config.max_iter {
        let xn = step_to(x, alpha, d);
        if xn == x {
            break;
        }
        let f = obj.value(&xn);
        if f.is_finite() && f <= f0 + c1 * alpha * dphi0 {
            return Ok(LineSearchResult { alpha, x: xn, f, g: None });
        }
        let (lo, hi) = (T::from_f64(0.1) * alpha, T::from_f64(0.5) * alpha);
        alpha = if f.is_finite() {
            // minimiser of the quadratic through phi(0), phi'(0), phi(alpha)
            let q = -dphi0 * alpha * alpha / (T::from_f64(2.0) * (f - f0 - dphi0 * alpha));
            if q.is_finite() {
                q.max(lo).min(hi)
            } else {
                hi
            }
        } else {
            lo
        };
    }
    Err(LineSearchError::NoAcceptableStep { alpha: alpha.to_f64() })
}
