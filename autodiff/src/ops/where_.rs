//! `where_(mask, a, b)`: `a` where the mask is non-zero, `b` elsewhere (all three broadcast).
//!
//! Rule: `da = sum_to(where_(mask, g, 0))`, `db = sum_to(where_(mask, 0, g))`: linear
//! in `a` and `b`, and never `0 * inf`, so unchosen non-finite values cannot leak in.

use super::{grads, record};
use crate::tensor::broadcast_shapes;
use crate::tensor::kernels::{broadcast_to, zip};
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Where<T>(Tensor<T>);

impl<T: Float> Op<T> for Where<T> {
    fn name(&self) -> &'static str {
        "where"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        let shape = broadcast_shapes("where", x[0].shape(), x[1].shape())?;
        let shape = broadcast_shapes("where", &shape, self.0.shape())?;
        let m = broadcast_to(&self.0, &shape)?;
        let a = broadcast_to(x[0], &shape)?;
        let chosen = zip("where", &m, &a, |m, a| if m != T::ZERO { a } else { T::ZERO })?;
        let b = broadcast_to(x[1], &shape)?;
        let mb = zip("where", &m, &b, |m, b| if m != T::ZERO { T::ZERO } else { b })?;
        zip("where", &chosen, &mb, |a, b| a + b)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, needs: &[bool]) -> InputGrads<'t, T> {
        let zero = g.tape().scalar(T::ZERO);
        grads([
            needs[0].then(|| g.where_(&self.0, zero).sum_to(&x[0].shape())),
            needs[1].then(|| zero.where_(&self.0, g).sum_to(&x[1].shape())),
        ])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], out: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        let zero = out.tape().scalar(T::ZERO);
        let (ta, tb) = (t[0].unwrap_or(zero), t[1].unwrap_or(zero));
        Some(ta.where_(&self.0, tb).broadcast_to(&out.shape()))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// `self` where `mask != 0`, `other` elsewhere; `mask`, `self` and `other` broadcast.
    ///
    /// # Panics
    /// If the shapes do not broadcast; see [`Var::try_where_`].
    #[track_caller]
    pub fn where_(self, mask: &Tensor<T>, other: Self) -> Self {
        record(Where(mask.clone()), &[self, other])
    }

    /// [`Var::where_`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_where_(self, mask: &Tensor<T>, other: Self) -> Result<Self> {
        self.tape().apply(Where(mask.clone()), &[self, other])
    }
}
