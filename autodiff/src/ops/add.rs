//! `add(a, b) = a + b`, with broadcasting.
//!
//! Rule: `da = sum_to(g, shape(a))`, `db = sum_to(g, shape(b))`.

use super::{grads, record};
use crate::tensor::kernels::zip;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Add;

impl<T: Float> Op<T> for Add {
    fn name(&self) -> &'static str {
        "add"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        zip("add", x[0], x[1], |a, b| a + b)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        grads([needs[0].then(|| g.sum_to(&x[0].shape())), needs[1].then(|| g.sum_to(&x[1].shape()))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        super::tangent_sum([t[0], t[1]], out)
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self + other` elementwise, with broadcasting.
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_add`].
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // `std::ops::Add` is implemented too (var.rs); this is its method form
    pub fn add(self, other: Self) -> Self {
        record(Add, &[self, other])
    }

    /// `self + other`, or a shape-mismatch error naming both shapes.
    #[track_caller]
    pub fn try_add(self, other: Self) -> Result<Self> {
        self.tape().apply(Add, &[self, other])
    }
}
