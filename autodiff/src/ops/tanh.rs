//! `tanh(x)`.
//!
//! Rule: `dx = g * (1 - out^2)`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Tanh;

impl<T: Float> Op<T> for Tanh {
    fn name(&self) -> &'static str {
        "tanh"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.tanh()))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g - g * out.square())])
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Hyperbolic tangent elementwise.
    #[track_caller]
    pub fn tanh(self) -> Self {
        record(Tanh, &[self])
    }
}
