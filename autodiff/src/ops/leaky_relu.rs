//! `leaky_relu(x) = x` for `x > 0`, `slope * x` otherwise.
//!
//! Rule: `dx = g * ([x > 0] + slope [x <= 0])`, a piecewise-constant factor.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct LeakyRelu<T>(T);

impl<T: Float> Op<T> for LeakyRelu<T> {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let s = self.0;
        Ok(map(x[0], |v| if v > T::ZERO { v } else { s * v }))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let s = self.0;
        let factor = map(&x[0].value(), |v| if v > T::ZERO { T::ONE } else { s });
        grads([Some(g * g.constant_like(factor))])
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Leaky ReLU with negative-side `slope` (PyTorch's default is `0.01`).
    #[track_caller]
    pub fn leaky_relu(self, slope: T) -> Self {
        record(LeakyRelu(slope), &[self])
    }
}
