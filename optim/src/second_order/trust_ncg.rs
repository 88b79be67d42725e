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

use super::{check_start, observe, report, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::{axpy, dot, norm, LinOp};
use crate::line_search::step_to;
use crate::objective::{Counted, Objective};

/// Settings of trust-region Newton-CG; defaults as scipy's `trust-ncg`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustNcgConfig<T> {
    /// Stopping rules. Default [`Tolerances::default`].
    pub tol: Tolerances<T>,
    /// Initial radius. Default `1`.
    pub initial_radius: T,
    /// Largest radius. Default `1000`.
    pub max_radius: T,
    /// Acceptance threshold on `rho`. Default `0.15`.
    pub eta: T,
}

impl<T: Float> Default for TrustNcgConfig<T> {
    fn default() -> Self {
        TrustNcgConfig {
            tol: Tolerances::default(),
            initial_radius: T::ONE,
            max_radius: T::from_f64(1000.0),
            eta: T::from_f64(0.15),
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
        return SteihaugStep { p: z, predicted_decrease: T::ZERO, on_boundary: false };
    }
    for _ in 0..max_iter {
        h.apply(&d, &mut hd);
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
            return SteihaugStep { p: z, predicted_decrease: -qt, on_boundary: true };
        }
        let alpha = rr / dhd;
        let z_next = step_to(&z, alpha, &d);
        if norm(&z_next) >= radius {
            let t = to_boundary(&z, &d, radius);
            let qt = along(t);
            axpy(t, &d, &mut z);
            return SteihaugStep { p: z, predicted_decrease: -qt, on_boundary: true };
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
    SteihaugStep { p: z, predicted_decrease: -q, on_boundary: false }
}

/// Minimises `obj` from `x0`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`].
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &TrustNcgConfig<T>,
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
    config: &TrustNcgConfig<T>,
    observer: Observer<'_, T>,
) -> Result<Report<T>, OptimError> {
    run(obj, x0, config, Some(observer))
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    config: &TrustNcgConfig<T>,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T>, OptimError> {
    let mut obj = Counted::new(obj);
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![T::ZERO; n];
    let mut radius = config.initial_radius;
    let max_cg = 20 * n.max(1);
    let mut prev: Option<(Vec<T>, T)> = None;
    let mut k = 0;
    loop {
        // the subproblem is not solved at a point where the run stops anyway
        let (grad_tol, last) = (config.tol.grad_tol, k >= config.tol.max_iter);
        let (f, step) =
            obj.with_hessian(&x, &mut g, |g, h| (norm(g) > grad_tol && !last).then(|| steihaug(h, g, radius, max_cg)));
        match &prev {
            None => {
                check_start(&x, f, &g)?;
                if norm(&g) <= config.tol.grad_tol {
                    return Ok(report(x, f, &g, k, obj.counts(), StopReason::GradientTolerance));
                }
            }
            Some((xo, fo)) => {
                observe(&mut observer, k, f, &g, &x);
                if let Some(s) = config.tol.check(k, xo, &x, *fo, f, norm(&g), obj.counts().total()) {
                    return Ok(report(x, f, &g, k, obj.counts(), s));
                }
            }
        }
        let Some(mut step) = step else {
            let s = if last { StopReason::MaxIterations } else { StopReason::GradientTolerance };
            return Ok(report(x, f, &g, k, obj.counts(), s));
        };
        // Shrink the radius until a step is accepted (the Hessian session is re-recorded after a rejection).
        loop {
            k += 1;
            if step.predicted_decrease.is_nan() || step.predicted_decrease <= T::ZERO {
                return Ok(report(x, f, &g, k, obj.counts(), StopReason::NoProgress));
            }
            let xp = step_to(&x, T::ONE, &step.p);
            let fp = obj.value(&xp);
            let rho = if fp.is_finite() { (f - fp) / step.predicted_decrease } else { T::NEG_INFINITY };
            if rho < T::from_f64(0.25) {
                radius *= T::from_f64(0.25);
            } else if rho > T::from_f64(0.75) && step.on_boundary {
                radius = (T::from_f64(2.0) * radius).min(config.max_radius);
            }
            if rho > config.eta {
                prev = Some((std::mem::replace(&mut x, xp), f));
                break;
            }
            if k >= config.tol.max_iter || obj.counts().total() >= config.tol.max_evals {
                let s = if k >= config.tol.max_iter { StopReason::MaxIterations } else { StopReason::MaxEvaluations };
                return Ok(report(x, f, &g, k, obj.counts(), s));
            }
            if radius <= T::EPSILON * norm(&x).max(T::ONE) {
                return Ok(report(x, f, &g, k, obj.counts(), StopReason::NoProgress));
            }
            let r = radius;
            step = obj.with_hessian(&x, &mut g, |g, h| steihaug(h, g, r, max_cg)).1;
        }
    }
}
