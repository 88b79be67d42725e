//! `rsqrt(x) = x^(-1/2)`.
//!
//! Rule: `dx = -g out^3 / 2` (`d/dx x^(-1/2) = -x^(-3/2) / 2`).

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Rsqrt;

impl<T: Float> Op<T> for Rsqrt {
    fn name(&self) -> &'static str {
        "rsqrt"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| T::ONE / v.sqrt()))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * out.powf(T::from_f64(3.0)).mul_scalar(T::from_f64(-0.5)))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * out.powf(T::from_f64(3.0)).mul_scalar(T::from_f64(-0.5)))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `1 / sqrt(x)` elementwise (the normalisation of batch and layer norm);
    /// `d/dx x^(-1/2) = -x^(-3/2) / 2`.
    #[track_caller]
    pub fn rsqrt(self) -> Self {
        record(Rsqrt, &[self])
    }
}
