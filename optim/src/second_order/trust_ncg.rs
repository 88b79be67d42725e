//! Trust-region Newton-CG with the Steihaug-Toint truncated CG (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., Alg. 4.1 and 7.2; the variant of scipy's `minimize(method="trust-ncg")`).
//!
//! Each iteration minimises the model `m(p) = f + g^T p + 1/2 p^T H p` over `||p|| <= Delta` by CG on exact
//! Hessian-vector products, stopping at the boundary when a step leaves the region or negative curvature is
//! met, or when `||r|| < min(0.5, sqrt(||g||)) ||g||`. With `rho = (f(x) - f(x + p)) / (m(0) - m(p))`:
//! `Delta /= 4` if `rho < 1/4`; `Delta = min(2 Delta, Delta_max)` if `rho > 3/4` and the step hit the boundary;
//! the step is accepted if `rho > eta`. Model values are tracked through the CG recurrences, so no extra
//! Hessian-vector product is spent on `m(p)`.

use wengert_autodiff::Float;

use super::driver::{self, Context, Method, Point, Step};
use super::{check, check_positive, Observer, OptimError, Report, Tolerances};
use crate::linalg::{axpy, dot, norm, LinOp};
use crate::line_search::step_to;
use crate::objective::{Counted, Objective};

/// A diagonal scaling of the variables: the trust region becomes `||D p|| <= Delta` (Nocedal & Wright §4.5;
/// MINPACK's `diag`).
///
/// With parameters of very different sizes (`1e2` beside `1e-4`) a round region is far too long along the
/// small ones and far too short along the large ones: the radius shrinks until steps in the small
/// parameters fall below the rounding of the large ones and the run stalls. Choose `d_i` about
/// `1 / |typical x_i|`, so that `D x` has entries of order one. The subproblem is solved in the scaled
/// variables `p_hat = D p`: gradient `D^-1 g`, Hessian `D^-1 H D^-1`. The `d_i` are settings, in `f64` as every
/// hyperparameter, converted to the problem's type once at the start of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Scaling {
    /// `D = I` (the default: scipy's `trust-ncg`).
    #[default]
    None,
    /// `D = diag(d)`, every `d_i` positive and finite, one per variable.
    Diagonal(Vec<f64>),
}

/// `v -> D^-1 H D^-1 v`.
struct ScaledHessian<'a, T> {
    h: &'a dyn LinOp<T>,
    d: &'a [T],
    tmp: std::cell::RefCell<Vec<T>>,
}

impl<T: Float> LinOp<T> for ScaledHessian<'_, T> {
    fn dim(&self) -> usize {
        self.d.len()
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        let mut t = self.tmp.borrow_mut();
        t.iter_mut().zip(v).zip(self.d).for_each(|((t, &v), &d)| *t = v / d);
        self.h.apply(&t, y);
        y.iter_mut().zip(self.d).for_each(|(y, &d)| *y /= d);
    }
}

/// The Steihaug step for `||D p|| <= radius`, `D = diag(d)` (`None`: `D = I`).
fn scaled_steihaug<T: Float>(
    scaling: Option<&[T]>,
    h: &dyn LinOp<T>,
    g: &[T],
    radius: T,
    max_iter: usize,
) -> SteihaugStep<T> {
    match scaling {
        None => steihaug(h, g, radius, max_iter),
        Some(d) => {
            let gs: Vec<T> = g.iter().zip(d).map(|(&g, &d)| g / d).collect();
            let op = ScaledHessian { h, d, tmp: std::cell::RefCell::new(vec![T::ZERO; d.len()]) };
            let mut step = steihaug(&op, &gs, radius, max_iter);
            step.p.iter_mut().zip(d).for_each(|(p, &d)| *p /= d);
            step
        }
    }
}

/// Settings of trust-region Newton-CG; defaults as scipy's `trust-ncg`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustNcgConfig {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances,
    /// Initial radius. Default `1`.
    pub initial_radius: f64,
    /// Largest radius. Default `1000`.
    pub max_radius: f64,
    /// Acceptance threshold on `rho`. Default `0.15`.
    pub eta: f64,
    /// Scaling of the variables. Default [`Scaling::None`].
    pub scaling: Scaling,
}

impl Default for TrustNcgConfig {
    fn default() -> Self {
        TrustNcgConfig {
            tol: Tolerances::default(),
            initial_radius: 1.0,
            max_radius: 1000.0,
            eta: 0.15,
            scaling: Scaling::None,
        }
    }
}

/// A Steihaug step: the step, the model decrease `m(0) - m(p)`, and whether it lies on the boundary.
#[derive(Clone, Debug, PartialEq)]
pub struct SteihaugStep<T> {
    /// The step `p`.
    pub p: Vec<T>,
    /// `m(0) - m(p) = -(g^T p + 1/2 p^T H p)`.
    pub predicted_decrease: T,
    /// `||p|| = Delta`.
    pub on_boundary: bool,
    /// CG iterations spent (Hessian-vector products).
    pub cg_iterations: usize,
}

/// `tau >= 0` with `||z + tau d|| = radius`.
fn to_boundary<T: Float>(z: &[T], d: &[T], radius: T) -> T {
    let a = dot(d, d);
    let b = T::from_f64(2.0) * dot(z, d);
    let c = dot(z, z) - radius * radius;
    let disc = (b * b - T::from_f64(4.0) * a * c).max(T::ZERO).sqrt();
    (-b + disc) / (T::from_f64(2.0) * a)
}

/// Steihaug-Toint truncated CG for `min m(p)` over `||p|| <= radius` (N&W Alg. 7.2).
pub fn steihaug<T: Float, H: LinOp<T> + ?Sized>(h: &H, g: &[T], radius: T, max_iter: usize) -> SteihaugStep<T> {
    let n = g.len();
    let gnorm = norm(g);
    let tol = T::from_f64(0.5).min(gnorm.sqrt()) * gnorm;
    let mut z = vec![T::ZERO; n];
    let mut r = g.to_vec();
    let mut d: Vec<T> = g.iter().map(|&v| -v).collect();
    let mut rr = dot(&r, &r);
    // q = m(z) - m(0) = g^T z + 1/2 z^T H z, tracked through the recurrences.
    let mut q = T::ZERO;
    let mut hd = vec![T::ZERO; n];
    let half = T::from_f64(0.5);
    if gnorm <= tol {
        return SteihaugStep { p: z, predicted_decrease: T::ZERO, on_boundary: false, cg_iterations: 0 };
    }
    let mut cg_iterations = 0;
    for _ in 0..max_iter {
        h.apply(&d, &mut hd);
        cg_iterations += 1;
        let dhd = dot(&d, &hd);
        // m(z + t d) - m(0) = q + t r^T d + t^2/2 d^T H d   (r = g + H z)
        let rd = dot(&r, &d);
        let along = |t: T| q + t * rd + half * t * t * dhd;
        if dhd <= T::ZERO {
            // negative curvature: go to the boundary, in the better of the two directions
            let ta = to_boundary(&z, &d, radius);
            let neg: Vec<T> = d.iter().map(|&v| -v).collect();
            let tb = to_boundary(&z, &neg, radius);
            let (t, qt) = if along(ta) <= along(-tb) { (ta, along(ta)) } else { (-tb, along(-tb)) };
            axpy(t, &d, &mut z);
            return SteihaugStep { p: z, predicted_decrease: -qt, on_boundary: true, cg_iterations };
        }
        let alpha = rr / dhd;
        let z_next = step_to(&z, alpha, &d);
        if norm(&z_next) >= radius {
            let t = to_boundary(&z, &d, radius);
            let qt = along(t);
            axpy(t, &d, &mut z);
            return SteihaugStep { p: z, predicted_decrease: -qt, on_boundary: true, cg_iterations };
        }
        q = along(alpha);
        z = z_next;
        axpy(alpha, &hd, &mut r);
        let rr_new = dot(&r, &r);
        if rr_new.sqrt() < tol {
            break;
        }
        let beta = rr_new / rr;
        rr = rr_new;
        for (di, &ri) in d.iter_mut().zip(&r) {
            *di = -ri + beta * *di;
        }
    }
    SteihaugStep { p: z, predicted_decrease: -q, on_boundary: false, cg_iterations }
}

/// What trust-region Newton-CG reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrustNcgInfo<T> {
    /// The trust radius `Delta` at the end of the run.
    pub radius: T,
    /// Steihaug-CG iterations over the run (each one Hessian-vector product).
    pub cg_iterations: usize,
    /// Trial steps rejected (`rho <= eta`).
    pub rejected: usize,
}

impl TrustNcgConfig {
    /// Checks the settings: `0 < initial_radius <= max_radius`, `0 <= eta < 1/4` (as scipy), the tolerances.
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        check_positive("TrustNcgConfig", "initial_radius", self.initial_radius)?;
        check_positive("TrustNcgConfig", "max_radius", self.max_radius)?;
        check(self.initial_radius <= self.max_radius, || {
            format!(
                "TrustNcgConfig.initial_radius = {:?} must be <= max_radius = {:?}",
                self.initial_radius, self.max_radius
            )
        })?;
        check(self.eta >= 0.0 && self.eta < 0.25, || {
            format!("TrustNcgConfig.eta = {:?} must be in [0, 0.25)", self.eta)
        })?;
        match &self.scaling {
            Scaling::None => Ok(()),
            Scaling::Diagonal(d) => check(d.iter().all(|&v| v > 0.0 && v.is_finite()), || {
                "TrustNcgConfig.scaling: every d_i must be positive and finite".into()
            }),
        }
    }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &TrustNcgConfig,
) -> Result<Report<T, TrustNcgInfo<T>>, OptimError> {
    config.validate()?;
    if let Scaling::Diagonal(d) = &config.scaling {
        check(d.len() == x0.len(), || format!("TrustNcgConfig.scaling: {} d_i for {} variables", d.len(), x0.len()))?;
    }
    driver::run(obj, x0, &config.tol, TrustNcg::new(config, x0.len()), None)
}

/// [`minimize`], calling `observer` after every accepted step.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &TrustNcgConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, TrustNcgInfo<T>>, OptimError> {
    config.validate()?;
    if let Scaling::Diagonal(d) = &config.scaling {
        check(d.len() == x0.len(), || format!("TrustNcgConfig.scaling: {} d_i for {} variables", d.len(), x0.len()))?;
    }
    driver::run(obj, x0, &config.tol, TrustNcg::new(config, x0.len()), Some(observer))
}

/// Trust-region Newton-CG as a [`driver`] step: each iteration is one trial step, accepted or rejected.
struct TrustNcg<T> {
    /// `config.max_radius` and `config.eta` in `T`.
    max_radius: T,
    eta: T,
    /// The `d_i` of [`Scaling::Diagonal`] in `T`.
    scaling: Option<Vec<T>>,
    max_cg: usize,
    /// The Steihaug step at the current point for the current radius, if solved for.
    pending: Option<SteihaugStep<T>>,
    info: TrustNcgInfo<T>,
}

impl<T: Float> TrustNcg<T> {
    fn new(config: &TrustNcgConfig, n: usize) -> Self {
        let info = TrustNcgInfo { radius: T::from_f64(config.initial_radius), cg_iterations: 0, rejected: 0 };
        let scaling = match &config.scaling {
            Scaling::None => None,
            Scaling::Diagonal(d) => Some(d.iter().map(|&v| T::from_f64(v)).collect()),
        };
        let (max_radius, eta) = (T::from_f64(config.max_radius), T::from_f64(config.eta));
        TrustNcg { max_radius, eta, scaling, max_cg: 20 * n.max(1), pending: None, info }
    }

    fn solved(&mut self, step: SteihaugStep<T>) -> SteihaugStep<T> {
        self.info.cg_iterations += step.cg_iterations;
        step
    }

    /// `f(x)`, `grad f(x)` into `g`, and the Steihaug step at `x`, unless the run stops there.
    fn evaluate<O: Objective<T> + ?Sized>(&mut self, obj: &mut O, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        let (radius, max_cg, scaling) = (self.info.radius, self.max_cg, self.scaling.as_deref());
        let (f, step) =
            obj.with_hessian(x, g, |g, h| (!ctx.stops_at(g)).then(|| scaled_steihaug(scaling, h, g, radius, max_cg)));
        self.pending = step.map(|s| self.solved(s));
        f
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for TrustNcg<T> {
    type Info = TrustNcgInfo<T>;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T {
        self.evaluate(obj, x, g, ctx)
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, ctx: &Context<'_, T>) -> Step<T> {
        let step = match self.pending.take() {
            Some(step) => step,
            None => {
                // after a rejection: solve again at the same point with the smaller radius
                let dx = match &self.scaling {
                    None => norm(&at.x),
                    Some(d) => norm(&at.x.iter().zip(d).map(|(&x, &d)| x * d).collect::<Vec<T>>()),
                };
                if self.info.radius <= T::EPSILON * dx.max(T::ONE) {
                    return Step::NoProgress;
                }
                let (radius, max_cg, scaling) = (self.info.radius, self.max_cg, self.scaling.as_deref());
                let mut g = vec![T::ZERO; at.x.len()];
                let step = obj.with_hessian(&at.x, &mut g, |g, h| scaled_steihaug(scaling, h, g, radius, max_cg)).1;
                self.solved(step)
            }
        };
        if step.predicted_decrease.is_nan() || step.predicted_decrease <= T::ZERO {
            return Step::NoProgress;
        }
        let xp = step_to(&at.x, T::ONE, &step.p);
        let fp = obj.value(&xp);
        let rho = if fp.is_finite() { (at.f - fp) / step.predicted_decrease } else { T::NEG_INFINITY };
        let radius = &mut self.info.radius;
        if rho < T::from_f64(0.25) {
            *radius *= T::from_f64(0.25);
        } else if rho > T::from_f64(0.75) && step.on_boundary {
            *radius = (T::from_f64(2.0) * *radius).min(self.max_radius);
        }
        if rho > self.eta {
            let mut g = vec![T::ZERO; at.x.len()];
            let f = self.evaluate(obj, &xp, &mut g, ctx);
            Step::Moved(Point { x: xp, f, g })
        } else {
            self.info.rejected += 1;
            Step::Rejected
        }
    }

    fn info(self) -> TrustNcgInfo<T> {
        self.info
    }
}
