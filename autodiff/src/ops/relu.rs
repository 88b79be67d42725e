//! `relu(x) = max(x, 0)`.
//!
//! Rule: `dx = g * [x > 0]`; the mask is piecewise constant (zero second derivative).

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Relu;

impl<T: Float> Op<T> for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| if v > T::ZERO { v } else { T::ZERO }))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * x[0].gt_scalar(T::ZERO))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * x[0].gt_scalar(T::ZERO))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Rectified linear unit `max(x, 0)` elementwise.
    #[track_caller]
    pub fn relu(self) -> Self {
        record(Relu, &[self])
    }
}
