//! The [`Op`] trait: how every differentiable op, built-in or user-defined, is recorded.

use smallvec::SmallVec;

use crate::{Float, Result, Tensor, Var};

/// Gradients an op's backward rule returns, one per input: `None` means "no gradient"
/// (the input does not influence the output, or its gradient was not requested).
pub type InputGrads<'t, T> = SmallVec<[Option<Var<'t, T>>; 2]>;

/// A differentiable op: a forward on tensors, a reverse (VJP) rule and a forward (JVP) rule,
/// both written with tape ops.
///
/// Because [`Op::backward`] and [`Op::jvp`] build their results from [`Var`] ops, a
/// gradient or a tangent is itself recorded when the tape records, and can be
/// differentiated again, in either mode, to any order (forward-over-reverse,
/// reverse-over-forward, jvp of jvp). This is also how users add their own ops:
/// implement the trait and call [`Tape::apply`](crate::Tape::apply).
///
/// [`Op::jvp`] has a default, the double-vjp construction (see the method), so an op
/// with only a reverse rule still works in forward mode, at a higher cost. Every
/// built-in op implements its own rule; a test checks that none uses the default
/// ([`Tape::ops_without_jvp`](crate::Tape::ops_without_jvp) lists the ops that did).
///
/// ```
/// use wengert_autodiff::{InputGrads, Op, Result, Tape, Tensor, Var};
///
/// /// `y = x^3`, with `dy/dx = 3 x^2`.
/// struct Cube;
/// impl Op<f64> for Cube {
///     fn name(&self) -> &'static str { "cube" }
///     fn forward(&self, x: &[&Tensor<f64>]) -> Result<Tensor<f64>> {
///         Ok(wengert_autodiff::kernels::map(x[0], |v| v * v * v))
///     }
///     fn backward<'t>(&self, x: &[Var<'t, f64>], _y: Var<'t, f64>, g: Var<'t, f64>, _needs: &[bool])
///         -> InputGrads<'t, f64> {
///         [Some(g * x[0] * x[0] * 3.0)].into_iter().collect()
///     }
///     // The forward rule: the output tangent from the input tangent, `dy = 3 x^2 dx`.
///     fn jvp<'t>(&self, x: &[Var<'t, f64>], _y: Var<'t, f64>, t: &[Option<Var<'t, f64>>])
///         -> Option<Var<'t, f64>> {
///         t[0].map(|t| t * x[0] * x[0] * 3.0)
///     }
/// }
///
/// let tape = Tape::new();
/// let x = tape.var(Tensor::scalar(2.0));
/// let y = tape.apply(Cube, &[x]).unwrap();
/// let dy = tape.grad_graph(y, &[x]).get(0).unwrap();   // 3 x^2 = 12, recorded
/// let d2y = tape.grad(dy, &[x]).value(0);               // 6 x = 12
/// assert_eq!(dy.item(), 12.0);
/// assert_eq!(d2y.item(), 12.0);
/// let (_, dy) = wengert_autodiff::functional::jvp(|x| x.tape().apply(Cube, &[x]).unwrap(),
///     &Tensor::scalar(2.0), &Tensor::scalar(1.0));     // forward mode: 3 x^2 * 1 = 12
/// assert_eq!(dy.item(), 12.0);
/// ```
pub trait Op<T: Float>: 'static {
    /// The op's name, used in errors and anomaly reports.
    fn name(&self) -> &'static str;

    /// Computes the output value from the input values.
    fn forward(&self, inputs: &[&Tensor<T>]) -> Result<Tensor<T>>;

    /// Returns `d loss / d input_i` given `grad = d loss / d output`, written with
    /// differentiable tape ops on `inputs`, `output` and `grad`.
    ///
    /// `needs[i]` tells whether input `i` needs a gradient at all; a rule may
    /// return `None` for inputs that do not, and save the work.
    fn backward<'t>(
        &self,
        inputs: &[Var<'t, T>],
        output: Var<'t, T>,
        grad: Var<'t, T>,
        needs: &[bool],
    ) -> InputGrads<'t, T>;

    /// The output tangent `dy = sum_i (d output / d input_i) t_i`, written with differentiable tape
    /// ops on `inputs`, `output` and the input tangents `tangents` (`None`: a zero tangent); `None`
    /// for a zero output tangent. As JAX's `defjvp`. The tape calls it only when some tangent is
    /// `Some`; each tangent has the shape of its input, and the result must have the output's shape.
    ///
    /// The default is the double-vjp construction: `g(u) = Jᵀ u` is recorded by [`Op::backward`]
    /// with a trainable `u`, and `J t = d/du <g(u), t>` by a reverse sweep over that record. It
    /// is exact and twice differentiable, but costs one backward rule plus one reverse sweep over
    /// it per op (roughly 3x a dedicated rule), and it records `u`'s nodes even in forward-only
    /// runs. Implement the method for any op used in forward mode often.
    fn jvp<'t>(
        &self,
        inputs: &[Var<'t, T>],
        output: Var<'t, T>,
        tangents: &[Option<Var<'t, T>>],
    ) -> Option<Var<'t, T>> {
        crate::tape::jvp_by_double_vjp(self, inputs, output, tangents)
    }
}
