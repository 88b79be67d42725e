//! `log(x) = ln x` (natural logarithm).
//!
//! Rule: `dx = g / x`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Log;

impl<T: Float> Op<T> for Log {
    fn name(&self) -> &'static str {
        "log"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| v.ln()))
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g / x[0])])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t / x[0])
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Natural logarithm elementwise.
    #[track_caller]
    pub fn log(self) -> Self {
        record(Log, &[self])
    }
}
