//! `index_select(x, axis, indices)`: whole slices picked along `axis` (as
//! `torch.index_select`), and its adjoint `index_add`.
//!
//! Rules: `d index_select = index_add(g, indices, shape(x))`, `d index_add = index_select(g, indices)`.

use std::rc::Rc;

use super::{grads, or_panic, record};
use crate::tensor::{kernels, normalize_axis};
use crate::{Float, InputGrads, Op, Result, Shape, Tensor, Var};

/// The index-select op.
pub struct IndexSelect {
    axis: usize,
    idx: Rc<[usize]>,
}

/// The adjoint of [`IndexSelect`].
pub struct IndexAdd {
    axis: usize,
    idx: Rc<[usize]>,
    shape: Shape,
}

impl<T: Float> Op<T> for IndexSelect {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::index_select(x[0], self.axis, &self.idx)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let op = IndexAdd { axis: self.axis, idx: self.idx.clone(), shape: x[0].shape() };
        grads([Some(record(op, &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(IndexSelect { axis: self.axis, idx: self.idx.clone() }, &[t]))
    }
}

impl<T: Float> Op<T> for IndexAdd {
    fn name(&self) -> &'static str {
        "index_add"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::index_add(&self.shape, self.axis, &self.idx, x[0])
    }
    fn backward<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(record(IndexSelect { axis: self.axis, idx: self.idx.clone() }, &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(IndexAdd { axis: self.axis, idx: self.idx.clone(), shape: self.shape.clone() }, &[t]))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Slices `indices` along `axis` (negative counts from the end), in that order (repeats
    /// allowed; no indices give an empty axis), as `torch.index_select`.
    ///
    /// # Panics
    /// If the axis or an index is out of range; see [`Var::try_index_select`].
    #[track_caller]
    pub fn index_select(self, axis: isize, indices: &[usize]) -> Self {
        or_panic(self.try_index_select(axis, indices))
    }

    /// [`Var::index_select`], or an error naming the bad axis, or the bad index and its bound.
    #[track_caller]
    pub fn try_index_select(self, axis: isize, indices: &[usize]) -> Result<Self> {
        let axis = normalize_axis("index_select", axis, self.shape().len())?;
        self.tape().apply(IndexSelect { axis, idx: indices.into() }, &[self])
    }
}
