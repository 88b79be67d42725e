//! `slice(x, axis, start..end)` and its adjoint `pad(x, axis, start, len)` (zeros around).
//!
//! Rules: `d slice = pad(g, axis, start, n)`, `d pad = slice(g, axis, start..start + w)`.

use std::ops::Range;

use super::{grads, record};
use crate::tensor::kernels;
use crate::{Float, InputGrads, Op, Result, Tensor, Var};

struct Slice {
    axis: usize,
    range: Range<usize>,
}

struct Pad {
    axis: usize,
    start: usize,
    len: usize,
}

impl<T: Float> Op<T> for Slice {
    fn name(&self) -> &'static str {
        "slice"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::slice(x[0], self.axis, self.range.start, self.range.end)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        grads([Some(g.pad(self.axis, self.range.start, x[0].shape()[self.axis]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.slice(self.axis, self.range.clone()))
    }
}

impl<T: Float> Op<T> for Pad {
    fn name(&self) -> &'static str {
        "pad"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        if self.axis >= x[0].ndim() {
            return crate::error::arg_err("pad", format!("axis {} out of range for {:?}", self.axis, x[0].shape()));
        }
        kernels::pad(x[0], self.axis, self.start, self.len)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let w = x[0].shape()[self.axis];
        grads([Some(g.slice(self.axis, self.start..self.start + w))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| t.pad(self.axis, self.start, self.len))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Entries `range` along `axis`.
    ///
    /// # Panics
    /// If the axis or range is out of bounds; see [`Var::try_slice`].
    #[track_caller]
    pub fn slice(self, axis: usize, range: Range<usize>) -> Self {
        self.try_slice(axis, range).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Var::slice`], or an index-out-of-range error.
    #[track_caller]
    pub fn try_slice(self, axis: usize, range: Range<usize>) -> Result<Self> {
        self.tape().apply(Slice { axis, range }, &[self])
    }

    /// `self` placed at `start` along `axis` in zeros of length `len` (the adjoint of slicing).
    ///
    /// # Panics
    /// If it does not fit.
    #[track_caller]
    pub fn pad(self, axis: usize, start: usize, len: usize) -> Self {
        record(Pad { axis, start, len }, &[self])
    }
}
