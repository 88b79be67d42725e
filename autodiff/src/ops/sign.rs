//! `sign(x)` in `{-1, 0, 1}`.
//!
//! Rule: piecewise constant: no gradient (`None`).

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Sign;

impl<T: Float> Op<T> for Sign {
    fn name(&self) -> &'static str {
        "sign"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.signum0()))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, _: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([None])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, _: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        None
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `-1`, `0` or `1` elementwise; it has no gradient.
    #[track_caller]
    pub fn sign(self) -> Self {
        record(Sign, &[self])
    }
}
