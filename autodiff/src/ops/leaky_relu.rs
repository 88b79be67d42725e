//! `leaky_relu(x) = x` for `x > 0`, `slope * x` otherwise.
//!
//! Rule: `dx = g * ([x > 0] + slope [x <= 0])`, a piecewise-constant factor.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct LeakyRelu<T>(T);

impl<T: Float> LeakyRelu<T> {
    /// The derivative `[x > 0] + slope [x <= 0]`.
    fn factor(&self, x: &Tensor<T>) -> Tensor<T> {
        let s = self.0;
        map(x, |v| if v > T::ZERO { T::ONE } else { s })
    }
}

impl<T: Float> Op<T> for LeakyRelu<T> {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let s = self.0;
        Ok(map(x[0], |v| if v > T::ZERO { v } else { s * v }))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * g.constant_like(self.factor(&x[0].value())))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * t.constant_like(self.factor(&x[0].value())))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Leaky ReLU with negative-side `slope` (PyTorch's default is `0.01`).
    #[track_caller]
    pub fn leaky_relu(self, slope: T) -> Self {
        record(LeakyRelu(slope), &[self])
    }
}
