//! `abs(x) = |x|`.
//!
//! Rule: `dx = g * sign(x)` (zero at `x = 0`, as PyTorch).

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Abs;

impl<T: Float> Op<T> for Abs {
    fn name(&self) -> &'static str {
        "abs"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.abs()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * x[0].sign())])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * x[0].sign())
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Absolute value elementwise.
    #[track_caller]
    pub fn abs(self) -> Self {
        record(Abs, &[self])
    }
}
