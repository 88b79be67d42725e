//! `div(a, b) = a / b` elementwise, with broadcasting.
//!
//! Rule: `da = sum_to(g / b, shape(a))`, `db = sum_to(-g * out / b, shape(b))` (as `d(a/b)/db = -a/b^2`).

use super::{grads, record};
use crate::tensor::kernels::zip;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Div;

impl<T: Float> Op<T> for Div {
    fn name(&self) -> &'static str {
        "div"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        zip("div", x[0], x[1], |a, b| a / b)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let gb = g / x[1];
        grads([needs[0].then(|| gb.sum_to(&x[0].shape())), needs[1].then(|| (-(gb * out)).sum_to(&x[1].shape()))])
    }
    fn jvp<'t>(&self, x: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        // d(a/b) = ta / b - tb out / b
        super::tangent_sum([t[0].map(|ta| ta / x[1]), t[1].map(|tb| -(tb * out / x[1]))], out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self / other` elementwise, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_div`].
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // `std::ops::Div` is implemented too (var.rs); this is its method form
    pub fn div(self, other: Self) -> Self {
        record(Div, &[self, other])
    }

    /// `self / other`, or a shape-mismatch error naming both shapes.
    #[track_caller]
    pub fn try_div(self, other: Self) -> Result<Self> {
        self.tape().apply(Div, &[self, other])
    }
}
