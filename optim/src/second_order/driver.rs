//! The one iteration loop of every second-order and full-batch method.
//!
//! A method is a [`Method`]: a small step type that knows how to evaluate the start point and how to make one
//! iteration. Everything the methods share lives here, written once:
//!
//! 1. the start check (an empty or non-finite start is an [`OptimError`], a start that already meets
//!    `grad_tol` returns at once with 0 iterations);
//! 2. the iteration counter and the budgets (`max_iter`, `max_evals`, rejected trust-region trials included);
//! 3. the **non-finite guard**: a step that reaches a point whose value or gradient is NaN or infinite stops
//!    the run with [`StopReason::NonFinite`]; that point is never accepted, so [`Report::x`] is the last finite
//!    point and a NaN gradient is never taken for convergence;
//! 4. the tolerances ([`Tolerances::check`]) after each accepted step;
//! 5. the observer, after each accepted step;
//! 6. the [`Report`], with the method's own `Info` beside it (Newton's regularisation, the trust radius, ...).
//!
//! The driver is generic over the problem type `P`, so the same loop serves [`Objective`]s (Newton,
//! quasi-Newton, CG, ...) and [`LeastSquares`] problems (Gauss-Newton, Levenberg-Marquardt): a least-squares
//! step implements `Method<T, L>` for `L: LeastSquares<T>`, reports `f = 1/2 ||r||^2` and `g = J^T r` in its
//! [`Point`]s, and evaluates through the counting wrapper [`Counted`] it is handed.
//!
//! A step tells the driver what happened with a [`Step`]: it moved to a new (evaluated) point, it rejected a
//! trial and stays (a trust-region or Levenberg-Marquardt rejection: counts as an iteration, the budgets are
//! checked, the observer is not called), its own stopping test ends the run (with or without a move:
//! Levenberg-Marquardt's `ftol` and `xtol`), it cannot make progress, or it met non-finite derivative
//! information of its own (a Hessian or Jacobian entry: the driver checks `f` and `g` itself). A method with a
//! test of its own at every accepted point (Levenberg-Marquardt's scale-free gradient test) gives it in
//! [`Method::stop`]; the driver makes it after the common rules. Methods that evaluate the next point
//! together with expensive work for the following iteration (a dense Hessian, a CG solve) ask
//! [`Context::stops_at`] first, so that work is not done at a point where the run stops anyway.
//!
//! ```
//! use wengert_optim::objective::{Counted, Objective, TapeObjective};
//! use wengert_optim::second_order::driver::{self, Context, Method, Point, Step};
//! use wengert_optim::second_order::{StopReason, Tolerances};
//!
//! /// Fixed-step gradient descent, `x <- x - 0.1 grad f(x)`, as a driver method.
//! struct Fixed;
//! impl<O: Objective<f64> + ?Sized> Method<f64, O> for Fixed {
//!     type Info = ();
//!     fn start(&mut self, obj: &mut Counted<'_, O>, x: &[f64], g: &mut [f64], _: &Context<'_, f64>) -> f64 {
//!         obj.value_grad(x, g)
//!     }
//!     fn step(&mut self, obj: &mut Counted<'_, O>, at: &Point<f64>, _: &Context<'_, f64>) -> Step<f64> {
//!         let x: Vec<f64> = at.x.iter().zip(&at.g).map(|(x, g)| x - 0.1 * g).collect();
//!         let mut g = vec![0.0; x.len()];
//!         let f = obj.value_grad(&x, &mut g);
//!         Step::Moved(Point { x, f, g })
//!     }
//!     fn info(self) {}
//! }
//!
//! let mut f = TapeObjective::new(|x| (x * x).sum()); // f = |x|^2, x <- 0.8 x
//! let r = driver::run(&mut f, &[1.0, -2.0], &Tolerances::default(), Fixed, None).unwrap();
//! assert_eq!(r.stop, StopReason::GradientTolerance);
//! assert!(r.x.iter().all(|x| x.abs() < 1e-5));
//! ```

use wengert_autodiff::Float;

use super::{Iteration, Observer, OptimError, Report, StopReason, Tolerances};
use crate::linalg::norm;
#[allow(unused_imports)]
use crate::objective::{Counted, LeastSquares, Objective};

/// A point with its value and gradient (for least squares, `f = 1/2 ||r||^2` and `g = J^T r`).
#[derive(Clone, Debug, PartialEq)]
pub struct Point<T> {
    /// The point.
    pub x: Vec<T>,
    /// `f(x)`.
    pub f: T,
    /// `grad f(x)`.
    pub g: Vec<T>,
}

/// What one iteration of a [`Method`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Step<T> {
    /// Moved to a new point, evaluated (value and gradient).
    Moved(Point<T>),
    /// Moved to a new point, and the method's own test says the run ends there (Levenberg-Marquardt's
    /// `ftol`/`xtol`). The driver still applies the non-finite guard, calls the observer and, if the method's
    /// reason is the only one, stops with it; it comes before [`Tolerances::check`].
    MovedAndStop(Point<T>, StopReason),
    /// Tried a step and rejected it: the point stays. Counts as an iteration.
    Rejected,
    /// The method's own test ends the run at the current point (after a rejected trial: Levenberg-Marquardt's
    /// `xtol` on a shrunk radius, its machine-precision tests).
    Stop(StopReason),
    /// No step can be made from here (the line search failed, the trust region collapsed, ...).
    NoProgress,
    /// Derivative information the step needs beyond `f` and `g` (a Hessian, a Jacobian) is NaN or infinite
    /// at the current point: the run stops with [`StopReason::NonFinite`].
    NonFinite,
}

/// What the driver tells a step about the run.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a, T> {
    tol: &'a Tolerances,
    /// `tol.grad_tol` in `T`, converted once for the run.
    grad_tol: T,
    k: usize,
}

impl<T: Float> Context<'_, T> {
    /// The number of the iteration being made (1-based; 0 while the start is evaluated).
    pub fn iteration(&self) -> usize {
        self.k
    }

    /// `true` if the run stops at a point with gradient `g` reached by this iteration whatever comes next:
    /// `||g|| <= grad_tol`, `g` not finite, or the iteration budget spent. A step uses it to skip work meant for
    /// the following iteration (a dense Hessian, a CG solve).
    pub fn stops_at(&self, g: &[T]) -> bool {
        let gn = norm(g);
        !(gn > self.grad_tol && gn.is_finite()) || self.k >= self.tol.max_iter
    }
}

/// One method: how to evaluate the start and how to make one iteration, generic over the problem type `P`
/// ([`Objective`] or [`LeastSquares`]). See the module doc.
pub trait Method<T: Float, P: ?Sized> {
    /// What the method reports beside the common [`Report`] (see [`Report::info`]).
    type Info;

    /// Evaluates the start point `x`: returns `f(x)` and writes `grad f(x)` into `g`.
    fn start(&mut self, problem: &mut Counted<'_, P>, x: &[T], g: &mut [T], ctx: &Context<'_, T>) -> T;

    /// One iteration from `at` (the current, accepted point).
    fn step(&mut self, problem: &mut Counted<'_, P>, at: &Point<T>, ctx: &Context<'_, T>) -> Step<T>;

    /// The method's own stopping test at an accepted point `at` (the start, or after a step), made after the
    /// common rules: Levenberg-Marquardt's scale-free gradient test. Default: none.
    fn stop(&self, at: &Point<T>) -> Option<StopReason> {
        let _ = at;
        None
    }

    /// Called when the driver accepts `new` in place of `old` (to keep a pair `s = new.x - old.x`,
    /// `y = new.g - old.g`, reusing `old`'s buffers). Not called for a point that fails the non-finite guard.
    fn accepted(&mut self, old: Point<T>, new: &Point<T>) {
        let _ = (old, new);
    }

    /// The method's own report, at the end of the run.
    fn info(self) -> Self::Info;
}

/// Runs `method` on `problem` from `x0` under the stopping rules `tol`, calling `observer` after every
/// accepted step.
///
/// # Errors
/// [`OptimError::EmptyStart`], [`OptimError::NonFiniteStart`]; [`OptimError::InvalidConfig`] if `tol` is
/// invalid ([`Tolerances::validate`]).
pub fn run<T: Float, P: ?Sized, M: Method<T, P>>(
    problem: &mut P,
    x0: &[T],
    tol: &Tolerances,
    mut method: M,
    mut observer: Option<Observer<'_, T>>,
) -> Result<Report<T, M::Info>, OptimError> {
    tol.validate()?;
    if x0.is_empty() {
        return Err(OptimError::EmptyStart);
    }
    let grad_tol = T::from_f64(tol.grad_tol);
    let mut problem = Counted::new(problem);
    let mut g = vec![T::ZERO; x0.len()];
    let f = method.start(&mut problem, x0, &mut g, &Context { tol, grad_tol, k: 0 });
    let mut at = Point { x: x0.to_vec(), f, g };
    if !finite(&at) {
        return Err(OptimError::NonFiniteStart);
    }
    let done = |at: Point<T>, k: usize, problem: &Counted<'_, P>, method: M, stop: StopReason| {
        let grad_norm = norm(&at.g);
        Ok(Report { x: at.x, f: at.f, grad_norm, iterations: k, counts: problem.counts(), stop, info: method.info() })
    };
    if norm(&at.g) <= grad_tol {
        return done(at, 0, &problem, method, StopReason::GradientTolerance);
    }
    if let Some(s) = method.stop(&at) {
        return done(at, 0, &problem, method, s);
    }
    if tol.max_iter == 0 {
        return done(at, 0, &problem, method, StopReason::MaxIterations);
    }
    let mut k = 0;
    loop {
        k += 1;
        let (new, own) = match method.step(&mut problem, &at, &Context { tol, grad_tol, k }) {
            Step::NoProgress => return done(at, k, &problem, method, StopReason::NoProgress),
            Step::NonFinite => return done(at, k, &problem, method, StopReason::NonFinite),
            Step::Stop(s) => return done(at, k, &problem, method, s),
            Step::Rejected => match tol.budget_spent(k, problem.counts().total()) {
                Some(s) => return done(at, k, &problem, method, s),
                None => continue,
            },
            Step::Moved(new) => (new, None),
            Step::MovedAndStop(new, s) => (new, Some(s)),
        };
        if !finite(&new) {
            return done(at, k, &problem, method, StopReason::NonFinite);
        }
        // the method's own reason first, then the common rules, then the method's test at the new point
        let stop = own.or_else(|| tol.check(k, &at.x, &new.x, at.f, new.f, norm(&new.g), problem.counts().total()));
        let old = std::mem::replace(&mut at, new);
        method.accepted(old, &at);
        if let Some(o) = observer.as_mut() {
            o(&Iteration { k, f: at.f, grad_norm: norm(&at.g), x: &at.x });
        }
        if let Some(s) = stop.or_else(|| method.stop(&at)) {
            return done(at, k, &problem, method, s);
        }
    }
}

/// The non-finite guard: value and gradient all finite.
fn finite<T: Float>(p: &Point<T>) -> bool {
    p.f.is_finite() && crate::line_search::all_finite(&p.g)
}
