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

use super::driver::{self, Context, Method, Point, Step};
use super::{check, Observer, OptimError, Report, Tolerances};
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
pub struct NonlinearCgConfig {
    /// Stopping rules. Default [`Tolerances::default`] with `max_iter = 10_000`.
    pub tol: Tolerances,
    /// The `beta` formula. Default Polak-Ribière+.
    pub beta: CgBeta,
    /// Restart period; `None` means `n`. Default `None`.
    pub restart: Option<usize>,
    /// Line search. Default strong Wolfe with `c1 = 1e-4`, `c2 = 0.1`.
    pub line_search: LineSearch,
}

impl Default for NonlinearCgConfig {
    fn default() -> Self {
        NonlinearCgConfig {
            tol: Tolerances::default().with_max_iter(10_000),
            beta: CgBeta::PolakRibierePlus,
            restart: None,
            line_search: LineSearch::StrongWolfe(WolfeConfig { c2: 0.1, ..WolfeConfig::default() }),
        }
    }
}

/// What nonlinear CG reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct NonlinearCgInfo {
    /// Restarts from steepest descent (period, lost orthogonality or lost descent).
    pub restarts: usize,
}

impl NonlinearCgConfig {
    /// Checks the settings (`restart` not `Some(0)`, the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        self.line_search.validate()?;
        check(self.restart != Some(0), || "NonlinearCgConfig.restart = Some(0) must be at least 1".into())
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NonlinearCgConfig,
) -> Result<Report<T, NonlinearCgInfo>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, NonlinearCg::new(config, x0.len()), None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NonlinearCgConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, NonlinearCgInfo>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, NonlinearCg::new(config, x0.len()), Some(observer))
}

/// Nonlinear CG as a [`driver`] step.
struct NonlinearCg<'c, T> {
    config: &'c NonlinearCgConfig,
    restart: usize,
    /// The search direction.
    d: Vec<T>,
    alpha0: T,
    since_restart: usize,
    info: NonlinearCgInfo,
}

impl<'c, T: Float> NonlinearCg<'c, T> {
    fn new(config: &'c NonlinearCgConfig, n: usize) -> Self {
        let restart = config.restart.unwrap_or(n).max(1);
        let info = NonlinearCgInfo { restarts: 0 };
        NonlinearCg { config, restart, d: Vec::new(), alpha0: T::ONE, since_restart: 0, info }
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for NonlinearCg<'_, T> {
    type Info = NonlinearCgInfo;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], _: &Context<'_, T>) -> T {
        let f = obj.value_grad(x, g);
        self.d = g.iter().map(|&v| -v).collect();
        self.alpha0 = T::ONE.min(T::ONE / norm(g));
        f
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, _: &Context<'_, T>) -> Step<T> {
        let (g, d) = (&at.g, &self.d);
        let gd = dot(g, d);
        let Ok(ls) = self.config.line_search.search(obj, &at.x, at.f, g, d, self.alpha0) else {
            return Step::NoProgress;
        };
        let alpha = ls.alpha;
        let new = ls.into_point(obj);
        let gn = &new.g;
        let gg = dot(g, g);
        let gngn = dot(gn, gn);
        self.since_restart += 1;
        let mut beta = match self.config.beta {
            CgBeta::FletcherReeves => gngn / gg,
            CgBeta::PolakRibierePlus => ((gngn - dot(gn, g)) / gg).max(T::ZERO),
        };
        if self.since_restart >= self.restart || dot(gn, g).abs() >= T::from_f64(0.2) * gngn {
            beta = T::ZERO;
        }
        let mut dn: Vec<T> = gn.iter().zip(d).map(|(&gi, &di)| -gi + beta * di).collect();
        if beta == T::ZERO || dot(gn, &dn) >= T::ZERO {
            dn = gn.iter().map(|&v| -v).collect();
            self.since_restart = 0;
            self.info.restarts += 1;
        }
        let gd_new = dot(gn, &dn);
        self.alpha0 = (alpha * gd / gd_new).min(T::ONE / T::EPSILON.sqrt());
        if self.alpha0.is_nan() || self.alpha0 <= T::ZERO {
            self.alpha0 = T::ONE;
        }
        self.d = dn;
        Step::Moved(new)
    }

    fn info(self) -> NonlinearCgInfo {
        self.info
    }
}
