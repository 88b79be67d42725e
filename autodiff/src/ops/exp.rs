//! `exp(x) = e^x`.
//!
//! Rule: `dx = g * out`.

use super::{grads, record};
use crate::tensor::kernels;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Exp;

impl<T: Float> Op<T> for Exp {
    fn name(&self) -> &'static str {
        "exp"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(kernels::exp(x[0]))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g * out)])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t * out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `e^self` elementwise.
    #[track_caller]
    pub fn exp(self) -> Self {
        record(Exp, &[self])
    }
}
