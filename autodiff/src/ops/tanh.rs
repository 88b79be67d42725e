//! `tanh(x)`, with a fused derivative op.
//!
//! Rule: `dx = tanh_grad(g, out) = g * (1 - out^2)`, recorded as one op rather than three
//! (`square`, `mul`, `sub`): the HVP benchmark of a tanh MLP showed the elementwise passes
//! of the composed rule dominating the second backward sweep.
//!
//! `tanh_grad(g, y)` is itself differentiable: `d/dg = tanh_grad(gbar, y)` (it is linear
//! in `g`) and `d/dy = -2 g y gbar`.

use super::{grads, record};
use crate::tensor::kernels::{self, zip};
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Tanh;

impl<T: Float> Op<T> for Tanh {
    fn name(&self) -> &'static str {
        "tanh"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(kernels::tanh(x[0]))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(record(TanhGrad, &[g, out]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(TanhGrad, &[t, out]))
    }
}

/// `tanh_grad(g, y) = g * (1 - y^2)`: the derivative of `tanh` given its output `y`.
struct TanhGrad;

impl<T: Float> Op<T> for TanhGrad {
    fn name(&self) -> &'static str {
        "tanh_grad"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        zip("tanh_grad", x[0], x[1], |g, y| g * (T::ONE - y * y))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, gbar: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let (g, y) = (x[0], x[1]);
        grads([
            needs[0].then(|| record(TanhGrad, &[gbar, y]).sum_to(&g.shape())),
            needs[1].then(|| (gbar * g * y).mul_scalar(T::from_f64(-2.0)).sum_to(&y.shape())),
        ])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let (g, y) = (x[0], x[1]);
        // d tanh_grad(g, y) = tanh_grad(tg, y) - 2 g y ty
        super::tangent_sum(
            [t[0].map(|tg| record(TanhGrad, &[tg, y])), t[1].map(|ty| (g * y * ty).mul_scalar(T::from_f64(-2.0)))],
            out,
        )
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Hyperbolic tangent elementwise.
    #[track_caller]
    pub fn tanh(self) -> Self {
        record(Tanh, &[self])
    }
}
