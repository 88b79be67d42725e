//! `neg(x) = -x`.
//!
//! Rule: `dx = -g`.

use super::{grads, record};
use crate::tensor::kernels::map;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Neg;

impl<T: Float> Op<T> for Neg {
    fn name(&self) -> &'static str {
        "neg"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        Ok(map(x[0], |v| -v))
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g.mul_scalar(-T::ONE))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.mul_scalar(-T::ONE))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `-self` elementwise.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // `std::ops::Neg` is implemented too (var.rs); this is its method form
    pub fn neg(self) -> Self {
        record(Neg, &[self])
    }
}
