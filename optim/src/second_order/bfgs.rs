//! BFGS with a dense inverse-Hessian approximation (Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
//! Alg. 6.1; as scipy's `minimize(method="BFGS")`):
//!
//! ```text
//! p_k = -H_k g_k,   x_{k+1} = x_k + alpha_k p_k   (strong Wolfe)
//! s = x_{k+1} - x_k,  y = g_{k+1} - g_k,  rho = 1 / y^T s
//! H_{k+1} = (I - rho s y^T) H_k (I - rho y s^T) + rho s s^T
//! ```
//!
//! `H_0 = I`, rescaled to `(y^T s / y^T y) I` before the first update (N&W eq. 6.20). A pair with
//! `y^T s <= eps ||y|| ||s||` is skipped (the update would lose positive definiteness). The first trial step
//! of each line search is `min(1, 2.02 (f_k - f_{k-1}) / g_k^T p_k)` (N&W eq. 3.60, as scipy), `1` later when
//! that is larger.

use wengert_autodiff::Float;

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::{dot, norm};
use crate::line_search::wolfe::WolfeConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of BFGS.
#[derive(Clone, Debug, PartialEq)]
pub struct BfgsConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances<T>,
    /// Line search. Default strong Wolfe with `c1 = 1e-4`, `c2 = 0.9` (scipy).
    pub line_search: LineSearch<T>,
}

impl<T: Float> Default for BfgsConfig<T> {
    fn default() -> Self {
        BfgsConfig { tol: Tolerances::default(), line_search: LineSearch::StrongWolfe(WolfeConfig::default()) }
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &BfgsConfig<T>,
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
    config: &BfgsConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

/// The first trial step: `min(1, 2.02 (f - f_prev) / g^T p)` (N&W eq. 3.60), or `1` without history.
pub(crate) fn initial_step<T: Float>(f: T, f_prev: Option<T>, gp: T) -> T {
    match f_prev {
        Some(fp) if gp < T::ZERO => {
            let a = T::from_f64(2.02) * (f - fp) / gp;
            if a.is_finite() && a > T::ZERO {
                a.min(T::ONE)
            } else {
                T::ONE
            }
        }
        _ => T::ONE,
    }
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &BfgsConfig<T>,
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
    // H (row-major n x n), the inverse-Hessian approximation.
    let mut h = vec![T::ZERO; n * n];
    for i in 0..n {
        h[i * n + i] = T::ONE;
    }
    let mut updated = false;
    // as scipy: pretend a previous value f + ||g|| / 2 so the first step is ||g||-scaled
    let mut f_prev = Some(f + norm(&g) / T::from_f64(2.0));
    let mut hy = vec![T::ZERO; n];
    for k in 1.. {
        let p: Vec<T> = (0..n).map(|i| -dot(&h[i * n..(i + 1) * n], &g)).collect();
        let alpha0 = initial_step(f, f_prev, dot(&g, &p));
        let Ok(ls) = config.line_search.search(&mut obj, &x, f, &g, &p, alpha0) else {
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
        let s: Vec<T> = ls.x.iter().zip(&x).map(|(&a, &b)| a - b).collect();
        let y: Vec<T> = gn.iter().zip(&g).map(|(&a, &b)| a - b).collect();
        let ys = dot(&y, &s);
        if ys > T::EPSILON * norm(&y) * norm(&s) {
            if !updated {
                let scale = ys / dot(&y, &y);
                h.iter_mut().for_each(|v| *v *= scale);
                updated = true;
            }
            let rho = T::ONE / ys;
            // H+ = H - rho (H y s^T + s y^T H) + (rho^2 y^T H y + rho) s s^T   (H symmetric)
            for i in 0..n {
                hy[i] = dot(&h[i * n..(i + 1) * n], &y);
            }
            let yhy = dot(&y, &hy);
            let c = rho * rho * yhy + rho;
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + c * s[i] * s[j];
                }
            }
        }
        let stop = config.tol.check(k, &x, &ls.x, f, ls.f, norm(&gn), obj.counts().total());
        f_prev = Some(f);
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
