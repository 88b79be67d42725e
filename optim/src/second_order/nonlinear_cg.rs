//! Nonlinear conjugate gradient (Nocedal & Wright, *Numerical Optimization*, 2nd ed., §5.2):
//! `d_{k+1} = -g_{k+1} + beta_{k+1} d_k` with
//!
//! ```text
//! Fletcher-Reeves:  beta = g_{k+1}^T g_{k+1} / g_k^T g_k                       (N&W eq. 5.41a)
//! Polak-Ribiere+:   beta = max(0, g_{k+1}^T (g_{k+1} - g_k) / g_k^T g_k)      (N&W eq. 5.45)
//! ```
//!
//! Restarts (`beta = 0`) every `restart` iterations (default `n`), and whenever `d` is not a descent direction
//! or consecutive gradients are far from orthogonal (`|g_{k+1}^T g_k| >= 0.2 ||g_{k+1}||^2`, N&W eq. 5.52).
//! Steps come from a strong Wolfe search with `c2 = 0.1` (N&W §5.2: `c2 < 1/2` for Fletcher-Reeves), first
//! trial `alpha_{k-1} g_{k-1}^T d_{k-1} / g_k^T d_k` (N&W eq. 3.60).

use wengert_autodiff::Float;

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::{dot, norm};
use crate::line_search::wolfe::WolfeConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// The choice of `beta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgBeta {
    /// Fletcher-Reeves.
    FletcherReeves,
    /// Polak-Ribière, clipped at zero ("PR+").
    PolakRibierePlus,
}

/// Settings of nonlinear CG.
#[derive(Clone, Debug, PartialEq)]
pub struct NonlinearCgConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`] with `max_iter = 10_000`.
    pub tol: Tolerances<T>,
    /// The `beta` formula. Default Polak-Ribière+.
    pub beta: CgBeta,
    /// Restart period; `None` means `n`. Default `None`.
    pub restart: Option<usize>,
    /// Line search. Default strong Wolfe with `c1 = 1e-4`, `c2 = 0.1`.
    pub line_search: LineSearch<T>,
}

impl<T: Float> Default for NonlinearCgConfig<T> {
    fn default() -> Self {
        NonlinearCgConfig {
            tol: Tolerances::default().with_max_iter(10_000),
            beta: CgBeta::PolakRibierePlus,
            restart: None,
            line_search: LineSearch::StrongWolfe(WolfeConfig { c2: T::from_f64(0.1), ..WolfeConfig::default() }),
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
    config: &NonlinearCgConfig<T>,
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
    config: &NonlinearCgConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NonlinearCgConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut obj = Counted::new(obj);
    let n = x0.len();
    let restart = config.restart.unwrap_or(n).max(1);
    let mut x = x0.to_vec();
    let mut g = vec![T::ZERO; n];
    let mut f = obj.value_grad(&x, &mut g);
    check_start(&x, f, &g)?;
    if norm(&g) <= config.tol.grad_tol {
        return Ok(report(x, f, &g, 0, obj.counts(), StopReason::GradientTolerance));
    }
    let mut d: Vec<T> = g.iter().map(|&v| -v).collect();
    let mut alpha0 = T::ONE.min(T::ONE / norm(&g));
    let mut since_restart = 0;
    for k in 1.. {
        let gd = dot(&g, &d);
        let Ok(ls) = config.line_search.search(&mut obj, &x, f, &g, &d, alpha0) else {
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
        let gg = dot(&g, &g);
        let gngn = dot(&gn, &gn);
        since_restart += 1;
        let mut beta = match config.beta {
            CgBeta::FletcherReeves => gngn / gg,
            CgBeta::PolakRibierePlus => ((gngn - dot(&gn, &g)) / gg).max(T::ZERO),
        };
        if since_restart >= restart || dot(&gn, &g).abs() >= T::from_f64(0.2) * gngn {
            beta = T::ZERO;
        }
        let mut dn: Vec<T> = gn.iter().zip(&d).map(|(&gi, &di)| -gi + beta * di).collect();
        if beta == T::ZERO || dot(&gn, &dn) >= T::ZERO {
            dn = gn.iter().map(|&v| -v).collect();
            since_restart = 0;
        }
        let gd_new = dot(&gn, &dn);
        alpha0 = (ls.alpha * gd / gd_new).min(T::ONE / T::EPSILON.sqrt());
        if alpha0.is_nan() || alpha0 <= T::ZERO {
            alpha0 = T::ONE;
        }
        let stop = config.tol.check(k, &x, &ls.x, f, ls.f, gngn.sqrt(), obj.counts().total());
        x = ls.x;
        f = ls.f;
        g = gn;
        d = dn;
        observe(&mut observer, k, f, &g, &x);
        if let Some(s) = stop {
            return Ok(report(x, f, &g, k, obj.counts(), s));
        }
    }
    unreachable!("the iteration budget always stops the loop")
}
