//! `mul(a, b) = a * b` elementwise, with broadcasting.
//!
//! Rule: `da = sum_to(g * b, shape(a))`, `db = sum_to(g * a, shape(b))` (for `a * a`, the one product `g a`
//! given to both).

use super::{grads, record};
use crate::tensor::kernels::zip;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Mul;

impl<T: Float> Op<T> for Mul {
    fn name(&self) -> &'static str {
        "mul"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        zip("mul", x[0], x[1], |a, b| a * b)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        if x[0].id() == x[1].id() {
            // x * x: both contributions are g x, computed once
            let d = (g * x[0]).sum_to(&x[0].shape());
            return grads([Some(d), Some(d)]);
        }
        grads([needs[0].then(|| (g * x[1]).sum_to(&x[0].shape())), needs[1].then(|| (g * x[0]).sum_to(&x[1].shape()))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        super::tangent_sum([t[0].map(|ta| ta * x[1]), t[1].map(|tb| x[0] * tb)], out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self * other` elementwise, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_mul`].
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // `std::ops::Mul` is implemented too (var.rs); this is its method form
    pub fn mul(self, other: Self) -> Self {
        record(Mul, &[self, other])
    }

    /// `self * other`, or a shape-mismatch error naming both shapes.
    #[track_caller]
    pub fn try_mul(self, other: Self) -> Result<Self> {
        self.tape().apply(Mul, &[self, other])
    }
}
