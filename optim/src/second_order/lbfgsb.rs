//! L-BFGS-B: L-BFGS with box constraints `l <= x <= u` (Byrd, Lu, Nocedal & Zhu, "A limited memory algorithm
//! for bound constrained optimization", SIAM J. Sci. Comput. 16(5), 1995; the algorithm of scipy's
//! `minimize(method="L-BFGS-B")`).
//!
//! The limited-memory matrix is kept in compact form `B = theta I - W M W^T` with `W = [Y, theta S]` and
//! `M^-1 = [[-D, L^T], [L, theta S^T S]]` (`D = diag(s_i^T y_i)`, `L` the strictly lower part of `S^T Y`,
//! `theta = y^T y / s^T y` of the newest pair; paper §3). Each iteration
//!
//! 1. finds the **generalised Cauchy point** `x^c`: the first local minimiser of the quadratic model along the
//!    projected steepest-descent path `P(x - t g)`, segment by segment between the breakpoints where variables
//!    reach their bounds (paper §4, Algorithm CP);
//! 2. minimises the model over the variables that are free at `x^c` (the others fixed at their bounds), by the
//!    direct primal method with the Sherman-Morrison-Woodbury inverse of the reduced `B` (paper §5.1), and
//!    backtracks that step into the box;
//! 3. searches along `d = x_bar - x` with a strong Wolfe line search whose largest step keeps `x` feasible
//!    (Moré-Thuente by default, as L-BFGS-B; the first step is `min(1 / ||d||, 1)`, later ones `1`).
//!
//! The stopping test uses the **projected gradient** `x - P(x - g)`, which vanishes at a bounded minimiser
//! where `g` itself does not: [`Report::grad_norm`] and the `grad_tol` test are on its Euclidean norm (scipy's
//! `pgtol` is on its max-norm). A direction that is not a descent direction, or a failed line search, drops
//! the memory and retries from the projected steepest descent (as L-BFGS-B). The start is projected into the
//! box first.

use std::collections::VecDeque;

use wengert_autodiff::Float;

use super::driver::{self, Context, Method, Point, Step};
use super::{check, Observer, OptimError, Report, Tolerances};
use crate::linalg::lu::Lu;
use crate::linalg::{dot, norm, DenseMatrix, LinOp};
use crate::line_search::more_thuente::MoreThuenteConfig;
use crate::line_search::LineSearch;
use crate::objective::{Counted, Objective};

/// Where a variable is with respect to its bounds (scipy's `active_mask`: `-1`, `0`, `1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveBound {
    /// Strictly inside (or unbounded).
    Free,
    /// At its lower bound.
    Lower,
    /// At its upper bound.
    Upper,
}

/// Box constraints `lower <= x <= upper`; an infinite bound is no bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds<T> {
    lower: Vec<T>,
    upper: Vec<T>,
}

impl<T: Float> Bounds<T> {
    /// Bounds from the two vectors (use `-inf` / `+inf` for a side without a bound).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] if the lengths differ, a bound is NaN, or `lower_i > upper_i`.
    pub fn new(lower: Vec<T>, upper: Vec<T>) -> Result<Self, OptimError> {
        check(lower.len() == upper.len(), || {
            format!("Bounds: {} lower and {} upper bounds", lower.len(), upper.len())
        })?;
        for (i, (&l, &u)) in lower.iter().zip(&upper).enumerate() {
            check(l <= u, || format!("Bounds: lower[{i}] = {l:?} must be <= upper[{i}] = {u:?} (and not NaN)"))?;
        }
        Ok(Bounds { lower, upper })
    }

    /// No bounds on `n` variables.
    pub fn unbounded(n: usize) -> Self {
        Bounds { lower: vec![T::NEG_INFINITY; n], upper: vec![T::INFINITY; n] }
    }

    /// The lower bounds.
    pub fn lower(&self) -> &[T] {
        &self.lower
    }

    /// The upper bounds.
    pub fn upper(&self) -> &[T] {
        &self.upper
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.lower.len()
    }

    /// `true` for bounds on no variables.
    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Projects `x` into the box, `x_i <- min(max(x_i, l_i), u_i)`.
    pub fn project(&self, x: &mut [T]) {
        for ((x, &l), &u) in x.iter_mut().zip(&self.lower).zip(&self.upper) {
            if *x < l {
                *x = l;
            } else if *x > u {
                *x = u;
            }
        }
    }

    /// The projected gradient `x - P(x - g)` of a feasible `x` (L-BFGS-B's `projgr`), into `out`: zero exactly
    /// where the first-order conditions of the bounded problem hold. NaN in `g` stays NaN.
    pub fn projected_gradient(&self, x: &[T], g: &[T], out: &mut [T]) {
        for i in 0..x.len() {
            // x - P(x - g) is g clipped to [x - u, x - l]
            let (lo, hi) = (x[i] - self.upper[i], x[i] - self.lower[i]);
            let gi = g[i];
            out[i] = if gi < lo {
                lo
            } else if gi > hi {
                hi
            } else {
                gi
            };
        }
    }

    /// Which bound each variable of `x` is at ([`ActiveBound::Lower`] when `x_i <= l_i`, [`ActiveBound::Upper`]
    /// when `x_i >= u_i`, checked in that order).
    pub fn active_set(&self, x: &[T]) -> Vec<ActiveBound> {
        x.iter()
            .zip(&self.lower)
            .zip(&self.upper)
            .map(|((&x, &l), &u)| {
                if x <= l {
                    ActiveBound::Lower
                } else if x >= u {
                    ActiveBound::Upper
                } else {
                    ActiveBound::Free
                }
            })
            .collect()
    }

    /// The variables of `x` at a bound.
    pub fn active(&self, x: &[T]) -> usize {
        x.iter().zip(&self.lower).zip(&self.upper).filter(|((&x, &l), &u)| x <= l || x >= u).count()
    }
}

/// Settings of L-BFGS-B.
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsbConfig {
    /// Stopping rules; `grad_tol` is on the projected gradient. Default [`Tolerances::default`] with
    /// `max_iter = 15_000` (scipy's `maxiter`).
    pub tol: Tolerances,
    /// History size `m`. Default `10` (scipy's `maxcor`).
    pub history: usize,
    /// Line search; its `alpha_max` is lowered to keep the iterate feasible. Default Moré-Thuente with
    /// L-BFGS-B's constants ([`MoreThuenteConfig::default`]).
    pub line_search: LineSearch,
}

impl Default for LbfgsbConfig {
    fn default() -> Self {
        LbfgsbConfig {
            tol: Tolerances::default().with_max_iter(15_000),
            history: 10,
            line_search: LineSearch::MoreThuente(MoreThuenteConfig::default()),
        }
    }
}

impl LbfgsbConfig {
    /// Checks the settings (the tolerances and the line search).
    ///
    /// # Errors
    /// [`OptimError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), OptimError> {
        self.tol.validate()?;
        self.line_search.validate()
    }
}

/// What L-BFGS-B reports beside the common [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsbInfo {
    /// Variables at a bound at the solution.
    pub active_bounds: usize,
    /// Pairs skipped for lack of curvature (`s^T y <= eps (-g^T s)`, as L-BFGS-B).
    pub skipped_pairs: usize,
    /// Times the memory was dropped after a non-descent direction or a failed line search.
    pub resets: usize,
}

/// Minimises `obj` from `x0` (projected into the box) subject to `bounds`.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`], [`OptimError::InvalidConfig`] (also when
/// `bounds` has another length than `x0`).
pub fn minimize<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    bounds: &Bounds<T>,
    config: &LbfgsbConfig,
) -> Result<Report<T, LbfgsbInfo>, OptimError> {
    run(obj, x0, bounds, config, None)
}

/// [`minimize`], calling `observer` after every iteration.
///
/// # Errors
/// As [`minimize`].
pub fn minimize_observed<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    bounds: &Bounds<T>,
    config: &LbfgsbConfig,
    observer: Observer<'_, T>,
) -> Result<Report<T, LbfgsbInfo>, OptimError> {
    run(obj, x0, bounds, config, Some(observer))
}

fn run<T: Float, O: Objective<T> + ?Sized>(
    obj: &mut O,
    x0: &[T],
    bounds: &Bounds<T>,
    config: &LbfgsbConfig,
    observer: Option<Observer<'_, T>>,
) -> Result<Report<T, LbfgsbInfo>, OptimError> {
    config.validate()?;
    check(bounds.len() == x0.len(), || format!("Bounds: {} variables bounded, x0 has {}", bounds.len(), x0.len()))?;
    let mut x = x0.to_vec();
    bounds.project(&mut x);
    let mut r = driver::run(obj, &x, &config.tol, Lbfgsb::new(config, bounds, x.len()), observer)?;
    r.info.active_bounds = bounds.active(&r.x);
    Ok(r)
}

/// The objective seen through the projection: a trial point a rounding outside the box is evaluated at its
/// projection.
struct Projected<'a, 'b, O: ?Sized, T> {
    obj: &'a mut O,
    bounds: &'b Bounds<T>,
}

impl<T: Float, O: Objective<T> + ?Sized> Projected<'_, '_, O, T> {
    fn projected(&self, x: &[T]) -> Vec<T> {
        let mut p = x.to_vec();
        self.bounds.project(&mut p);
        p
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Objective<T> for Projected<'_, '_, O, T> {
    fn value(&mut self, x: &[T]) -> T {
        let p = self.projected(x);
        self.obj.value(&p)
    }
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T {
        let p = self.projected(x);
        self.obj.value_grad(&p, g)
    }
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R) {
        let p = self.projected(x);
        self.obj.with_hessian(&p, g, body)
    }
}

/// The compact representation `B = theta I - W M W^T` of the stored pairs (paper §3).
struct Compact<T> {
    theta: T,
    /// Rows `w_i = [y_1i .. y_mi, theta s_1i .. theta s_mi]` of `W`, one per variable (`n x 2m`, row-major).
    w: Vec<T>,
    /// `LU` of `M^-1` (`2m x 2m`); `None` without pairs.
    minv: Option<Lu<T>>,
    m2: usize,
}

impl<T: Float> Compact<T> {
    fn new(pairs: &VecDeque<(Vec<T>, Vec<T>)>, n: usize) -> Self {
        let m = pairs.len();
        let Some((s_new, y_new)) = pairs.back() else {
            return Compact { theta: T::ONE, w: Vec::new(), minv: None, m2: 0 };
        };
        let theta = dot(y_new, y_new) / dot(s_new, y_new);
        let m2 = 2 * m;
        let mut w = vec![T::ZERO; n * m2];
        for (k, (s, y)) in pairs.iter().enumerate() {
            for i in 0..n {
                w[i * m2 + k] = y[i];
                w[i * m2 + m + k] = theta * s[i];
            }
        }
        // M^-1 = [[-D, L^T], [L, theta S^T S]]
        let mut minv = DenseMatrix::zeros(m2, m2);
        for (i, (si, yi)) in pairs.iter().enumerate() {
            minv[(i, i)] = -dot(si, yi);
            for (j, (sj, yj)) in pairs.iter().enumerate() {
                if i > j {
                    let l = dot(si, yj);
                    minv[(m + i, j)] = l;
                    minv[(j, m + i)] = l;
                }
                minv[(m + i, m + j)] = theta * dot(si, sj);
            }
        }
        Compact { theta, w, minv: Lu::factor(&minv).ok(), m2 }
    }

    fn row(&self, i: usize) -> &[T] {
        &self.w[i * self.m2..(i + 1) * self.m2]
    }

    /// `M v`.
    fn m(&self, v: &[T]) -> Vec<T> {
        match &self.minv {
            Some(lu) => lu.solve(v),
            None => Vec::new(),
        }
    }
}

/// `x_bar - x`: the generalised Cauchy point then subspace minimisation (paper §4-5). `None` if the
/// compact matrices are singular.
fn direction<T: Float>(x: &[T], g: &[T], bounds: &Bounds<T>, b: &Compact<T>) -> Option<Vec<T>> {
    let n = x.len();
    let (lower, upper, theta, m2) = (bounds.lower(), bounds.upper(), b.theta, b.m2);
    if m2 > 0 && b.minv.is_none() {
        return None;
    }
    // breakpoints t_i along P(x - t g), and d = -g on the variables that can move
    let mut t = vec![T::INFINITY; n];
    let mut d = vec![T::ZERO; n];
    for i in 0..n {
        let gi = g[i];
        if gi < T::ZERO && upper[i] < T::INFINITY {
            t[i] = (x[i] - upper[i]) / gi;
        } else if gi > T::ZERO && lower[i] > T::NEG_INFINITY {
            t[i] = (x[i] - lower[i]) / gi;
        }
        if t[i] > T::ZERO {
            d[i] = -gi;
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&i| d[i] != T::ZERO && t[i] < T::INFINITY).collect();
    order.sort_by(|&a, &c| t[a].partial_cmp(&t[c]).unwrap_or(std::cmp::Ordering::Equal));
    let wt_d = |d: &[T]| {
        let mut p = vec![T::ZERO; m2];
        for (i, &di) in d.iter().enumerate() {
            if di != T::ZERO {
                p.iter_mut().zip(b.row(i)).for_each(|(p, &w)| *p += w * di);
            }
        }
        p
    };
    // Algorithm CP
    let mut xcp = x.to_vec();
    let mut p = wt_d(&d);
    let mut c = vec![T::ZERO; m2];
    let dd = dot(&d, &d);
    let mut fp = -dd;
    let mut fpp = theta * dd - dot(&p, &b.m(&p));
    let fpp0 = fpp;
    let mut dt_min = if fpp > T::ZERO { -fp / fpp } else { T::ZERO };
    let mut t_old = T::ZERO;
    for &bp in &order {
        let dt = t[bp] - t_old;
        if dt_min < dt {
            break;
        }
        xcp[bp] = if d[bp] > T::ZERO { upper[bp] } else { lower[bp] };
        let (zb, gb, wb) = (xcp[bp] - x[bp], g[bp], b.row(bp));
        c.iter_mut().zip(&p).for_each(|(c, &p)| *c += dt * p);
        let mw = b.m(wb);
        // w_b^T M c and w_b^T M p, with M symmetric: (M w_b)^T c
        let (wmc, wmp, wmw) = (dot(&mw, &c), dot(&mw, &p), dot(&mw, wb));
        fp = fp + dt * fpp + gb * gb + theta * gb * zb - gb * wmc;
        fpp = fpp - theta * gb * gb - T::from_f64(2.0) * gb * wmp - gb * gb * wmw;
        let floor = T::EPSILON * fpp0;
        if fpp < floor {
            fpp = floor;
        }
        p.iter_mut().zip(wb).for_each(|(p, &w)| *p += gb * w);
        d[bp] = T::ZERO;
        dt_min = if fpp > T::ZERO { -fp / fpp } else { T::ZERO };
        t_old = t[bp];
    }
    if dt_min < T::ZERO {
        dt_min = T::ZERO;
    }
    t_old += dt_min;
    for i in 0..n {
        if d[i] != T::ZERO {
            xcp[i] = x[i] + t_old * d[i];
        }
    }
    c.iter_mut().zip(&p).for_each(|(c, &p)| *c += dt_min * p);

    // subspace minimisation over the variables free at x^c (direct primal method, paper §5.1)
    let free: Vec<usize> = (0..n).filter(|&i| xcp[i] > lower[i] && xcp[i] < upper[i]).collect();
    let mut xbar = xcp.clone();
    if !free.is_empty() {
        let mc = b.m(&c);
        // reduced gradient r = Z^T (g + theta (x^c - x) - W M c)
        let r: Vec<T> = free
            .iter()
            .map(|&i| g[i] + theta * (xcp[i] - x[i]) - if m2 > 0 { dot(b.row(i), &mc) } else { T::ZERO })
            .collect();
        let mut du: Vec<T> = r.iter().map(|&ri| -ri / theta).collect();
        if m2 > 0 {
            // du = -r / theta - W_Z (I - M K / theta)^-1 M W_Z^T r / theta^2, K = W_Z^T W_Z
            let mut wr = vec![T::ZERO; m2];
            let mut k = DenseMatrix::zeros(m2, m2);
            for (&i, &ri) in free.iter().zip(&r) {
                let wi = b.row(i);
                wr.iter_mut().zip(wi).for_each(|(a, &w)| *a += w * ri);
                for a in 0..m2 {
                    for c in 0..m2 {
                        k[(a, c)] += wi[a] * wi[c];
                    }
                }
            }
            let v = b.m(&wr);
            let mut nmat = DenseMatrix::identity(m2);
            let mut col = vec![T::ZERO; m2];
            for j in 0..m2 {
                (0..m2).for_each(|a| col[a] = k[(a, j)]);
                let mk = b.m(&col);
                (0..m2).for_each(|a| nmat[(a, j)] -= mk[a] / theta);
            }
            let u = Lu::factor(&nmat).ok()?.solve(&v);
            for (dui, &i) in du.iter_mut().zip(&free) {
                *dui -= dot(b.row(i), &u) / (theta * theta);
            }
        }
        // backtrack into the box
        let mut alpha = T::ONE;
        for (&dui, &i) in du.iter().zip(&free) {
            if dui > T::ZERO && upper[i] < T::INFINITY {
                alpha = alpha.min((upper[i] - xcp[i]) / dui);
            } else if dui < T::ZERO && lower[i] > T::NEG_INFINITY {
                alpha = alpha.min((lower[i] - xcp[i]) / dui);
            }
        }
        for (&dui, &i) in du.iter().zip(&free) {
            xbar[i] = xcp[i] + alpha * dui;
        }
    }
    Some(xbar.iter().zip(x).map(|(&a, &b)| a - b).collect())
}

/// L-BFGS-B as a [`driver`] step. The driver's gradient is the projected one; the raw gradient is kept here.
struct Lbfgsb<'c, T> {
    config: &'c LbfgsbConfig,
    bounds: &'c Bounds<T>,
    /// The raw gradient at the current point, and at the point just moved to.
    g: Vec<T>,
    g_next: Vec<T>,
    pairs: VecDeque<(Vec<T>, Vec<T>)>,
    iteration: usize,
    /// Some variable has a bound (L-BFGS-B's `cnstnd`); every variable has both (`boxed`).
    constrained: bool,
    boxed: bool,
    info: LbfgsbInfo,
}

impl<'c, T: Float> Lbfgsb<'c, T> {
    fn new(config: &'c LbfgsbConfig, bounds: &'c Bounds<T>, n: usize) -> Self {
        let finite = |v: &T| v.is_finite();
        let constrained = bounds.lower().iter().any(finite) || bounds.upper().iter().any(finite);
        let boxed = bounds.lower().iter().all(finite) && bounds.upper().iter().all(finite);
        Lbfgsb {
            config,
            bounds,
            g: vec![T::ZERO; n],
            g_next: vec![T::ZERO; n],
            pairs: VecDeque::with_capacity(config.history),
            iteration: 0,
            constrained,
            boxed,
            info: LbfgsbInfo { active_bounds: 0, skipped_pairs: 0, resets: 0 },
        }
    }

    /// The largest step along `d` that keeps `x + alpha d` in the box (`1e10` if nothing bounds it).
    fn max_step(&self, x: &[T], d: &[T]) -> T {
        let (lower, upper) = (self.bounds.lower(), self.bounds.upper());
        let mut alpha = T::from_f64(1e10);
        for i in 0..x.len() {
            if d[i] < T::ZERO && lower[i] > T::NEG_INFINITY {
                alpha = alpha.min((lower[i] - x[i]) / d[i]);
            } else if d[i] > T::ZERO && upper[i] < T::INFINITY {
                alpha = alpha.min((upper[i] - x[i]) / d[i]);
            }
        }
        alpha.max(T::ZERO)
    }

    /// The line search with its largest step lowered to `alpha_max`.
    fn line_search(&self, alpha_max: T) -> LineSearch {
        // the same step as a min in `T`: a `T` value converts to f64 and back unchanged, and rounding is monotone
        let alpha_max = alpha_max.to_f64();
        match &self.config.line_search {
            LineSearch::MoreThuente(c) => {
                LineSearch::MoreThuente(MoreThuenteConfig { alpha_max: c.alpha_max.min(alpha_max), ..c.clone() })
            }
            LineSearch::StrongWolfe(c) => LineSearch::StrongWolfe(crate::line_search::wolfe::WolfeConfig {
                alpha_max: c.alpha_max.min(alpha_max),
                ..c.clone()
            }),
            other => other.clone(),
        }
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Method<T, O> for Lbfgsb<'_, T> {
    type Info = LbfgsbInfo;

    fn start(&mut self, obj: &mut Counted<'_, O>, x: &[T], g: &mut [T], _: &Context<'_, T>) -> T {
        let f = obj.value_grad(x, &mut self.g);
        self.bounds.projected_gradient(x, &self.g, g);
        f
    }

    fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<T>, _: &Context<'_, T>) -> Step<T> {
        let x = &at.x;
        loop {
            let compact = Compact::new(&self.pairs, x.len());
            let d = direction(x, &self.g, self.bounds, &compact);
            let d = match d {
                Some(d) if dot(&d, &self.g) < T::ZERO => d,
                _ if !self.pairs.is_empty() => {
                    self.pairs.clear();
                    self.info.resets += 1;
                    continue;
                }
                _ => return Step::NoProgress,
            };
            let stpmx = if self.constrained && self.iteration == 0 { T::ONE } else { self.max_step(x, &d) };
            let alpha0 =
                if self.iteration == 0 && !self.boxed { (T::ONE / norm(&d)).min(stpmx) } else { T::ONE.min(stpmx) };
            let mut projected = Projected { obj: &mut *obj, bounds: self.bounds };
            match self.line_search(stpmx).search(&mut projected, x, at.f, &self.g, &d, alpha0) {
                Ok(ls) => {
                    self.iteration += 1;
                    let mut xn = ls.x.clone();
                    self.bounds.project(&mut xn);
                    let ls = crate::line_search::LineSearchResult { x: xn, ..ls };
                    let new = ls.into_point(&mut projected);
                    self.g_next = new.g;
                    let mut pg = vec![T::ZERO; x.len()];
                    self.bounds.projected_gradient(&new.x, &self.g_next, &mut pg);
                    return Step::Moved(Point { x: new.x, f: new.f, g: pg });
                }
                Err(_) if !self.pairs.is_empty() => {
                    self.pairs.clear();
                    self.info.resets += 1;
                }
                Err(_) => return Step::NoProgress,
            }
        }
    }

    fn accepted(&mut self, old: Point<T>, new: &Point<T>) {
        let mut s = old.x;
        s.iter_mut().zip(&new.x).for_each(|(s, &x)| *s = x - *s);
        let y: Vec<T> = self.g_next.iter().zip(&self.g).map(|(&a, &b)| a - b).collect();
        let (ys, gs) = (dot(&y, &s), dot(&self.g, &s));
        std::mem::swap(&mut self.g, &mut self.g_next);
        // L-BFGS-B keeps a pair when s^T y > eps (-g_old^T s)
        if ys > T::EPSILON * -gs && self.config.history > 0 {
            if self.pairs.len() == self.config.history {
                self.pairs.pop_front();
            }
            self.pairs.push_back((s, y));
        } else {
            self.info.skipped_pairs += 1;
        }
    }

    fn info(self) -> LbfgsbInfo {
        self.info
    }
}
