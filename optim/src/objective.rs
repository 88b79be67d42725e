//! Objectives the second-order methods minimise, with exact derivatives from the tape.
//!
//! | what | gives | built by |
//! |---|---|---|
//! | [`Objective`] | `f(x)`, `grad f(x)`, Hessian-vector products `H v` | [`TapeObjective`] (closure over a flat vector), [`ModelObjective`] (an `nn` model and a loss) |
//! | [`LeastSquares`] | residuals `r(x)`, products `J v` and `J^T u`, the second-order term `S v = sum_i w_i grad^2 r_i v` | [`TapeLeastSquares`] (closure returning residuals) |
//! | [`Counted`] | any objective, counting its evaluations | wraps the above; the methods use it for their reports |
//!
//! Hessian-vector products are exact and all go through the tape's one Hessian operator,
//! [`HessianOperator`]: `f` and its gradient graph are recorded once per point, each product `H v` is one
//! tangent sweep over both (forward over reverse), after which the tape is truncated back to the mark (it is a
//! [`LinOp`] here). Jacobian products go through the tape's one linearisation primitive, [`Linearization`]:
//! `J v` is one tangent sweep over the recorded residuals (forward mode), `J^T u` one backward sweep.
//!
//! ```
//! use wengert_optim::objective::{Objective, TapeObjective};
//! // f(x) = x0^2 x1 + x1^3
//! let mut f = TapeObjective::new(|x| {
//!     let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
//!     (a * a * b + b * b * b).sum()
//! });
//! let mut g = [0.0; 2];
//! let (fx, hv) = f.with_hessian(&[1.0_f64, 2.0], &mut g, |_g, h| {
//!     let mut y = vec![0.0; 2];
//!     h.apply(&[1.0, 0.0], &mut y); // first column of H = [[2 x1, 2 x0], [2 x0, 6 x1]]
//!     y
//! });
//! assert_eq!(fx, 10.0);
//! assert_eq!(g, [4.0, 13.0]);
//! assert_eq!(hv, vec![4.0, 2.0]);
//! # use wengert_optim::linalg::LinOp;
//! ```

use std::cell::Cell;
use std::marker::PhantomData;

use wengert_autodiff::functional::{HessianOperator, Linearization};
use wengert_autodiff::{Float, Tape, Tensor, Var};
use wengert_nn::{Bound, Parameters};

use crate::linalg::LinOp;

/// A smooth scalar function of a flat parameter vector, with its gradient and Hessian-vector products.
pub trait Objective<T: Float> {
    /// `f(x)`.
    fn value(&mut self, x: &[T]) -> T;

    /// `f(x)`, writing `grad f(x)` into `g`.
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T;

    /// Evaluates `f(x)` and `grad f(x)` (into `g`) and prepares Hessian-vector products at `x`; `body` gets
    /// the gradient and the Hessian as an operator `v -> H v`. Returns `(f(x), body's result)`.
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R);
}

/// Evaluation counts, as reported by the methods.
///
/// An [`Objective`] counts in `function`, `gradient` and `hvp`; a [`LeastSquares`] problem counts residual
/// evaluations and Jacobian evaluations apart (as MINPACK's `nfev` and `njev`, scipy's `nfev` and `njev`), and
/// the Jacobian products in `jvp` and `vjp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objective values `f(x)` (every gradient or Hessian evaluation also computes one).
    pub function: usize,
    /// Gradients.
    pub gradient: usize,
    /// Hessian-vector products.
    pub hvp: usize,
    /// Jacobian-vector products `J v`.
    pub jvp: usize,
    /// Vector-Jacobian products `J^T u`.
    pub vjp: usize,
    /// Least squares: residual vectors `r(x)` computed on their own ([`LeastSquares::residuals`]).
    pub residual: usize,
    /// Least squares: Jacobian evaluations, each a point where `J` was prepared for products
    /// ([`LeastSquares::with_jacobian`], which also gives `r(x)` there: not counted again in `residual`).
    pub jacobian: usize,
}

impl Counts {
    /// Total evaluations of any kind (used for evaluation budgets).
    pub fn total(&self) -> usize {
        self.function + self.gradient + self.hvp + self.jvp + self.vjp + self.residual + self.jacobian
    }
}

/// An [`Objective`] or [`LeastSquares`] that counts its evaluations.
pub struct Counted<'a, O: ?Sized> {
    inner: &'a mut O,
    counts: Counts,
}

impl<'a, O: ?Sized> Counted<'a, O> {
    /// Wraps `inner` with zero counts.
    pub fn new(inner: &'a mut O) -> Self {
        Counted { inner, counts: Counts::default() }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

struct CountingOp<'a, T: Float> {
    op: &'a dyn LinOp<T>,
    n: &'a Cell<usize>,
}

impl<T: Float> LinOp<T> for CountingOp<'_, T> {
    fn dim(&self) -> usize {
        self.op.dim()
    }
    fn apply(&self, x: &[T], y: &mut [T]) {
        self.n.set(self.n.get() + 1);
        self.op.apply(x, y)
    }
}

impl<T: Float, O: Objective<T> + ?Sized> Objective<T> for Counted<'_, O> {
    fn value(&mut self, x: &[T]) -> T {
        self.counts.function += 1;
        self.inner.value(x)
    }
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T {
        self.counts.function += 1;
        self.counts.gradient += 1;
        self.inner.value_grad(x, g)
    }
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R) {
        self.counts.function += 1;
        self.counts.gradient += 1;
        let n = Cell::new(0);
        let out = self.inner.with_hessian(x, g, |g, h| body(g, &CountingOp { op: h, n: &n }));
        self.counts.hvp += n.get();
        out
    }
}

/// Reads a gradient variable into `out` (zeros when the output does not depend on the input).
fn read_grad<T: Float>(g: Option<Var<'_, T>>, out: &mut [T]) {
    match g {
        Some(v) => out.copy_from_slice(v.value().as_slice()),
        None => out.fill(T::ZERO),
    }
}

/// The tape's one Hessian operator ([`HessianOperator`]: `f` and its gradient recorded once, each `H v` one
/// tangent sweep, forward over reverse) as a [`LinOp`] over flat vectors. Every Hessian product of this crate's
/// objectives goes through it.
impl<T: Float> LinOp<T> for HessianOperator<T> {
    fn dim(&self) -> usize {
        HessianOperator::dim(self)
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        let hv = HessianOperator::apply(self, &Tensor::from_vec(v.to_vec(), self.shape()));
        y.copy_from_slice(hv.as_slice());
    }
}

/// Binds the trainable parameters of `model` to slices of one flat vector `theta` (the layout of
/// [`flatten_params`], in visiting order); frozen parameters are recorded as constants.
///
/// # Panics
/// If `theta` does not have one entry per trainable parameter.
#[track_caller]
pub fn bind_flat<'t, T: Float, M: Parameters<T> + ?Sized>(model: &M, theta: Var<'t, T>) -> Bound<'t, T> {
    let tape = theta.tape();
    let n = model.num_trainable();
    assert!(
        theta.shape().as_slice() == [n],
        "bind_flat: theta has shape {:?}, the model {n} trainable parameters",
        theta.shape().as_slice()
    );
    let mut vars = Vec::new();
    let mut off = 0;
    model.visit("", &mut |_, p| {
        if p.is_frozen() {
            vars.push(tape.constant(p.value().clone()));
        } else {
            let k = p.numel();
            vars.push(theta.slice(0, off..off + k).reshape(p.shape()));
            off += k;
        }
    });
    Bound::with_vars(tape, model, &vars)
}

/// An [`Objective`] from a closure `x -> f(x)` over a flat tape vector `x` of shape `[n]`; all derivatives
/// are exact (reverse mode, and forward over reverse for `H v`).
///
/// The closure must work for any tape lifetime (`for<'t> Fn(Var<'t, T>) -> Var<'t, T>`) and return a
/// scalar. Inside it, reshape or slice `x` as needed.
pub struct TapeObjective<T, F> {
    f: F,
    _t: PhantomData<fn(T) -> T>,
}

impl<T: Float, F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>> TapeObjective<T, F> {
    /// Wraps the closure.
    pub fn new(f: F) -> Self {
        TapeObjective { f, _t: PhantomData }
    }
}

fn vector<T: Float>(x: &[T]) -> Tensor<T> {
    Tensor::from_vec(x.to_vec(), &[x.len()])
}

impl<T: Float, F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>> Objective<T> for TapeObjective<T, F> {
    fn value(&mut self, x: &[T]) -> T {
        let tape = Tape::new();
        (self.f)(tape.constant(vector(x))).item()
    }
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T {
        let tape = Tape::new();
        let xv = tape.var(vector(x));
        let y = (self.f)(xv);
        read_grad(tape.grad(y, &[xv]).get(0), g);
        y.item()
    }
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R) {
        let h = HessianOperator::new(|x| (self.f)(x), &vector(x));
        g.copy_from_slice(h.gradient().as_slice());
        (h.value(), body(g, &h))
    }
}

/// Flattens the trainable (not frozen) parameters of `model`, in visiting order, into one vector.
pub fn flatten_params<T: Float, M: Parameters<T> + ?Sized>(model: &M) -> Vec<T> {
    let mut out = Vec::with_capacity(model.num_trainable());
    model.visit("", &mut |_, p| {
        if !p.is_frozen() {
            out.extend_from_slice(p.value().as_slice())
        }
    });
    out
}

/// Writes a vector made by [`flatten_params`] back into the trainable parameters of `model`.
///
/// # Panics
/// If `x.len()` is not the number of trainable parameters.
pub fn unflatten_params<T: Float, M: Parameters<T> + ?Sized>(model: &mut M, x: &[T]) {
    assert_eq!(x.len(), model.num_trainable(), "unflatten_params: vector length vs trainable parameters");
    let mut off = 0;
    model.visit_mut("", &mut |_, p| {
        if !p.is_frozen() {
            let k = p.numel();
            p.value_mut().data_mut().copy_from_slice(&x[off..off + k]);
            off += k;
        }
    });
}

/// An [`Objective`] over the trainable parameters of an `nn` model: `f(theta) = loss(model with theta)`.
///
/// The loss closure records the (full-batch) loss on the bound parameters, e.g.
/// `|p, m| cross_entropy(m.forward(p, x), labels)`. Parameters are flattened in visiting order
/// ([`flatten_params`]); each evaluation writes `x` into the model. After a run, call
/// [`ModelObjective::load`] with the solution so the model holds it.
pub struct ModelObjective<'m, T: Float, M, F> {
    model: &'m mut M,
    loss: F,
    _t: PhantomData<fn(T) -> T>,
}

impl<'m, T: Float, M: Parameters<T>, F: for<'t> Fn(&Bound<'t, T>, &M) -> Var<'t, T>> ModelObjective<'m, T, M, F> {
    /// Wraps `model` and `loss`.
    pub fn new(model: &'m mut M, loss: F) -> Self {
        ModelObjective { model, loss, _t: PhantomData }
    }

    /// The current trainable parameters as a flat vector: a starting point.
    pub fn params(&self) -> Vec<T> {
        flatten_params(&*self.model)
    }

    /// Writes `x` into the model's trainable parameters.
    ///
    /// # Panics
    /// If `x` has the wrong length.
    pub fn load(&mut self, x: &[T]) {
        unflatten_params(self.model, x)
    }

    fn record<'t, R>(&mut self, tape: &'t Tape<T>, x: &[T], then: impl FnOnce(Var<'t, T>, &[Var<'t, T>]) -> R) -> R {
        unflatten_params(self.model, x);
        let bound = Bound::new(tape, &*self.model);
        let y = (self.loss)(&bound, &*self.model);
        let vars: Vec<Var<'t, T>> = bound.named_vars().map(|(_, v)| v).filter(|v| v.requires_grad()).collect();
        then(y, &vars)
    }
}

impl<T: Float, M: Parameters<T>, F: for<'t> Fn(&Bound<'t, T>, &M) -> Var<'t, T>> Objective<T>
    for ModelObjective<'_, T, M, F>
{
    fn value(&mut self, x: &[T]) -> T {
        let tape = Tape::new();
        tape.no_grad(|| self.record(&tape, x, |y, _| y.item()))
    }
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T {
        let tape = Tape::new();
        self.record(&tape, x, |y, vars| {
            let gr = tape.grad(y, vars);
            let mut off = 0;
            for (i, v) in vars.iter().enumerate() {
                read_grad(gr.get(i), &mut g[off..off + v.numel()]);
                off += v.numel();
            }
            y.item()
        })
    }
    /// The loss is recorded over one flat vector of the trainable parameters ([`HessianOperator`]).
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R) {
        unflatten_params(self.model, x);
        let (model, loss) = (&*self.model, &self.loss);
        let h = HessianOperator::new(|theta| loss(&bind_flat(model, theta), model), &vector(x));
        g.copy_from_slice(h.gradient().as_slice());
        (h.value(), body(g, &h))
    }
}

/// Products with the Jacobian `J = d r / d x` (`m x n`) of residuals at one point.
pub trait Jacobian<T: Float> {
    /// `m`, the number of residuals.
    fn rows(&self) -> usize;
    /// `n`, the number of parameters.
    fn cols(&self) -> usize;
    /// `out = J v` (`v` of length `n`, `out` of length `m`).
    fn jv(&self, v: &[T], out: &mut [T]);
    /// `out = J^T u` (`u` of length `m`, `out` of length `n`).
    fn jtu(&self, u: &[T], out: &mut [T]);
}

/// A nonlinear least-squares problem `min_x f(x) = 1/2 ||r(x)||^2`, with `grad f = J^T r`.
pub trait LeastSquares<T: Float> {
    /// The residuals `r(x)`.
    fn residuals(&mut self, x: &[T]) -> Vec<T>;

    /// Evaluates `r(x)` and prepares Jacobian products at `x`; `body` gets the residuals and `J`.
    fn with_jacobian<R>(&mut self, x: &[T], body: impl FnOnce(&[T], &dyn Jacobian<T>) -> R) -> R;

    /// The second-order term of the residuals weighted by `w`, `S = sum_i w_i grad^2 r_i(x)`, as an operator
    /// `v -> S v` given to `body` (with `w = r(x)`, the Hessian of `1/2 ||r||^2` is `J^T J + S`). `None` if the
    /// problem cannot give it (the default): methods that use `S` keep to the Gauss-Newton model `J^T J`.
    fn with_residual_hessian<R>(&mut self, x: &[T], w: &[T], body: impl FnOnce(&dyn LinOp<T>) -> R) -> Option<R> {
        let _ = (x, w, body);
        None
    }
}

struct CountingJacobian<'a, T: Float> {
    j: &'a dyn Jacobian<T>,
    jv: &'a Cell<usize>,
    jtu: &'a Cell<usize>,
}

impl<T: Float> Jacobian<T> for CountingJacobian<'_, T> {
    fn rows(&self) -> usize {
        self.j.rows()
    }
    fn cols(&self) -> usize {
        self.j.cols()
    }
    fn jv(&self, v: &[T], out: &mut [T]) {
        self.jv.set(self.jv.get() + 1);
        self.j.jv(v, out)
    }
    fn jtu(&self, u: &[T], out: &mut [T]) {
        self.jtu.set(self.jtu.get() + 1);
        self.j.jtu(u, out)
    }
}

impl<T: Float, L: LeastSquares<T> + ?Sized> LeastSquares<T> for Counted<'_, L> {
    fn residuals(&mut self, x: &[T]) -> Vec<T> {
        self.counts.residual += 1;
        self.inner.residuals(x)
    }
    fn with_jacobian<R>(&mut self, x: &[T], body: impl FnOnce(&[T], &dyn Jacobian<T>) -> R) -> R {
        self.counts.jacobian += 1;
        let (jv, jtu) = (Cell::new(0), Cell::new(0));
        let out = self.inner.with_jacobian(x, |r, j| body(r, &CountingJacobian { j, jv: &jv, jtu: &jtu }));
        self.counts.jvp += jv.get();
        self.counts.vjp += jtu.get();
        out
    }
    fn with_residual_hessian<R>(&mut self, x: &[T], w: &[T], body: impl FnOnce(&dyn LinOp<T>) -> R) -> Option<R> {
        let n = Cell::new(0);
        let out = self.inner.with_residual_hessian(x, w, |h| body(&CountingOp { op: h, n: &n }));
        self.counts.hvp += n.get();
        out
    }
}

/// How [`TapeLeastSquares`] computes `J v`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum JvMode {
    /// Exact, by forward mode: one tangent sweep over the recorded residuals ([`Linearization::jvp`]; the
    /// default).
    #[default]
    Exact,
    /// Forward difference `(r(x + h v) - r(x)) / h`, `h = step (1 + ||x||) / ||v||`: only if asked for.
    ForwardDifference {
        /// Relative step (e.g. `1e-7` in f64).
        step: f64,
    },
}

/// A [`LeastSquares`] problem from a closure `x -> r(x)` over a flat tape vector of shape `[n]`; the residuals
/// may have any shape (they are flattened). At each point the residuals are recorded once as a
/// [`Linearization`]: `J^T u` is one reverse sweep, `J v` one forward (tangent) sweep ([`JvMode::Exact`], the
/// default); `S v` ([`LeastSquares::with_residual_hessian`]) is a [`HessianOperator`] product.
pub struct TapeLeastSquares<T, F> {
    f: F,
    mode: JvMode,
    _t: PhantomData<fn(T) -> T>,
}

impl<T: Float, F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>> TapeLeastSquares<T, F> {
    /// Wraps the residual closure, with exact `J v`.
    pub fn new(f: F) -> Self {
        TapeLeastSquares { f, mode: JvMode::Exact, _t: PhantomData }
    }

    /// Chooses how `J v` is computed.
    pub fn with_jv_mode(mut self, mode: JvMode) -> Self {
        self.mode = mode;
        self
    }
}

/// `J` of a [`TapeLeastSquares`] at one point: the tape's [`Linearization`] (the residuals recorded once; `J v`
/// one tangent sweep, `J^T u` one backward sweep).
struct TapeJacobian<'a, T: Float, F> {
    lin: &'a Linearization<T>,
    f: &'a F,
    x0: &'a [T],
    r0: &'a [T],
    mode: JvMode,
}

impl<T: Float, F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>> Jacobian<T> for TapeJacobian<'_, T, F> {
    fn rows(&self) -> usize {
        self.lin.output_numel()
    }
    fn cols(&self) -> usize {
        self.lin.input_numel()
    }
    fn jv(&self, v: &[T], out: &mut [T]) {
        match self.mode {
            JvMode::Exact => out.copy_from_slice(self.lin.jvp(&vector(v)).as_slice()),
            JvMode::ForwardDifference { step } => {
                let vn = crate::linalg::norm(v);
                if vn == T::ZERO {
                    return out.fill(T::ZERO);
                }
                let h = T::from_f64(step) * (T::ONE + crate::linalg::norm(self.x0)) / vn;
                let xh: Vec<T> = self.x0.iter().zip(v).map(|(&a, &b)| a + h * b).collect();
                let tape = Tape::new();
                let rh = (self.f)(tape.constant(vector(&xh))).value();
                for ((o, &a), &b) in out.iter_mut().zip(rh.as_slice()).zip(self.r0) {
                    *o = (a - b) / h;
                }
            }
        }
    }
    fn jtu(&self, u: &[T], out: &mut [T]) {
        let u = Tensor::from_vec(u.to_vec(), self.lin.output_shape());
        out.copy_from_slice(self.lin.vjp(&u).as_slice());
    }
}

impl<T: Float, F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>> LeastSquares<T> for TapeLeastSquares<T, F> {
    fn residuals(&mut self, x: &[T]) -> Vec<T> {
        let tape = Tape::new();
        (self.f)(tape.constant(vector(x))).value().into_vec()
    }
    fn with_jacobian<R>(&mut self, x: &[T], body: impl FnOnce(&[T], &dyn Jacobian<T>) -> R) -> R {
        let lin = Linearization::new(|x| (self.f)(x), &vector(x));
        let r0 = lin.value().into_vec();
        let j = TapeJacobian { lin: &lin, f: &self.f, x0: x, r0: &r0, mode: self.mode };
        body(&r0, &j)
    }
    /// Exact: `S v` is the HVP of `sum_i w_i r_i(x)` (`w` held constant), by [`HessianOperator`].
    fn with_residual_hessian<R>(&mut self, x: &[T], w: &[T], body: impl FnOnce(&dyn LinOp<T>) -> R) -> Option<R> {
        let f = &self.f;
        let h = HessianOperator::new(
            |x| {
                let r = f(x);
                (r * x.constant_like(Tensor::from_vec(w.to_vec(), r.shape().as_slice()))).sum()
            },
            &vector(x),
        );
        Some(body(&h))
    }
}

/// `f(x) = 1/2 ||r(x)||^2` of a [`LeastSquares`] problem seen as an [`Objective`] (for line searches and
/// for comparing with general methods). Its "Hessian" is the Gauss-Newton matrix `J^T J`.
pub struct SumOfSquares<'a, L: ?Sized> {
    inner: &'a mut L,
}

impl<'a, L: ?Sized> SumOfSquares<'a, L> {
    /// Wraps a least-squares problem.
    pub fn new(inner: &'a mut L) -> Self {
        SumOfSquares { inner }
    }
}

impl<T: Float, L: LeastSquares<T> + ?Sized> Objective<T> for SumOfSquares<'_, L> {
    fn value(&mut self, x: &[T]) -> T {
        half_squared_norm(&self.inner.residuals(x))
    }
    fn value_grad(&mut self, x: &[T], g: &mut [T]) -> T {
        self.inner.with_jacobian(x, |r, j| {
            j.jtu(r, g);
            half_squared_norm(r)
        })
    }
    fn with_hessian<R>(&mut self, x: &[T], g: &mut [T], body: impl FnOnce(&[T], &dyn LinOp<T>) -> R) -> (T, R) {
        self.inner.with_jacobian(x, |r, j| {
            j.jtu(r, g);
            let gn = GaussNewtonOp::new(j);
            (half_squared_norm(r), body(g, &gn))
        })
    }
}

/// `v -> J^T (J v)`: the Gauss-Newton matrix as an operator.
pub struct GaussNewtonOp<'a, T: Float> {
    j: &'a dyn Jacobian<T>,
    tmp: std::cell::RefCell<Vec<T>>,
}

impl<'a, T: Float> GaussNewtonOp<'a, T> {
    /// The operator `J^T J` of a Jacobian.
    pub fn new(j: &'a dyn Jacobian<T>) -> Self {
        GaussNewtonOp { j, tmp: std::cell::RefCell::new(vec![T::ZERO; j.rows()]) }
    }
}

impl<T: Float> LinOp<T> for GaussNewtonOp<'_, T> {
    fn dim(&self) -> usize {
        self.j.cols()
    }
    fn apply(&self, v: &[T], y: &mut [T]) {
        let mut t = self.tmp.borrow_mut();
        self.j.jv(v, &mut t);
        self.j.jtu(&t, y);
    }
}

/// `1/2 sum r_i^2`.
pub fn half_squared_norm<T: Float>(r: &[T]) -> T {
    T::from_f64(0.5) * crate::linalg::dot(r, r)
}
