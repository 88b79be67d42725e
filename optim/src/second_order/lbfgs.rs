//! L-BFGS: limited-memory BFGS with the two-loop recursion (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., Alg. 7.4 and 7.5; Liu & Nocedal 1989).
//!
//! The last `m` pairs `s_i = x_{i+1} - x_i`, `y_i = g_{i+1} - g_i` define `H_k` implicitly; `p = -H_k g` costs
//! `O(m n)`. The initial matrix is `gamma I` with `gamma = s^T y / y^T y` of the newest pair (N&W eq. 7.20).
//! A pair with `y^T s <= eps y^T y` is skipped (as L-BFGS-B). Steps come from a strong Wolfe line search tried
//! from `alpha = 1` (from `min(1, 1 / ||g||)` on the first iteration).

use std::collections::VecDeque;

use wengert_autodiff::Float;

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::{axpy, dot, norm};
use crate::line_search::wolfe::WolfeConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of L-BFGS.
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`] with `max_iter = 15_000` (scipy L-BFGS-B's `maxiter`).
    pub tol: Tolerances<T>,
    /// History size `m`. Default `10` (scipy's `maxcor`).
    pub history: usize,
    /// Line search. Default strong Wolfe, `c1 = 1e-4`, `c2 = 0.9`.
    pub line_search: LineSearch<T>,
    /// A pair is skipped when `y^T s <= curvature_eps y^T y`. Default machine epsilon (L-BFGS-B).
    pub curvature_eps: T,
}

impl<T: Float> Default for LbfgsConfig<T> {
    fn default() -> Self {
        LbfgsConfig {
            tol: Tolerances::default().with_max_iter(15_000),
            history: 10,
            line_search: LineSearch::StrongWolfe(WolfeConfig::default()),
            curvature_eps: T::EPSILON,
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
    config: &LbfgsConfig<T>,
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
    config: &LbfgsConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

/// `-H g` by the two-loop recursion over `pairs` (oldest first), each `(s, y, 1 / y^T s)`.
pub fn two_loop<T: Float>(g: &[T], pairs: &VecDeque<(Vec<T>, Vec<T>, T)>) -> Vec<T> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(pairs.len());
    for (s, y, rho) in pairs.iter().rev() {
        let a = *rho * dot(s, &q);
        axpy(-a, y, &mut q);
        alphas.push(a);
    }
    if let Some((s, y, _)) = pairs.back() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|v| *v *= gamma);
    }
    for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
        let b = *rho * dot(y, &q);
        axpy(*a - b, s, &mut q);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &LbfgsConfig<T>,
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
    let mut pairs: VecDeque<(Vec<T>, Vec<T>, T)> = VecDeque::with_capacity(config.history + 1);
    for k in 1.. {
        let mut p = two_loop(&g, &pairs);
        if dot(&p, &g) >= T::ZERO {
            // lost descent (rounding): restart from steepest descent
            pairs.clear();
            p = g.iter().map(|&v| -v).collect();
        }
        let alpha0 = if pairs.is_empty() { T::ONE.min(T::ONE / norm(&g)) } else { T::ONE };
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
        if ys > config.curvature_eps * dot(&y, &y) && config.history > 0 {
            if pairs.len() == config.history {
                pairs.pop_front();
            }
            pairs.push_back((s, y, T::ONE / ys));
        }
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
