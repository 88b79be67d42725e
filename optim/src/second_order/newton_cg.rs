//! Line-search Newton-CG, Hessian-free (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 7.1; the
//! variant of scipy's `minimize(method="Newton-CG")`).
//!
//! Each iteration solves `H p = -g` approximately by conjugate gradient on exact Hessian-vector products,
//! stopping when `||r||_1 <= eta ||g||_1` with `eta = min(0.5, sqrt(||g||_1))` (superlinear convergence).
//! Negative curvature (`d^T H d < 0`): at the first CG iteration the step is steepest descent scaled by
//! `g^T g / |d^T H d|`; later, CG stops with the current iterate (always a descent direction). A line search
//! from `alpha = 1` globalises the step.

use wengert_autodiff::Float;

use super::driver::{self, Context, Method, Point, Step};
use super::{check, Observer, OptimError, Report, Tolerances};
use crate::linalg::{axpy, dot, LinOp};
use crate::line_search::armijo::ArmijoConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Settings of Newton-CG.
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonCgConfig {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances,
    /// Line search, tried from `alpha = 1`. Default Armijo ([`ArmijoConfig::default`]); scipy uses Wolfe.
    pub line_search: LineSearch,
    /// Inner CG budget per iteration, as a multiple of `n`. Default `20` (scipy's `cg_maxiter = 20 n`).
    pub cg_max_iter_factor: usize,
}

impl Default for NewtonCgConfig {
    fn default() -> Self {
        NewtonCgConfig {
            tol: Tolerances::default(),
            line_search: LineSearch::Armijo(ArmijoConfig::default()),
            cg_max_iter_factor: 20,
        }
    }
}

/// A truncated-CG Newton direction with what the inner solve did.
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonCgDirection<T> {
    /// The direction `p`.
    pub p: Vec<T>,
    /// CG iterations spent (Hessian-vector products).
    pub cg_iterations: usize,
    /// The relative residual `||H p + g||_1 / ||g||_1` where CG stopped (`1` when `p` fell back to `-g`).
    pub residual: T,
}

/// The truncated-CG Newton direction for `H p = -g` (see the module doc).
pub fn newton_cg_direction<T: Float, H: LinOp<T> + ?Sized>(h: &H, g: &[T], max_iter: usize) -> Vec<T> {
    newton_cg_solve(h, g, max_iter).p
}

/// [`newton_cg_direction`] with the inner solve's iterations and residual.
pub fn newton_cg_solve<T: Float, H: LinOp<T> + ?Sized>(h: &H, g: &[T], max_iter: usize) -> NewtonCgDirection<T> {
    let n = g.len();
    let g1: T = g.iter().map(|v| v.abs()).sum();
    let eta = T::from_f64(0.5).min(g1.sqrt());
    let term = eta * g1;
    let mut z = vec![T::ZERO; n];
    let mut r = g.to_vec();
    let mut d: Vec<T> = g.iter().map(|&v| -v).collect();
    let mut rr = dot(&r, &r);
    let mut hd = vec![T::ZERO; n];
    let mut cg_iterations = 0;
    for i in 0..max_iter {
        if r.iter().map(|v| v.abs()).sum::<T>() <= term {
            break;
        }
        h.apply(&d, &mut hd);
        cg_iterations += 1;
        let curv = dot(&d, &hd);
        if curv >= T::ZERO && curv <= T::from_f64(3.0) * T::EPSILON {
            break;
        }
        if curv < T::ZERO {
            if i == 0 {
                z = d.iter().map(|&v| v * (rr / -curv)).collect();
            }
            break;
        }
        let alpha = rr / curv;
        axpy(alpha, &d, &mut z);
        axpy(alpha, &hd, &mut r);
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        rr = rr_new;
        for (di, &ri) in d.iter_mut().zip(&r) {
            *di = -ri + beta * *di;
        }
    }
    if z.iter().all(|&v| v == T::ZERO) {
        return NewtonCgDirection { p: g.iter().map(|&v| -v).collect(), cg_iterations, residual: T::ONE };
    }
    let residual = r.iter().map(|v| v.abs()).sum::<T>() / g1;
    NewtonCgDirection { p: z, cg_iterations, residual }
}

/// What Newton-CG reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewtonCgInfo<T> {
    /// Inner CG iterations over the run (each one Hessian-vector product).
    pub cg_iterations: usize,
    /// The relative residual `||H p + g||_1 / ||g||_1` of the last inner solve (see [`NewtonCgDirection`]).
    pub last_residual: T,
}

impl NewtonCgConfig {
    /// Checks the settings (`cg_max_iter_factor >= 1`, the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        self.line_search.validate()?;
        check(self.cg_max_iter_factor >= 1, || "NewtonCgConfig.cg_max_iter_factor = 0 must be >= 1".into())
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonCgConfig,
) -> Result<Report<T, NewtonCgInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, NewtonCg::new(config, x0.len()), None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &NewtonCgConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, NewtonCgInfo<T>>, OptimError> {
    config.validate()?;
    driver::run(obj, x0, &config.tol, NewtonCg::new(config, x0.len()), Some(observer))
}

/// Newton-CG as a [`driver`] step: the direction is solved for when the point is evaluated (unless the run
/// stops there), the line search runs in the next iteration.
struct NewtonCg<'c, T> {
    config: &'c NewtonCgConfig,
    max_cg: usize,
    p: Option<Vec<T>>,
    info: NewtonCgInfo<T>,
}

impl<'c, T: Float> NewtonCg<'c, T> {
    fn new(config: &'c NewtonCgConfig, n: usize) -> Self {
        let info = NewtonCgInfo { cg_iterations: 0, last_residual: T::ZERO };
        NewtonCg { config, max_cg: config.cg_max_iter_factor * n.max(1), p: None, info }
    }

    fn evaluate<O: Objective<T> + ?Sized>(&mut self, obj: &mut O, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        let max_cg = self.max_cg;
        let (f, dir) = obj.with_hessian(x, g, |g, h| (!ctx.stops_at(g)).then(|| newton_cg_solve(h, g, max_cg)));
        self.p = dir.map(|d| {
            self.info.cg_iterations += d.cg_iterations;
            self.info.last_residual = d.residual;
            d.p
        });
        f
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for NewtonCg<'_, T> {
    type Info = NewtonCgInfo<T>;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        self.evaluate(obj, x, g, ctx)
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, ctx: &Context<'_, T>) -> Step<T> {
        let Some(p) = self.p.take() else { return Step::NoProgress };
        let Ok(ls) = self.config.line_search.search(obj, &at.x, at.f, &at.g, &p, T::ONE) else {
            return Step::NoProgress;
        };
        let mut g = vec![T::ZERO; at.x.len()];
        let f = self.evaluate(obj, &ls.x, &mut g, ctx);
        Step::Moved(Point { x: ls.x, f, g })
    }

    fn info(self) -> NewtonCgInfo<T> {
        self.info
    }
}
