//! `gather(x, axis, idx)`: `out[.., j, ..] = x[.., idx[.., j, ..], ..]` (as `torch.gather`),
//! and its adjoint `scatter_add`. With `idx` of shape `[batch, 1]` along axis 1 it picks
//! each row's class score by integer label.
//!
//! Rules: `d gather = scatter_add(g, idx, shape(x))`, `d scatter_add = gather(g, idx)`.

use std::rc::Rc;

use super::{grads, or_panic, record};
use crate::error::arg_err;
use crate::tensor::{kernels, normalize_axis};
use crate::{Float, InputGrads, Op, Result, Shape, Tensor, Var};

/// The gather op (public so custom ops can reuse it).
pub struct Gather {
    axis: usize,
    idx: Rc<[usize]>,
    idx_shape: Shape,
}

/// The adjoint of [`Gather`]: zeros of `shape` with the input added at the gathered positions.
pub struct ScatterAdd {
    axis: usize,
    idx: Rc<[usize]>,
    shape: Shape,
}

impl<T: Float> Op<T> for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::gather(x[0], self.axis, &self.idx, &self.idx_shape)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let op = ScatterAdd { axis: self.axis, idx: self.idx.clone(), shape: x[0].shape() };
        grads([Some(record(op, &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(Gather { axis: self.axis, idx: self.idx.clone(), idx_shape: self.idx_shape.clone() }, &[t]))
    }
}

impl<T: Float> Op<T> for ScatterAdd {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::scatter_add(&self.shape, self.axis, &self.idx, x[0])
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let op = Gather { axis: self.axis, idx: self.idx.clone(), idx_shape: x[0].shape() };
        grads([Some(record(op, &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(ScatterAdd { axis: self.axis, idx: self.idx.clone(), shape: self.shape.clone() }, &[t]))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Entries picked along `axis` (negative counts from the end) by `idx` (row-major, of shape
    /// `idx_shape`, which equals `self`'s shape except along `axis`), as `torch.gather`.
    ///
    /// # Panics
    /// If the axis is out of range, the shapes disagree or an index is out of range; see
    /// [`Var::try_gather`].
    #[track_caller]
    pub fn gather(self, axis: isize, idx: &[usize], idx_shape: &[usize]) -> Self {
        or_panic(self.try_gather(axis, idx, idx_shape))
    }

    /// [`Var::gather`], or an error naming the bad axis, shapes or index.
    #[track_caller]
    pub fn try_gather(self, axis: isize, idx: &[usize], idx_shape: &[usize]) -> Result<Self> {
        let axis = normalize_axis("gather", axis, self.shape().len())?;
        let op = Gather { axis, idx: idx.into(), idx_shape: idx_shape.into() };
        self.tape().apply(op, &[self])
    }

    /// For a `[batch, classes]` variable, each row's entry at its label: shape `[batch]`.
    ///
    /// # Panics
    /// If `self` is not rank 2 with one label per row, or a label is out of range; see
    /// [`Var::try_pick`].
    #[track_caller]
    pub fn pick(self, labels: &[usize]) -> Self {
        or_panic(self.try_pick(labels))
    }

    /// [`Var::pick`], or an error naming the shape and the number of labels, or the bad label.
    #[track_caller]
    pub fn try_pick(self, labels: &[usize]) -> Result<Self> {
        let s = self.shape();
        if s.len() != 2 || s[0] != labels.len() {
            return arg_err("pick", format!("{} labels for shape {:?}", labels.len(), s.as_slice()));
        }
        self.try_gather(1, labels, &[labels.len(), 1])?.try_reshape(&[labels.len()])
    }
}
