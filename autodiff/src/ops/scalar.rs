//! Arithmetic with a scalar constant: `x + c` and `c * x` (what `x - c`, `c / x`, ... lower to).
//!
//! Rules: `d(x + c)/dx = 1`, `d(c x)/dx = c`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct AddScalar<T>(T);

impl<T: Float> Op<T> for AddScalar<T> {
    fn name(&self) -> &'static str {
        "add_scalar"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let c = self.0;
        Ok(map(x[0], |v| v + c))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g)])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0]
    }
}

struct MulScalar<T>(T);

impl<T: Float> Op<T> for MulScalar<T> {
    fn name(&self) -> &'static str {
        "mul_scalar"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let c = self.0;
        Ok(map(x[0], |v| v * c))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g.mul_scalar(self.0))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.mul_scalar(self.0))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self + c` elementwise (also what `self - c` and `c + self` record).
    #[track_caller]
    pub fn add_scalar(self, c: T) -> Self {
        record(AddScalar(c), &[self])
    }

    /// `c * self` elementwise (also what `self / c` records).
    #[track_caller]
    pub fn mul_scalar(self, c: T) -> Self {
        record(MulScalar(c), &[self])
    }
}
