//! `softplus(x) = ln(1 + e^x)`, evaluated as `max(x, 0) + ln(1 + e^-|x|)` so it never overflows.
//!
//! Rule: `dx = g * sigmoid(x)`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Softplus;

impl<T: Float> Op<T> for Softplus {
    fn name(&self) -> &'static str {
        "softplus"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.max(T::ZERO) + (-v.abs()).exp().ln_1p()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * x[0].sigmoid())])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * x[0].sigmoid())
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `ln(1 + e^x)` elementwise, computed stably.
    #[track_caller]
    pub fn softplus(self) -> Self {
        record(Softplus, &[self])
    }
}
