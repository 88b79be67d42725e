//! `expm1(x) = e^x - 1`, accurate for small `x`.
//!
//! Rule: `dx = g (out + 1)` (`d/dx (e^x - 1) = e^x`).

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Expm1;

impl<T: Float> Op<T> for Expm1 {
    fn name(&self) -> &'static str {
        "expm1"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| T::from_f64(v.to_f64().exp_m1())))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * out.add_scalar(T::ONE))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * out.add_scalar(T::ONE))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `e^x - 1` elementwise, without the cancellation of `exp(x) - 1` for small `x`;
    /// `d/dx expm1(x) = e^x = expm1(x) + 1`.
    #[track_caller]
    pub fn expm1(self) -> Self {
        record(Expm1, &[self])
    }
}
