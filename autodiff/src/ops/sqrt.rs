//! `sqrt(x) = x^(1/2)`.
//!
//! Rule: `dx = g / (2 out)`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Sqrt;

impl<T: Float> Op<T> for Sqrt {
    fn name(&self) -> &'static str {
        "sqrt"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.sqrt()))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g / out.mul_scalar(T::from_f64(2.0)))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t / out.mul_scalar(T::from_f64(2.0)))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Square root elementwise.
    #[track_caller]
    pub fn sqrt(self) -> Self {
        record(Sqrt, &[self])
    }
}
