//! `atan(x)`.
//!
//! Rule: `d atan x = g / (1 + x^2)`, written with tape ops so it differentiates again.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Atan;

impl<T: Float> Op<T> for Atan {
    fn name(&self) -> &'static str {
        "atan"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.atan()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g / x[0].square().add_scalar(T::ONE))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t / x[0].square().add_scalar(T::ONE))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Arctangent elementwise, in `(-pi/2, pi/2)`: `d/dx atan(x) = 1 / (1 + x^2)`.
    #[track_caller]
    pub fn atan(self) -> Self {
        record(Atan, &[self])
    }
}
