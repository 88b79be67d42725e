//! `broadcast_to(x, shape)` and its adjoint `sum_to(x, shape)`.
//!
//! Rules: each is the other's transpose, `d broadcast_to = sum_to(g, shape(x))` and
//! `d sum_to = broadcast_to(g, shape(x))`, so the pair is differentiable to any order.
//! Both are the identity (no node) when the shape already matches.

use super::{grads, or_panic};
use crate::tensor::kernels;
use crate::{Float, InputGrads, Op, Result, Shape, Tensor, Var};

struct BroadcastTo(Shape);
struct SumTo(Shape);

impl<T: Float> Op<T> for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::broadcast_to(x[0], &self.0)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g.sum_to(&x[0].shape()))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.broadcast_to(&self.0))
    }
}

impl<T: Float> Op<T> for SumTo {
    fn name(&self) -> &'static str {
        "sum_to"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::sum_to(x[0], &self.0)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g.broadcast_to(&x[0].shape()))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.sum_to(&self.0))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self` broadcast (NumPy rules) to `shape`.
    ///
    /// # Panics
    /// If `self` does not broadcast to `shape`; see [`Var::try_broadcast_to`].
    #[track_caller]
    pub fn broadcast_to(self, shape: &[usize]) -> Self {
        or_panic(self.try_broadcast_to(shape))
    }

    /// [`Var::broadcast_to`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_broadcast_to(self, shape: &[usize]) -> Result<Self> {
        if self.shape().as_slice() == shape {
            return Ok(self);
        }
        self.tape().apply(BroadcastTo(shape.into()), &[self])
    }

    /// `self` summed over the axes along which `shape` was broadcast to `self.shape()`:
    /// the adjoint of [`Var::broadcast_to`].
    ///
    /// # Panics
    /// If `shape` does not broadcast to `self.shape()`; see [`Var::try_sum_to`].
    #[track_caller]
    pub fn sum_to(self, shape: &[usize]) -> Self {
        or_panic(self.try_sum_to(shape))
    }

    /// [`Var::sum_to`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_sum_to(self, shape: &[usize]) -> Result<Self> {
        if self.shape().as_slice() == shape {
            return Ok(self);
        }
        self.tape().apply(SumTo(shape.into()), &[self])
    }
}
