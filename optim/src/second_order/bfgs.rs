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

use super::driver::{self, Context, Method, Point, Step};
use super::{Observer, OptimError, Report, Tolerances};
use crate::linalg::{dot, norm};
use crate::line_search::wolfe::WolfeConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of BFGS.
#[derive(Clone, Debug, PartialEq)]
pub struct BfgsConfig {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances,
    /// Line search. Default strong Wolfe with `c1 = 1e-4`, `c2 = 0.9` (scipy).
    pub line_search: LineSearch,
}

impl Default for BfgsConfig {
    fn default() -> Self {
        BfgsConfig { tol: Tolerances::default(), line_search: LineSearch::StrongWolfe(WolfeConfig::default()) }
    }
}

/// What BFGS reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct BfgsInfo {
    /// Updates skipped because `y^T s <= eps ||y|| ||s||`.
    pub skipped_updates: usize,
}

impl BfgsConfig {
    /// Checks the settings (the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        self.line_search.validate()
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &BfgsConfig,
) -> Result<Report<T, BfgsInfo>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, Bfgs::new(config, x0.len()), None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &BfgsConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, BfgsInfo>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, Bfgs::new(config, x0.len()), Some(observer))
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

/// BFGS as a [`driver`] step.
struct Bfgs<'c, T> {
    config: &'c BfgsConfig,
    /// `H` (row-major `n x n`), the inverse-Hessian approximation.
    h: Vec<T>,
    /// Whether `H` has been updated (and so rescaled) yet.
    updated: bool,
    f_prev: Option<T>,
    /// Scratch for `H y`.
    hy: Vec<T>,
    info: BfgsInfo,
}

impl<'c, T: Float> Bfgs<'c, T> {
    fn new(config: &'c BfgsConfig, n: usize) -> Self {
        let mut h = vec![T::ZERO; n * n];
        for i in 0..n {
            h[i * n + i] = T::ONE;
        }
        let info = BfgsInfo { skipped_updates: 0 };
        Bfgs { config, h, updated: false, f_prev: None, hy: vec![T::ZERO; n], info }
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for Bfgs<'_, T> {
    type Info = BfgsInfo;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], _: &Context<'_, T>) -> T {
        let f = obj.value_grad(x, g);
        // as scipy: pretend a previous value f + ||g|| / 2 so the first step is ||g||-scaled
        self.f_prev = Some(f + norm(g) / T::from_f64(2.0));
        f
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, _: &Context<'_, T>) -> Step<T> {
        let (n, h) = (at.x.len(), &mut self.h);
        let p: Vec<T> = (0..n).map(|i| -dot(&h[i * n..(i + 1) * n], &at.g)).collect();
        let alpha0 = initial_step(at.f, self.f_prev, dot(&at.g, &p));
        let Ok(ls) = self.config.line_search.search(obj, &at.x, at.f, &at.g, &p, alpha0) else {
            return Step::NoProgress;
        };
        let new = ls.into_point(obj);
        let s: Vec<T> = new.x.iter().zip(&at.x).map(|(&a, &b)| a - b).collect();
        let y: Vec<T> = new.g.iter().zip(&at.g).map(|(&a, &b)| a - b).collect();
        let ys = dot(&y, &s);
        if ys > T::EPSILON * norm(&y) * norm(&s) {
            if !self.updated {
                let scale = ys / dot(&y, &y);
                h.iter_mut().for_each(|v| *v *= scale);
                self.updated = true;
            }
            let rho = T::ONE / ys;
            // H+ = H - rho (H y s^T + s y^T H) + (rho^2 y^T H y + rho) s s^T   (H symmetric)
            let hy = &mut self.hy;
            for i in 0..n {
                hy[i] = dot(&h[i * n..(i + 1) * n], &y);
            }
            let yhy = dot(&y, hy);
            let c = rho * rho * yhy + rho;
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + c * s[i] * s[j];
                }
            }
        } else {
            self.info.skipped_updates += 1;
        }
        self.f_prev = Some(at.f);
        Step::Moved(new)
    }

    fn info(self) -> BfgsInfo {
        self.info
    }
}
