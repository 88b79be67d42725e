//! `log1p(x) = ln(1 + x)`, accurate for small `x`.
//!
//! Rule: `dx = g / (1 + x)`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Log1p;

impl<T: Float> Op<T> for Log1p {
    fn name(&self) -> &'static str {
        "log1p"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.ln_1p()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g / x[0].add_scalar(T::ONE))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t / x[0].add_scalar(T::ONE))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `ln(1 + x)` elementwise, without the rounding of `1 + x` for small `x`;
    /// `d/dx log1p(x) = 1 / (1 + x)`.
    #[track_caller]
    pub fn log1p(self) -> Self {
        record(Log1p, &[self])
    }
}
