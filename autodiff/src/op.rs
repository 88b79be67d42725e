//! The [`Op`] trait: how every differentiable op, built-in or user-defined, is recorded.

use smallvec::SmallVec;

use crate::{Float, Result, Tensor, Var};

/// Gradients an op's backward rule returns, one per input: `None` means "no gradient"
/// (the input does not influence the output, or its gradient was not requested).
pub type InputGrads<'t, T> = SmallVec<[Option<Var<'t, T>>; 2]>;

/// A differentiable op: a forward on tensors and a backward rule written with tape ops.
///
/// Because [`Op::backward`] builds its result from [`Var`] ops, the gradient is
/// itself recorded when the tape runs in create-graph mode, and can be
/// differentiated again, to any order. This is also how users add their own ops:
/// implement the trait and call [`Tape::apply`](crate::Tape::apply).
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
/// }
///
/// let tape = Tape::new();
/// let x = tape.var(Tensor::scalar(2.0));
/// let y = tape.apply(Cube, &[x]).unwrap();
/// let dy = tape.grad_graph(y, &[x]).get(0).unwrap();   // 3 x^2 = 12, recorded
/// let d2y = tape.grad(dy, &[x]).value(0);               // 6 x = 12
/// assert_eq!(dy.item(), 12.0);
/// assert_eq!(d2y.item(), 12.0);
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
}
