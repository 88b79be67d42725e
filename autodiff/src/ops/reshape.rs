//! `reshape(x, shape)`: same elements, new shape (no copy).
//!
//! Rule: `dx = reshape(g, shape(x))`.

use super::{grads, or_panic};
use crate::tensor::normalize_axis;
use crate::{Float, InputGrads, Op, Result, Shape, Tensor, Var};

struct Reshape(Shape);

impl<T: Float> Op<T> for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        x[0].try_reshape(&self.0)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g.reshape(&x[0].shape()))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.reshape(&self.0))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// The same elements in a new shape.
    ///
    /// # Panics
    /// If the element counts differ; see [`Var::try_reshape`].
    #[track_caller]
    pub fn reshape(self, shape: &[usize]) -> Self {
        or_panic(self.try_reshape(shape))
    }

    /// [`Var::reshape`], or a shape-mismatch error.
    #[track_caller]
    pub fn try_reshape(self, shape: &[usize]) -> Result<Self> {
        if self.shape().as_slice() == shape {
            return Ok(self);
        }
        self.tape().apply(Reshape(shape.into()), &[self])
    }

    /// All elements as a rank-1 variable.
    #[track_caller]
    pub fn flatten(self) -> Self {
        let n = self.numel();
        self.reshape(&[n])
    }

    /// A size-1 axis inserted so that it is axis `axis` of the result (`-1` appends one), as
    /// `torch.unsqueeze`.
    ///
    /// # Panics
    /// If `axis` is not in `-(ndim + 1)..=ndim`; see [`Var::try_unsqueeze`].
    #[track_caller]
    pub fn unsqueeze(self, axis: isize) -> Self {
        or_panic(self.try_unsqueeze(axis))
    }

    /// [`Var::unsqueeze`], or an error naming the bad axis.
    #[track_caller]
    pub fn try_unsqueeze(self, axis: isize) -> Result<Self> {
        let mut s = self.shape();
        let axis = normalize_axis("unsqueeze", axis, s.len() + 1)?;
        s.insert(axis, 1);
        self.try_reshape(&s)
    }
}
