//! Derivatives of closures, in the spirit of JAX: [`grad`], [`value_and_grad`], [`vjp`],
//! [`jvp`], [`hvp`], [`hessian`], [`jacobian`], [`jacfwd`], [`jacrev`], [`linearize`], and the
//! matrix-free operators [`HessianOperator`] and [`Linearization`] that record a function once
//! and apply its derivative many times.
//!
//! Each function records `f` on a fresh [`Tape`] and runs forward or reverse mode on it (every
//! op has both rules, [`Op::backward`](crate::Op::backward) and [`Op::jvp`](crate::Op::jvp)),
//! so the closures must work for any tape: they are generic over the tape lifetime,
//! `F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>` for one tensor argument, and
//! `F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>` for the `_many` forms, which take one
//! tensor per argument and return one result per argument.
//!
//! Pass closures inline (as below) or write a `fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64>`:
//! a closure first stored in a `let` gets one fixed lifetime instead of the
//! higher-ranked signature, and is rejected.
//!
//! | function | computes | cost (in evaluations of `f`) |
//! |---|---|---|
//! | [`grad`] | `∇f(x)` for scalar `f` | 1 forward + 1 backward |
//! | [`vjp`] | `uᵀ J` | 1 forward + 1 backward |
//! | [`jvp`] | `J t`, true forward mode (nothing kept for reverse mode) | 1 forward carrying tangents |
//! | [`hvp`] | `H v`, forward over reverse by default ([`HvpMode`]) | 1 forward + 1 backward, both carrying tangents |
//! | [`linearize`] | `f(x)` and `t -> J t`, `u -> uᵀ J` reusable | 1 forward, then 1 tangent sweep per `J t` |
//! | [`hessian`] | dense `H`, forward over reverse | 1 forward + 1 recorded backward + `n` tangent sweeps |
//! | [`jacfwd`] / [`jacrev`] | dense `J` by columns / by rows | 1 forward + `n` tangent sweeps / `m` backward |
//! | [`jacobian`] | dense `J`, whichever of the two is cheaper | 1 forward + `min(m, n)` sweeps |
//!
//! ```
//! use wengert_autodiff::{functional, Tensor};
//!
//! // f(x) = sum x_i^3: gradient 3 x^2, Hessian diag(6 x)
//! let x = Tensor::from_vec(vec![1.0_f64, 2.0], &[2]);
//! let g = functional::grad(|x| (x * x * x).sum(), &x);
//! assert_eq!(g.to_vec(), vec![3.0, 12.0]);
//! let h = functional::hessian(|x| (x * x * x).sum(), &x);
//! assert_eq!(h.to_vec(), vec![6.0, 0.0, 0.0, 12.0]);
//! ```

use crate::error::or_panic;
use crate::{Float, Gradients, Shape, Tape, Tensor, Var};

/// Records `f` on `tape` at trainable leaves holding `xs`.
fn record<'t, T: Float, F>(tape: &'t Tape<T>, f: &F, xs: &[Tensor<T>]) -> (Vec<Var<'t, T>>, Var<'t, T>)
where
    F: for<'s> Fn(&[Var<'s, T>]) -> Var<'s, T>,
{
    let vars: Vec<Var<'t, T>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars);
    (vars, y)
}

#[track_caller]
fn assert_scalar<T: Float>(what: &str, y: Var<'_, T>) {
    assert!(y.numel() == 1, "{what}: the function must return a scalar, got shape {:?}", y.shape().as_slice());
}

#[track_caller]
fn assert_same_shapes<T: Float>(what: &str, xs: &[Tensor<T>], vs: &[Tensor<T>]) {
    assert!(xs.len() == vs.len(), "{what}: {} arguments but {} vectors", xs.len(), vs.len());
    for (i, (x, v)) in xs.iter().zip(vs).enumerate() {
        assert!(
            x.shape() == v.shape(),
            "{what}: vector {i} has shape {:?}, its argument has shape {:?}",
            v.shape(),
            x.shape()
        );
    }
}

/// `(f(x), ∇f(x))` for a scalar-valued `f` of several tensors: one forward and one backward.
///
/// # Panics
/// If `f` does not return a single element.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(a, b) = sum a * b: df/da = b, df/db = a
/// let (v, g) = functional::value_and_grad_many(|x| (x[0] * x[1]).sum(),
///     &[Tensor::from_vec(vec![1.0_f64, 2.0], &[2]), Tensor::from_vec(vec![3.0, 4.0], &[2])]);
/// assert_eq!(v, 11.0);
/// assert_eq!(g[0].to_vec(), vec![3.0, 4.0]);
/// assert_eq!(g[1].to_vec(), vec![1.0, 2.0]);
/// ```
#[track_caller]
pub fn value_and_grad_many<T: Float, F>(f: F, xs: &[Tensor<T>]) -> (T, Vec<Tensor<T>>)
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    let tape = Tape::new();
    let (vars, y) = record(&tape, &f, xs);
    assert_scalar("value_and_grad", y);
    let value = y.item();
    (value, tape.grad(y, &vars).values())
}

/// `∇f(x)` for a scalar-valued `f` of several tensors, one gradient per argument
/// (zeros for an argument `f` does not depend on).
///
/// # Panics
/// If `f` does not return a single element.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(a, b) = a^2 b: df/da = 2ab, df/db = a^2
/// let g = functional::grad_many(|x| (x[0] * x[0] * x[1]).sum(), &[Tensor::scalar(3.0_f64), Tensor::scalar(2.0)]);
/// assert_eq!((g[0].item(), g[1].item()), (12.0, 9.0));
/// ```
#[track_caller]
pub fn grad_many<T: Float, F>(f: F, xs: &[Tensor<T>]) -> Vec<Tensor<T>>
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    value_and_grad_many(f, xs).1
}

/// `(f(x), ∇f(x))` for a scalar-valued `f` of one tensor.
///
/// # Panics
/// If `f` does not return a single element.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = x^3 at x = 2: value 8, derivative 3 x^2 = 12
/// let (v, g) = functional::value_and_grad(|x| x * x * x, &Tensor::scalar(2.0_f64));
/// assert_eq!((v, g.item()), (8.0, 12.0));
/// ```
#[track_caller]
pub fn value_and_grad<T: Float, F>(f: F, x: &Tensor<T>) -> (T, Tensor<T>)
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    let (v, mut g) = value_and_grad_many(|xs| f(xs[0]), std::slice::from_ref(x));
    (v, g.remove(0))
}

/// `∇f(x)` for a scalar-valued `f` of one tensor, with the shape of `x`.
///
/// # Panics
/// If `f` does not return a single element.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // d/dx sum sin x = cos x
/// let g = functional::grad(|x| x.sin().sum(), &Tensor::from_vec(vec![0.0_f64, 1.0], &[2]));
/// assert_eq!(g.to_vec(), vec![1.0, 1f64.cos()]);
/// ```
#[track_caller]
pub fn grad<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    value_and_grad(f, x).1
}

/// `(f(x), uᵀ J)` for `f` of several tensors with an output of any shape: the
/// vector-Jacobian product, one per argument, in one forward and one backward.
///
/// # Panics
/// If `u` does not have the shape of `f(x)`.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(a, b) = a * b (elementwise): uᵀ J = (u b, u a)
/// let (y, g) = functional::vjp_many(|x| x[0] * x[1],
///     &[Tensor::from_vec(vec![1.0_f64, 2.0], &[2]), Tensor::from_vec(vec![3.0, 4.0], &[2])],
///     &Tensor::from_vec(vec![1.0, 10.0], &[2]));
/// assert_eq!(y.to_vec(), vec![3.0, 8.0]);
/// assert_eq!(g[0].to_vec(), vec![3.0, 40.0]);
/// assert_eq!(g[1].to_vec(), vec![1.0, 20.0]);
/// ```
#[track_caller]
pub fn vjp_many<T: Float, F>(f: F, xs: &[Tensor<T>], u: &Tensor<T>) -> (Tensor<T>, Vec<Tensor<T>>)
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    let tape = Tape::new();
    let (vars, y) = record(&tape, &f, xs);
    let u = tape.constant(u.clone());
    let g = or_panic(tape.vjp(y, &vars, u, false));
    (y.value(), g.values())
}

/// `(f(x), uᵀ J)` for `f` of one tensor with an output of any shape; the product has
/// the shape of `x`.
///
/// # Panics
/// If `u` does not have the shape of `f(x)`.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = [x0 x1, x0 + x1]: J = [[x1, x0], [1, 1]], uᵀ J at u = [1, 2], x = [3, 4] is [6, 5]
/// fn f<'t>(x: wengert_autodiff::Var<'t, f64>) -> wengert_autodiff::Var<'t, f64> {
///     wengert_autodiff::concat(&[x.slice(0, 0..1) * x.slice(0, 1..2), x.sum().reshape(&[1])], 0)
/// }
/// let (y, g) = functional::vjp(f, &Tensor::from_vec(vec![3.0, 4.0], &[2]), &Tensor::from_vec(vec![1.0, 2.0], &[2]));
/// assert_eq!(y.to_vec(), vec![12.0, 7.0]);
/// assert_eq!(g.to_vec(), vec![6.0, 5.0]);
/// ```
#[track_caller]
pub fn vjp<T: Float, F>(f: F, x: &Tensor<T>, u: &Tensor<T>) -> (Tensor<T>, Tensor<T>)
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    let (y, mut g) = vjp_many(|xs| f(xs[0]), std::slice::from_ref(x), u);
    (y, g.remove(0))
}

/// `(f(x), J t)` for `f` of several tensors, with one tangent per argument: the exact
/// Jacobian-vector product by true forward mode.
///
/// Each argument is a [`Tape::dual`] leaf carrying its tangent; every op computes its output's
/// tangent by its JVP rule ([`Op::jvp`](crate::Op::jvp)) in the same pass as its value, and no
/// op is kept for reverse mode, so the memory is that of a forward pass (values and tangents).
///
/// # Panics
/// If the tangents do not match the arguments in number and shape.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(a, b) = a * b: J t = t_a b + a t_b
/// let (_, jt) = functional::jvp_many(|x| x[0] * x[1],
///     &[Tensor::from_vec(vec![1.0_f64, 2.0], &[2]), Tensor::from_vec(vec![3.0, 4.0], &[2])],
///     &[Tensor::from_vec(vec![1.0, 0.0], &[2]), Tensor::from_vec(vec![0.0, 1.0], &[2])]);
/// assert_eq!(jt.to_vec(), vec![3.0, 2.0]);
/// ```
#[track_caller]
pub fn jvp_many<T: Float, F>(f: F, xs: &[Tensor<T>], ts: &[Tensor<T>]) -> (Tensor<T>, Tensor<T>)
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    assert_same_shapes("jvp", xs, ts);
    let tape = Tape::new();
    let vars: Vec<_> = xs.iter().zip(ts).map(|(x, t)| tape.dual(x.clone(), t.clone())).collect();
    let y = f(&vars);
    let jt = match y.tangent() {
        Some(t) => t.value(),
        None => Tensor::zeros(y.shape().as_slice()),
    };
    (y.value(), jt)
}

/// `(f(x), J t)` for `f` of one tensor, by true forward mode (see [`jvp_many`]). The product
/// has the shape of `f(x)`.
///
/// # Panics
/// If `t` does not have the shape of `x`.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = sin x elementwise: J t = cos(x) t
/// let x = Tensor::from_vec(vec![0.0_f64, 1.0], &[2]);
/// let (y, jt) = functional::jvp(|x| x.sin(), &x, &Tensor::from_vec(vec![2.0, 3.0], &[2]));
/// assert_eq!(y.to_vec(), vec![0.0, 1f64.sin()]);
/// assert_eq!(jt.to_vec(), vec![2.0, 3.0 * 1f64.cos()]);
/// ```
#[track_caller]
pub fn jvp<T: Float, F>(f: F, x: &Tensor<T>, t: &Tensor<T>) -> (Tensor<T>, Tensor<T>)
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    jvp_many(|xs| f(xs[0]), std::slice::from_ref(x), std::slice::from_ref(t))
}

/// How a Hessian-vector product `H v` is computed; all three are exact and agree to rounding.
///
/// The default is forward over reverse: it records nothing for reverse mode beyond the first
/// gradient, and it is the fastest of the three from scratch in `benches/hvp_ratio.rs` (tanh MLP,
/// batch 128, f32; 2026-12-01, AMD EPYC with AVX-512: 2.91-2.98 ms against 3.15-3.22 ms reverse over
/// reverse and 5.4-5.6 ms reverse over forward in two runs, 4% behind reverse over reverse in a third).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HvpMode {
    /// `H v = d/dε ∇f(x + ε v)`: the gradient's tangent, with `v` seeded as `x`'s tangent
    /// ([`Tape::set_tangent`]) and carried through the forward and the backward sweep (as JAX's
    /// `jvp(grad(f))`). On a recorded gradient it is one tangent sweep ([`Tape::jvp`]).
    #[default]
    ForwardOverReverse,
    /// `H v = ∇_x <∇f(x), v>` where `<∇f, v> = J_f v` is the tangent of `f` by forward mode:
    /// reverse mode over the recorded tangent (as JAX's `grad(lambda x: jvp(f, x, v))`).
    ReverseOverForward,
    /// `H v = ∇_x <g(x), v>` with the gradient `g` recorded by [`Tape::grad_graph`]: reverse
    /// over reverse (as PyTorch's double backward).
    ReverseOverReverse,
}

/// The exact Hessian-vector product `H v` of a scalar-valued `f` of several tensors,
/// `v` and the result given per argument (the Hessian is over all arguments jointly),
/// by the default [`HvpMode`] (forward over reverse).
///
/// # Panics
/// If `f` does not return a single element, or the vectors do not match the arguments.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(a, b) = a^2 b: H = [[2b, 2a], [2a, 0]]; at (a, b) = (3, 2), H [1, 0] = [4, 6]
/// let hv = functional::hvp_many(|x| (x[0] * x[0] * x[1]).sum(),
///     &[Tensor::scalar(3.0_f64), Tensor::scalar(2.0)], &[Tensor::scalar(1.0), Tensor::scalar(0.0)]);
/// assert_eq!((hv[0].item(), hv[1].item()), (4.0, 6.0));
/// ```
#[track_caller]
pub fn hvp_many<T: Float, F>(f: F, xs: &[Tensor<T>], vs: &[Tensor<T>]) -> Vec<Tensor<T>>
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    hvp_many_with(HvpMode::default(), f, xs, vs)
}

/// [`hvp_many`] by the given [`HvpMode`]: the one from-scratch Hessian-vector product.
///
/// # Panics
/// As [`hvp_many`].
///
/// ```
/// use wengert_autodiff::functional::{hvp_many_with, HvpMode};
/// use wengert_autodiff::Tensor;
/// // f(x) = sum x^3: H = diag(6 x)
/// let x = [Tensor::from_vec(vec![1.0_f64, 2.0], &[2])];
/// let v = [Tensor::from_vec(vec![1.0, 1.0], &[2])];
/// for mode in [HvpMode::ForwardOverReverse, HvpMode::ReverseOverForward, HvpMode::ReverseOverReverse] {
///     assert_eq!(hvp_many_with(mode, |x| x[0].powf(3.0).sum(), &x, &v)[0].to_vec(), vec![6.0, 12.0]);
/// }
/// ```
#[track_caller]
pub fn hvp_many_with<T: Float, F>(mode: HvpMode, f: F, xs: &[Tensor<T>], vs: &[Tensor<T>]) -> Vec<Tensor<T>>
where
    F: for<'t> Fn(&[Var<'t, T>]) -> Var<'t, T>,
{
    assert_same_shapes("hvp", xs, vs);
    let tape = Tape::new();
    let vars: Vec<Var<'_, T>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let seed = |vars: &[Var<'_, T>]| {
        for (x, v) in vars.iter().zip(vs) {
            tape.set_tangent(*x, tape.constant(v.clone())).expect("shapes checked");
        }
    };
    let values = |g: Option<Gradients<'_, T>>| match g {
        Some(g) => g.values(),
        None => vars.iter().map(|x| Tensor::zeros(x.shape().as_slice())).collect(),
    };
    match mode {
        HvpMode::ForwardOverReverse => {
            seed(&vars);
            let y = f(&vars);
            assert_scalar("hvp", y);
            let g = tape.grad(y, &vars);
            (0..vars.len())
                .map(|i| match g.get(i).and_then(|g| g.tangent()) {
                    Some(hv) => hv.value(),
                    None => Tensor::zeros(vars[i].shape().as_slice()),
                })
                .collect()
        }
        HvpMode::ReverseOverForward => {
            seed(&vars);
            let y = f(&vars);
            assert_scalar("hvp", y);
            values(y.tangent().map(|jv| tape.grad(jv, &vars)))
        }
        HvpMode::ReverseOverReverse => {
            let y = f(&vars);
            assert_scalar("hvp", y);
            let g = tape.grad_graph(y, &vars);
            // H v = sum_i v_i^T dg_i/dx: one backward sweep seeded with v at every gradient.
            let (outs, seeds): (Vec<_>, Vec<_>) =
                vs.iter().enumerate().filter_map(|(i, v)| g.get(i).map(|gi| (gi, tape.constant(v.clone())))).unzip();
            values((!outs.is_empty()).then(|| tape.vjp_many(&outs, &seeds, &vars, false).expect("shapes checked")))
        }
    }
}

/// The exact Hessian-vector product `H v` of a scalar-valued `f` of one tensor, with
/// the shape of `x`, by forward over reverse; see [`hvp_many_with`] for the other modes. For
/// repeated products at one point, as conjugate gradient does, use [`HessianOperator`], which
/// records `f` and its gradient once.
///
/// # Panics
/// If `f` does not return a single element, or `v` does not have the shape of `x`.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = sum x^4 / 4: H = diag(3 x^2)
/// let x = Tensor::from_vec(vec![1.0_f64, 2.0], &[2]);
/// let hv = functional::hvp(|x| x.powf(4.0).sum() * 0.25, &x, &Tensor::from_vec(vec![1.0, 1.0], &[2]));
/// assert_eq!(hv.to_vec(), vec![3.0, 12.0]);
/// ```
#[track_caller]
pub fn hvp<T: Float, F>(f: F, x: &Tensor<T>, v: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    hvp_many(|xs| f(xs[0]), std::slice::from_ref(x), std::slice::from_ref(v)).remove(0)
}

/// A matrix-free view of the Hessian of a scalar `f` at a point `x`.
///
/// Construction records `f(x)` and its gradient graph once on a tape the operator
/// owns ([`HessianOperator::value`] and [`HessianOperator::gradient`] are then free).
/// Each [`HessianOperator::apply`] computes `H v` over the recording, by the operator's
/// [`HvpMode`]: forward over reverse (the default) is one tangent sweep ([`Tape::jvp`]) from
/// `x` through `f` and its gradient graph; reverse over reverse one backward over the gradient
/// graph; reverse over forward a recorded tangent sweep through `f` and one backward over it.
/// The tape is then truncated back to its mark, so repeated products (conjugate gradient,
/// Lanczos, [`HessianOperator::to_dense`]) do not grow memory.
///
/// ```
/// use wengert_autodiff::{functional::HessianOperator, Tensor};
/// // f(x) = 0.5 xᵀ A x with A = [[2, 1], [1, 3]]: gradient A x, Hessian A
/// let a = Tensor::from_vec(vec![2.0_f64, 1.0, 1.0, 3.0], &[2, 2]);
/// let op = HessianOperator::new(
///     |x| {
///         let a = x.constant_like(Tensor::from_vec(vec![2.0, 1.0, 1.0, 3.0], &[2, 2]));
///         let x = x.reshape(&[2, 1]);
///         x.matmul_t(a.matmul(x), true, false).sum() * 0.5
///     },
///     &Tensor::from_vec(vec![1.0, 1.0], &[2]),
/// );
/// assert_eq!(op.value(), 3.5);
/// assert_eq!(op.gradient().to_vec(), vec![3.0, 4.0]);
/// let len = op.tape_len();
/// assert_eq!(op.apply(&Tensor::from_vec(vec![1.0, 0.0], &[2])).to_vec(), vec![2.0, 1.0]);
/// assert_eq!(op.tape_len(), len); // nothing left behind
/// assert_eq!(op.to_dense(), a);
/// ```
pub struct HessianOperator<T: Float> {
    tape: Tape<T>,
    x: usize,
    y: usize,
    grad: Option<usize>,
    value: T,
    gradient: Tensor<T>,
    shape: Shape,
    mark: usize,
    mode: HvpMode,
}

impl<T: Float> HessianOperator<T> {
    /// Records `f(x)` and its gradient graph; products by the default [`HvpMode`].
    ///
    /// # Panics
    /// If `f` does not return a single element.
    #[track_caller]
    pub fn new<F>(f: F, x: &Tensor<T>) -> Self
    where
        F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
    {
        Self::with_mode(HvpMode::default(), f, x)
    }

    /// Records `f(x)` and its gradient graph; products by `mode`.
    ///
    /// # Panics
    /// If `f` does not return a single element.
    #[track_caller]
    pub fn with_mode<F>(mode: HvpMode, f: F, x: &Tensor<T>) -> Self
    where
        F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
    {
        let tape = Tape::new();
        let (xi, yi, grad, value, gradient) = {
            let xv = tape.var(x.clone());
            let y = f(xv);
            assert_scalar("HessianOperator", y);
            let g = tape.grad_graph(y, &[xv]);
            (xv.id(), y.id(), g.get(0).map(|g| g.id()), y.item(), g.value(0))
        };
        let mark = tape.len();
        HessianOperator { tape, x: xi, y: yi, grad, value, gradient, shape: x.shape_vec(), mark, mode }
    }

    /// `f(x)`.
    pub fn value(&self) -> T {
        self.value
    }

    /// `∇f(x)`, with the shape of `x`.
    pub fn gradient(&self) -> &Tensor<T> {
        &self.gradient
    }

    /// The shape of `x` (and of every `v` and `H v`).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// `n`, the number of entries of `x`: the Hessian is `n x n`.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    /// How [`HessianOperator::apply`] computes its products.
    pub fn mode(&self) -> HvpMode {
        self.mode
    }

    /// Nodes on the owned tape: the same before and after [`HessianOperator::apply`].
    pub fn tape_len(&self) -> usize {
        self.tape.len()
    }

    /// `H v`, with the shape of `x`.
    ///
    /// # Panics
    /// If `v` does not have the shape of `x`.
    #[track_caller]
    pub fn apply(&self, v: &Tensor<T>) -> Tensor<T> {
        assert!(
            v.shape() == &self.shape[..],
            "HessianOperator::apply: v has shape {:?}, x has {:?}",
            v.shape(),
            self.shape
        );
        let Some(gid) = self.grad else { return Tensor::zeros(&self.shape) };
        let tape = &self.tape;
        let x = Var::from_id(tape, self.x);
        let g = Var::from_id(tape, gid);
        let v = tape.constant(v.clone());
        let hv = match self.mode {
            HvpMode::ForwardOverReverse => tape.jvp(&[g], &[x], &[v], false),
            HvpMode::ReverseOverReverse => tape.vjp(g, &[x], v, false),
            HvpMode::ReverseOverForward => {
                let y = Var::from_id(tape, self.y);
                tape.jvp(&[y], &[x], &[v], true).and_then(|jv| match jv.get(0) {
                    Some(jv) => tape.vjp(jv, &[x], tape.scalar(T::ONE).broadcast_to(&jv.shape()), false),
                    None => Ok(tape.grad(tape.scalar(T::ZERO), &[x])),
                })
            }
        };
        let hv = hv.expect("v has the shape of x").value(0);
        tape.truncate(self.mark);
        hv
    }

    /// The dense Hessian, `[n, n]` over `x` flattened row-major, from `n` products with
    /// unit vectors (row `i` is `H e_i`; `H` is symmetric).
    pub fn to_dense(&self) -> Tensor<T> {
        let n = self.dim();
        let mut out = Vec::with_capacity(n * n);
        let mut e = vec![T::ZERO; n];
        for i in 0..n {
            e[i] = T::ONE;
            out.extend(self.apply(&Tensor::from_vec(e.clone(), &self.shape)).into_vec());
            e[i] = T::ZERO;
        }
        Tensor::from_vec(out, &[n, n])
    }
}

/// The linearization of `f` at `x` ([`Linearization`]): `f(x)` recorded once, then `J t` for any
/// number of tangents by forward mode and `uᵀ J` by reverse mode, as JAX's `linearize`.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = x^3 elementwise: J = diag(3 x^2)
/// let lin = functional::linearize(|x| x.powf(3.0), &Tensor::from_vec(vec![1.0_f64, 2.0], &[2]));
/// assert_eq!(lin.value().to_vec(), vec![1.0, 8.0]);
/// for t in [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]] {
///     let jt = lin.jvp(&Tensor::from_vec(t.to_vec(), &[2]));
///     assert_eq!(jt.to_vec(), vec![3.0 * t[0], 12.0 * t[1]]);
/// }
/// ```
pub fn linearize<T: Float, F>(f: F, x: &Tensor<T>) -> Linearization<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    Linearization::new(f, x)
}

/// The linearization of `f` at a point `x`: `f(x)`, and the products `J t` and `uᵀ J`
/// with its Jacobian, from one recording.
///
/// Construction records `f(x)` on a tape the struct owns. [`Linearization::jvp`] is one
/// tangent sweep over the recording ([`Tape::jvp`], each op's JVP rule), and
/// [`Linearization::vjp`] one backward sweep; both truncate the tape back to its mark afterwards.
///
/// ```
/// use wengert_autodiff::{functional::Linearization, Tensor};
/// // f(x) = x^2 elementwise: J = diag(2x)
/// let lin = Linearization::new(|x| x * x, &Tensor::from_vec(vec![1.0_f64, 3.0], &[2]));
/// assert_eq!(lin.value().to_vec(), vec![1.0, 9.0]);
/// assert_eq!(lin.jvp(&Tensor::from_vec(vec![1.0, 1.0], &[2])).to_vec(), vec![2.0, 6.0]);
/// assert_eq!(lin.vjp(&Tensor::from_vec(vec![0.0, 1.0], &[2])).to_vec(), vec![0.0, 6.0]);
/// ```
pub struct Linearization<T: Float> {
    tape: Tape<T>,
    x: usize,
    y: usize,
    x_shape: Shape,
    y_shape: Shape,
    mark: usize,
}

impl<T: Float> Linearization<T> {
    /// Records `f(x)`.
    pub fn new<F>(f: F, x: &Tensor<T>) -> Self
    where
        F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
    {
        let tape = Tape::new();
        let (xi, yi, y_shape) = {
            let xv = tape.var(x.clone());
            let y = f(xv);
            (xv.id(), y.id(), y.shape())
        };
        let mark = tape.len();
        Linearization { tape, x: xi, y: yi, x_shape: x.shape_vec(), y_shape, mark }
    }

    /// `f(x)`.
    pub fn value(&self) -> Tensor<T> {
        self.tape.value_of(self.y)
    }

    /// The shape of `x` (of every `t` and `uᵀ J`).
    pub fn input_shape(&self) -> &[usize] {
        &self.x_shape
    }

    /// The shape of `f(x)` (of every `u` and `J t`).
    pub fn output_shape(&self) -> &[usize] {
        &self.y_shape
    }

    /// `n`, the number of entries of `x`.
    pub fn input_numel(&self) -> usize {
        self.x_shape.iter().product()
    }

    /// `m`, the number of entries of `f(x)`.
    pub fn output_numel(&self) -> usize {
        self.y_shape.iter().product()
    }

    /// The dense Jacobian `[m, n]` from `m` vector-Jacobian products: row `i` is `e_iᵀ J`.
    pub fn jacobian_by_rows(&self) -> Tensor<T> {
        let (m, n) = (self.output_numel(), self.input_numel());
        let mut out = Vec::with_capacity(m * n);
        let mut e = vec![T::ZERO; m];
        for i in 0..m {
            e[i] = T::ONE;
            out.extend(self.vjp(&Tensor::from_vec(e.clone(), &self.y_shape)).into_vec());
            e[i] = T::ZERO;
        }
        Tensor::from_vec(out, &[m, n])
    }

    /// The dense Jacobian `[m, n]` from `n` Jacobian-vector products: column `j` is `J e_j`.
    pub fn jacobian_by_columns(&self) -> Tensor<T> {
        let (m, n) = (self.output_numel(), self.input_numel());
        let mut out = vec![T::ZERO; m * n];
        let mut e = vec![T::ZERO; n];
        for j in 0..n {
            e[j] = T::ONE;
            let col = self.jvp(&Tensor::from_vec(e.clone(), &self.x_shape));
            for (i, &c) in col.as_slice().iter().enumerate() {
                out[i * n + j] = c;
            }
            e[j] = T::ZERO;
        }
        Tensor::from_vec(out, &[m, n])
    }

    /// `uᵀ J`, with the shape of `x`.
    ///
    /// # Panics
    /// If `u` does not have the shape of `f(x)`.
    #[track_caller]
    pub fn vjp(&self, u: &Tensor<T>) -> Tensor<T> {
        let x = Var::from_id(&self.tape, self.x);
        let y = Var::from_id(&self.tape, self.y);
        let u = self.tape.constant(u.clone());
        let r = or_panic(self.tape.vjp(y, &[x], u, false)).value(0);
        self.tape.truncate(self.mark);
        r
    }

    /// `J t`, with the shape of `f(x)`: one tangent sweep over the recording.
    ///
    /// # Panics
    /// If `t` does not have the shape of `x`.
    #[track_caller]
    pub fn jvp(&self, t: &Tensor<T>) -> Tensor<T> {
        let x = Var::from_id(&self.tape, self.x);
        let y = Var::from_id(&self.tape, self.y);
        let t = self.tape.constant(t.clone());
        let r = or_panic(self.tape.jvp(&[y], &[x], &[t], false)).value(0);
        self.tape.truncate(self.mark);
        r
    }
}

/// The dense Hessian of a scalar `f` at `x`, shape `[n, n]` with `n = numel(x)` (`x`
/// flattened row-major): forward over reverse, `n` tangent sweeps with unit vectors over one
/// recording of `f` and its gradient ([`HessianOperator::to_dense`]), as JAX's
/// `jacfwd(jacrev(f))`.
///
/// # Panics
/// If `f` does not return a single element.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x, y) = x^2 y: H = [[2y, 2x], [2x, 0]]
/// let h = functional::hessian(|v| v.slice(0, 0..1).square().sum() * v.slice(0, 1..2).sum(),
///     &Tensor::from_vec(vec![3.0_f64, 2.0], &[2]));
/// assert_eq!(h.to_vec(), vec![4.0, 6.0, 6.0, 0.0]);
/// ```
#[track_caller]
pub fn hessian<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    HessianOperator::with_mode(HvpMode::ForwardOverReverse, f, x).to_dense()
}

/// The dense Jacobian `[m, n]` of `f` at `x` by forward mode: `n` columns `J e_j`, each one
/// tangent sweep over one recording of `f` ([`Linearization::jacobian_by_columns`]); the cheaper
/// way when `f` has more outputs than inputs.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = [x0 x1, x0, x1^2]: J = [[x1, x0], [1, 0], [0, 2 x1]]
/// let j = functional::jacfwd(|x| {
///     let (a, b) = (x.slice(0, 0..1), x.slice(0, 1..2));
///     wengert_autodiff::concat(&[a * b, a, b * b], 0)
/// }, &Tensor::from_vec(vec![2.0_f64, 3.0], &[2]));
/// assert_eq!(j.to_vec(), vec![3.0, 2.0, 1.0, 0.0, 0.0, 6.0]);
/// ```
pub fn jacfwd<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    Linearization::new(f, x).jacobian_by_columns()
}

/// The dense Jacobian `[m, n]` of `f` at `x` by reverse mode: `m` rows `e_iᵀ J`, each one
/// backward sweep over one recording of `f` ([`Linearization::jacobian_by_rows`]); the cheaper
/// way when `f` has fewer outputs than inputs.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = [x0 x1 x2]: J = [[x1 x2, x0 x2, x0 x1]]
/// let j = functional::jacrev(|x| x.slice(0, 0..1) * x.slice(0, 1..2) * x.slice(0, 2..3),
///     &Tensor::from_vec(vec![1.0_f64, 2.0, 3.0], &[3]));
/// assert_eq!(j.to_vec(), vec![6.0, 3.0, 2.0]);
/// ```
pub fn jacrev<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    Linearization::new(f, x).jacobian_by_rows()
}

/// The dense Jacobian of `f` at `x`, shape `[m, n]` with `m = numel(f(x))` and
/// `n = numel(x)` (both flattened row-major): by rows ([`jacrev`]) when `m <= n`, else by
/// columns ([`jacfwd`]), over one recording of `f`.
///
/// ```
/// use wengert_autodiff::{functional, Tensor};
/// // f(x) = x * x[0] (elementwise): J = diag(x0, x0) + column 0 gets x
/// let j = functional::jacobian(|x| x * x.slice(0, 0..1), &Tensor::from_vec(vec![2.0_f64, 3.0], &[2]));
/// assert_eq!(j.to_vec(), vec![4.0, 0.0, 3.0, 2.0]);
/// ```
pub fn jacobian<T: Float, F>(f: F, x: &Tensor<T>) -> Tensor<T>
where
    F: for<'t> Fn(Var<'t, T>) -> Var<'t, T>,
{
    let lin = Linearization::new(f, x);
    if lin.output_numel() <= lin.input_numel() {
        lin.jacobian_by_rows()
    } else {
        lin.jacobian_by_columns()
    }
}
