//! `slice(x, axis, start..end)` and its adjoint `pad(x, axis, start, len)` (zeros around).
//!
//! Rules: `d slice = pad(g, axis, start, n)`, `d pad = slice(g, axis, start..start + w)`.

use std::ops::Range;

use super::{grads, or_panic, record};
use crate::tensor::{kernels, normalize_axis};
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
        grads([Some(record(Pad { axis: self.axis, start: self.range.start, len: x[0].shape()[self.axis] }, &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(Slice { axis: self.axis, range: self.range.clone() }, &[t]))
    }
}

impl<T: Float> Op<T> for Pad {
    fn name(&self) -> &'static str {
        "pad"
    }
    fn forward(&self, x: &[&Tensor<T>]) -> Result<Tensor<T>> {
        kernels::pad(x[0], self.axis, self.start, self.len)
    }
    fn backward<'t>(&self, x: &[Var<'t, T>], _: Var<'t, T>, g: Var<'t, T>, _: &[bool]) -> InputGrads<'t, T> {
        let w = x[0].shape()[self.axis];
        grads([Some(record(Slice { axis: self.axis, range: self.start..self.start + w }, &[g]))])
    }
    fn jvp<'t>(&self, _: &[Var<'t, T>], _: Var<'t, T>, t: &[Option<Var<'t, T>>]) -> Option<Var<'t, T>> {
        t[0].map(|t| record(Pad { axis: self.axis, start: self.start, len: self.len }, &[t]))
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Entries `range` along `axis` (negative counts from the end): `x[.., start..end, ..]`.
    ///
    /// # Panics
    /// If the axis or range is out of bounds; see [`Var::try_slice`].
    #[track_caller]
    pub fn slice(self, axis: isize, range: Range<usize>) -> Self {
        or_panic(self.try_slice(axis, range))
    }

    /// [`Var::slice`], or an error naming the bad axis or range.
    #[track_caller]
    pub fn try_slice(self, axis: isize, range: Range<usize>) -> Result<Self> {
        let axis = normalize_axis("slice", axis, self.shape().len())?;
        self.tape().apply(Slice { axis, range }, &[self])
    }

    /// `self` placed at `start` along `axis` (negative counts from the end) in zeros of length
    /// `len`: the adjoint of slicing.
    ///
    /// # Panics
    /// If the axis is out of range or `self` does not fit; see [`Var::try_pad`].
    #[track_caller]
    pub fn pad(self, axis: isize, start: usize, len: usize) -> Self {
        or_panic(self.try_pad(axis, start, len))
    }

    /// [`Var::pad`], or an error naming the bad axis or sizes.
    #[track_caller]
    pub fn try_pad(self, axis: isize, start: usize, len: usize) -> Result<Self> {
        let axis = normalize_axis("pad", axis, self.shape().len())?;
        self.tape().apply(Pad { axis, start, len }, &[self])
    }
}
